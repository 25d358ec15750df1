"""Warped NCC: how well the post frame, moved back by an estimated displacement, matches the pre frame.

Convention: the post frame sampled at ``x + u(x)`` matches the pre frame at ``x`` (``u`` on the pre-frame
grid, positive axial = away from the probe). Pixel (i, j) is sampled at the fractional position
``(i + u_z / dz, j + u_x / dx)`` with a cubic B-spline (``scipy.ndimage.map_coordinates``, order 3,
``mode='nearest'``: outside the frame the edge value repeats).

Shapes: frames ``(H, W)``; displacement ``(2, H, W)`` in mm (axial, lateral); ``spacing_mm = (dz, dx)``.
Warped NCC needs no ground truth but rewards displacement that follows speckle noise, so pair it with SNRe.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.ndimage import map_coordinates

from bundle.errors import ElastographyInputError

__all__ = ["warp_post", "warped_ncc", "ncc"]


def warp_post(post, displacement_mm, spacing_mm: tuple[float, float]) -> np.ndarray:
    """Post frame sampled at ``x + u(x)``: an ``(H, W)`` float64 image aligned with the pre frame.

    Args:
        post: ``(H, W)`` post-compression frame.
        displacement_mm: ``(2, H, W)`` displacement in mm on the pre-frame grid (axial, lateral).
        spacing_mm: (axial, lateral) pixel spacing in mm.
    """
    p = np.asarray(post, dtype=np.float64)
    u = np.asarray(displacement_mm, dtype=np.float64)
    if p.ndim != 2 or u.shape != (2, *p.shape):
        raise ElastographyInputError(f"need post (H, W) and displacement (2, H, W), got {p.shape} and {u.shape}")
    dz, dx = (float(s) for s in spacing_mm)
    if not (dz > 0 and dx > 0):
        raise ElastographyInputError(f"spacing must be positive, got {spacing_mm}")
    if not np.all(np.isfinite(u)):
        raise ElastographyInputError("displacement contains NaN or Inf: cannot warp")
    i, j = np.meshgrid(np.arange(p.shape[0]), np.arange(p.shape[1]), indexing="ij")
    coords = np.stack([i + u[0] / dz, j + u[1] / dx])
    return map_coordinates(p, coords, order=3, mode="nearest")


def ncc(a, b, mask=None) -> float:
    """Pearson correlation of two equally shaped arrays over ``mask`` (bool) or everywhere.

    NaN if the region is empty, holds non-finite values, or either array is constant on it.
    """
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    if x.shape != y.shape:
        raise ElastographyInputError(f"frames differ in shape: {x.shape} vs {y.shape}")
    if mask is not None:
        m = np.asarray(mask)
        if m.dtype != bool or m.shape != x.shape:
            raise ElastographyInputError(f"mask must be boolean of shape {x.shape}, got {m.dtype} {m.shape}")
        x, y = x[m], y[m]
    if x.size == 0 or not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        return math.nan
    x = x.ravel() - x.mean()
    y = y.ravel() - y.mean()
    den = math.sqrt(float(np.dot(x, x)) * float(np.dot(y, y)))
    if not den > 0:
        return math.nan
    return float(np.dot(x, y)) / den


def warped_ncc(pre, post, displacement_mm, spacing_mm: tuple[float, float], valid=None) -> float:
    """Pearson NCC of the pre frame and the post frame warped by ``displacement_mm`` (see :func:`warp_post`).

    Args:
        pre, post: ``(H, W)`` frames (RF or envelope, the same kind for both).
        displacement_mm: ``(2, H, W)`` estimated displacement in mm (axial, lateral).
        spacing_mm: (axial, lateral) pixel spacing in mm.
        valid: ``(H, W)`` bool region to correlate over, or None for the whole frame.

    Returns:
        NCC in [-1, 1]; NaN if undefined (empty region, constant frame, non-finite displacement).
    """
    if not np.all(np.isfinite(np.asarray(displacement_mm, dtype=np.float64))):
        return math.nan  # a broken estimate has no figure; warp_post itself refuses it
    warped = warp_post(post, displacement_mm, spacing_mm)
    return ncc(pre, warped, valid)
