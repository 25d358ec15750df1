"""GLUE-class global displacement estimation (Hashemi & Rivaz, IEEE TUFFC 2017) with probe-independent weights.

From an integer seed (dynamic programming, :mod:`bundle.baselines.dp`), the axial ``u`` and lateral ``v``
displacement of every sample minimise, over the whole frame at once,

    sum over samples of  (I1(z, x) - I2(z + u, x + v))^2
      + s * [alpha1 (du/dz - e)^2 + alpha2 (du/dx)^2 + beta1 (dv/dz)^2 + beta2 (dv/dx)^2]

with the derivatives **physical** (mm per mm, dimensionless; ``e`` the seed's mean axial strain, so that uniform
compression costs nothing). The weights are therefore dimensionless and mean the same on any probe: the data
term's curvature grows as ``1 / lambda^2`` and the regularisation's as ``1 / L^2``, so the smoothing length ``L``
is a fixed number of wavelengths, and a 2x finer axial sampling of the same RF (twice the samples, each with
its data and regularisation terms) gives the same displacement in mm. On the pixel grid (``dz`` axial spacing,
``dx`` line pitch, ``a = u / dz`` samples, ``l = v / dx`` lines) the terms become

    alpha1 (a_ij - a_(i-1)j - e_px)^2 + alpha2 (dz/dx)^2 (a_ij - a_i(j-1))^2
      + beta1 (dx/dz)^2 (l_ij - l_(i-1)j)^2 + beta2 (l_ij - l_i(j-1))^2

(:func:`per_sample_weights`). Hashemi & Rivaz's per-sample (5, 1, 5, 1) correspond to physical
(5, 243, 0.021, 1) at 5 MHz, 40 MHz and 0.3 mm pitch but (5, 107, 0.047, 1) at 7.6 MHz, 38 MHz and 0.21 mm:
at one pitch, halving the sampling rate makes the per-sample form's physical ``alpha2`` 4x smaller and its
``beta1`` 4x larger.

Defaults of :class:`GLUEEstimator`:

- ``weights = (10, 20, 0.02, 1)`` physical (per sample: (10, 0.082, 4.9, 1) at 5 MHz / 40 MHz / 0.3 mm,
  (10, 0.19, 2.1, 1) at 7.6 MHz / 38 MHz / 0.21 mm);
- ``reference_residual = 0.01``: the factor ``s`` above is the mean squared RF residual
  ``(I1 - I2(warped))^2`` at the current estimate (recomputed at every Taylor expansion) over 0.01, i.e. the
  weights hold for data whose residual (electronic noise plus decorrelation) is 1 % of the RF variance, and
  noisier data is regularised in proportion, as if the data term were divided by its noise variance (a
  520 x 40 phantom at 10 dB: strain NRMSE 0.136 against 0.173 with ``s = 1``; at 30 dB the two within 0.001;
  ``tests/baselines/test_probe_adaptation.py``). ``reference_residual=None`` keeps ``s = 1``;
- ``envelope_mm = 2``: before the DP seed and the refinement, both frames are divided by the pre frame's local
  RMS (square root of a Gaussian average of its square, standard deviation 2 mm axially and laterally, floored
  at 1e-3 of its maximum), so that bright and dark regions (depth without time-gain compensation, specular
  layers) weigh alike in the data term, as in NCC (a 30 dB decay over the frame moves the displacement by
  0.15 um rms with it, 0.42 um without);
- ``iterations = 2`` Taylor expansions, ``solver = "cg"``, ``strain_kernel_mm = 2.5``.

Scored with ``scripts/tune_baselines.py`` on our own simulator at nine acquisitions from 3 to 12 MHz (strain
NRMSE, mean 0.061 against NCC's 0.087; docs/baselines.md has the table and the command).

``I2`` is linearised about the current estimate by a first-order Taylor expansion, which makes the problem one
sparse ``2HW x 2HW`` symmetric positive-definite linear system in the increments; it is solved, the estimate
updated and the expansion repeated ``iterations`` times. ``I1``/``I2`` are the pre and post RF (unit standard
deviation, then divided by the local RMS); ``I2`` and its derivatives between samples come from cubic splines
(derivatives by a +-0.1-pixel central difference of the spline). The system is solved by conjugate gradients
(relative residual 1e-6, at most 2000 iterations, ``RuntimeError`` if they do not converge) with a line
preconditioner: the inverse of the matrix's diagonal plus its axial coupling between neighbouring rows, i.e. one
tridiagonal solve per line and component (LAPACK ``pttrf``/``pttrs``; :func:`_line_preconditioner`): 36-60
iterations per expansion on a 1400 x 128 pair at 7.6 MHz against ~140 with a Jacobi preconditioner (30-62 on
the 987 x 95 pairs of the 7.6-5spp row of ``scripts/tune_baselines.py``). ``solver="direct"`` uses a sparse LU
(``scipy.sparse.linalg.spsolve``): same answer to 1e-3 samples.

Cost (``scripts/tune_baselines.py --timing``, 1400 x 128 pair at 7.6 MHz / 38 MHz / 0.21 mm, DP seed included):
10.0 s per pair on the 2-core machine while two other CPU-bound jobs ran on it (NCC 1.2 s, DP 4.2 s in the same
run).
"""

