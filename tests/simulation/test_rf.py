"""RF rendering is exact at continuous scatterer positions and noise has the stated SNR."""

from __future__ import annotations

import numpy as np
import pytest

from bundle.simulation.rf import PSF, add_noise, render_rf


def _direct(z, x, a, psf, shape):
    """Reference: evaluate every scatterer's PSF at every pixel (slow, obviously right)."""
    i, j = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
    out = np.zeros(shape)
    for zk, xk, ak in zip(z, x, a, strict=True):
        dz = i - zk
        pulse = np.exp(-0.5 * (dz / psf.sigma_samples) ** 2) * np.cos(2 * np.pi * psf.cycles_per_sample * dz)
        beam = np.exp(-0.5 * ((j - xk) / psf.sigma_lines) ** 2)
        # the renderer keeps taps within axial_half_taps + 1 samples of the nearest sample
        mask = (np.abs(i - np.rint(zk)) <= psf.axial_half_taps + 1) & (np.abs(j - np.rint(xk)) <= psf.lateral_half_taps)
        out += ak * pulse * beam * mask
    return out


@pytest.mark.parametrize("fs_over_f0", [8.0, 4.0])
def test_render_matches_direct_evaluation_at_sub_sample_positions(acquisition, fs_over_f0):
    psf = PSF(sigma_samples=4.28 * fs_over_f0 / 8, cycles_per_sample=1 / fs_over_f0, sigma_lines=1.27)
    rng = np.random.default_rng(3)
    shape = (160, 16)
    z, x, a = rng.uniform(-5, 165, 60), rng.uniform(-2, 18, 60), rng.standard_normal(60)
    fast = render_rf(z, x, a, psf, shape)
    ref = _direct(z, x, a, psf, shape)
    assert np.abs(fast - ref).max() < 1e-5 * np.abs(ref).max()


def test_psf_from_acquisition_has_the_stated_bandwidth(acquisition):
    psf = PSF.from_acquisition(acquisition, lateral_fwhm_mm=0.9)
    spectrum = np.abs(np.fft.rfft(render_rf(np.array([256.0]), np.array([2.0]), np.ones(1), psf, (512, 5))[:, 2]))
    freqs = np.fft.rfftfreq(512, d=1 / acquisition.sampling_frequency_hz)
    above = freqs[spectrum >= spectrum.max() / 2]  # -6 dB amplitude
    assert (above.max() - above.min()) / acquisition.center_frequency_hz == pytest.approx(0.7, abs=0.03)
    assert freqs[np.argmax(spectrum)] == pytest.approx(5e6, rel=0.03)
    assert psf.resolution_cell_samples_lines()[1] * acquisition.line_pitch_mm == pytest.approx(0.9)


def test_noise_has_the_stated_snr():
    rng = np.random.default_rng(0)
    rf = rng.standard_normal((400, 50)).astype(np.float32) * 3e-23  # simulator-scale amplitudes
    noisy = add_noise(rf, 20.0, np.random.default_rng(1))
    noise = noisy.astype(np.float64) - rf
    snr = 20 * np.log10(np.sqrt(np.mean(rf.astype(np.float64) ** 2)) / np.sqrt(np.mean(noise**2)))
    assert snr == pytest.approx(20.0, abs=0.1)
    assert add_noise(rf, float("inf"), rng) is not rf and np.array_equal(add_noise(rf, float("inf"), rng), rf)
