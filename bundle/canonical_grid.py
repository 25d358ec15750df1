"""A grid fixed in physical terms, so that one network sees RF from any probe alike (issue 14, part 1).

A network learns speckle, pulse and lateral correlation **in pixels**. Trained at 5 MHz, 8 samples per period and
0.3 mm pitch, it meets a different number of samples per RF period (4-12 across scanners) and of lines per beam
width on other probes: the same tissue looks different in pixels. The canonical grid removes that difference
before the network and restores the input's grid after it:

- **axial**: ``samples_per_period`` samples per RF period (default 8: one sample is ``lambda / 16`` of depth,
  ``lambda = c / f0``), by polyphase resampling of the band-limited RF (``scipy.signal.resample_poly``, the same
  rational approximation as the DP's grid, within 5 %);
- **lateral**: one line every ``lateral_wavelengths`` wavelengths (default 1: 0.31 mm at 5 MHz, which is the
  0.3 mm of the training data), by linear interpolation between neighbouring lines (lines are closer than the
  beam width, so neighbours are correlated; a band-limited resampling would ring at the frame's sides).

The displacement estimated on the canonical grid is in mm (:class:`~bundle.acquisition.Acquisition` of the
grid), so mapping it back is an interpolation of the field to the input's pixel positions, with no change of
units. Pixel ``(i, j)`` sits at depth ``i * dz`` and lateral ``j * dx`` on both grids (the toolkit's convention),
so both start at the first sample of the first line; the canonical grid covers the same extent or a little less.

Shapes: frames ``(..., H, W)`` (axial first); displacement ``(..., 2, H, W)`` in mm, (axial, lateral).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from scipy.ndimage import map_coordinates
from scipy.signal import resample_poly

from bundle.acquisition import Acquisition

__all__ = ["CanonicalGrid", "axial_resampling"]


def axial_resampling(samples_per_period: float, acquisition: Acquisition, max_denominator: int = 12) -> tuple[int, int]:
    """``(up, down)``: resampling by ``up / down`` gives about ``samples_per_period`` samples per RF period.

    The fraction nearest to ``samples_per_period x f0 / fs`` with a denominator of at most ``max_denominator``
    (e.g. 8 / 5 from 5 to 8 samples per period, 2 / 3 from 12, exactly 1 at 8): within 5 % at the default 12.
    Shared by the canonical grid and the DP's search grid (:mod:`bundle.baselines.dp`).
    """
    ratio = samples_per_period * acquisition.center_frequency_hz / acquisition.sampling_frequency_hz
    frac = Fraction(ratio).limit_denominator(max_denominator)
    if frac <= 0:  # a ratio below 1 / (2 max_denominator)
        frac = Fraction(1, max_denominator)
    return frac.numerator, frac.denominator


@dataclass(frozen=True)
class CanonicalGrid:
    """The canonical grid's definition in physical terms.

    Attributes:
        samples_per_period: axial samples per RF period on the grid (fs = samples_per_period x f0).
        lateral_wavelengths: line spacing on the grid, in wavelengths ``c / f0``.
        max_denominator: largest denominator of the axial resampling ratio (limits the polyphase filter's cost).
    """

    samples_per_period: float = 8.0
    lateral_wavelengths: float = 1.0
    max_denominator: int = 12

    def __post_init__(self):
        for name in ("samples_per_period", "lateral_wavelengths"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise ValueError(f"{name} must be a positive number, got {value!r}")
        if self.samples_per_period < 2:
            raise ValueError(f"samples_per_period must be >= 2 (Nyquist), got {self.samples_per_period}")
        if int(self.max_denominator) != self.max_denominator or self.max_denominator < 1:
            raise ValueError(f"max_denominator must be a positive integer, got {self.max_denominator!r}")

    def axial_ratio(self, acquisition: Acquisition) -> tuple[int, int]:
        """``(up, down)``: the grid's axial sampling rate is ``up / down`` times the input's."""
        return axial_resampling(self.samples_per_period, acquisition, self.max_denominator)

    def acquisition(self, acquisition: Acquisition) -> Acquisition:
        """The acquisition record of the canonical grid of ``acquisition`` (same f0, c and bandwidth)."""
        up, down = self.axial_ratio(acquisition)
        return Acquisition(
            sampling_frequency_hz=acquisition.sampling_frequency_hz * up / down,
            center_frequency_hz=acquisition.center_frequency_hz,
            speed_of_sound_m_s=acquisition.speed_of_sound_m_s,
            line_pitch_mm=self.lateral_wavelengths * acquisition.wavelength_mm,
            fractional_bandwidth=acquisition.fractional_bandwidth,
        )

    def shape(self, shape: tuple[int, int], acquisition: Acquisition) -> tuple[int, int]:
        """``(H', W')`` of the canonical grid of an ``(H, W)`` frame: the same extent or up to one pixel less."""
        up, down = self.axial_ratio(acquisition)
        h = int(math.ceil(shape[0] * up / down))  # resample_poly's output length
        extent_mm = (shape[1] - 1) * acquisition.line_pitch_mm
        w = int(math.floor(extent_mm / self.acquisition(acquisition).line_pitch_mm + 1e-9)) + 1
        return h, w

    def to_canonical(self, frames: np.ndarray, acquisition: Acquisition) -> tuple[np.ndarray, Acquisition]:
        """RF ``(..., H, W)`` on the input grid -> ``(..., H', W')`` float32 on the canonical grid, and its record."""
        frames = np.asarray(frames, dtype=np.float32)
        if frames.ndim < 2 or min(frames.shape[-2:]) < 1:
            raise ValueError(f"frames must be (..., H, W), got shape {frames.shape}")
        up, down = self.axial_ratio(acquisition)
        grid = self.acquisition(acquisition)
        out = frames if (up, down) == (1, 1) else resample_poly(frames, up, down, axis=-2)
        h, w = self.shape(frames.shape[-2:], acquisition)
        out = out[..., :h, :]
        # lateral: canonical line k sits at k * pitch' mm, i.e. at fractional input line k * pitch' / pitch
        position = np.arange(w) * grid.line_pitch_mm / acquisition.line_pitch_mm
        out = _interpolate_lines(out, position)
        return np.ascontiguousarray(out, dtype=np.float32), grid

    def from_canonical(
        self, displacement_mm: np.ndarray, acquisition: Acquisition, shape: tuple[int, int]
    ) -> np.ndarray:
        """Displacement ``(..., 2, H', W')`` in mm on the canonical grid -> ``(..., 2, H, W)`` on the input grid.

        Bilinear in (depth, lateral) position; input pixels beyond the canonical grid's last row or line (less
        than one canonical pixel) take the nearest value.
        """
        displacement_mm = np.asarray(displacement_mm, dtype=np.float32)
        grid = self.acquisition(acquisition)
        expected = self.shape(shape, acquisition)
        if displacement_mm.ndim < 3 or displacement_mm.shape[-3] != 2 or displacement_mm.shape[-2:] != expected:
            want = f"(..., 2, {expected[0]}, {expected[1]})"
            raise ValueError(f"displacement must be {want}, got {displacement_mm.shape}")
        rows = np.arange(shape[0]) * acquisition.axial_spacing_mm / grid.axial_spacing_mm
        cols = np.arange(shape[1]) * acquisition.line_pitch_mm / grid.line_pitch_mm
        rr, cc = np.meshgrid(rows, cols, indexing="ij")
        flat = displacement_mm.reshape(-1, *expected)
        out = np.stack([map_coordinates(f, [rr, cc], order=1, mode="nearest") for f in flat])
        return out.reshape(*displacement_mm.shape[:-2], *shape).astype(np.float32)


def _interpolate_lines(frames: np.ndarray, position: np.ndarray) -> np.ndarray:
    """Linear interpolation of ``frames (..., H, W)`` at fractional line positions ``position (W',)``."""
    w = frames.shape[-1]
    left = np.clip(np.floor(position).astype(np.int64), 0, max(w - 2, 0))
    right = np.minimum(left + 1, w - 1)
    t = (position - left).astype(np.float32)
    return frames[..., left] * (1 - t) + frames[..., right] * t
