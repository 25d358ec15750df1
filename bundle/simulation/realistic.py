"""The realistic, randomised simulator: one sequence with its own drawn acquisition, pulse, beam, attenuation,
tissue (FEM mechanics), echogenicity and freehand motion, and exact ground truth (docs/simulation.md, section 7).

Pipeline of :func:`simulate_realistic` (every drawn value goes into ``RealisticSequence.parameters``):

1. acquisition (:func:`draw_acquisition`): f0, bandwidth, samples per period, line pitch, depth, lines (the lateral
   width capped at ``max_width_mm``, the frame at ``max_pixels``);
2. pulse (:func:`bundle.simulation.pulse.draw_pulse` shape and skew at the drawn f0 and bandwidth), band-limited
   below the Nyquist frequency; attenuation a0 and its TGC; beam (:func:`bundle.simulation.beam.draw_beam`);
3. tissue: a block larger than the image (margins below and beside it, so the FEM's edges stay out of view) with
   layers and inclusions drawn inside the imaged window (:func:`bundle.simulation.tissue.draw_tissue`); one FEM
   solve at 1 % compression (:func:`bundle.simulation.fem.solve_compression`), scaled to every level (linear
   elasticity);
4. echogenicity (:mod:`bundle.simulation.echogenicity`) and motion (:mod:`bundle.simulation.motion`);
5. scatterers moved by the FEM field (cubic B-spline of the FEM samples) plus the rigid motion, rendered with the
   depth-dependent PSF (:mod:`bundle.simulation.depth_render`), electronic noise added before the TGC gain (so the
   SNR falls with depth, as on a scanner), fresh noise per frame.

Ground truth on the pre-frame pixel grid (pixel (i, j) at depth ``i * dz``, lateral ``j * pitch``): displacement
``x_k(X) - X`` of :func:`bundle.simulation.motion.move_points` with the same interpolated field, and axial strain
d u_z / d z by central differences at the pixel spacing.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy.ndimage import map_coordinates, spline_filter

from bundle.acquisition import Acquisition
from bundle.simulation.beam import draw_beam
from bundle.simulation.depth_render import render_rf_banded
from bundle.simulation.echogenicity import draw_echogenicity, scatterers, specular_scatterers
from bundle.simulation.fem import solve_compression
from bundle.simulation.motion import draw_motion, move_points
from bundle.simulation.probe import band_pulses, draw_acquisition
from bundle.simulation.tissue import draw_tissue

__all__ = ["RealisticSpec", "RealisticSequence", "draw_acquisition", "simulate_realistic"]

_FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))
#: FEM solved at this compression and scaled (linear elasticity)
_UNIT_STRAIN = 0.01


def _pair(v) -> tuple[float, float]:
    lo, hi = (float(x) for x in v)
    if not lo <= hi:
        raise ValueError(f"range must be (low, high) with low <= high, got {v}")
    return lo, hi


@dataclass(frozen=True)
class RealisticSpec:
    """Ranges every realistic sequence is drawn from (uniform unless stated) and the speed settings.

    Attributes:
        center_frequency_mhz, fractional_bandwidth, samples_per_period (any real number), line_pitch_mm,
        depth_mm, lines (integers), attenuation_db_cm_mhz, snr_db (at mid-depth), poisson_ratio: the drawn
        quantities.
        num_inclusions, num_layers, stiffness_ratio: tissue ranges (:func:`bundle.simulation.tissue.draw_tissue`).
        strain_range: compression of the post frames (log-uniform, sorted: unequal freehand steps).
        slip_step_mm, rotation_step_deg, decorrelation: motion ranges (:func:`bundle.simulation.motion.draw_motion`).
        max_width_mm: lateral width cap (a probe aperture): lines are cut to ``max_width_mm / pitch``.
        max_pixels: frame size cap (speed and disk): lines are cut first (not below 64), then depth.
        max_scatterers: speckle scatterers per frame at most; above it every density is thinned alike.
        tissue_grid_mm: pixel of the modulus map, the FEM samples and the echogenicity maps (mm).
        fem_elements: target number of square FEM cells (element side = sqrt(block area / this), clipped to
            ``element_mm``).
        band_spacing_mm: depth between the attenuation bands of the renderer.
        speed_of_sound_m_s: assumed by the "scanner" and used by the simulation (not drawn).
    """

    center_frequency_mhz: tuple[float, float] = (3.0, 12.0)
    fractional_bandwidth: tuple[float, float] = (0.4, 1.0)
    samples_per_period: tuple[float, float] = (4.0, 12.0)
    line_pitch_mm: tuple[float, float] = (0.1, 0.4)
    depth_mm: tuple[float, float] = (15.0, 60.0)
    lines: tuple[int, int] = (64, 384)
    attenuation_db_cm_mhz: tuple[float, float] = (0.3, 1.0)
    snr_db: tuple[float, float] = (15.0, 40.0)
    poisson_ratio: tuple[float, float] = (0.49, 0.499)
    num_inclusions: tuple[int, int] = (1, 4)
    num_layers: tuple[int, int] = (0, 3)
    stiffness_ratio: tuple[float, float] = (0.2, 6.0)
    strain_range: tuple[float, float] = (0.001, 0.05)
    slip_step_mm: tuple[float, float] = (0.0, 0.3)
    rotation_step_deg: tuple[float, float] = (0.0, 0.3)
    decorrelation: tuple[float, float] = (0.0, 0.1)
    max_width_mm: float = 50.0
    max_pixels: int = 400_000
    max_scatterers: int = 400_000
    tissue_grid_mm: float = 0.25
    fem_elements: int = 3000
    element_mm: tuple[float, float] = (0.5, 1.5)
    band_spacing_mm: float = 4.0
    speed_of_sound_m_s: float = 1540.0

    def __post_init__(self):
        for name in (
            "center_frequency_mhz",
            "fractional_bandwidth",
            "samples_per_period",
            "line_pitch_mm",
            "depth_mm",
            "attenuation_db_cm_mhz",
            "snr_db",
            "poisson_ratio",
            "stiffness_ratio",
            "strain_range",
            "slip_step_mm",
            "rotation_step_deg",
            "decorrelation",
            "element_mm",
        ):
            object.__setattr__(self, name, _pair(getattr(self, name)))
        for name in ("lines", "num_inclusions", "num_layers"):
            object.__setattr__(self, name, tuple(int(v) for v in getattr(self, name)))
        if self.samples_per_period[0] < 2.5 or self.max_pixels < 64 * 64 or self.lines[0] < 4:
            raise ValueError("need >= 2.5 samples per period, >= 4 lines and max_pixels >= 4096")

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


@dataclass
class RealisticSequence:
    """One realistic sequence.

    Attributes:
        rf: ``(1 + T, H, W)`` float32 RF, frame 0 the pre frame.
        displacement_mm: ``(T, 2, H, W)`` float32 (axial, lateral) ground truth on the pre-frame grid (mm).
        strain: ``(T, H, W)`` float32 axial strain d u_z / d z (fraction, compression negative).
        acquisition: the drawn acquisition record.
        applied_strains: ``(T,)`` compression levels (positive fractions) of the FEM part of the motion.
        parameters: every drawn value (JSON-serialisable).
        inclusions_mm: the stiffness inclusions in image coordinates (center_mm, radius_mm, harmonics, ...).
    """

    rf: np.ndarray
    displacement_mm: np.ndarray
    strain: np.ndarray
    acquisition: Acquisition
    applied_strains: tuple[float, ...]
    parameters: dict
    inclusions_mm: list


#: rows added above the probe surface before the spline fit (see :func:`_spline`)
_TOP_PAD = 8


def _spline(field: np.ndarray) -> np.ndarray:
    """Cubic B-spline coefficients of a block field (H, W), with ``_TOP_PAD`` rows above the probe surface made by
    point reflection about row 0 (u(-k) = 2 u(0) - u(k)): a linear field stays linear across the surface, where
    the spline's own mirror boundary would put a kink (it bent a uniform strain by 10 % within 0.5 mm of the
    probe)."""
    top = 2.0 * field[:1] - field[_TOP_PAD:0:-1]
    return spline_filter(np.concatenate([top, field]), order=3)


def _field(coeffs_block, z_mm, x_mm, grid_mm, x_offset_mm):
    """A block field (coefficients of :func:`_spline`) at image positions (mm), by its cubic B-spline."""
    pts = np.stack([np.asarray(z_mm) / grid_mm + _TOP_PAD, (np.asarray(x_mm) + x_offset_mm) / grid_mm])
    return map_coordinates(coeffs_block, pts.reshape(2, -1), order=3, prefilter=False, mode="nearest").reshape(
        np.shape(z_mm)
    )


def _ground_truth(uz_c, ux_c, motion, shape, spacing_mm, grid_mm, side_mm):
    """Displacement ``(T, 2, H, W)`` (mm) and axial strain ``(T, H, W)`` on the pre-frame pixel grid: the points
    moved as the scatterers are (:func:`bundle.simulation.motion.move_points` with the same spline field), and
    d u_z / d z by central differences at the pixel spacing."""
    (h, w), (dz, pitch) = shape, spacing_mm
    zz, xx = np.meshgrid(np.arange(h) * dz, np.arange(w) * pitch, indexing="ij")
    gz, gx = _field(uz_c, zz, xx, grid_mm, side_mm), _field(ux_c, zz, xx, grid_mm, side_mm)
    t = len(motion.strains)
    displacement = np.empty((t, 2, h, w), dtype=np.float32)
    strain = np.empty((t, h, w), dtype=np.float32)
    for k in range(t):
        zk, xk = move_points(zz, xx, gz, gx, motion, k)
        displacement[k, 0], displacement[k, 1] = zk - zz, xk - xx
        strain[k] = np.gradient(zk - zz, dz, axis=0)
    return displacement, strain


def _to_image(echo: dict, side: float) -> dict:
    """Echogenicity record with blob centres in image coordinates (the block's lateral offset removed)."""
    out = dict(echo)
    shift = lambda d: {**d, "center_mm": [d["center_mm"][0], d["center_mm"][1] - side]}  # noqa: E731
    out["blobs"] = [shift(b) for b in echo["blobs"]]
    out["low_density"] = None if echo["low_density"] is None else shift(echo["low_density"])
    return out


def simulate_realistic(
    spec: RealisticSpec | None = None, num_post_frames: int = 2, seed: int | np.random.SeedSequence = 0
) -> RealisticSequence:
    """Draw and simulate one realistic sequence (see the module docstring); deterministic for a seed."""
    spec = spec or RealisticSpec()
    seed_seq = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    draw_seed, render_seed = seed_seq.spawn(2)
    rng = np.random.default_rng(draw_seed)
    acq, (h, w), acq_record = draw_acquisition(rng, spec)
    dz, pitch = acq.spacing_mm
    depth_mm, width_mm = (h - 1) * dz, (w - 1) * pitch
    a0 = float(rng.uniform(*spec.attenuation_db_cm_mhz))
    snr_db = float(rng.uniform(*spec.snr_db))
    band_depths, coeffs, tgc, pulse_record, axial_energy_mm = band_pulses(rng, acq, a0, depth_mm, spec.band_spacing_mm)
    beam = draw_beam(rng, acq.wavelength_mm, depth_mm, max_aperture_mm=w * pitch, min_fwhm_mm=pitch)

    # tissue block: the image is a window at the top centre of a larger block
    g = spec.tissue_grid_mm
    side, bottom = max(8.0, 0.25 * width_mm), max(8.0, 0.3 * depth_mm)
    block_shape = (int(math.ceil((depth_mm + bottom) / g)) + 1, int(math.ceil((width_mm + 2 * side) / g)) + 1)
    side = ((block_shape[1] - 1) * g - width_mm) / 2.0  # centre the window exactly
    window = ((0.0, depth_mm), (side, side + width_mm))
    tissue = draw_tissue(
        block_shape,
        (g, g),
        rng,
        num_inclusions=spec.num_inclusions,
        radius_mm=(1.5, max(1.5, min(6.0, depth_mm / 5))),
        stiffness_ratio=spec.stiffness_ratio,
        num_layers=spec.num_layers,
        region_mm=window,
    )
    nu = float(rng.uniform(*spec.poisson_ratio))
    block_mm = ((block_shape[0] - 1) * g, (block_shape[1] - 1) * g)
    element = float(np.clip(math.sqrt(block_mm[0] * block_mm[1] / spec.fem_elements), *spec.element_mm))
    fem = solve_compression(tissue.shear_modulus, (g, g), nu, -_UNIT_STRAIN, element)
    uz_c = _spline(fem.axial_mm / _UNIT_STRAIN)  # per unit compression
    ux_c = _spline(fem.lateral_mm / _UNIT_STRAIN)

    motion = draw_motion(
        rng,
        num_post_frames,
        (0.0, width_mm / 2.0),
        spec.strain_range,
        slip_step_mm=spec.slip_step_mm,
        rotation_step_deg=spec.rotation_step_deg,
        decorrelation_range=spec.decorrelation,
    )
    cell_lateral = float(beam.fwhm_mm(depth_mm / 2.0))
    cell_area = acq.speed_of_sound_m_s * 1e3 / (2.0 * acq.fractional_bandwidth * acq.center_frequency_hz) * cell_lateral
    echo = draw_echogenicity(rng, tissue, cell_area, window)

    # scatterers over the image plus what the motion can bring into view, in block coordinates
    widest = float(beam.fwhm_mm(np.array([0.0, depth_mm])).max())
    reach_x = 3.5 * widest / _FWHM_PER_SIGMA + 2 * pitch
    reach_z = (pulse_record["half_taps"] + 2) * dz
    s_max, t_max = max(motion.strains), max(abs(t) for t in motion.lateral_shift_mm)
    rot = max(abs(a) for a in motion.rotation_rad)
    margin_z = 1.2 * s_max * depth_mm + rot * width_mm / 2 + reach_z
    margin_x = 0.6 * s_max * width_mm + t_max + rot * depth_mm + reach_x
    region = ((0.0, depth_mm + margin_z), (side - margin_x, side + width_mm + margin_x))  # no tissue above the probe
    area = (region[0][1] - region[0][0]) * (region[1][1] - region[1][0])
    expected = float(echo.density.max()) * area
    count_scale = min(1.0, spec.max_scatterers / expected)
    rrng = np.random.default_rng(render_seed)

    def speckle(share=1.0):
        zb, xb, amp = scatterers(echo, tissue, region, rrng, count_scale * share)
        return zb, xb - side, amp

    z, x, amp = speckle()
    # specular lines: a 0 dB line peaks at the speckle RMS, sqrt(rho sum(p^2) dz sigma sqrt(pi)), where the beam
    # is narrowest (its peak is sigma sqrt(2 pi) / spacing times a scatterer's); brighter by sqrt(width) elsewhere
    ref_width = float(beam.fwhm_mm(np.linspace(0.0, depth_mm, 64)).min())
    ref_sigma = ref_width / _FWHM_PER_SIGMA
    spacing = acq.wavelength_mm / 4.0
    speckle_rms = math.sqrt(count_scale * echo.density.max() * axial_energy_mm * math.sqrt(math.pi) * ref_sigma)
    peak = speckle_rms * spacing / (math.sqrt(2.0 * math.pi) * ref_sigma)
    sz, sx, samp = specular_scatterers(echo, tissue, region[1], spacing, peak)
    sx = sx - side

    def render(zi, xi, ai):
        width = beam.fwhm_mm(zi)
        gain = np.sqrt(ref_width / width)  # equal speckle power at every depth before attenuation
        sigma = width / _FWHM_PER_SIGMA / pitch
        return render_rf_banded(zi / dz, xi / pitch, ai * gain, sigma, band_depths / dz, coeffs, (h, w)).astype(
            np.float64
        )

    all_z, all_x, all_amp = np.concatenate([z, sz]), np.concatenate([x, sx]), np.concatenate([amp, samp])
    uz = _field(uz_c, all_z, all_x, g, side)
    ux = _field(ux_c, all_z, all_x, g, side)
    clean = [render(all_z, all_x, all_amp)]
    n_speckle = z.size
    for k in range(num_post_frames):
        m = rrng.binomial(n_speckle, motion.decorrelation)
        if m:
            idx = rrng.choice(n_speckle, m, replace=False)
            nz, nx, na = speckle(min(1.0, 1.2 * m / n_speckle))  # a fresh draw of about 1.2 m, the first m used
            take = min(m, nz.size)
            idx, nz, nx, na = idx[:take], nz[:take], nx[:take], na[:take]
            all_z[idx], all_x[idx], all_amp[idx] = nz, nx, na
            uz[idx], ux[idx] = _field(uz_c, nz, nx, g, side), _field(ux_c, nz, nx, g, side)
        zk, xk = move_points(all_z, all_x, uz, ux, motion, k)
        clean.append(render(zk, xk, all_amp))
    # the drawn SNR holds at mid-depth (rows 40-60 %): noise added before the TGC gain is amplified with depth,
    # so shallower rows have a higher SNR and deeper ones a lower (down to noise where the signal has died out)
    mid = clean[0][int(0.4 * h) : max(int(0.6 * h), int(0.4 * h) + 1)]
    noise_rms = float(np.sqrt(np.mean(mid**2))) / 10.0 ** (snr_db / 20.0)
    rows_mm = np.arange(h) * dz
    row_gain = np.exp(np.interp(rows_mm, band_depths, np.log(tgc)))[:, None]
    rf = np.stack([((f + rrng.normal(0.0, noise_rms, f.shape)) * row_gain).astype(np.float32) for f in clean])

    displacement, strain = _ground_truth(uz_c, ux_c, motion, (h, w), (dz, pitch), g, side)
    inclusions = [{**inc, "center_mm": [inc["center_mm"][0], inc["center_mm"][1] - side]} for inc in tissue.inclusions]
    tissue_record = tissue.description()
    tissue_record["inclusions"] = inclusions
    tissue_record["layers"] = [
        {**lay, "phase": lay["phase"] + 2 * math.pi * side / lay["period_mm"]} for lay in tissue.layers
    ]
    parameters = {
        "mode": "realistic",
        "acquisition": acq_record,
        "pulse": pulse_record,
        "attenuation_db_cm_mhz": a0,
        "tgc": "amplitude gain sqrt(E(0) / E(z)) of the attenuated pulse energy, log-linear in depth between bands",
        "snr_db": snr_db,
        "snr_reference": "RMS of the noise-free pre frame before TGC over rows 40-60 % of the depth / noise RMS",
        "beam": beam.to_dict(),
        "tissue": {
            **tissue_record,
            "coordinates": "image mm (depth from the probe, lateral from the first line)",
            "block_mm": [block_mm[0], block_mm[1]],
            "window_offset_mm": [0.0, side],
            "grid_mm": g,
            "poisson_ratio": nu,
        },
        "fem": {"element_mm": element, "elements": fem.num_elements, "unknowns": fem.num_unknowns},
        "echogenicity": _to_image(echo.description, side),
        "motion": motion.to_dict(),
        "scatterers": {"speckle": int(n_speckle), "specular": int(sz.size), "count_scale": count_scale},
        "bands_mm": [float(v) for v in band_depths],
    }
    return RealisticSequence(rf, displacement, strain, acq, motion.strains, parameters, inclusions)
