"""The colour overlay a PACS viewer shows: B-mode in grey, strain in colour on top, a SOFT/HARD colour bar in %.

Rendered with matplotlib (Agg) to an RGB ``uint8`` array at the physical aspect ratio, for the DICOM Secondary
Capture (:mod:`bundle.export.dicom`) and for anyone who wants a picture. Colours follow the clinical convention of
:mod:`bundle.display`: soft (high strain) red, hard (low strain) blue.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # no display on servers; must precede pyplot
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from bundle.display import STRAIN_CMAP, add_strain_colour_bar, displayed_strain, strain_display_range  # noqa: E402
from bundle.plotting import bmode_db  # noqa: E402

__all__ = ["overlay_figure", "render_strain_overlay", "strain_display_range"]


def overlay_figure(
    pre_rf: np.ndarray,
    strain: np.ndarray,
    spacing_mm: tuple[float, float],
    title: str = "",
    alpha: float = 0.6,
    height_px: int = 640,
    display_range: tuple[float, float] | None = None,
):
    """The matplotlib figure of :func:`render_strain_overlay` (its first axes holds the map, in mm; its last the
    colour bar); the caller closes it (``plt.close(fig)``)."""
    h, w = pre_rf.shape
    extent = (0.0, w * spacing_mm[1], h * spacing_mm[0], 0.0)
    depth_mm, width_mm = h * spacing_mm[0], w * spacing_mm[1]
    fig_h = height_px / 100.0
    fig_w = min(3.0 * fig_h, max(3.0, fig_h * width_mm / depth_mm * 0.85 + 1.6))
    fig, ax = plt.subplots(figsize=(fig_w, fig_h), dpi=100, constrained_layout=True)
    ax.imshow(bmode_db(pre_rf), cmap="gray", extent=extent, aspect="equal")
    low, high = strain_display_range(strain) if display_range is None else display_range
    shown = displayed_strain(strain)
    image = ax.imshow(shown, cmap=STRAIN_CMAP, vmin=low, vmax=high, alpha=alpha, extent=extent, aspect="equal")
    ax.set_xlabel("lateral (mm)")
    ax.set_ylabel("depth (mm)")
    if title:
        ax.set_title(title, fontsize=9)
    add_strain_colour_bar(fig, image, ax, shrink=0.9)
    return fig


def render_strain_overlay(
    pre_rf: np.ndarray,
    strain: np.ndarray,
    spacing_mm: tuple[float, float],
    title: str = "",
    alpha: float = 0.6,
    height_px: int = 640,
    display_range: tuple[float, float] | None = None,
) -> np.ndarray:
    """B-mode of ``pre_rf`` ``(H, W)`` with axial ``strain`` ``(H, W)`` (fraction) blended in colour.

    Args:
        display_range: (low, high) of the colour scale in % (:func:`bundle.display.strain_display_range` of all
            the case's pairs, so that every pair has one scale); default this map's own range.

    Returns:
        ``(rows, columns, 3)`` uint8 RGB, about ``height_px`` rows, with axes in mm and a colour bar
        "|axial strain| (%)" from HARD (low strain, blue) to SOFT (high strain, red).
    """
    fig = overlay_figure(pre_rf, strain, spacing_mm, title, alpha, height_px, display_range)
    fig.canvas.draw()
    rgb = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    plt.close(fig)
    return rgb
