"""The colour overlay a PACS viewer shows: B-mode in grey, strain in colour on top, a colour bar in %.

Rendered with matplotlib (Agg) to an RGB ``uint8`` array at the physical aspect ratio, for the DICOM Secondary
Capture (:mod:`bundle.export.dicom`) and for anyone who wants a picture.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # no display on servers; must precede pyplot
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from bundle.evaluation.figures import bmode_db  # noqa: E402

__all__ = ["render_strain_overlay", "strain_display_range"]


def strain_display_range(strain: np.ndarray) -> tuple[float, float]:
    """(low, high) strain in % for the colour scale: 1st-99th percentile of the finite values."""
    values = strain[np.isfinite(strain)] * 100.0
    if values.size == 0:
        return 0.0, 1.0
    low, high = (float(v) for v in np.percentile(values, [1, 99]))
    return (low, high) if high > low else (low - 0.5, low + 0.5)


def render_strain_overlay(
    pre_rf: np.ndarray,
    strain: np.ndarray,
    spacing_mm: tuple[float, float],
    title: str = "",
    alpha: float = 0.6,
    height_px: int = 640,
) -> np.ndarray:
    """B-mode of ``pre_rf`` ``(H, W)`` with axial ``strain`` ``(H, W)`` (fraction) blended in colour.

    Returns:
        ``(rows, columns, 3)`` uint8 RGB, about ``height_px`` rows, with axes in mm and a colour bar
        "axial strain (%)" (negative = compression; stiff tissue strains less).
    """
    h, w = pre_rf.shape
    extent = (0.0, w * spacing_mm[1], h * spacing_mm[0], 0.0)
    depth_mm, width_mm = h * spacing_mm[0], w * spacing_mm[1]
    fig_h = height_px / 100.0
    fig_w = min(3.0 * fig_h, max(3.0, fig_h * width_mm / depth_mm * 0.85 + 1.6))
    fig, ax = plt.subplots(figsize=(fig_w, fig_h), dpi=100, constrained_layout=True)
    ax.imshow(bmode_db(pre_rf), cmap="gray", extent=extent, aspect="equal")
    low, high = strain_display_range(strain)
    image = ax.imshow(strain * 100.0, cmap="jet", vmin=low, vmax=high, alpha=alpha, extent=extent, aspect="equal")
    ax.set_xlabel("lateral (mm)")
    ax.set_ylabel("depth (mm)")
    if title:
        ax.set_title(title, fontsize=9)
    fig.colorbar(image, ax=ax, shrink=0.9, label="axial strain (%)")
    fig.canvas.draw()
    rgb = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    plt.close(fig)
    return rgb
