"""Attenuation: the centre-frequency downshift against its closed form; TGC flattens the mean envelope."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.signal import hilbert

from bundle.simulation.attenuation import (
    attenuate_pulse,
    attenuate_rf,
    downshifted_frequency_hz,
    np_per_m_per_hz,
    tgc_gain,
)
from bundle.simulation.pulse import make_pulse, measure_spectrum

FWHM = 2.0 * math.sqrt(2.0 * math.log(2.0))


def test_reference_example():
    """0.5 dB/cm/MHz, 5 MHz, B = 0.7, 30 mm: downshift about 0.77 MHz (realistic_simulation.md)."""
    assert np_per_m_per_hz(1.0) == pytest.approx(100.0 / 8.686 / 1e6, rel=1e-3)
    shift = 5e6 - downshifted_frequency_hz(5e6, 0.7 * 5e6 / FWHM, 0.03, 0.5)
    assert shift == pytest.approx(0.77e6, rel=0.02)


@pytest.mark.parametrize("f0_hz,a0", [(3e6, 1.0), (5e6, 0.5), (12e6, 0.3)])
def test_downshift_matches_formula(f0_hz, a0):
    fs, bw = 12 * f0_hz, 0.7
    pulse = make_pulse("gaussian", f0_hz, bw, fs)
    for depth in (0.01, 0.02, 0.04):
        f, _ = measure_spectrum(attenuate_pulse(pulse, fs, depth, a0), fs)
        expected = downshifted_frequency_hz(f0_hz, bw * f0_hz / FWHM, depth, a0)
        assert f == pytest.approx(expected, rel=0.02), (depth, f, expected)


def _speckle(h, w, pulse, rng, per_sample=0.5):
    rf = np.zeros((h, w))
    for j in range(w):
        rf[:, j] = np.convolve(rng.standard_normal(h) * (rng.random(h) < per_sample), pulse, mode="same")
    return rf


def test_rf_downshift_and_tgc_flatten():
    f0, bw, fs, c, a0 = 5e6, 0.7, 40e6, 1540.0, 0.5
    sigma_f = bw * f0 / FWHM
    pulse = make_pulse("gaussian", f0, bw, fs)
    h = 2048  # 39 mm
    rf = _speckle(h, 64, pulse, np.random.default_rng(0))
    att = attenuate_rf(rf, fs, c, a0)
    depth = np.arange(h) * c / (2 * fs)
    # power-spectrum centroid of 256-sample Hann blocks, averaged over lines, against the closed form at the
    # block centre (a Gaussian amplitude spectrum has its power centroid at the same centre)
    for start in (256, 1024, 1664):
        block = att[start : start + 256] * np.hanning(256)[:, None]
        power = (np.abs(np.fft.rfft(block, 4096, axis=0)) ** 2).mean(axis=1)
        freqs = np.fft.rfftfreq(4096, 1.0 / fs)
        f = float((freqs * power).sum() / power.sum())
        expected = downshifted_frequency_hz(f0, sigma_f, depth[start + 128], a0)
        assert f == pytest.approx(expected, rel=0.03), (start, f, expected)  # measured within 0.6 %
    env = np.abs(hilbert(att * tgc_gain(depth, f0, sigma_f, a0)[:, None], axis=0)).mean(axis=1)
    ref = np.abs(hilbert(rf, axis=0)).mean(axis=1)
    means = [env[s : s + 256].mean() / ref[s : s + 256].mean() for s in range(128, h - 256, 256)]
    assert max(abs(m - 1.0) for m in means) < 0.05, means  # measured within 1.2 %
