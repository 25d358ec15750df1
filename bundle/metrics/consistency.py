"""Cross-level consistency of a sequence: do the strain maps of one pre frame and T post frames agree?

In a linear-elastic medium the strain at compression level k is the applied strain times one fixed pattern,
so each map divided by its mean background strain (``n_k = e_k / mean(e_k in background)``) should be the same
at every level. The **cross-level spread** is the mean over the valid region of the per-pixel standard
deviation (ddof = 0) of ``n_k`` across the T levels: 0 for perfectly proportional maps, lower is better,
unitless (a spread of 0.1 = 10 % of the background strain). All maps are on the pre frame's grid, so the same
pixel is the same tissue point at every level (motion compensated by construction).
"""

from __future__ import annotations

import math

import numpy as np

from bundle.metrics.regions import Regions

__all__ = ["SEQUENCE_METRIC_DESCRIPTIONS", "cross_level_spread"]

SEQUENCE_METRIC_DESCRIPTIONS: dict[str, str] = {
    "cross_level_spread": "cross-level spread: mean over the valid region of the std over the post frames of "
    "strain / mean background strain; unitless, same value on every frame row of a sequence, NaN for T < 2",
}


def cross_level_spread(strains: np.ndarray, regions: Regions) -> float:
    """Spread of background-normalised strain across the levels of one sequence.

    Args:
        strains: ``(T, H, W)`` strain maps of the T post frames (fraction), on the pre grid.
        regions: the frame's regions; ``background`` normalises, ``valid`` is averaged over.

    Returns:
        the spread (unitless); NaN when T < 2, a region is empty, or a background mean is 0 or not finite.
    """
    e = np.asarray(strains, dtype=np.float64)
    if e.ndim != 3 or e.shape[1:] != tuple(regions.shape):
        raise ValueError(f"strains must be (T, H, W) with (H, W) = {tuple(regions.shape)}, got {e.shape}")
    background, valid = regions.background, regions.valid
    if e.shape[0] < 2 or not background.any() or not valid.any():
        return math.nan
    scale = e[:, background].mean(axis=1)
    if not np.all(np.isfinite(scale)) or np.any(scale == 0):
        return math.nan
    normalized = e[:, valid] / scale[:, None]
    return float(normalized.std(axis=0).mean())
