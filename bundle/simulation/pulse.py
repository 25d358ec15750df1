"""Axial pulses (two-way RF impulse responses) of several spectral shapes, and their spectral measurement.

Every pulse is a 1-D array sampled at ``fs_hz`` (samples), centred in the array, unit peak amplitude. Shapes:

- ``"gaussian"``: amplitude spectrum exp(-(f - f0)^2 / (2 sigma_f^2)), sigma_f = B f0 / (2 sqrt(2 ln 2)).
- ``"asymmetric"``: a two-sided Gaussian spectrum with different lower and upper standard deviations
  (ratio ``skew`` = sigma_upper / sigma_lower), peak at f0, -6 dB width B f0.
- ``"two_cycle"``: a two-cycle sine burst at f0 convolved with a Gaussian transducer response of fractional
  bandwidth B. Its measured peak and -6 dB bandwidth differ from (f0, B) (the short burst widens the spectrum),
  so :func:`draw_pulse` reports the *measured* values of what it drew (on a finely sampled reference).

Centre frequency is the peak of the amplitude spectrum (parabolic interpolation); the fractional bandwidth is
the -6 dB (half amplitude) width of the amplitude spectrum over that peak frequency.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["SHAPES", "DrawnPulse", "make_pulse", "measure_spectrum", "draw_pulse"]

SHAPES = ("gaussian", "asymmetric", "two_cycle")
_FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))
_NFFT = 1 << 16


def _spectral_pulse(amplitude, fs_hz: float, half_length: int) -> np.ndarray:
    """Zero-phase real pulse (2 half_length + 1 samples) from an amplitude spectrum ``amplitude(f_hz)``."""
    n = _NFFT
    f = np.fft.rfftfreq(n, 1.0 / fs_hz)
    spec = amplitude(f).astype(complex)
    spec[-1] = spec[-1].real
    h = np.fft.irfft(spec, n)
    h = np.roll(h, half_length)[: 2 * half_length + 1]
    return h


def make_pulse(shape: str, f0_hz: float, fractional_bandwidth: float, fs_hz: float, skew: float = 1.0) -> np.ndarray:
    """Pulse ``(2K + 1,)`` sampled at ``fs_hz`` (K ~ 4 envelope standard deviations), unit peak.

    Args:
        shape: one of :data:`SHAPES`.
        f0_hz: centre frequency (Hz); for ``"two_cycle"`` the burst frequency.
        fractional_bandwidth: -6 dB amplitude bandwidth / f0 (Gaussian, asymmetric) or of the transducer
            response (two-cycle).
        fs_hz: sampling frequency (Hz).
        skew: sigma_upper / sigma_lower for ``"asymmetric"`` (1 gives the Gaussian).
    """
    if shape not in SHAPES:
        raise ValueError(f"shape must be one of {SHAPES}, got {shape!r}")
    sigma_f = fractional_bandwidth * f0_hz / _FWHM_PER_SIGMA
    if shape == "asymmetric":
        lo = 2.0 * sigma_f / (1.0 + skew)
        hi = skew * lo
    else:
        lo = hi = sigma_f
    sigma_t = 1.0 / (2.0 * math.pi * min(lo, hi))
    half = int(math.ceil(5.0 * sigma_t * fs_hz + (2.0 / f0_hz * fs_hz if shape == "two_cycle" else 0.0)))
    if shape in ("gaussian", "asymmetric"):

        def amplitude(f):
            s = np.where(f < f0_hz, lo, hi)
            return np.exp(-0.5 * ((f - f0_hz) / s) ** 2)

        h = _spectral_pulse(amplitude, fs_hz, half)
    else:
        transducer = _spectral_pulse(lambda f: np.exp(-0.5 * ((f - f0_hz) / sigma_f) ** 2), fs_hz, half)
        t = np.arange(int(math.ceil(2.0 * fs_hz / f0_hz))) / fs_hz
        burst = np.sin(2.0 * math.pi * f0_hz * t)
        h = np.convolve(transducer, burst, mode="full")
        peak = int(np.argmax(np.abs(h)))
        h = np.pad(h, half)[peak : peak + 2 * half + 1]
    return h / np.abs(h).max()


def measure_spectrum(pulse: np.ndarray, fs_hz: float) -> tuple[float, float]:
    """(peak frequency in Hz, -6 dB fractional bandwidth) of a pulse's amplitude spectrum (zero padded)."""
    a = np.abs(np.fft.rfft(np.asarray(pulse, float), _NFFT))
    df = fs_hz / _NFFT
    k = int(np.argmax(a))
    if 0 < k < len(a) - 1:
        y0, y1, y2 = np.log(a[k - 1 : k + 2])
        den = y0 - 2.0 * y1 + y2
        dk = 0.5 * (y0 - y2) / den if den != 0 else 0.0
    else:
        dk = 0.0
    peak = (k + dk) * df
    half = 0.5 * a[k]

    def crossing(idx, step):
        while 0 < idx < len(a) - 1 and a[idx] >= half:
            idx += step
        # linear interpolation between idx (below) and idx - step (above)
        j = idx - step
        frac = (a[j] - half) / (a[j] - a[idx]) if a[j] != a[idx] else 0.0
        return (j + step * frac) * df

    return float(peak), float((crossing(k, 1) - crossing(k, -1)) / peak)


@dataclass(frozen=True)
class DrawnPulse:
    """A drawn pulse and its parameters: ``pulse (2K+1,)`` at ``fs_hz``; ``f0_hz`` and ``fractional_bandwidth``
    are what its spectrum should measure (for ``"two_cycle"`` the measured values of a finely sampled copy)."""

    shape: str
    pulse: np.ndarray
    fs_hz: float
    f0_hz: float
    fractional_bandwidth: float
    parameters: dict


def draw_pulse(
    rng: np.random.Generator,
    fs_hz: float | None = None,
    samples_per_period: float = 8.0,
    f0_range_mhz: tuple[float, float] = (3.0, 12.0),
    bandwidth_range: tuple[float, float] = (0.4, 1.0),
    skew_range: tuple[float, float] = (0.5, 2.0),
    shape: str | None = None,
) -> DrawnPulse:
    """Draw f0 (uniform in ``f0_range_mhz``), fractional bandwidth (uniform), skew (log-uniform) and the shape.

    ``fs_hz`` defaults to ``samples_per_period * f0``.
    """
    shape = shape if shape is not None else str(rng.choice(SHAPES))
    f0 = float(rng.uniform(*f0_range_mhz)) * 1e6
    bw = float(rng.uniform(*bandwidth_range))
    skew = float(math.exp(rng.uniform(math.log(skew_range[0]), math.log(skew_range[1]))))
    fs = float(fs_hz) if fs_hz is not None else samples_per_period * f0
    params = {"f0_hz": f0, "fractional_bandwidth": bw, "skew": skew if shape == "asymmetric" else 1.0}
    pulse = make_pulse(shape, f0, bw, fs, skew=params["skew"])
    if shape == "two_cycle":
        f_ref, b_ref = measure_spectrum(make_pulse(shape, f0, bw, 64.0 * f0), 64.0 * f0)
    else:
        f_ref, b_ref = f0, bw
    return DrawnPulse(shape, pulse, fs, f_ref, b_ref, params)
