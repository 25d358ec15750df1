"""Frequency-dependent attenuation along depth and time-gain compensation (TGC).

Amplitude attenuation alpha(f) = a0 f, a0 in dB/cm/MHz; in SI alpha0 [Np/m/Hz] = a0 * 100 / (20 / ln 10) / 1e6.
The round trip to depth z multiplies the amplitude spectrum by exp(-2 alpha0 f z). For a Gaussian amplitude
spectrum (centre f0, standard deviation sigma_f) the product is again Gaussian, centred at

    f_c(z) = f0 - 2 alpha0 z sigma_f^2                       (downshift, Hz)

with RMS amplitude relative to z = 0 of  exp(-2 alpha0 z f0 + 2 alpha0^2 z^2 sigma_f^2).  The TGC gain law is the
inverse of that:  G(z) = exp(2 alpha0 z f0 - 2 alpha0^2 z^2 sigma_f^2); it restores the mean amplitude, not the
downshift (as on a scanner).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["np_per_m_per_hz", "downshifted_frequency_hz", "attenuate_pulse", "attenuate_rf", "tgc_gain"]

_DB_PER_NP = 20.0 / math.log(10.0)


def np_per_m_per_hz(a0_db_cm_mhz: float) -> float:
    """alpha0 in Np/m/Hz from a0 in dB/cm/MHz."""
    return a0_db_cm_mhz * 100.0 / _DB_PER_NP / 1e6


def downshifted_frequency_hz(f0_hz: float, sigma_f_hz: float, depth_m, a0_db_cm_mhz: float):
    """Centre frequency (Hz) of a Gaussian spectrum after the two-way path to ``depth_m`` (m)."""
    return f0_hz - 2.0 * np_per_m_per_hz(a0_db_cm_mhz) * np.asarray(depth_m, float) * sigma_f_hz**2


def attenuate_pulse(pulse: np.ndarray, fs_hz: float, depth_m: float, a0_db_cm_mhz: float) -> np.ndarray:
    """The pulse ``(K,)`` after the two-way path to ``depth_m``: zero-phase filter exp(-2 alpha0 f z)."""
    n = 1 << int(math.ceil(math.log2(4 * len(pulse))))
    f = np.fft.rfftfreq(n, 1.0 / fs_hz)
    spec = np.fft.rfft(pulse, n) * np.exp(-2.0 * np_per_m_per_hz(a0_db_cm_mhz) * f * depth_m)
    return np.fft.irfft(spec, n)[: len(pulse)]


def attenuate_rf(
    rf: np.ndarray, fs_hz: float, speed_of_sound_m_s: float, a0_db_cm_mhz: float, bands: int = 16
) -> np.ndarray:
    """Depth-dependent attenuation of RF ``(H, W)`` (samples along axis 0, depth z = c i / (2 fs)).

    Each column is filtered with exp(-2 alpha0 f z_k) at ``bands`` depths z_k spanning the frame and the
    results are blended linearly in depth between adjacent z_k (piecewise-linear in depth, zero phase).
    """
    rf = np.asarray(rf, float)
    h = rf.shape[0]
    depth = np.arange(h) * speed_of_sound_m_s / (2.0 * fs_hz)
    zk = np.linspace(0.0, depth[-1], bands)
    n = 1 << int(math.ceil(math.log2(2 * h)))
    f = np.fft.rfftfreq(n, 1.0 / fs_hz)
    spec = np.fft.rfft(rf, n, axis=0)
    alpha0 = np_per_m_per_hz(a0_db_cm_mhz)
    out = np.zeros_like(rf)
    pos = np.interp(depth, zk, np.arange(bands))
    for k, z in enumerate(zk):
        w = np.clip(1.0 - np.abs(pos - k), 0.0, None)
        if not w.any():
            continue
        filtered = np.fft.irfft(spec * np.exp(-2.0 * alpha0 * f * z)[:, None], n, axis=0)[:h]
        out += w[:, None] * filtered
    return out


def tgc_gain(depth_m, f0_hz: float, sigma_f_hz: float, a0_db_cm_mhz: float):
    """TGC amplitude gain G(z) = exp(2 alpha0 z f0 - 2 alpha0^2 z^2 sigma_f^2) (inverse mean amplitude loss)."""
    z = np.asarray(depth_m, float)
    a = np_per_m_per_hz(a0_db_cm_mhz)
    return np.exp(2.0 * a * z * f0_hz - 2.0 * a * a * z * z * sigma_f_hz**2)
