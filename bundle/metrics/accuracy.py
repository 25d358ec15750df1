"""Accuracy against ground truth (simulation): strain NRMSE, displacement RMSE, strain ratio and its error.

Shapes: strain maps ``(H, W)`` (fraction, compression negative); displacement ``(2, H, W)`` in mm (channel 0
axial, 1 lateral); masks ``(H, W)`` bool. ``valid=None`` means the whole frame. Results are NaN where a figure
is undefined (empty region, zero denominator, non-finite values in the region), never a made-up number.
"""

from __future__ import annotations

import math

import numpy as np

from bundle.errors import ElastographyInputError

__all__ = ["strain_nrmse", "displacement_rmse_um", "strain_ratio", "strain_ratio_error"]


def _pair(est, true, name: str) -> tuple[np.ndarray, np.ndarray]:
    e = np.asarray(est, dtype=np.float64)
    t = np.asarray(true, dtype=np.float64)
    if e.shape != t.shape:
        raise ElastographyInputError(f"estimated {name} shape {e.shape} does not match ground truth {t.shape}")
    return e, t


def _mask(mask, shape: tuple[int, ...], name: str) -> np.ndarray:
    if mask is None:
        return np.ones(shape, dtype=bool)
    m = np.asarray(mask)
    if m.dtype != bool or m.shape != shape:
        raise ElastographyInputError(f"{name} mask must be boolean of shape {shape}, got {m.dtype} {m.shape}")
    return m


def strain_nrmse(strain_est, strain_true, valid=None) -> float:
    """sqrt(mean((e_est - e_true)^2)) / mean(|e_true|) over the valid region (signed strain in the error).

    Args:
        strain_est, strain_true: ``(H, W)`` strain maps.
        valid: ``(H, W)`` bool, or None for the whole frame.

    Returns:
        the normalised RMSE (a fraction, 0.1 = 10 %); NaN if the region is empty, mean |e_true| is zero or
        a value in it is not finite.
    """
    e, t = _pair(strain_est, strain_true, "strain")
    m = _mask(valid, t.shape, "valid")
    e, t = e[m], t[m]
    if e.size == 0 or not (np.all(np.isfinite(e)) and np.all(np.isfinite(t))):
        return math.nan
    scale = float(np.mean(np.abs(t)))
    if not scale > 0:
        return math.nan
    return float(np.sqrt(np.mean((e - t) ** 2))) / scale


def displacement_rmse_um(displacement_est_mm, displacement_true_mm, valid=None) -> tuple[float, float]:
    """RMSE of axial and lateral displacement over the valid region, in micrometres.

    Args:
        displacement_est_mm, displacement_true_mm: ``(2, H, W)`` in mm (axial, lateral).
        valid: ``(H, W)`` bool, or None for the whole frame.

    Returns:
        ``(axial_um, lateral_um)``; NaN for a channel with an empty region or non-finite values.
    """
    e, t = _pair(displacement_est_mm, displacement_true_mm, "displacement")
    if e.ndim != 3 or e.shape[0] != 2:
        raise ElastographyInputError(f"displacement must be (2, H, W), got shape {e.shape}")
    m = _mask(valid, t.shape[1:], "valid")
    out = []
    for c in range(2):
        diff = e[c][m] - t[c][m]
        ok = diff.size > 0 and np.all(np.isfinite(diff))
        out.append(1e3 * float(np.sqrt(np.mean(diff**2))) if ok else math.nan)  # mm -> um
    return out[0], out[1]


def strain_ratio(strain, target, background) -> float:
    """SR = mean(|e|) in the target / mean(|e|) in the background.

    Args:
        strain: ``(H, W)`` strain map.
        target, background: ``(H, W)`` bool masks.

    Returns:
        the ratio (< 1 for a stiff lesion); NaN if a region is empty or non-finite or the background mean is 0.
    """
    s = np.asarray(strain, dtype=np.float64)
    t = np.abs(s[_mask(target, s.shape, "target")])
    b = np.abs(s[_mask(background, s.shape, "background")])
    if t.size == 0 or b.size == 0 or not (np.all(np.isfinite(t)) and np.all(np.isfinite(b))):
        return math.nan
    mb = float(b.mean())
    if not mb > 0:
        return math.nan
    return float(t.mean()) / mb


def strain_ratio_error(ratio_est: float, ratio_true: float) -> float:
    """|SR_est - SR_true| / SR_true (a fraction); NaN unless both are finite and SR_true > 0."""
    est, true = float(ratio_est), float(ratio_true)
    if not (math.isfinite(est) and math.isfinite(true) and true > 0):
        return math.nan
    return abs(est - true) / true
