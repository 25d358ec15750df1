"""Windowed normalised cross-correlation (NCC) block matching on RF: the classical baseline.

Algorithm (per pre/post pair). Every length is stated in wavelengths ``lambda = c / f0`` or in mm and converted
with the :class:`~bundle.acquisition.Acquisition` (:meth:`NCCEstimator.geometry`), so the same defaults hold for
any probe; one RF period spans ``lambda / 2`` of depth, ``fs / f0`` samples.

1. **Windows.** The pre frame is cut into 2-D kernels of ``window_wavelengths`` axially (default 3 lambda:
   0.92 mm and 48 samples at 5 MHz / 40 MHz, 0.61 mm and 30 samples at 7.6 MHz / 38 MHz, 1.54 mm at 3 MHz;
   at least 8 samples; ``window_mm`` fixes a length in mm instead) by the odd number of lines nearest to
   ``window_lateral_mm`` (default 0.9 mm: 3 lines at 0.3 mm pitch, 5 at 0.21 mm), centred on every RF line and
   on window rows about ``(1 - overlap)`` kernels apart, spread evenly from the top to the bottom of the frame
   (default overlap 0.75: a step of 12 samples at 5 MHz / 40 MHz). Window rows lie wholly inside the
   frame; the post frame is zero padded axially and mirrored laterally, so a lag that leaves it just correlates
   worse.
2. **Similarity.** Pearson NCC of the pre kernel with the post kernel displaced by an integer lag
   ``(d, l)`` (samples, lines): ``sum (p - mean p)(q - mean q) / sqrt(sum (p - mean p)^2 sum (q - mean q)^2)``.
   Post-window sums come from cumulative sums, the cross term from one ``einsum`` per window row over all
   lines and lags at once (no Python loop over pixels), so the result is independent of the RF scale.
3. **Neighbour-seeded search from the probe downward.** The first (shallowest) window row searches
   ``+-axial_search_mm`` (default 1 mm) and ``+-lateral_search_mm`` (default 0.9 mm, at least one line) with a
   longer kernel of ``search_window_wavelengths`` (default 6 lambda: among that many lags a 3-lambda kernel
   finds false peaks); its integer lags are then median filtered over ``seed_median_mm`` (default 1.5 mm: 5 lines
   at 0.3 mm) and the row is searched again around them with the ordinary kernel. Every deeper row searches
   ``+-tracking_wavelengths`` axially (default lambda / 4, half an RF period: 4 samples at 8 samples per
   period) and ``+-1`` line laterally around a seed per line: the median over the same lines of the previous
   row's estimate (robust to isolated false peaks). Axial seeds are clamped to ``+-max_axial_mm`` (default
   4 mm), lateral ones to the first row's lateral range plus one line.
4. **Sub-sample peak.** Axially a cosine fit (default; unbiased for a band-pass RF correlation) or a parabolic
   fit on ``R(-1), R(0), R(+1)`` around the integer peak:
   cosine ``w = acos((a + c) / 2b)``, ``theta = atan((a - c) / (2 b sin w))``, ``delta = -theta / w``;
   parabolic ``delta = 0.5 (c - a) / (2b - a - c)``. Where the cosine fit is undefined
   (``(a + c) / 2b`` outside (-1, 1)) the parabolic value is used. Laterally a parabolic fit on the axial
   ridge (each of the lateral lags ``l - 1, l, l + 1`` at its own interpolated axial peak height), which is
   not biased by tilted speckle; the axial triplet is first interpolated (quadratically, across the three
   lateral lags) to that sub-line lateral position, so a sub-line lateral shift does not bias the axial
   estimate (known shift of (3.7 samples, 0.4 lines) at 5 MHz / 40 MHz: axial rms error 0.018 samples with
   the 3-lambda kernel; 0.07 without this interpolation, measured with the former 1.5 mm kernel).
5. **Full grid.** Window-centre estimates are interpolated to every sample of each line with a cubic
   spline; above the first and below the last window centre the displacement is extended linearly with the
   least-squares slope of the nearest kernel length of estimates. Lags are converted to mm
   (axial spacing c / 2 fs, line pitch).

Strain: :meth:`DisplacementEstimator.strain` uses a least-squares kernel of ``strain_kernel_mm`` (default
2.5 mm, the same for every estimator so that they are compared at one resolution).

Why 3 wavelengths (``scripts/tune_baselines.py``, nine acquisitions from 3 to 12 MHz, docs/baselines.md): mean
strain NRMSE 0.087 at 3 lambda, 0.096 at 4, 0.106 at 5, 0.103 for the former fixed 1.5 mm; 2 lambda peak-hops at
3 MHz and 4 samples per period (0.73), 2.5 lambda does not (0.19). Uniform 1 % compression, 512 x 32 at
5 MHz / 40 MHz, 30 dB: SNRe 25 (12.7 with the former 1.5 mm kernel; ``tests/baselines/test_dp_glue.py``).

Operating range: axial strain up to a few % (decorrelation makes peak hopping appear beyond ~5 %); lateral
displacement up to ``lateral_search_mm`` plus a line at the shallowest row, then tracked.
Cost: 1.2 s per 1400 x 128 pair at 7.6 MHz / 38 MHz / 0.21 mm with the defaults (``scripts/tune_baselines.py
--timing``, 2-core machine with two other CPU-bound jobs running).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.interpolate import CubicSpline
from scipy.ndimage import median_filter

from bundle.acquisition import Acquisition
from bundle.baselines.units import odd_lines
from bundle.estimator import DisplacementEstimator, register_estimator

__all__ = ["NCCEstimator", "subsample_peak"]

#: energy (relative to the number of samples in a window of unit-variance RF) below which NCC is set to 0
_ENERGY_FLOOR = 1e-6


def subsample_peak(a: np.ndarray, b: np.ndarray, c: np.ndarray, method: str = "cosine") -> np.ndarray:
    """Sub-sample offset of a correlation peak from its values ``R(-1) = a, R(0) = b, R(+1) = c``.

    ``b`` is assumed to be the largest of the three. Returns the offset in [-1, 1] (lag units) to add to the
    integer peak position. ``method`` is ``"cosine"`` or ``"parabolic"``; the cosine fit falls back to the
    parabolic offset where it is undefined.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    c = np.asarray(c, dtype=np.float64)
    curvature = 2.0 * b - a - c
    with np.errstate(divide="ignore", invalid="ignore"):
        parabolic = np.where(curvature > 0, 0.5 * (c - a) / curvature, 0.0)
    parabolic = np.clip(np.nan_to_num(parabolic), -1.0, 1.0)
    if method == "parabolic":
        return parabolic
    if method != "cosine":
        raise ValueError(f"subsample must be 'cosine' or 'parabolic', got {method!r}")
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = (a + c) / (2.0 * b)
        ok = (b > 0) & (ratio > -1.0 + 1e-9) & (ratio < 1.0 - 1e-9)
        omega = np.arccos(np.clip(ratio, -1.0, 1.0))
        theta = np.arctan((a - c) / (2.0 * b * np.sin(omega)))
        cosine = -theta / omega
    out = np.where(ok & np.isfinite(cosine), cosine, parabolic)
    return np.clip(out, -1.0, 1.0)


