"""Simulated compression sequences: one pre frame and T post frames of the same scatterers.

The scatterers of the pre frame are displaced by the closed-form field of :mod:`bundle.simulation.mechanics`
at each compression level and rendered again by :func:`bundle.simulation.rf.render_rf`; reflectivities stay
the same, so the only differences between frames are the motion and fresh electronic noise. Ground truth
(displacement in mm, axial strain) is given **on the pre-frame pixel grid**: pixel (i, j) at depth
``i * axial_spacing_mm`` and lateral ``j * line_pitch_mm``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from bundle.acquisition import Acquisition
from bundle.errors import ElastographyInputError
from bundle.simulation.mechanics import Inclusion, axial_strain_field, displacement_mm
from bundle.simulation.rf import PSF, add_noise, render_rf

__all__ = ["PhantomConfig", "SimulatedSequence", "simulate_sequence", "random_case"]


def _default_acquisition() -> Acquisition:
    # a clinical linear array: 5 MHz, 70 % bandwidth, 40 MHz sampling (8 x f0), 0.3 mm line pitch
    return Acquisition(
        sampling_frequency_hz=40e6,
        center_frequency_hz=5e6,
        speed_of_sound_m_s=1540.0,
        line_pitch_mm=0.3,
        fractional_bandwidth=0.7,
    )


@dataclass(frozen=True)
class PhantomConfig:
    """What every phantom of a data set shares.

    Attributes:
        shape: (H, W) RF frame size in (samples, lines); 2048 x 128 at the defaults is 39.4 x 38.4 mm.
        acquisition: sampling, centre frequency, bandwidth, speed of sound, line pitch.
        lateral_fwhm_mm: beam width (full width at half maximum) of the lateral PSF.
        scatterers_per_cell: mean scatterer count per resolution cell (axial x lateral FWHM); >= 10 gives
            fully developed speckle.
        snr_db: electronic noise, RMS of the noise-free RF over RMS of the noise (dB); ``inf`` for none.
        poisson_ratio: of background and lesion (0.495, nearly incompressible).
    """

    shape: tuple[int, int] = (2048, 128)
    acquisition: Acquisition = field(default_factory=_default_acquisition)
    lateral_fwhm_mm: float = 0.9
    scatterers_per_cell: float = 12.0
    snr_db: float = 30.0
    poisson_ratio: float = 0.495

    def __post_init__(self):
        object.__setattr__(self, "shape", tuple(int(n) for n in self.shape))  # configs give JSON lists
        h, w = self.shape
        if h < 32 or w < 4:
            raise ElastographyInputError(f"phantom shape {self.shape} is too small (min 32 x 4)")
        if self.scatterers_per_cell <= 0 or self.lateral_fwhm_mm <= 0:
            raise ElastographyInputError("scatterers_per_cell and lateral_fwhm_mm must be positive")

    @property
    def size_mm(self) -> tuple[float, float]:
        """(depth, width) of the imaged field in mm."""
        dz, dx = self.acquisition.spacing_mm
        return self.shape[0] * dz, self.shape[1] * dx

    def to_dict(self) -> dict:
        d = asdict(self)
        d["shape"] = list(self.shape)
        return d


@dataclass
class SimulatedSequence:
    """A simulated sequence and its ground truth.

    Attributes:
        rf: ``(1 + T, H, W)`` float32 RF, frame 0 before compression.
        displacement_mm: ``(T, 2, H, W)`` float32 ground-truth displacement (axial, lateral) in mm on the
            pre-frame grid.
        strain: ``(T, H, W)`` float32 ground-truth axial strain (fraction, compression negative).
        acquisition: the acquisition record.
        inclusion: the lesion, or None for uniform compression.
        applied_strains: compression of each post frame (positive fractions).
    """

    rf: np.ndarray
    displacement_mm: np.ndarray
    strain: np.ndarray
    acquisition: Acquisition
    inclusion: Inclusion | None
    applied_strains: tuple[float, ...]

    def description(self) -> dict:
        """JSON-serialisable phantom description (written into the sidecar and every result)."""
        inc = None if self.inclusion is None else asdict(self.inclusion)
        if inc is not None:
            inc["center_mm"] = list(inc["center_mm"])
        return {"inclusion": inc, "applied_strains": list(self.applied_strains)}


def _scatterers(config: PhantomConfig, psf: PSF, max_strain: float, rng: np.random.Generator):
    """Scatterer positions (mm) and amplitudes over the field plus margins that motion can bring into view."""
    dz, dx = config.acquisition.spacing_mm
    depth, width = config.size_mm
    # below the image: tissue that compression lifts into view; beside it: tissue that lateral expansion
    # pushes in; plus the PSF's reach so that border pixels get full speckle
    margin_z = max_strain * depth * 1.2 + (psf.axial_half_taps + 2) * dz
    margin_x = max_strain * width * 0.6 + (psf.lateral_half_taps + 2) * dx
    z_range = (-(psf.axial_half_taps + 2) * dz, depth + margin_z)
    x_range = (-margin_x, width + margin_x)
    cell_samples, cell_lines = psf.resolution_cell_samples_lines()
    density_per_mm2 = config.scatterers_per_cell / (cell_samples * dz * cell_lines * dx)
    area = (z_range[1] - z_range[0]) * (x_range[1] - x_range[0])
    n = rng.poisson(density_per_mm2 * area)
    z = rng.uniform(*z_range, size=n)
    x = rng.uniform(*x_range, size=n)
    amplitude = rng.standard_normal(n)  # Gaussian reflectivities: fully developed speckle, iso-echoic lesion
    return z, x, amplitude


def simulate_sequence(
    config: PhantomConfig,
    inclusion: Inclusion | None,
    applied_strains: tuple[float, ...] | list[float],
    seed: int | np.random.SeedSequence = 0,
) -> SimulatedSequence:
    """Simulate one pre frame and one post frame per applied strain.

    Args:
        config: shared phantom parameters.
        inclusion: the lesion (position in image mm), or None for uniform compression.
        applied_strains: compression of each post frame as positive fractions (e.g. (0.005, 0.015, 0.03)).
        seed: deterministic seed.

    Returns:
        the RF frames and ground truth (see :class:`SimulatedSequence`).
    """
    strains = tuple(float(s) for s in applied_strains)
    if not strains or any(not 0 < s < 0.2 for s in strains):
        raise ElastographyInputError(f"applied strains must be fractions in (0, 0.2), got {strains}")
    rng = np.random.default_rng(seed)
    acq = config.acquisition
    dz, dx = acq.spacing_mm
    h, w = config.shape
    psf = PSF.from_acquisition(acq, config.lateral_fwhm_mm)
    z, x, amp = _scatterers(config, psf, max(strains), rng)
    center_x = (w - 1) * dx / 2.0
    mech = {"inclusion": inclusion, "lateral_center_mm": center_x, "poisson_ratio": config.poisson_ratio}

    # linear elasticity: the field at strain s is s times the field at unit strain
    unit = 1e-2
    uz_unit, ux_unit = displacement_mm(z, x, unit, **mech)
    grid_z, grid_x = np.meshgrid(np.arange(h) * dz, np.arange(w) * dx, indexing="ij")
    gz_unit, gx_unit = displacement_mm(grid_z, grid_x, unit, **mech)
    strain_unit = axial_strain_field(grid_z, grid_x, unit, **mech)

    frames = [render_rf(z / dz, x / dx, amp, psf, config.shape)]
    displacement = np.empty((len(strains), 2, h, w), dtype=np.float32)
    strain = np.empty((len(strains), h, w), dtype=np.float32)
    for k, s in enumerate(strains):
        scale = s / unit
        frames.append(render_rf((z + scale * uz_unit) / dz, (x + scale * ux_unit) / dx, amp, psf, config.shape))
        displacement[k, 0], displacement[k, 1] = scale * gz_unit, scale * gx_unit
        strain[k] = scale * strain_unit
    # noise level is set from the noise-free pre frame so that every frame gets the same noise power
    noise_ref = float(np.sqrt(np.mean(frames[0].astype(np.float64) ** 2)))
    rf = np.stack([add_noise(f, config.snr_db, rng, reference_rms=noise_ref) for f in frames])
    return SimulatedSequence(rf, displacement, strain, acq, inclusion, strains)


def random_case(
    config: PhantomConfig,
    rng: np.random.Generator,
    num_post_frames: int = 3,
    strain_range: tuple[float, float] = (0.005, 0.03),
    lesion_probability: float = 0.85,
    radius_range_mm: tuple[float, float] = (2.0, 6.0),
) -> tuple[Inclusion | None, tuple[float, ...]]:
    """Draw a lesion (stiff or soft, any size and position) and increasing compression levels.

    Stiff lesions have 2-5x the background's shear modulus, soft ones 0.2-0.5x (log-uniform), half each.
    The first level is drawn from the lower fifth of ``strain_range`` and the last from its upper half; the
    levels in between are evenly spaced.
    """
    depth, width = config.size_mm
    inclusion = None
    if rng.random() < lesion_probability:
        r_max = min(radius_range_mm[1], depth / 5.0, width / 5.0)
        radius = rng.uniform(min(radius_range_mm[0], r_max), r_max)
        # keep the lesion off the borders the metrics leave out (less margin on a tiny field)
        edge = radius + min(2.5, 0.1 * min(depth, width))
        center = (rng.uniform(edge, max(edge, depth - edge)), rng.uniform(edge, max(edge, width - edge)))
        stiff = rng.random() < 0.5
        ratio = math.exp(rng.uniform(math.log(2.0), math.log(5.0)))
        inclusion = Inclusion((float(center[0]), float(center[1])), float(radius), ratio if stiff else 1.0 / ratio)
    lo, hi = strain_range
    first = rng.uniform(lo, lo + 0.2 * (hi - lo))
    last = rng.uniform(lo + 0.5 * (hi - lo), hi)
    levels = (first,) if num_post_frames == 1 else tuple(np.linspace(first, last, num_post_frames))
    return inclusion, tuple(float(s) for s in levels)
