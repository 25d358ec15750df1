"""Physical estimator parameters -> samples and lines of one acquisition.

The classical estimators state every length in mm or in wavelengths ``lambda = c / f0``
(:attr:`bundle.acquisition.Acquisition.wavelength_mm`); these helpers turn them into whole samples and lines.
One RF period spans ``lambda / 2`` of depth (two-way travel), i.e. ``fs / f0`` samples.
"""

from __future__ import annotations

import math

__all__ = ["odd_lines", "positive"]


def odd_lines(width_mm: float, pitch_mm: float) -> int:
    """The odd number of lines whose extent (count x pitch) is nearest to ``width_mm`` (at least 1)."""
    return max(1, 2 * int(math.floor(0.5 * (width_mm / pitch_mm - 1.0) + 0.5)) + 1)


def positive(name: str, value) -> float:
    """``value`` as a float if it is a finite number > 0, else ``ValueError`` naming the parameter."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return float(value)