@register_estimator("ncc")
class NCCEstimator(DisplacementEstimator):
    """Windowed NCC block matching with neighbour-seeded integer search and sub-sample peak fitting.

    Every length is physical and converted per acquisition (:meth:`geometry`); module docstring for defaults.

    Args:
        window_wavelengths: axial kernel length in wavelengths ``c / f0``.
        window_mm: axial kernel length in mm instead (None: use ``window_wavelengths``).
        window_lateral_mm: lateral kernel width (mm): the odd number of lines nearest to it (at least 1).
        overlap: fraction of the kernel length shared by neighbouring window rows (step = (1 - overlap) x kernel).
        axial_search_mm: half range of the axial search in the first window row (mm).
        search_window_wavelengths: kernel length of that wide first search (wavelengths; at least the kernel).
        lateral_search_mm: half range of the lateral search in the first window row (mm; at least one line).
        tracking_wavelengths: half range of the axial search around the seed in later rows (wavelengths).
        seed_median_mm: lateral extent over which the previous row's lags are median filtered into seeds
            (mm: the odd number of lines nearest to it).
        max_axial_mm: largest axial displacement tracked (mm).
        subsample: ``"cosine"`` (default) or ``"parabolic"`` axial sub-sample fit.
        strain_kernel_mm: least-squares strain kernel (mm) used by :meth:`strain`.
    """

    def __init__(
        self,
        window_wavelengths: float = 3.0,
        window_mm: float | None = None,
        window_lateral_mm: float = 0.9,
        overlap: float = 0.75,
        axial_search_mm: float = 1.0,
        search_window_wavelengths: float = 6.0,
        lateral_search_mm: float = 0.9,
        tracking_wavelengths: float = 0.25,
        seed_median_mm: float = 1.5,
        max_axial_mm: float = 4.0,
        subsample: str = "cosine",
        strain_kernel_mm: float = 2.5,
    ):
        for name, value in (
            ("window_wavelengths", window_wavelengths),
            ("window_lateral_mm", window_lateral_mm),
            ("axial_search_mm", axial_search_mm),
            ("search_window_wavelengths", search_window_wavelengths),
            ("lateral_search_mm", lateral_search_mm),
            ("tracking_wavelengths", tracking_wavelengths),
            ("seed_median_mm", seed_median_mm),
            ("max_axial_mm", max_axial_mm),
            ("strain_kernel_mm", strain_kernel_mm),
            *([("window_mm", window_mm)] if window_mm is not None else []),
        ):
            if isinstance(value, bool) or not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number, got {value!r}")
        if isinstance(overlap, bool) or not (isinstance(overlap, (int, float)) and 0 <= overlap < 1):
            raise ValueError(f"overlap must be in [0, 1), got {overlap!r}")
        if subsample not in ("cosine", "parabolic"):
            raise ValueError(f"subsample must be 'cosine' or 'parabolic', got {subsample!r}")
        self.window_wavelengths = float(window_wavelengths)
        self.window_mm = None if window_mm is None else float(window_mm)
        self.window_lateral_mm = float(window_lateral_mm)
        self.overlap = float(overlap)
        self.axial_search_mm = float(axial_search_mm)
        self.search_window_wavelengths = float(search_window_wavelengths)
        self.lateral_search_mm = float(lateral_search_mm)
        self.tracking_wavelengths = float(tracking_wavelengths)
        self.seed_median_mm = float(seed_median_mm)
        self.max_axial_mm = float(max_axial_mm)
        self.subsample = subsample
        self.strain_kernel_mm = float(strain_kernel_mm)
        #: peak NCC at each window centre of the last call, ``(T, rows, W)``, and the centres (samples)
        self.last_peak_correlation: np.ndarray | None = None
        self.last_window_centres: np.ndarray | None = None

    def window_length_mm(self, acquisition: Acquisition) -> float:
        """Axial kernel length (mm) for ``acquisition``: ``window_mm``, or ``window_wavelengths x c / f0``."""
        return self.window_mm if self.window_mm is not None else self.window_wavelengths * acquisition.wavelength_mm

    # ------------------------------------------------------------------ physical -> samples and lines
    def geometry(self, shape: tuple[int, int], acquisition: Acquisition) -> dict:
        """Kernel, window rows and search ranges in samples and lines for a frame of ``shape``.

        Keys: ``m`` kernel length (samples, at least 8), ``lines`` kernel width (odd), ``starts`` first sample
        of each window row, ``search``/``track``/``max_lag`` axial ranges (samples), ``lateral_search``
        (lines), ``median_lines`` (odd).
        """
        h, _ = shape
        dz, pitch = acquisition.spacing_mm
        m = min(h, max(8, int(round(self.window_length_mm(acquisition) / dz))))
        search_m = min(h, max(m, int(round(self.search_window_wavelengths * acquisition.wavelength_mm / dz))))
        step = max(1, int(round((1.0 - self.overlap) * m)))
        n_rows = max(1, int(math.ceil((h - m) / step)) + 1)
        starts = np.unique(np.linspace(0, h - m, n_rows).round().astype(np.int64))
        search = max(1, int(round(self.axial_search_mm / dz)))
        track = max(1, int(round(self.tracking_wavelengths * acquisition.wavelength_mm / dz)))
        max_lag = max(search, int(round(self.max_axial_mm / dz)))
        return {
            "m": m,
            "search_m": search_m,
            "lines": odd_lines(self.window_lateral_mm, pitch),
            "starts": starts,
            "search": search,
            "track": track,
            "max_lag": max_lag,
            "lateral_search": max(1, int(round(self.lateral_search_mm / pitch))),
            "median_lines": odd_lines(self.seed_median_mm, pitch),
        }

    # ------------------------------------------------------------------ main entry
    def _estimate(self, pre: np.ndarray, posts: np.ndarray, acquisition: Acquisition) -> np.ndarray:
        h, w = pre.shape
        g = self.geometry((h, w), acquisition)
        centres = g["starts"] + (g["m"] - 1) / 2.0
        out = np.empty((posts.shape[0], 2, h, w), dtype=np.float32)
        peaks = []
        for t in range(posts.shape[0]):
            axial, lateral, peak = self._track_pair(pre, posts[t], g)
            out[t, 0] = _to_grid(axial, centres, h, g["m"]) * acquisition.axial_spacing_mm
            out[t, 1] = _to_grid(lateral, centres, h, g["m"]) * acquisition.line_pitch_mm
            peaks.append(peak)
        self.last_peak_correlation = np.stack(peaks).astype(np.float32)
        self.last_window_centres = centres
        return out

    def _track_pair(self, pre: np.ndarray, post: np.ndarray, g: dict):
        """Axial (samples) and lateral (lines) displacement and peak NCC at the window centres, (rows, W) each."""
        h, w = pre.shape
        m, starts, max_lag = g["m"], g["starts"], g["max_lag"]
        kh = g["lines"] // 2
        # seeds reach +-(lateral_search_lines + 1) lines and a row evaluates two lags beyond its seed
        lat_pad = kh + g["lateral_search"] + 3
        ax_pad = max_lag + g["search"] + g["track"] + 2

        pre_p = _pad_lateral(pre.astype(np.float64), kh)
        post_p = np.pad(_pad_lateral(post.astype(np.float64), lat_pad), ((ax_pad, ax_pad), (0, 0)))
        post_t = np.ascontiguousarray(post_p.T)  # (columns, rows): gathers along depth are contiguous
        zeros = np.zeros((post_t.shape[0], 1))
        cs1 = np.concatenate([zeros, np.cumsum(post_t, axis=1)], axis=1)
        cs2 = np.concatenate([zeros, np.cumsum(post_t**2, axis=1)], axis=1)
        ctx = {
            "pre_p": pre_p,
            "post_t": post_t,
            "cs1": cs1,
            "cs2": cs2,
            "m": m,
            "kh": kh,
            "lat_pad": lat_pad,
            "ax_pad": ax_pad,
            "w": w,
        }

        n_rows = starts.size
        axial = np.empty((n_rows, w))
        lateral = np.empty((n_rows, w))
        peak = np.empty((n_rows, w))
        lat_max = g["lateral_search"] + 1

        # first row: wide search with a longer kernel (fewer false peaks among the many lags), then a second
        # pass with the ordinary kernel around median-filtered seeds
        zero = np.zeros(w, dtype=np.int64)
        ax, la, pk = self._match_row(ctx, starts[0], zero, zero, g["search"], g["lateral_search"], g["search_m"])
        ax_seed, la_seed = self._seeds(ax, la, max_lag, lat_max, g["median_lines"])
        ax, la, pk = self._match_row(ctx, starts[0], ax_seed, la_seed, g["track"], 1)
        axial[0], lateral[0], peak[0] = ax, la, pk
        for r in range(1, n_rows):
            ax_seed, la_seed = self._seeds(axial[r - 1], lateral[r - 1], max_lag, lat_max, g["median_lines"])
            axial[r], lateral[r], peak[r] = self._match_row(ctx, starts[r], ax_seed, la_seed, g["track"], 1)
        return axial, lateral, peak

    @staticmethod
    def _seeds(axial: np.ndarray, lateral: np.ndarray, max_lag: int, lat_max: int, median_lines: int):
        """Integer seeds per line: median over ``median_lines`` neighbouring lines, rounded and clamped."""
        ax = median_filter(axial, size=median_lines, mode="nearest")
        la = median_filter(lateral, size=median_lines, mode="nearest")
        ax = np.clip(np.rint(ax), -max_lag, max_lag).astype(np.int64)
        la = np.clip(np.rint(la), -lat_max, lat_max).astype(np.int64)
        return ax, la

    def _match_row(
        self, ctx: dict, start: int, ax_seed: np.ndarray, la_seed: np.ndarray, ax_half: int, la_half: int, m=None
    ):
        """NCC search of one window row: every line ``j`` at axial lags ``ax_seed[j] + [-ax_half, ax_half]`` and
        lateral lags ``la_seed[j] + [-la_half, la_half]`` (one more lag each side only feeds the sub-sample fit).
        """
        m = ctx["m"] if m is None else m  # kernel length (samples) of this row
        kh, w = ctx["kh"], ctx["w"]
        k = 2 * kh + 1
        n = float(m * k)
        nd = 2 * ax_half + 3
        j = np.arange(w)

        # pre kernels (W, K, M), zero mean
        block = sliding_window_view(ctx["pre_p"][start : start + m], k, axis=1)  # (M, W, K)
        block = np.transpose(block, (1, 2, 0))
        block = block - block.mean(axis=(1, 2), keepdims=True)
        pre_energy = np.einsum("jkm,jkm->j", block, block)

        # post columns (W, K, NL) and first row of each lag window (W, ND)
        lat_lags = la_seed[:, None] + np.arange(-la_half - 1, la_half + 2)[None, :]  # (W, NL)
        cols = ctx["lat_pad"] + j[:, None, None] + (np.arange(k) - kh)[None, :, None] + lat_lags[:, None, :]
        first = ctx["ax_pad"] + start + ax_seed - ax_half - 1  # (W,)
        span = m + nd - 1
        rows = first[:, None] + np.arange(span)[None, :]  # (W, span)
        seg = ctx["post_t"][cols[..., None], rows[:, None, None, :]]  # (W, K, NL, span)
        windows = sliding_window_view(seg, m, axis=-1)  # (W, K, NL, ND, M)
        cross = np.einsum("jkm,jkldm->jld", block, windows, optimize=False)  # (W, NL, ND)

        # post window sums from cumulative sums
        r0 = first[:, None] + np.arange(nd)[None, :]  # (W, ND)
        c = cols[..., None]  # (W, K, NL, 1)
        r0b = r0[:, None, None, :]
        s1 = (ctx["cs1"][c, r0b + m] - ctx["cs1"][c, r0b]).sum(axis=1)  # (W, NL, ND)
        s2 = (ctx["cs2"][c, r0b + m] - ctx["cs2"][c, r0b]).sum(axis=1)
        post_energy = np.maximum(s2 - s1 * s1 / n, 0.0)
        denom = np.sqrt(pre_energy[:, None, None] * post_energy)
        floor = (_ENERGY_FLOOR * n) ** 2
        ncc = np.where(denom * denom > floor, cross / np.where(denom > 0, denom, 1.0), 0.0)

        # integer peak among the interior lags (the outer ring only serves the sub-sample fit)
        inner = ncc[:, 1:-1, 1:-1].reshape(w, -1)
        best = np.argmax(inner, axis=1)
        li = best // (nd - 2) + 1
        di = best % (nd - 2) + 1
        b = ncc[j, li, di]
        # lateral: parabolic fit on the axial ridge, i.e. on each lateral lag's correlation at its own
        # (interpolated) axial peak, so that tilted speckle does not bias it
        near = ncc[  # (W, 3 lateral, 3 axial) around the integer peak
            j[:, None, None], li[:, None, None] + _OFFSETS[None, :, None], di[:, None, None] + _OFFSETS[None, None, :]
        ]
        ridge = _parabolic_peak_value(near[..., 0], near[..., 1], near[..., 2])  # (W, 3) over lateral offsets
        la_frac = subsample_peak(ridge[:, 0], ridge[:, 1], ridge[:, 2], "parabolic")
        # axial: the three axial lags interpolated (quadratically) to the sub-line lateral peak
        axial3 = _quadratic_at(near[:, 0], near[:, 1], near[:, 2], la_frac[:, None])  # (W, 3) over axial offsets
        ax_frac = subsample_peak(axial3[:, 0], axial3[:, 1], axial3[:, 2], self.subsample)
        axial = ax_seed - ax_half - 1 + di + ax_frac
        lateral = la_seed - la_half - 1 + li + la_frac
        return axial, lateral, b


