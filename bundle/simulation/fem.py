"""Finite-element mechanics: plane-strain quasi-static compression of an arbitrary shear-modulus map.

Linear elasticity, plane strain, nearly incompressible tissue (Poisson ratio up to 0.4999), solved with
`scikit-fem` in a mixed displacement-pressure form that does not lock: P2 displacement u and piecewise
constant (P0) pressure p on triangles (an inf-sup stable pair), with lambda = 2 mu nu / (1 - 2 nu):

    int 2 mu eps(u) : eps(v) - int p div v = 0            for all v
    int q div u + int p q / lambda = 0                     for all q      (p = -lambda div u)

The pressure is discontinuous, so it is eliminated element by element (p_e = -lambda_e * mean div u over
the element), leaving a symmetric positive definite system in u that one sparse LU solves. Incompressibility
is enforced only on element means, so the displacement does not lock as nu -> 1/2 (a pure-displacement
P1 mesh would; Taylor-Hood P2/P1 is as accurate here but its saddle-point solve took 25 s instead of 3 s).

Boundary conditions (a probe pressing on the top of a block that rests on a flat support):
    probe surface (depth 0): u_z = 0 (the probe is the frame of reference, as in ``mechanics``);
    bottom (depth L_z): u_z = axial_strain * L_z (compression negative: the tissue moves towards the probe);
    both frictionless (tangential traction zero), sides traction free; the node on the probe surface at the
    lateral centre has u_x = 0, which removes the rigid lateral shift.
Frictionless contact is chosen because a homogeneous block then strains uniformly (the remote uniaxial
stress of the closed form in ``mechanics``, which is the FEM's exact check); bonded contact would add
barrelling near top and bottom.

The modulus map is sampled (nearest pixel) at every quadrature point, so lesion boundaries are resolved
below the element size. Units: mm; axis 0 = depth from the probe, axis 1 = lateral; pixel (i, j) at
(i * spacing[0], j * spacing[1]).

Speed (40 x 40 mm, 0.4 mm elements, 81k displacement + 20k pressure unknowns, sampled onto 401 x 401
pixels), 2 cores: 3.3-3.9 s; test command and accuracy in docs/simulation.md.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy.sparse import diags
from scipy.sparse.linalg import splu
from skfem import Basis, BilinearForm, ElementTriP0, ElementTriP2, ElementVector, MeshTri, asm
from skfem.helpers import div

from bundle.errors import ElastographyInputError
from bundle.simulation.tissue import draw_tissue

__all__ = ["FEMResult", "solve_compression", "random_modulus_map"]

# scikit-fem logs every basis and assembly at INFO: hundreds of lines per data set under the scripts' INFO logging
logging.getLogger("skfem").setLevel(logging.WARNING)


@dataclass(frozen=True)
class FEMResult:
    """Displacement (mm) and axial strain (fraction, compression negative) on the image grid (H, W)."""

    axial_mm: np.ndarray
    lateral_mm: np.ndarray
    axial_strain: np.ndarray
    num_elements: int
    num_unknowns: int


@BilinearForm
def _stiffness(u, v, w):
    # 2 mu eps(u):eps(v) written out in the gradient components: the same number as
    # ddot(sym_grad(u), sym_grad(v)) to round-off, in 60 % of its time (sym_grad allocates per basis pair)
    gu, gv = u.grad, v.grad
    shear = 0.5 * (gu[0, 1] + gu[1, 0]) * (gv[0, 1] + gv[1, 0])
    return 2.0 * w.mu * (gu[0, 0] * gv[0, 0] + gu[1, 1] * gv[1, 1] + shear)


@BilinearForm
def _divergence(u, q, w):
    return -div(u) * q


@BilinearForm
def _compliance(p, q, w):
    return p * q * w.inv_lam


def _check(shear_modulus, spacing_mm, poisson_ratio, axial_strain, element_mm):
    mu = np.asarray(shear_modulus, dtype=np.float64)
    if mu.ndim != 2 or min(mu.shape) < 2:
        raise ElastographyInputError(f"shear modulus map must be 2-D (H, W) with H, W >= 2, got {mu.shape}")
    if not np.all(np.isfinite(mu)) or not np.all(mu > 0):
        raise ElastographyInputError("shear modulus must be finite and positive everywhere")
    if len(spacing_mm) != 2 or not all(np.isfinite(s) and s > 0 for s in spacing_mm):
        raise ValueError(f"spacing must be two positive lengths (mm), got {spacing_mm}")
    if not 0.0 <= poisson_ratio < 0.5:
        raise ValueError(f"Poisson ratio must be in [0, 0.5), got {poisson_ratio}")
    if not (np.isfinite(axial_strain) and -0.5 < axial_strain < 0.5):
        raise ValueError(f"applied axial strain {axial_strain} is not a small fraction")
    if not (np.isfinite(element_mm) and element_mm > 0):
        raise ValueError(f"element size must be positive (mm), got {element_mm}")
    return mu


def solve_compression(
    shear_modulus,
    spacing_mm: tuple[float, float],
    poisson_ratio: float = 0.495,
    axial_strain: float = -0.01,
    element_mm: float = 0.4,
) -> FEMResult:
    """Plane-strain compression of the block the image covers, by mixed P2/P0 finite elements.

    Args:
        shear_modulus: (H, W) shear modulus per pixel (any unit: only ratios matter for displacement).
        spacing_mm: (axial, lateral) pixel spacing in mm; the block spans (H - 1) x (W - 1) spacings.
        poisson_ratio: nu in [0, 0.5), the same everywhere (0.49-0.4999 for tissue).
        axial_strain: applied mean axial strain, compression negative (-0.01 = 1 % compression).
        element_mm: target side of the square cells (each split into two triangles) in mm.

    Returns:
        :class:`FEMResult`: u_z, u_x (mm) at the pixels, and d u_z / d z by central differences on the grid.
    """
    mu_map = _check(shear_modulus, spacing_mm, poisson_ratio, axial_strain, element_mm)
    dz, dx = float(spacing_mm[0]), float(spacing_mm[1])
    h, w = mu_map.shape
    lz, lx = (h - 1) * dz, (w - 1) * dx
    nz, nx = max(2, int(np.ceil(lz / element_mm))), max(2, int(np.ceil(lx / element_mm)))
    mesh = MeshTri.init_tensor(np.linspace(0.0, lz, nz + 1), np.linspace(0.0, lx, nx + 1))  # p[0]=z, p[1]=x
    ub = Basis(mesh, ElementVector(ElementTriP2()), intorder=4)
    pb = ub.with_element(ElementTriP0())

    # modulus at every quadrature point, nearest pixel
    qz, qx = ub.mapping.F(ub.X)  # (nelems, nqp) each
    iz = np.clip(np.rint(qz / dz).astype(np.int64), 0, h - 1)
    ix = np.clip(np.rint(qx / dx).astype(np.int64), 0, w - 1)
    mu_q = mu_map[iz, ix]
    inv_lam = (1.0 - 2.0 * poisson_ratio) / (2.0 * mu_q * poisson_ratio) if poisson_ratio > 0 else None
    if inv_lam is None:  # nu = 0: lambda = 0, pressure multiplier enforces p = 0
        inv_lam = np.full_like(mu_q, 1e12)

    a = asm(_stiffness, ub, mu=mu_q)
    b = asm(_divergence, ub, pb)  # (elements, displacement dofs)
    c = asm(_compliance, pb, inv_lam=inv_lam).diagonal()  # P0 pressure: C is diagonal
    # p = -C^-1 B u eliminated element by element: an SPD system in u alone (no locking: B is a P0 projection)
    k = (a + b.T @ diags(1.0 / c) @ b).tocsr()

    x = np.zeros(k.shape[0])
    top = ub.get_dofs(lambda p: np.isclose(p[0], 0.0)).all("u^1")
    bottom = ub.get_dofs(lambda p: np.isclose(p[0], lz)).all("u^1")
    pin_node = int(np.argmin(mesh.p[0] ** 2 + (mesh.p[1] - lx / 2.0) ** 2))
    pin = np.array([ub.nodal_dofs[1, pin_node]])
    fixed = np.unique(np.concatenate([top, bottom, pin]))
    x[bottom] = axial_strain * lz
    free = np.setdiff1d(np.arange(k.shape[0]), fixed)
    rhs = -(k[free][:, fixed] @ x[fixed])
    lu = splu(k[free][:, free].tocsc(), permc_spec="MMD_AT_PLUS_A", options={"SymmetricMode": True})
    x[free] = lu.solve(rhs)
    u = x

    # sample on the pixel grid: the mesh is a tensor grid, so find cells directly (faster than a KD-tree)
    zz, xx = np.meshgrid(np.arange(h) * dz, np.arange(w) * dx, indexing="ij")
    pts = np.vstack([zz.ravel(), xx.ravel()])
    cells = _find_cells(mesh, pts, lz / nz, lx / nx, nz, nx)
    uz, ux = (v.reshape(h, w) for v in _evaluate(ub, u, pts, cells))
    strain = np.gradient(uz, dz, axis=0)
    return FEMResult(uz, ux, strain, mesh.t.shape[1], int(k.shape[0] + c.size))


def _find_cells(mesh, pts, hz, hx, nz, nx):
    """Triangle holding each point of a tensor-product mesh: its square, then the one of two triangles."""
    centroids = mesh.p[:, mesh.t].mean(axis=1)
    square = np.floor(centroids[0] / hz).astype(np.int64) * nx + np.floor(centroids[1] / hx).astype(np.int64)
    order = np.argsort(square, kind="stable")
    pairs = order.reshape(-1, 2)  # two triangles per square, squares in order
    sq = np.clip(np.floor(pts[0] / hz), 0, nz - 1).astype(np.int64) * nx
    sq = sq + np.clip(np.floor(pts[1] / hx), 0, nx - 1).astype(np.int64)
    first = pairs[sq, 0]
    # barycentric coordinates in the first candidate; if any is negative, the point is in the other
    v = mesh.p[:, mesh.t[:, first]]  # (2, 3, n)
    d = (v[0, 1] - v[0, 0]) * (v[1, 2] - v[1, 0]) - (v[0, 2] - v[0, 0]) * (v[1, 1] - v[1, 0])
    l1 = ((pts[0] - v[0, 0]) * (v[1, 2] - v[1, 0]) - (v[0, 2] - v[0, 0]) * (pts[1] - v[1, 0])) / d
    l2 = ((v[0, 1] - v[0, 0]) * (pts[1] - v[1, 0]) - (pts[0] - v[0, 0]) * (v[1, 1] - v[1, 0])) / d
    tol = -1e-9
    inside = (l1 >= tol) & (l2 >= tol) & (1.0 - l1 - l2 >= tol)
    return np.where(inside, first, pairs[sq, 1])


def _evaluate(basis, u, pts, cells):
    """Values of the vector P2 field u at points pts (2, n) lying in cells (n,): (u_z, u_x)."""
    ref = basis.mapping.invF(pts[:, :, np.newaxis], tind=cells)  # (2, n, 1)
    out = np.zeros((2, pts.shape[1]))
    for k in range(basis.Nbfun):
        phi = np.asarray(basis.elem.gbasis(basis.mapping, ref, k, tind=cells)[0])[:, :, 0]  # (2, n)
        out += phi * u[basis.element_dofs[k, cells]]
    return out[0], out[1]


def random_modulus_map(
    shape: tuple[int, int],
    spacing_mm: tuple[float, float],
    rng: np.random.Generator,
    num_inclusions: tuple[int, int] = (1, 4),
    radius_mm: tuple[float, float] = (1.5, 6.0),
    stiffness_ratio: tuple[float, float] = (0.2, 6.0),
    num_layers: tuple[int, int] = (0, 3),
    layer_ratio: tuple[float, float] = (0.5, 2.0),
    background: float = 1.0,
) -> np.ndarray:
    """Shear modulus map (H, W): horizontal layers with wavy interfaces, then irregular inclusions.

    Layers: ``num_layers`` interfaces at random depths, each a random low-frequency wave, below which the
    modulus is multiplied by a log-uniform factor in ``layer_ratio``. Inclusions: star-shaped (random
    harmonics of the radius), stiffness log-uniform in ``stiffness_ratio`` times the local modulus, drawn
    in order (later ones on top). All draws come from ``rng``, so the map is reproducible from a seed.
    The map of :func:`bundle.simulation.tissue.draw_tissue`, which also returns the geometry.
    """
    return draw_tissue(
        shape, spacing_mm, rng, num_inclusions, radius_mm, stiffness_ratio, num_layers, layer_ratio, background
    ).shear_modulus
