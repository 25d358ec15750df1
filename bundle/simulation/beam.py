"""Depth-dependent lateral beam width: focused transmit, or plane-wave transmit with dynamic receive focusing.

Two-way lateral amplitude profile: a Gaussian whose full width at half maximum depends on depth z (mm), with
lambda the wavelength at the centre frequency (facts in ``docs/simulation.md``, section 7.2):

- ``"focused"`` (focal depth z_f, f-number F = z_f / aperture; dynamic receive focusing on the same f-number):
  a Gaussian-beam hyperbola with its waist at the focus and the depth of field 7 lambda F^2 as twice its
  Rayleigh range:  FWHM(z) = lambda F sqrt(1 + ((z - z_f) / (3.5 lambda F^2))^2).
  At the focus FWHM = lambda F; at z_f +- 3.5 lambda F^2 it is sqrt(2) times wider; far from the focus it widens
  linearly, |z - z_f| / (3.5 F) (the geometric cone |z - z_f| / F narrowed by the two-way product).
- ``"plane_wave"`` (unfocused transmit, compounded or not; dynamic receive aperture A(z) = z / F_rx, limited to
  the probe aperture A_max): FWHM(z) = lambda z / min(z / F_rx, A_max) = lambda max(F_rx, z / A_max): constant
  where the aperture follows the f-number, widening linearly once the whole probe is in use.

Both are floored at ``min_fwhm_mm`` (the line pitch: a beam narrower than the line spacing would alias laterally,
which scanners avoid by their line density).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

__all__ = ["TRANSMITS", "BeamModel", "draw_beam"]

TRANSMITS = ("focused", "plane_wave")

#: Rayleigh range of the focused beam in units of lambda F^2 (half the depth of field 7 lambda F^2)
_RAYLEIGH_PER_LAMBDA_F2 = 3.5


@dataclass(frozen=True)
class BeamModel:
    """Lateral two-way beam width as a function of depth.

    Attributes:
        transmit: ``"focused"`` or ``"plane_wave"``.
        wavelength_mm: lambda = c / f0 (mm).
        f_number: transmit f-number (focused) or receive f-number (plane wave).
        focal_depth_mm: focus depth (focused); None for plane waves.
        max_aperture_mm: largest active aperture (the probe's width, mm).
        min_fwhm_mm: floor of the width (mm).
    """

    transmit: str
    wavelength_mm: float
    f_number: float
    focal_depth_mm: float | None
    max_aperture_mm: float
    min_fwhm_mm: float = 0.0

    def __post_init__(self):
        if self.transmit not in TRANSMITS:
            raise ValueError(f"transmit must be one of {TRANSMITS}, got {self.transmit!r}")
        if not (self.wavelength_mm > 0 and self.f_number > 0 and self.max_aperture_mm > 0 and self.min_fwhm_mm >= 0):
            raise ValueError("wavelength, f-number and aperture must be positive, the width floor non-negative")
        if self.transmit == "focused" and not (self.focal_depth_mm is not None and self.focal_depth_mm > 0):
            raise ValueError("a focused beam needs a positive focal depth")

    def fwhm_mm(self, depth_mm) -> np.ndarray:
        """Two-way lateral FWHM (mm) at ``depth_mm`` (array, mm from the probe)."""
        z = np.asarray(depth_mm, dtype=np.float64)
        lam, f = self.wavelength_mm, self.f_number
        if self.transmit == "focused":
            rayleigh = _RAYLEIGH_PER_LAMBDA_F2 * lam * f * f
            width = lam * f * np.sqrt(1.0 + ((z - self.focal_depth_mm) / rayleigh) ** 2)
        else:
            width = lam * np.maximum(f, np.maximum(z, 0.0) / self.max_aperture_mm)
        return np.maximum(width, self.min_fwhm_mm)

    def to_dict(self) -> dict:
        return asdict(self)


def draw_beam(
    rng: np.random.Generator,
    wavelength_mm: float,
    depth_mm: float,
    max_aperture_mm: float,
    min_fwhm_mm: float = 0.0,
    focused_probability: float = 0.5,
    focused_f_number: tuple[float, float] = (1.5, 4.0),
    receive_f_number: tuple[float, float] = (1.0, 2.5),
    focal_fraction: tuple[float, float] = (0.3, 0.8),
) -> BeamModel:
    """Draw a beam for an image of ``depth_mm``: focused with probability ``focused_probability`` (f-number uniform
    in ``focused_f_number``, focal depth uniform in ``focal_fraction`` of the depth; the f-number is raised where
    the aperture z_f / F would exceed ``max_aperture_mm``), else a plane wave (receive f-number uniform)."""
    if rng.random() < focused_probability:
        focal = float(rng.uniform(*focal_fraction) * depth_mm)
        f_number = max(float(rng.uniform(*focused_f_number)), focal / max_aperture_mm)
        return BeamModel("focused", wavelength_mm, f_number, focal, max_aperture_mm, min_fwhm_mm)
    f_number = float(rng.uniform(*receive_f_number))
    return BeamModel("plane_wave", wavelength_mm, f_number, None, max_aperture_mm, min_fwhm_mm)