from __future__ import annotations

import math

import numpy as np
import scipy.ndimage as ndi
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from scipy.linalg.lapack import dpttrf, dpttrs

from bundle.acquisition import Acquisition
from bundle.baselines.dp import DPEstimator
from bundle.baselines.units import positive
from bundle.errors import ElastographyInputError
from bundle.estimator import DisplacementEstimator, register_estimator

__all__ = ["GLUEEstimator", "glue_refine", "per_sample_weights"]

#: step (pixels) of the central difference that gives the spline's derivatives
_DELTA = 0.1


def per_sample_weights(
    weights: tuple[float, float, float, float], acquisition: Acquisition
) -> tuple[float, float, float, float]:
    """Physical ``(alpha1, alpha2, beta1, beta2)`` (module docstring) -> the weights of pixel differences."""
    a1, a2, b1, b2 = (float(x) for x in weights)
    ratio = (acquisition.axial_spacing_mm / acquisition.line_pitch_mm) ** 2  # (dz / dx)^2
    return a1, a2 * ratio, b1 / ratio, b2


def _difference_operators(h: int, w: int) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Axial ``Dz`` ((H-1)W x HW) and lateral ``Dx`` (H(W-1) x HW) first differences of a row-major (H, W) grid."""
    dz = sp.kron(sp.diags([-np.ones(h - 1), np.ones(h - 1)], [0, 1], shape=(h - 1, h)), sp.identity(w))
    dx = sp.kron(sp.identity(h), sp.diags([-np.ones(w - 1), np.ones(w - 1)], [0, 1], shape=(w - 1, w)))
    return dz.tocsr(), dx.tocsr()


def _line_preconditioner(
    h: int, w: int, diag_a: np.ndarray, diag_l: np.ndarray, axial_a: float, axial_l: float
) -> spla.LinearOperator:
    """Inverse of the system restricted to each line: its diagonal plus the axial coupling ``-axial`` between
    neighbouring rows, i.e. one tridiagonal solve per line and component (exact where the lateral terms vanish).

    The axial terms dominate the coupling (per-sample weights ``alpha1`` against ``alpha2 (dz/dx)^2``), so this
    takes conjugate gradients from ~140 iterations with a Jacobi preconditioner to 36-60 (1400 x 128 at 7.6 MHz).
    """
    factors = []
    for diag, coupling in ((diag_a, axial_a), (diag_l, axial_l)):
        d = np.maximum(diag.reshape(h, w).T.ravel(), 1e-12)  # line-major order: line j, rows 0..H-1
        e = np.full(h * w - 1, -coupling)
        e[h - 1 :: h] = 0.0  # no coupling from the last row of a line to the first row of the next
        d_factor, e_factor, info = dpttrf(d, e)  # L D L^T of a symmetric positive-definite tridiagonal matrix
        if info != 0:
            raise RuntimeError(f"GLUE: line preconditioner is not positive definite (dpttrf info {info})")
        factors.append((d_factor, e_factor))

    def solve(vector: np.ndarray) -> np.ndarray:
        parts = np.split(np.asarray(vector, dtype=np.float64).ravel(), 2)
        out = []
        for (d_factor, e_factor), part in zip(factors, parts, strict=True):
            x, _ = dpttrs(d_factor, e_factor, part.reshape(h, w).T.ravel())
            out.append(x.reshape(w, h).T.ravel())
        return np.concatenate(out)

    return spla.LinearOperator((2 * h * w, 2 * h * w), matvec=solve, dtype=np.float64)


def glue_refine(
    pre: np.ndarray,
    post: np.ndarray,
    axial_px: np.ndarray,
    lateral_px: np.ndarray,
    weights: tuple[float, float, float, float],
    iterations: int = 2,
    solver: str = "cg",
    cg_tolerance: float = 1e-6,
    reference_residual: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Refine a displacement seed by the GLUE cost (module docstring).

    Args:
        pre, post: ``(H, W)`` RF (unit standard deviation).
        axial_px, lateral_px: ``(H, W)`` seed displacement in pixels (e.g. the integer DP result).
        weights: ``(alpha1, alpha2, beta1, beta2)`` of **pixel** differences (:func:`per_sample_weights`).
        iterations: Taylor expansions (each one sparse solve).
        solver: ``"cg"`` (conjugate gradients with a line preconditioner, relative residual ``cg_tolerance``)
            or ``"direct"`` (sparse LU, ``scipy.sparse.linalg.spsolve``); same answer to 1e-3 samples, and the
            direct solve was ~4x slower on 2048 x 128 frames (26.6 s against 6.5 s for a whole pair before issue 13).
        cg_tolerance: relative residual at which conjugate gradients stop.
        reference_residual: None: ``weights`` as given. A number: every expansion multiplies them by the mean
            squared RF residual ``(I1 - I2(warped))^2`` at the current estimate over this reference, i.e. the
            weights hold for data whose residual (electronic noise plus decorrelation) is the reference, and
            noisier data is regularised in proportion (the data term divided by its noise variance).

    Returns:
        ``(axial_px, lateral_px)`` float64 ``(H, W)``.
    """
    pre = np.asarray(pre, dtype=np.float64)
    post = np.asarray(post, dtype=np.float64)
    h, w = pre.shape
    if post.shape != (h, w) or np.shape(axial_px) != (h, w) or np.shape(lateral_px) != (h, w):
        raise ElastographyInputError("pre, post and the seed must all be (H, W) arrays of one shape")
    a1, a2, b1, b2 = (float(x) for x in weights)
    if min(a1, a2, b1, b2) < 0 or int(iterations) != iterations or iterations < 1:
        raise ValueError(f"weights must be >= 0 and iterations >= 1, got {weights}, {iterations}")
    if solver not in ("cg", "direct"):
        raise ValueError(f"solver must be 'cg' or 'direct', got {solver!r}")
    if reference_residual is not None and not (math.isfinite(reference_residual) and reference_residual > 0):
        raise ValueError(f"reference_residual must be a positive number or None, got {reference_residual!r}")
    a = np.asarray(axial_px, dtype=np.float64).copy()
    lat = np.asarray(lateral_px, dtype=np.float64).copy()
    mean_step = float(np.mean(np.diff(a, axis=0))) if h > 1 else 0.0
    dz, dx = _difference_operators(h, w)
    smooth_a = a1 * (dz.T @ dz) + a2 * (dx.T @ dx)
    smooth_l = b1 * (dz.T @ dz) + b2 * (dx.T @ dx)
    e_term = a1 * (dz.T @ np.full(dz.shape[0], mean_step))
    coeffs = ndi.spline_filter(post, order=3, mode="nearest")

    def sample(z: np.ndarray, x: np.ndarray) -> np.ndarray:
        return ndi.map_coordinates(coeffs, np.stack([z, x]), order=3, mode="nearest", prefilter=False).ravel()

    zz, xx = np.meshgrid(np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64), indexing="ij")
    for _ in range(int(iterations)):
        z, x = zz + a, xx + lat
        inside = ((z >= 0) & (z <= h - 1) & (x >= 0) & (x <= w - 1)).ravel()
        warped = sample(z, x)
        # derivatives of the spline itself, by a +-0.1-pixel central difference (within 0.2 % of the exact slope
        # of RF at fs = 4 f0); np.gradient of the samples would underestimate it by 10 % at fs = 8 f0, 36 % at 4 f0
        gz = (sample(z + _DELTA, x) - sample(z - _DELTA, x)) / (2 * _DELTA) * inside
        gx = (sample(z, x + _DELTA) - sample(z, x - _DELTA)) / (2 * _DELTA) * inside
        residual = (pre.ravel() - warped) * inside
        scale = 1.0
        if reference_residual is not None and inside.any():
            scale = float(np.mean(residual[inside] ** 2)) / reference_residual
        av, lv = a.ravel(), lat.ravel()
        sa, sl = scale * smooth_a, scale * smooth_l
        matrix = sp.bmat(
            [[sp.diags(gz * gz) + sa, sp.diags(gz * gx)], [sp.diags(gz * gx), sp.diags(gx * gx) + sl]],
            format="csr",
        )
        rhs = np.concatenate([gz * residual - sa @ av + scale * e_term, gx * residual - sl @ lv])
        if solver == "direct":
            step = spla.spsolve(matrix.tocsc(), rhs)
        else:  # conjugate gradients (the matrix is symmetric positive definite) with a line preconditioner
            diag_a, diag_l = np.split(matrix.diagonal(), 2)
            precondition = _line_preconditioner(h, w, diag_a, diag_l, scale * a1, scale * b1)
            step, info = spla.cg(matrix, rhs, rtol=cg_tolerance, maxiter=2000, M=precondition)
            if info != 0:
                raise RuntimeError(f"GLUE: conjugate gradients did not converge ({info} iterations)")
        a += step[: h * w].reshape(h, w)
        lat += step[h * w :].reshape(h, w)
    return a, lat


