"""Quality figures of a strain map: SNR, CNR (square-root form) and CNRe (no root), and a dB helper.

All figures use the strain **magnitude** |e| (metrics.md); means and standard deviations are population
statistics (``std`` with ``ddof=0``). Inputs are value arrays of any shape (flattened), or an array plus a
boolean mask of the same shape selecting the region.

Undefined figures are NaN, never a made-up number: an empty region, a zero standard deviation (a constant
region has no noise to measure against, so SNR = mean / 0 is not a figure of merit; a std below 1e-12 of
the mean is round-off and counts as zero), or NaN/Inf inside the region.
"""

from __future__ import annotations

import math

import numpy as np

from bundle.errors import ElastographyInputError

__all__ = ["region_values", "snr", "cnr", "cnr_e", "to_db"]

#: relative std below which a region counts as constant (float64 round-off of the mean, with slack)
_ROUND_OFF = 1e-12


def region_values(values, mask=None) -> np.ndarray:
    """Flattened float64 values, optionally those under a boolean ``mask`` of the same shape."""
    arr = np.asarray(values, dtype=np.float64)
    if mask is None:
        return arr.ravel()
    m = np.asarray(mask)
    if m.dtype != bool:
        raise ElastographyInputError(f"region mask must be boolean, got dtype {m.dtype}")
    if m.shape != arr.shape:
        raise ElastographyInputError(f"region mask shape {m.shape} does not match values shape {arr.shape}")
    return arr[m]


def _magnitude_stats(values, mask=None) -> tuple[float, float]:
    """(mean, std with ddof=0) of |values|; (nan, nan) for an empty or non-finite region."""
    v = np.abs(region_values(values, mask))
    if v.size == 0 or not np.all(np.isfinite(v)):
        return math.nan, math.nan
    mean, std = float(v.mean()), float(v.std(ddof=0))
    # a constant region still shows a std of a few ulps of the mean from summation round-off; that is
    # not noise, so it counts as zero (an SNR above 1e12 is never a measurement)
    return mean, (0.0 if std <= _ROUND_OFF * mean else std)


def snr(values, mask=None) -> float:
    """SNR = mean(|e|) / std(|e|) (linear, std with ddof=0).

    Args:
        values: strain values (any shape); with ``mask`` the full map.
        mask: optional boolean region of the same shape as ``values``.

    Returns:
        the ratio; NaN for an empty region, non-finite values or zero standard deviation.
    """
    mean, std = _magnitude_stats(values, mask)
    if not std > 0:  # also catches nan
        return math.nan
    return mean / std


def _contrast(target, background) -> tuple[float, float]:
    """(2 (m_b - m_t)^2, s_b^2 + s_t^2) of the magnitudes; NaN where a region is empty or non-finite."""
    mt, st = _magnitude_stats(target)
    mb, sb = _magnitude_stats(background)
    return 2.0 * (mb - mt) ** 2, sb**2 + st**2


def cnr_e(target, background) -> float:
    """CNRe = 2 (m_b - m_t)^2 / (s_b^2 + s_t^2), no square root (Varghese & Ophir 1998).

    Args:
        target, background: strain values of the two regions (any shape, flattened; use
            :func:`region_values` to cut them from a map).

    Returns:
        the linear ratio; NaN when a region is empty or both standard deviations are zero.
    """
    num, den = _contrast(target, background)
    if not den > 0:
        return math.nan
    return num / den


def cnr(target, background) -> float:
    """CNR = sqrt(2 (m_b - m_t)^2 / (s_b^2 + s_t^2)), square-root form (Rivaz-lab code); equals sqrt(CNRe).

    Same arguments and NaN rules as :func:`cnr_e`.
    """
    value = cnr_e(target, background)
    return math.sqrt(value) if math.isfinite(value) else math.nan


def to_db(ratio: float, power: bool = False) -> float:
    """A linear ratio in dB: 20 log10 for amplitude ratios (SNR, CNR), 10 log10 with ``power=True`` (CNRe).

    Both give the same dB for CNR and CNRe = CNR^2. Zero gives -inf (the true limit); a negative or NaN
    ratio gives NaN.
    """
    r = float(ratio)
    if math.isnan(r) or r < 0:
        return math.nan
    if r == 0:
        return -math.inf
    return (10.0 if power else 20.0) * math.log10(r)
