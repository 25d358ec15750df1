"""Where to measure SNRe on data without a phantom description: the most homogeneous window of the B-mode.

SNRe (mean / std of strain) is only meaningful in tissue that strains uniformly. On a user's data nobody has
marked such a region, so the window is chosen from the **pre frame's B-mode**, never from a strain map: the
choice is then the same for every estimator (no estimator can win by where its own noise happens to be low).
Homogeneous tissue shows fully developed speckle with a flat mean brightness; the score of a candidate window
is the spread of its local mean log-envelope (sub-windows of a quarter of its size), and the window with the
smallest spread wins. Lesions, vessels and layer boundaries change the mean brightness and are avoided.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import uniform_filter
from scipy.signal import hilbert

from bundle.errors import ElastographyInputError

__all__ = ["most_homogeneous_window"]


def most_homogeneous_window(
    pre_rf: np.ndarray,
    spacing_mm: tuple[float, float],
    size_mm: tuple[float, float] = (5.0, 5.0),
    depth_range_mm: tuple[float, float] | None = None,
    lateral_range_mm: tuple[float, float] | None = None,
) -> tuple[float, float]:
    """Centre ``(depth, lateral)`` in mm of the ``size_mm`` window with the flattest B-mode.

    Args:
        pre_rf: ``(H, W)`` RF of the pre frame (any amplitude scale).
        spacing_mm: (axial, lateral) pixel spacing.
        size_mm: (depth, lateral) size of the window.
        depth_range_mm, lateral_range_mm: where the whole window must lie (default: the whole frame).

    Raises:
        ElastographyInputError: the window does not fit in the allowed range.
    """
    h, w = pre_rf.shape
    dz, dx = spacing_mm
    z_lo, z_hi = depth_range_mm or (0.0, (h - 1) * dz)
    x_lo, x_hi = lateral_range_mm or (0.0, (w - 1) * dx)
    if size_mm[0] > z_hi - z_lo or size_mm[1] > x_hi - x_lo:
        raise ElastographyInputError(
            f"uniform window {size_mm[0]:g} x {size_mm[1]:g} mm does not fit in depth {z_lo:g}-{z_hi:g} mm, "
            f"lateral {x_lo:g}-{x_hi:g} mm"
        )
    envelope = np.abs(hilbert(pre_rf.astype(np.float64), axis=0))
    log_env = 20.0 * np.log10(envelope / envelope.max() + 1e-6)
    win = (max(1, int(round(size_mm[0] / dz))), max(1, int(round(size_mm[1] / dx))))
    sub = (max(1, win[0] // 4), max(1, win[1] // 4))
    local_mean = uniform_filter(log_env, sub, mode="nearest")  # speckle averaged out over a quarter window
    mean = uniform_filter(local_mean, win, mode="nearest")
    spread = uniform_filter(local_mean**2, win, mode="nearest") - mean**2
    z = np.arange(h)[:, None] * dz
    x = np.arange(w)[None, :] * dx
    fits = (
        (z - size_mm[0] / 2 >= z_lo - 1e-9)
        & (z + size_mm[0] / 2 <= z_hi + 1e-9)
        & (x - size_mm[1] / 2 >= x_lo - 1e-9)
        & (x + size_mm[1] / 2 <= x_hi + 1e-9)
    )
    if not fits.any():
        raise ElastographyInputError(f"no {size_mm[0]:g} x {size_mm[1]:g} mm window fits the frame")
    i, j = np.unravel_index(np.argmin(np.where(fits, spread, np.inf)), spread.shape)
    return float(i * dz), float(j * dx)
