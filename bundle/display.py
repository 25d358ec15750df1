"""How strain maps are shown to people: the clinical colour convention, one scale per case, SOFT/HARD bar.

Strain elastography displays are read as "red = soft, blue = hard". Soft tissue strains more, so the value shown
is the **magnitude** of the strain in the pair's direction of deformation (compression: ``|min(strain, 0)|``), in
%, coloured with jet: high strain (soft) red, low strain (hard) blue. Colouring the signed strain instead (negative
= compression) reverses it: a stiff lesion, near 0, would be red.

Every picture of one case (the overlay of each pair, the panels of ``strain.png``) uses one range, from all its
pairs together: a per-picture range would make the same strain a different colour in each pair.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["HARD", "SOFT", "STRAIN_CMAP", "STRAIN_LABEL", "add_strain_colour_bar", "displayed_strain",
           "strain_display_range"]  # fmt: skip

#: colour map of the displayed (magnitude) strain: low = blue = hard, high = red = soft
STRAIN_CMAP = "jet"
SOFT, HARD = "SOFT", "HARD"
STRAIN_LABEL = "|axial strain| (%)"


def displayed_strain(strain: np.ndarray) -> np.ndarray:
    """What is coloured for an axial ``strain`` map ``(H, W)`` (fraction): its magnitude in %, high = soft.

    The pair's direction is the sign of its median strain (negative: compression, positive: release, when the
    probe eases off); values of the opposite sign (noise) show as 0, the hard end. NaN stays NaN (transparent).
    """
    strain = np.asarray(strain, dtype=np.float64)
    if strain.ndim != 2:
        raise ValueError(f"strain map must be 2-D (H, W), got shape {strain.shape}")
    finite = strain[np.isfinite(strain)]
    direction = 1.0 if finite.size and np.median(finite) > 0 else -1.0
    return np.clip(direction * strain, 0.0, None) * 100.0


def _maps(strains: np.ndarray | Sequence[np.ndarray]) -> list[np.ndarray]:
    if isinstance(strains, np.ndarray) and strains.ndim == 2:
        return [strains]
    maps = list(strains)
    if not maps:
        raise ValueError("no strain map given")
    return maps


def strain_display_range(strains: np.ndarray | Sequence[np.ndarray]) -> tuple[float, float]:
    """(low, high) in % of the colour scale of one case: 1st-99th percentile of :func:`displayed_strain` over
    every map together (one ``(H, W)`` map, a ``(P, H, W)`` stack or a list of maps)."""
    values = np.concatenate([displayed_strain(s).ravel() for s in _maps(strains)])
    values = values[np.isfinite(values)]
    if values.size == 0:
        return 0.0, 1.0
    low, high = (float(v) for v in np.percentile(values, [1, 99]))
    if high > low:
        return low, high
    low = max(low - 0.5, 0.0)  # a uniform map: a 1 % wide scale around it, magnitudes stay >= 0
    return low, low + 1.0


def add_strain_colour_bar(fig, image, ax, **kwargs):
    """Colour bar of ``image`` labelled in % with SOFT at its top (high strain) and HARD at its bottom."""
    bar = fig.colorbar(image, ax=ax, label=STRAIN_LABEL, **kwargs)
    style = {"transform": bar.ax.transAxes, "ha": "center", "fontsize": 8, "fontweight": "bold"}
    bar.ax.text(0.5, 1.01, SOFT, va="bottom", **style)
    bar.ax.text(0.5, -0.01, HARD, va="top", **style)
    return bar