_OFFSETS = np.array([-1, 0, 1])


def _quadratic_at(a: np.ndarray, b: np.ndarray, c: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Value at ``x`` of the parabola through ``(-1, a), (0, b), (1, c)``."""
    return b + 0.5 * x * (c - a) + 0.5 * x * x * (a + c - 2.0 * b)


def _parabolic_peak_value(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Height of the parabola through ``(-1, a), (0, b), (1, c)`` at its vertex, limited to ``|x| <= 1``."""
    curvature = 2.0 * b - a - c
    with np.errstate(divide="ignore", invalid="ignore"):
        x = np.where(curvature > 0, 0.5 * (c - a) / curvature, np.sign(c - a))
    x = np.clip(np.nan_to_num(x), -1.0, 1.0)
    return b + 0.5 * x * (c - a) - 0.5 * x * x * curvature


def _pad_lateral(frame: np.ndarray, pad: int) -> np.ndarray:
    """Mirror ``pad`` lines on each side (repeating the mirror if the frame is narrower than the pad)."""
    if pad == 0:
        return frame
    return np.pad(frame, ((0, 0), (pad, pad)), mode="symmetric")


def _to_grid(values: np.ndarray, centres: np.ndarray, h: int, m: int) -> np.ndarray:
    """Window-centre estimates ``(rows, W)`` -> every sample ``(H, W)``.

    Cubic spline between the first and last centre; beyond them a straight line whose slope is the
    least-squares slope of the estimates within one window length of that end.
    """
    z = np.arange(h, dtype=np.float64)
    if centres.size == 1:
        return np.repeat(values, h, axis=0)
    if centres.size < 4:
        out = np.empty((h, values.shape[1]))
        for col in range(values.shape[1]):
            out[:, col] = np.interp(z, centres, values[:, col])
        inside = (z >= centres[0]) & (z <= centres[-1])
    else:
        inside = (z >= centres[0]) & (z <= centres[-1])
        out = np.empty((h, values.shape[1]))
        out[inside] = CubicSpline(centres, values, axis=0)(z[inside])
    for end in (0, -1):
        near = np.abs(centres - centres[end]) <= m
        if near.sum() < 2:
            near = np.zeros_like(near)
            near[[0, 1] if end == 0 else [-2, -1]] = True
        zc = centres[near] - centres[near].mean()
        slope = (zc[:, None] * (values[near] - values[near].mean(axis=0))).sum(axis=0) / (zc**2).sum()
        outside = z < centres[0] if end == 0 else z > centres[-1]
        if outside.any():
            out[outside] = values[end][None, :] + (z[outside] - centres[end])[:, None] * slope[None, :]
    return out
