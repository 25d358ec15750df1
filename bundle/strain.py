"""Axial strain from axial displacement by least squares (Kallel & Ophir LSQSE).

The slope of a straight line fitted over ``2h + 1`` consecutive axial displacement samples,

    e_i = sum_{k=-h..h} k * u_{i+k} * 3 / (h (h + 1) (2h + 1)) / dz,

which is the Savitzky-Golay first derivative of order 1. Strain is a fraction (compression negative).
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import correlate1d

from bundle.errors import ElastographyInputError

__all__ = ["lsq_derivative_kernel", "kernel_half_length", "axial_strain"]


def kernel_half_length(kernel_mm: float, axial_spacing_mm: float) -> int:
    """Half length h (samples) of the least-squares kernel covering about ``kernel_mm`` of depth (h >= 1)."""
    if kernel_mm <= 0 or axial_spacing_mm <= 0:
        raise ValueError(f"kernel ({kernel_mm} mm) and spacing ({axial_spacing_mm} mm) must be positive")
    return max(1, int(round(kernel_mm / axial_spacing_mm / 2.0)))


def lsq_derivative_kernel(half_length: int, spacing: float = 1.0) -> np.ndarray:
    """Weights ``(2h + 1,)`` of the least-squares slope; correlate them with a signal to get d/dz per ``spacing``."""
    h = int(half_length)
    if h < 1:
        raise ValueError(f"least-squares half length must be >= 1, got {h}")
    k = np.arange(-h, h + 1, dtype=np.float64)
    return k * 3.0 / (h * (h + 1) * (2 * h + 1)) / spacing


def axial_strain(axial_displacement_mm: np.ndarray, axial_spacing_mm: float, kernel_mm: float = 1.0) -> np.ndarray:
    """Axial strain ``d u_z / d z`` of an axial displacement field.

    Args:
        axial_displacement_mm: ``(..., H, W)`` axial displacement in mm on a grid ``axial_spacing_mm`` apart
            along axis -2.
        axial_spacing_mm: distance between two axial samples (mm).
        kernel_mm: length of the least-squares fit (mm); longer is smoother and coarser.

    Returns:
        ``(..., H, W)`` strain as a fraction (float32). At the top and bottom the field is continued by odd
        reflection about the edge sample, which keeps a linear displacement linear, so a uniform strain comes
        back exactly everywhere; the estimate there still sees fewer real samples.
    """
    u = np.asarray(axial_displacement_mm, dtype=np.float64)
    if u.ndim < 2:
        raise ElastographyInputError(f"displacement must be at least (H, W), got shape {u.shape}")
    h = kernel_half_length(kernel_mm, axial_spacing_mm)
    if 2 * h + 1 > u.shape[-2]:
        h = max(1, (u.shape[-2] - 1) // 2)
    weights = lsq_derivative_kernel(h, axial_spacing_mm)
    pad = [(0, 0)] * u.ndim
    pad[-2] = (h, h)
    padded = np.pad(u, pad, mode="reflect", reflect_type="odd")
    strain = correlate1d(padded, weights, axis=-2, mode="constant")
    return np.take(strain, np.arange(h, h + u.shape[-2]), axis=-2).astype(np.float32)