@register_estimator("glue")
class GLUEEstimator(DisplacementEstimator):
    """GLUE-class estimator: dynamic-programming seed (:class:`DPEstimator`) refined by :func:`glue_refine`.

    Args:
        weights: physical ``(alpha1, alpha2, beta1, beta2)`` (dimensionless; module docstring), converted to
            the pixel grid of each acquisition by :func:`per_sample_weights`.
        iterations: Taylor expansions, one sparse solve each.
        dp: the seed's estimator (default :class:`DPEstimator` with its defaults).
        solver: ``"cg"`` or ``"direct"`` (see :func:`glue_refine`).
        strain_kernel_mm: least-squares strain kernel (mm) used by :meth:`strain`.
        reference_residual: the mean squared RF residual (unit-variance RF) at which ``weights`` hold; noisier
            or more decorrelated data is regularised in proportion (:func:`glue_refine`); None: fixed weights.
        envelope_mm: both frames are divided by the pre frame's local RMS, a Gaussian average of its square
            with this standard deviation (mm) axially and laterally, so that bright and dark regions (depth
            without time-gain compensation, specular layers) weigh alike in the data term, as in NCC; None: off.
    """

    def __init__(
        self,
        weights: tuple[float, float, float, float] = (10.0, 20.0, 0.02, 1.0),
        iterations: int = 2,
        dp: DPEstimator | None = None,
        solver: str = "cg",
        strain_kernel_mm: float = 2.5,
        reference_residual: float | None = 0.01,
        envelope_mm: float | None = 2.0,
    ):
        if len(weights) != 4 or not all(math.isfinite(float(x)) and float(x) >= 0 for x in weights):
            raise ValueError(f"weights must be four numbers >= 0, got {weights!r}")
        if int(iterations) != iterations or iterations < 1:
            raise ValueError(f"iterations must be a positive integer, got {iterations!r}")
        if not (math.isfinite(strain_kernel_mm) and strain_kernel_mm > 0):
            raise ValueError(f"strain_kernel_mm must be > 0, got {strain_kernel_mm!r}")
        if solver not in ("cg", "direct"):
            raise ValueError(f"solver must be 'cg' or 'direct', got {solver!r}")
        self.solver = solver
        self.weights = tuple(float(x) for x in weights)
        self.iterations = int(iterations)
        self.dp = dp if dp is not None else DPEstimator()
        self.strain_kernel_mm = float(strain_kernel_mm)
        residual = reference_residual
        self.reference_residual = None if residual is None else positive("reference_residual", residual)
        self.envelope_mm = None if envelope_mm is None else positive("envelope_mm", envelope_mm)

    def _estimate(self, pre: np.ndarray, posts: np.ndarray, acquisition: Acquisition) -> np.ndarray:
        dz, dx = acquisition.spacing_mm
        out = np.empty((posts.shape[0], 2, *pre.shape), dtype=np.float32)
        weights = per_sample_weights(self.weights, acquisition)
        if self.envelope_mm is not None:
            sigma = (self.envelope_mm / dz, self.envelope_mm / dx)
            local_rms = np.sqrt(ndi.gaussian_filter(pre.astype(np.float64) ** 2, sigma, mode="nearest"))
            local_rms = np.maximum(local_rms, 1e-3 * float(local_rms.max()) + 1e-30)  # no division by empty RF
            pre = (pre / local_rms).astype(np.float32)
            posts = (posts / local_rms[None]).astype(np.float32)
        for k, post in enumerate(posts):
            seed_a, seed_l = self.dp.seed_displacement(pre, post, acquisition)
            a, lat = glue_refine(
                pre,
                post,
                seed_a,
                seed_l,
                weights,
                self.iterations,
                self.solver,
                reference_residual=self.reference_residual,
            )
            out[k, 0], out[k, 1] = a * dz, lat * dx
        return out
