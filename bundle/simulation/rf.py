"""RF rendering: point scatterers at continuous positions convolved with a separable PSF.

PSF = Gaussian-windowed cosine at the centre frequency along depth (the two-way pulse) x Gaussian across
lines (the beam). Each scatterer's PSF is evaluated at the exact sample offsets ``i - s_k`` where ``s_k`` is
its continuous depth in samples: no position is rounded to the grid, so sub-sample motion shows in the RF
exactly as in a real acquisition. Electronic noise is white Gaussian at a stated SNR.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.fft import irfft, next_fast_len, rfft

from bundle.acquisition import Acquisition

__all__ = ["PSF", "render_rf", "add_noise"]

_FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))


@dataclass(frozen=True)
class PSF:
    """Point-spread function in sample units for one acquisition.

    Attributes:
        sigma_samples: standard deviation of the pulse envelope along depth (samples).
        cycles_per_sample: f0 / fs.
        sigma_lines: standard deviation of the beam across lines (lines).
        truncation: the PSF is evaluated within +-truncation sigma (envelope < exp(-truncation^2 / 2)).
    """

    sigma_samples: float
    cycles_per_sample: float
    sigma_lines: float
    truncation: float = 3.5

    @classmethod
    def from_acquisition(cls, acquisition: Acquisition, lateral_fwhm_mm: float) -> PSF:
        """Axial envelope from the fractional bandwidth (-6 dB amplitude width = B f0), beam width from its FWHM."""
        sigma_f = acquisition.fractional_bandwidth * acquisition.center_frequency_hz / _FWHM_PER_SIGMA
        sigma_t = 1.0 / (2.0 * math.pi * sigma_f)
        return cls(
            sigma_samples=sigma_t * acquisition.sampling_frequency_hz,
            cycles_per_sample=acquisition.center_frequency_hz / acquisition.sampling_frequency_hz,
            sigma_lines=lateral_fwhm_mm / _FWHM_PER_SIGMA / acquisition.line_pitch_mm,
        )

    @property
    def axial_half_taps(self) -> int:
        return int(math.ceil(self.truncation * self.sigma_samples))

    @property
    def lateral_half_taps(self) -> int:
        return int(math.ceil(self.truncation * self.sigma_lines))

    def resolution_cell_samples_lines(self) -> tuple[float, float]:
        """Full widths at half maximum of the envelope: (samples, lines)."""
        return self.sigma_samples * _FWHM_PER_SIGMA, self.sigma_lines * _FWHM_PER_SIGMA


def _pulse(offset_samples: np.ndarray, psf: PSF) -> np.ndarray:
    """Two-way pulse at ``offset_samples`` (sample index minus scatterer depth, in samples)."""
    envelope = np.exp(-0.5 * (offset_samples / psf.sigma_samples) ** 2)
    return envelope * np.cos(2.0 * math.pi * psf.cycles_per_sample * offset_samples)


def _pulse_polynomials(psf: PSF, degree: int, taps: np.ndarray) -> np.ndarray:
    """Coefficients ``C (degree + 1, len(taps))`` with ``pulse(m - f) ~= sum_q C[q, m] (2 f)^q`` for |f| <= 1/2.

    A least-squares fit in the scaled variable 2f (well conditioned on [-1, 1]) on a dense grid of f.
    """
    frac = np.linspace(-0.5, 0.5, 257)
    basis = np.vander(2.0 * frac, degree + 1, increasing=True)  # (257, degree + 1)
    targets = _pulse(taps[None, :] - frac[:, None], psf)  # (257, taps)
    coeffs, *_ = np.linalg.lstsq(basis, targets, rcond=None)
    residual = np.abs(basis @ coeffs - targets).max()
    if residual > POLYNOMIAL_TOLERANCE:
        raise ValueError(f"pulse polynomial of degree {degree} misses by {residual:.2e}; raise the degree")
    return coeffs


#: largest error of the sub-sample pulse polynomial, relative to the pulse peak (1)
POLYNOMIAL_TOLERANCE = 1e-6


def render_rf(
    depth_samples: np.ndarray,
    lateral_lines: np.ndarray,
    amplitude: np.ndarray,
    psf: PSF,
    shape: tuple[int, int],
    degree: int = 7,
) -> np.ndarray:
    """Sum the PSFs of point scatterers into an RF frame.

    Why it is fast and still exact: a scatterer at depth ``s = n + f`` (n the nearest sample, |f| <= 1/2)
    contributes ``pulse(i - n - f)`` to sample i. For each tap ``m = i - n`` the function ``f -> pulse(m - f)``
    is a polynomial of degree ``degree`` in f to within ``POLYNOMIAL_TOLERANCE`` of the peak (checked when the
    coefficients are fitted). So the frame is ``sum_q conv_depth(D_q, C_q)`` where ``D_q`` holds the scatterers'
    ``amplitude * beam * (2 f)^q`` deposited at their nearest sample: the fractional position is kept, not
    rounded, and the depth convolution is one FFT per frame.

    Args:
        depth_samples: ``(N,)`` continuous depth of each scatterer in samples (sample i sits at depth i).
        lateral_lines: ``(N,)`` continuous lateral position in lines (line j sits at j).
        amplitude: ``(N,)`` reflectivity.
        psf: the point-spread function.
        shape: (H, W) of the frame.
        degree: degree of the sub-sample polynomial.

    Returns:
        ``(H, W)`` float32 RF.
    """
    h, w = shape
    ka, kl = psf.axial_half_taps + 1, psf.lateral_half_taps
    keep = (depth_samples > -ka) & (depth_samples < h - 1 + ka) & (lateral_lines > -kl) & (lateral_lines < w - 1 + kl)
    zs = depth_samples[keep].astype(np.float64)
    xs = lateral_lines[keep].astype(np.float64)
    amp = amplitude[keep].astype(np.float64)

    # deposit grid: rows n in [-ka, h - 1 + ka], columns in [-2 kl, w - 1 + 2 kl]
    pa, pl = ka, 2 * kl
    hp, wp = h + 2 * pa, w + 2 * pl
    n = np.rint(zs).astype(np.int64)
    frac2 = 2.0 * (zs - n)
    lateral_taps = np.arange(-kl, kl + 1)
    cols = np.rint(xs).astype(np.int64)[:, None] + lateral_taps[None, :]  # (N, L)
    beam = np.exp(-0.5 * ((cols - xs[:, None]) / psf.sigma_lines) ** 2) * amp[:, None]  # (N, L)
    flat = ((n[:, None] + pa) * wp + (cols + pl)).ravel()  # (N * L,) deposit index
    deposits = np.empty((degree + 1, hp * wp), dtype=np.float64)
    weight = beam
    for q in range(degree + 1):
        if q:
            weight = weight * frac2[:, None]
        deposits[q] = np.bincount(flat, weights=weight.ravel(), minlength=hp * wp)
    deposits = deposits.reshape(degree + 1, hp, wp)

    taps = np.arange(-ka, ka + 1)
    coeffs = _pulse_polynomials(psf, degree, taps.astype(np.float64))  # (Q, 2ka + 1)
    nfft = next_fast_len(hp + taps.size - 1, real=True)
    spectrum = np.einsum("qfw,qf->fw", rfft(deposits, nfft, axis=1), rfft(coeffs, nfft, axis=1))
    full = irfft(spectrum, nfft, axis=0)  # row r holds sum_m C[m] D[r - m] with m offset by -ka
    # output sample i = deposit row (i + pa) shifted by the first tap (-ka): full row index i + pa + ka
    return full[pa + ka : pa + ka + h, pl : pl + w].astype(np.float32)


def add_noise(
    rf: np.ndarray, snr_db: float, rng: np.random.Generator, reference_rms: float | None = None
) -> np.ndarray:
    """Add white Gaussian electronic noise with ``rms(reference) / rms(noise) = 10^(snr_db / 20)``.

    ``reference_rms`` defaults to the RMS of ``rf``; pass the pre frame's so that a sequence shares one noise
    level. ``snr_db = inf`` adds nothing.
    """
    if math.isinf(snr_db) and snr_db > 0:
        return rf.astype(np.float32)
    ref = float(np.sqrt(np.mean(rf.astype(np.float64) ** 2))) if reference_rms is None else reference_rms
    noise_rms = ref / 10.0 ** (snr_db / 20.0)
    return (rf + rng.normal(0.0, noise_rms, size=rf.shape)).astype(np.float32)
