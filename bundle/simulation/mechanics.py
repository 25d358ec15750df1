"""Ground-truth mechanics: closed-form plane-strain displacement of a circular elastic inclusion.

Kolosov-Muskhelishvili solution for an elastic circular inclusion (radius a, shear modulus mu2) in an infinite
elastic matrix (mu1) under a remote uniaxial axial stress S (sigma_zz = S, sigma_xx = 0), plane strain, with
the complex coordinate w = x + i z measured from the inclusion centre and kappa = 3 - 4 nu:

    2 mu (u_x + i u_z) = kappa phi(w) - w conj(phi'(w)) - conj(psi(w))
    outside: phi = (S/4) w + A/w,  psi = (S/2) w + B/w + a^2 A / w^3
    inside:  phi = alpha w,        psi = beta w

(coefficients in ``_coefficients``; see docs/simulation.md). S is scaled so that the far-field axial strain
equals the applied strain (compression negative), and a rigid shift keeps the probe surface point above the
inclusion still. Without an inclusion the same formulas give uniform compression.

Units: positions and displacements in mm; strain as a fraction; axial (z) first, z = depth from the probe.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bundle.errors import ElastographyInputError

__all__ = ["Inclusion", "displacement_mm", "axial_strain_field"]

#: step (mm) of the central difference that turns the closed-form displacement into strain
_DERIVATIVE_STEP_MM = 1e-4


@dataclass(frozen=True)
class Inclusion:
    """A circular lesion.

    Attributes:
        center_mm: (depth, lateral) of the centre in image coordinates (mm): depth from the probe surface,
            lateral from the first RF line.
        radius_mm: radius (mm).
        stiffness_ratio: shear modulus of the lesion over the background's; > 1 stiff, < 1 soft.
    """

    center_mm: tuple[float, float]
    radius_mm: float
    stiffness_ratio: float

    def __post_init__(self):
        if not self.radius_mm > 0:
            raise ElastographyInputError(f"inclusion radius must be positive, got {self.radius_mm}")
        if not self.stiffness_ratio > 0:
            raise ElastographyInputError(f"stiffness ratio must be positive, got {self.stiffness_ratio}")


def _coefficients(stress: float, radius: float, mu1: float, mu2: float, nu: float):
    kappa = 3.0 - 4.0 * nu  # same Poisson ratio inside and out
    a2 = radius**2
    A = -stress * a2 * (mu1 - mu2) / (2.0 * (mu1 + kappa * mu2))
    B = stress * a2 * (mu1 - mu2 + kappa * mu2 - kappa * mu1) / (2.0 * (2.0 * mu2 + (kappa - 1.0) * mu1))
    alpha = stress * mu2 * (kappa + 1.0) / (4.0 * (2.0 * mu2 + (kappa - 1.0) * mu1))
    beta = stress * mu2 * (kappa + 1.0) / (2.0 * (mu1 + kappa * mu2))
    return kappa, A, B, alpha, beta


def _infinite_plane(z, x, applied_strain, inclusion, center, nu):
    """Displacement (u_z, u_x) of the infinite-plane solution, no rigid shift."""
    mu1 = 1.0
    radius = inclusion.radius_mm if inclusion is not None else 1.0
    mu2 = inclusion.stiffness_ratio * mu1 if inclusion is not None else mu1
    # far-field plane strain: e_zz = S (1 - nu) / (2 mu1); compression is negative strain
    stress = 2.0 * mu1 * (-applied_strain) / (1.0 - nu)
    kappa, A, B, alpha, beta = _coefficients(stress, radius, mu1, mu2, nu)
    w = (x - center[1]) + 1j * (z - center[0])
    # without an inclusion (mu2 = mu1) the inside formula is the uniform far field everywhere
    inside = np.abs(w) < radius if inclusion is not None else np.ones(w.shape, dtype=bool)
    wo = np.where(inside, 1.0 + 0j, w)  # avoid 1/w at the centre; those points use the inside formula
    phi = stress / 4.0 * wo + A / wo
    dphi = stress / 4.0 - A / wo**2
    psi = stress / 2.0 * wo + B / wo + radius**2 * A / wo**3
    out_outside = (kappa * phi - wo * np.conj(dphi) - np.conj(psi)) / (2.0 * mu1)
    out_inside = (kappa * alpha * w - w * np.conj(alpha) - np.conj(beta * w)) / (2.0 * mu2)
    out = np.where(inside, out_inside, out_outside)
    return out.imag, out.real


def displacement_mm(
    z_mm,
    x_mm,
    applied_strain: float,
    inclusion: Inclusion | None = None,
    lateral_center_mm: float = 0.0,
    poisson_ratio: float = 0.495,
) -> tuple[np.ndarray, np.ndarray]:
    """Closed-form displacement (u_z, u_x) in mm at positions (z_mm, x_mm), probe surface point held still.

    Args:
        z_mm, x_mm: arrays (broadcastable) of depth and lateral position (mm), any points (continuous).
        applied_strain: compression as a positive fraction (0.01 = 1 %); the far-field axial strain is
            ``-applied_strain``.
        inclusion: the lesion, or None for uniform compression.
        lateral_center_mm: lateral position that does not move sideways when there is no inclusion
            (the image centre); with an inclusion its centre is used.
        poisson_ratio: nu of background and lesion (0.495: nearly incompressible tissue).

    Returns:
        ``(u_z, u_x)`` float64 arrays in mm; u_z positive = away from the probe.
    """
    if not -0.5 < applied_strain < 0.5:
        raise ElastographyInputError(f"applied strain {applied_strain} is not a small fraction")
    z = np.asarray(z_mm, dtype=np.float64)
    x = np.asarray(x_mm, dtype=np.float64)
    center = inclusion.center_mm if inclusion is not None else (0.0, lateral_center_mm)
    uz, ux = _infinite_plane(z, x, applied_strain, inclusion, center, poisson_ratio)
    # rigid shift: the probe surface (depth 0) above the centre does not move
    uz0, ux0 = _infinite_plane(np.zeros(1), np.full(1, center[1]), applied_strain, inclusion, center, poisson_ratio)
    return uz - uz0[0], ux - ux0[0]


def axial_strain_field(z_mm, x_mm, applied_strain: float, inclusion: Inclusion | None = None, **kwargs) -> np.ndarray:
    """Axial strain d u_z / d z (fraction) at (z_mm, x_mm), by a central difference of the closed form.

    The step is 1e-4 mm, so the truncation error is far below float32 resolution except within 1e-4 mm of
    the inclusion boundary, where the strain itself jumps.
    """
    h = _DERIVATIVE_STEP_MM
    z = np.asarray(z_mm, dtype=np.float64)
    up, _ = displacement_mm(z + h, x_mm, applied_strain, inclusion, **kwargs)
    down, _ = displacement_mm(z - h, x_mm, applied_strain, inclusion, **kwargs)
    return (up - down) / (2.0 * h)
