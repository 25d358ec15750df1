"""What the probe and scanner are, drawn per sequence: the acquisition record and frame size, and the axial pulse
at every depth band (shape, anti-aliasing, attenuation) with its TGC gain.

Used by :mod:`bundle.simulation.realistic`; the ranges come from its ``RealisticSpec``.
"""

from __future__ import annotations

import math

import numpy as np

from bundle.acquisition import Acquisition
from bundle.simulation.attenuation import attenuate_pulse
from bundle.simulation.depth_render import band_coefficients, pulse_half_taps
from bundle.simulation.pulse import draw_pulse, make_pulse, measure_spectrum

__all__ = ["OVERSAMPLING", "draw_acquisition", "band_limited", "tapered_ends", "band_pulses"]

#: the fine pulse is sampled this many times faster than the RF (the sub-sample fit reads it at j / 64 samples)
OVERSAMPLING = 64


def draw_acquisition(rng: np.random.Generator, spec) -> tuple[Acquisition, tuple[int, int], dict]:
    """Draw f0, bandwidth, samples per period, pitch, depth and lines from ``spec`` (a ``RealisticSpec``); apply
    the width and pixel caps.

    Returns:
        the acquisition, the frame shape (H, W) and the record of drawn and capped values.
    """
    f0 = rng.uniform(*spec.center_frequency_mhz) * 1e6
    bandwidth = rng.uniform(*spec.fractional_bandwidth)
    spp = rng.uniform(*spec.samples_per_period)
    pitch = rng.uniform(*spec.line_pitch_mm)
    depth = rng.uniform(*spec.depth_mm)
    lines = int(rng.integers(spec.lines[0], spec.lines[1] + 1))
    acq = Acquisition(spp * f0, f0, spec.speed_of_sound_m_s, pitch, bandwidth)
    dz = acq.axial_spacing_mm
    h = int(round(depth / dz)) + 1
    w = min(lines, int(spec.max_width_mm / pitch))
    if h * w > spec.max_pixels:
        w = max(min(w, 64), spec.max_pixels // h)
    if h * w > spec.max_pixels:
        h = spec.max_pixels // w
    record = {
        "center_frequency_hz": f0,
        "fractional_bandwidth": bandwidth,
        "samples_per_period": spp,
        "line_pitch_mm": pitch,
        "drawn_depth_mm": depth,
        "drawn_lines": lines,
        "shape": [h, w],
        "depth_mm": (h - 1) * dz,
        "width_mm": (w - 1) * pitch,
    }
    return acq, (h, w), record


def band_limited(pulse: np.ndarray, fine_fs: float, fs: float) -> np.ndarray:
    """The fine pulse without content above the RF's Nyquist frequency (raised-cosine taper 0.4-0.5 fs: the
    receiver's anti-aliasing filter)."""
    n = 1 << int(math.ceil(math.log2(2 * pulse.size)))
    f = np.fft.rfftfreq(n, 1.0 / fine_fs)
    taper = np.clip((0.5 * fs - f) / (0.1 * fs), 0.0, 1.0)
    taper = 0.5 - 0.5 * np.cos(np.pi * taper)
    return np.fft.irfft(np.fft.rfft(pulse, n) * taper, n)[: pulse.size]


def tapered_ends(pulse: np.ndarray) -> np.ndarray:
    """The pulse with its outer quarter on each side brought smoothly to zero (raised cosine): the sub-sample
    polynomials cannot follow a step where the array stops, and the asymmetric spectrum's kink and the
    attenuation filter leave slowly decaying tails."""
    t = np.abs(np.linspace(-1.0, 1.0, pulse.size))
    return pulse * (0.5 + 0.5 * np.cos(np.pi * np.clip((t - 0.75) / 0.25, 0.0, 1.0)))


def band_pulses(rng, acq: Acquisition, a0: float, depth_mm: float, band_spacing_mm: float):
    """Draw the pulse shape (and skew) at the acquisition's f0 and bandwidth and attenuate it at band depths.

    Returns:
        band depths (K,) in mm, sub-sample coefficients (K, Q, taps), TGC amplitude gain per band (K,), the record
        of the draw, and the pulse's axial energy sum(p^2) dz (mm) at the surface.
    """
    fs, f0, bw = acq.sampling_frequency_hz, acq.center_frequency_hz, acq.fractional_bandwidth
    drawn = draw_pulse(rng, fs_hz=fs, f0_range_mhz=(f0 / 1e6, f0 / 1e6), bandwidth_range=(bw, bw))
    fine_fs = fs * OVERSAMPLING
    fine = band_limited(make_pulse(drawn.shape, f0, bw, fine_fs, skew=drawn.parameters["skew"]), fine_fs, fs)
    fine = tapered_ends(fine / np.abs(fine).max())
    n_bands = max(2, int(math.ceil(depth_mm / band_spacing_mm)) + 1)
    depths = np.linspace(0.0, depth_mm, n_bands)
    band = [tapered_ends(attenuate_pulse(fine, fine_fs, z * 1e-3, a0)) for z in depths]
    half = max(pulse_half_taps(p, OVERSAMPLING) for p in band)
    coeffs = band_coefficients(band, OVERSAMPLING, half)
    energy = np.array([np.sum(p * p) for p in band])
    gain = np.sqrt(energy[0] / energy)
    measured_f0, measured_bw = measure_spectrum(fine, fine_fs)
    record = {
        "shape": drawn.shape,
        "skew": drawn.parameters["skew"],
        "measured_center_frequency_hz": measured_f0,
        "measured_fractional_bandwidth": measured_bw,
        "half_taps": half,
        "polynomial_degree": coeffs.shape[1] - 1,
    }
    axial_energy_mm = float(energy[0] / OVERSAMPLING * acq.axial_spacing_mm)  # sum p^2 dz of the RF pulse
    return depths, coeffs, gain, record, axial_energy_mm
