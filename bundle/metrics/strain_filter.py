"""The strain filter: the upper bound of elastographic SNR for a window, a strain and an echo SNR.

Time-delay jitter (Cramér–Rao / Ziv–Zakai, Walker & Trahey, IEEE TUFFC 42(2), 1995)::

    sigma_dt^2 = 3 / (2 f0^3 pi^2 T (B^3 + 12 B)) * ((1 / rho^2) (1 + 1 / SNR^2)^2 - 1)

with ``f0`` the centre frequency, ``B`` the fractional bandwidth, ``T = 2 L / c`` the duration of a window of
length ``L``, ``rho`` the echo correlation and ``SNR`` the linear echo-to-noise amplitude ratio; displacement
jitter ``sigma_u = c sigma_dt / 2``. Strain by least squares over ``N`` independent estimates ``dz`` apart
(Varghese & Ophir, IEEE TUFFC 44(1), 1997)::

    sigma_e^2 = 12 sigma_u^2 / (dz^2 N (N^2 - 1)),   SNRe = |strain| / sigma_e

Windows overlapping by more than their length are not independent, so the estimates are taken one window
apart (``dz = L``, ``N = floor(K / L) + 1`` for a least-squares kernel ``K``, at least 2: the finite
difference). Decorrelation by the strain inside a window (no stretching)::

    rho(s) = mean over tau in [-T/2, T/2] of cos(2 pi f0 s tau) sinc(B f0 s tau)

It is the bound of a single A-line: estimators that pool lines or regularise (GLUE, networks) can exceed it
at a cost in resolution (``docs/benchmarks.md``, the SNRe bound).
"""

from __future__ import annotations

import math

import numpy as np

from bundle.acquisition import Acquisition

__all__ = ["strain_decorrelation", "delay_jitter_s", "strain_filter_snr_e"]


def strain_decorrelation(strain: float, center_frequency_hz: float, bandwidth: float, window_s: float) -> float:
    """Echo correlation ``rho`` (0..1) of a window of duration ``window_s`` compressed by ``strain``."""
    tau = np.linspace(-window_s / 2.0, window_s / 2.0, 401)
    x = center_frequency_hz * abs(strain) * tau
    return float(np.mean(np.cos(2.0 * math.pi * x) * np.sinc(bandwidth * x)))


def delay_jitter_s(
    center_frequency_hz: float, bandwidth: float, window_s: float, correlation: float, snr_linear: float
) -> float:
    """Lower bound of the standard deviation (s) of a time-delay estimate (module docstring)."""
    f0, b = center_frequency_hz, bandwidth
    if not (0 < correlation <= 1 and snr_linear > 0 and window_s > 0 and f0 > 0 and b > 0):
        raise ValueError("need 0 < correlation <= 1 and positive SNR, window, frequency and bandwidth")
    factor = (1.0 / correlation**2) * (1.0 + 1.0 / snr_linear**2) ** 2 - 1.0
    return math.sqrt(3.0 / (2.0 * f0**3 * math.pi**2 * window_s * (b**3 + 12.0 * b)) * factor)


def strain_filter_snr_e(
    strain: float, acquisition: Acquisition, window_mm: float, kernel_mm: float, snr_db: float
) -> float:
    """Upper bound of SNRe at ``strain`` (fraction) for windows of ``window_mm`` and a least-squares strain
    kernel of ``kernel_mm``, with echo SNR ``snr_db`` (dB, amplitude)."""
    c_mm_s = acquisition.speed_of_sound_m_s * 1e3
    window_s = 2.0 * window_mm / c_mm_s
    rho = strain_decorrelation(strain, acquisition.center_frequency_hz, acquisition.fractional_bandwidth, window_s)
    if rho <= 0:
        return 0.0
    snr = 10.0 ** (snr_db / 20.0)
    jitter_mm = (
        c_mm_s
        * delay_jitter_s(acquisition.center_frequency_hz, acquisition.fractional_bandwidth, window_s, rho, snr)
        / 2.0
    )
    n = max(2, int(math.floor(kernel_mm / window_mm)) + 1)
    sigma_e = math.sqrt(12.0 * jitter_mm**2 / (window_mm**2 * n * (n * n - 1)))
    return abs(strain) / sigma_e
