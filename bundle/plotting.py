"""Figures (matplotlib, Agg): the B-mode image, and strain-map panels: B-mode | ground-truth strain | each estimate
(or every pair of a case), on one colour scale, axes in mm. Evaluation, training and export draw with these.

The panels of one comparison (one pair, several estimators) share the scale of :func:`comparison_display_range`:
0 to twice the applied strain when it is known (ground truth: its median), so the background sits mid-scale and
every estimator is judged against the same physical range; otherwise the median panel's 2nd-98th percentiles.
Never the largest value of any panel: one estimator's noise at the frame's last rows (a decorrelated, peak-hopping
estimate of tens of %) would otherwise squeeze every other panel into the bottom colour.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on servers; must precede pyplot
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy.signal import hilbert  # noqa: E402

from bundle.display import STRAIN_CMAP, add_strain_colour_bar, displayed_strain, strain_display_range  # noqa: E402
from bundle.io.atomic import atomic_path  # noqa: E402

__all__ = ["bmode_db", "comparison_display_range", "save_strain_panel", "strain_panel_figure"]


def bmode_db(rf: np.ndarray, dynamic_range_db: float = 50.0) -> np.ndarray:
    """Log-compressed envelope ``(H, W)`` in dB relative to its maximum, clipped at -dynamic_range_db."""
    envelope = np.abs(hilbert(rf.astype(np.float64), axis=0))
    db = 20.0 * np.log10(envelope / envelope.max() + 1e-12)
    return np.clip(db, -dynamic_range_db, 0.0)


def comparison_display_range(
    strains: list[np.ndarray],
    applied_strain: float | None = None,
    ground_truth: np.ndarray | None = None,
    percentiles: tuple[float, float] = (2.0, 98.0),
) -> tuple[float, float]:
    """(low, high) in % (of :func:`bundle.display.displayed_strain`) for the panels of one comparison.

    Args:
        strains: the ``(H, W)`` strain maps (fraction) of the figure, one per panel.
        applied_strain: the pair's applied compression (fraction, either sign), when known: the range is
            ``(0, 2 * 100 * |applied_strain|)``.
        ground_truth: ``(H, W)`` true strain, when known and ``applied_strain`` is not: the same with its median
            magnitude.
        percentiles: otherwise each panel's (low, high) percentiles of the displayed strain, and of those the
            median panel's: the upper median of the lows and the lower median of the highs (of two panels, the
            narrower; panels that do not overlap at all: their whole span), so that no single panel, however
            noisy, sets the range.
    """
    level = abs(float(applied_strain)) if applied_strain else 0.0
    if not (np.isfinite(level) and level > 0) and ground_truth is not None:
        shown = displayed_strain(ground_truth)
        shown = shown[np.isfinite(shown)]
        level = float(np.median(shown)) / 100.0 if shown.size else 0.0
    if np.isfinite(level) and level > 0:
        return 0.0, 200.0 * level
    ranges = []
    for strain in strains:
        shown = displayed_strain(strain)
        shown = shown[np.isfinite(shown)]
        if shown.size:
            ranges.append(np.percentile(shown, percentiles))
    if not ranges:
        return 0.0, 1.0
    lows, highs = np.sort([r[0] for r in ranges]), np.sort([r[1] for r in ranges])
    low, high = float(lows[len(lows) // 2]), float(highs[(len(highs) - 1) // 2])
    if high <= low:  # panels that do not overlap at all (two uniform maps of different strain): span them
        low, high = float(lows[0]), float(highs[-1])
    if high > low:
        return low, high
    low = max(low - 0.5, 0.0)  # uniform maps: a 1 % wide scale around them, as bundle.display does
    return low, low + 1.0


def strain_panel_figure(
    pre_rf: np.ndarray,
    strains: dict[str, np.ndarray],
    spacing_mm: tuple[float, float],
    title: str = "",
    outlines: list[tuple[tuple[float, float], float]] | None = None,
    display_range: tuple[float, float] | None = None,
):
    """The figure of :func:`save_strain_panel` (axes: B-mode, one per map, then the colour bar); the caller
    closes it."""
    h, w = pre_rf.shape
    extent = (0.0, w * spacing_mm[1], h * spacing_mm[0], 0.0)
    low, high = strain_display_range(list(strains.values())) if display_range is None else display_range
    n = 1 + len(strains)
    fig, axes = plt.subplots(1, n, figsize=(2.6 * n + 0.8, 3.6), constrained_layout=True)
    axes[0].imshow(bmode_db(pre_rf), cmap="gray", extent=extent, aspect="equal")
    axes[0].set_title("B-mode (50 dB)")
    axes[0].set_ylabel("depth (mm)")
    image = None
    for ax, (name, strain) in zip(axes[1:], strains.items(), strict=True):
        shown = displayed_strain(strain)
        image = ax.imshow(shown, cmap=STRAIN_CMAP, vmin=low, vmax=high, extent=extent, aspect="equal")
        ax.set_title(name)
        for (cz, cx), radius in outlines or []:
            ax.add_patch(plt.Circle((cx, cz), radius, fill=False, color="w", lw=0.8, ls="--"))
    for ax in axes:
        ax.set_xlabel("lateral (mm)")
    add_strain_colour_bar(fig, image, list(axes[1:]), shrink=0.8)
    if title:
        fig.suptitle(title, fontsize=9)
    return fig


def save_strain_panel(
    path: str | Path,
    pre_rf: np.ndarray,
    strains: dict[str, np.ndarray],
    spacing_mm: tuple[float, float],
    title: str = "",
    outlines: list[tuple[tuple[float, float], float]] | None = None,
    overwrite: bool = True,
    display_range: tuple[float, float] | None = None,
) -> Path:
    """Write a PNG: B-mode of ``pre_rf`` then one strain map per entry of ``strains``, all on one scale, in the
    clinical colours of :mod:`bundle.display` (soft = high strain red, hard blue; bar ends SOFT and HARD).

    Args:
        path: PNG to write (atomically).
        pre_rf: ``(H, W)`` pre-compression RF.
        strains: name -> ``(H, W)`` axial strain (fraction).
        spacing_mm: (axial, lateral) spacing.
        title: figure title.
        outlines: circles ((depth, lateral), radius) in mm drawn on the strain maps (e.g. the regions).
        display_range: (low, high) in %; default :func:`bundle.display.strain_display_range` of all the maps.
    """
    fig = strain_panel_figure(pre_rf, strains, spacing_mm, title, outlines, display_range)
    with atomic_path(path, overwrite=overwrite) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return Path(path)
