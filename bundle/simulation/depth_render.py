"""RF rendering with a depth-dependent PSF: any sampled axial pulse, changing with depth, and a lateral beam width
that follows each scatterer's depth.

The exact sub-sample scheme of :func:`bundle.simulation.rf.render_rf` (each scatterer deposits
``amplitude x beam x (2 f)^q`` at its nearest sample, one depth convolution per polynomial order q) is applied per
depth band: K band depths z_k carry their own axial pulse (e.g. the drawn pulse after the two-way attenuation to
z_k); a scatterer at depth z between z_k and z_k+1 is rendered with both pulses, weighted 1 - t and t
(t = (z - z_k) / (z_k+1 - z_k)), so its pulse changes linearly with depth. The lateral beam is a Gaussian of each
scatterer's own width (in lines), so the lateral resolution follows the beam model at every depth without bands.

Pulses are functions of the offset in samples (sample index minus scatterer depth); :func:`pulse_from_samples`
turns a finely sampled pulse into one (cubic spline, zero outside its support).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.fft import irfft, next_fast_len, rfft
from scipy.interpolate import CubicSpline

from bundle.simulation.rf import fit_pulse_polynomials

__all__ = ["pulse_from_samples", "pulse_half_taps", "band_coefficients", "render_rf_banded"]

#: polynomial degrees tried, in order, until the sub-sample fit is within tolerance
_DEGREES = (5, 7, 9, 11, 13)


def pulse_from_samples(samples: np.ndarray, oversampling: int):
    """A function of the offset (in RF samples) from a pulse sampled ``oversampling`` times finer than the RF,
    centred in its array; a cubic spline inside its support, zero outside."""
    samples = np.asarray(samples, dtype=np.float64)
    half = (samples.size - 1) / 2.0
    t = (np.arange(samples.size) - half) / oversampling
    spline = CubicSpline(t, samples, bc_type="natural")

    def pulse(offset):
        offset = np.asarray(offset, dtype=np.float64)
        inside = np.abs(offset) <= t[-1]
        return np.where(inside, spline(np.clip(offset, t[0], t[-1])), 0.0)

    return pulse


def pulse_half_taps(samples: np.ndarray, oversampling: int, threshold: float = 2e-3) -> int:
    """Half length (RF samples) beyond which a finely sampled pulse stays below ``threshold`` of its peak."""
    samples = np.abs(np.asarray(samples, dtype=np.float64))
    above = np.nonzero(samples > threshold * samples.max())[0]
    centre = (samples.size - 1) / 2.0
    reach = max(centre - above[0], above[-1] - centre) / oversampling
    return int(math.ceil(reach)) + 1


def band_coefficients(pulses, half_taps: int, tolerance: float = 1e-4) -> np.ndarray:
    """Sub-sample polynomial coefficients ``(K, Q, 2 (half_taps + 1) + 1)`` of K pulse functions, at the lowest
    degree in 7, 9, 11, 13 that fits every pulse within ``tolerance`` of the unit peak."""
    ka = half_taps + 1
    taps = np.arange(-ka, ka + 1).astype(np.float64)
    for degree in _DEGREES:
        try:
            return np.stack([fit_pulse_polynomials(p, degree, taps, tolerance) for p in pulses])
        except ValueError:
            if degree == _DEGREES[-1]:
                raise
    raise AssertionError("unreachable")


def render_rf_banded(
    depth_samples: np.ndarray,
    lateral_lines: np.ndarray,
    amplitude: np.ndarray,
    sigma_lines: np.ndarray,
    band_depths_samples: np.ndarray,
    coefficients: np.ndarray,
    shape: tuple[int, int],
    lateral_truncation: float = 3.5,
) -> np.ndarray:
    """Sum the depth-dependent PSFs of point scatterers into an RF frame.

    Args:
        depth_samples: ``(N,)`` continuous depth of each scatterer in samples (sample i at depth i).
        lateral_lines: ``(N,)`` continuous lateral position in lines.
        amplitude: ``(N,)`` reflectivity (times any depth gain).
        sigma_lines: ``(N,)`` lateral standard deviation of each scatterer's beam (lines).
        band_depths_samples: ``(K,)`` increasing depths (samples) of the bands.
        coefficients: ``(K, Q, 2 ka + 1)`` from :func:`band_coefficients` (taps -ka..ka).
        shape: (H, W) of the frame.
        lateral_truncation: the beam is evaluated within this many of its standard deviations.

    Returns:
        ``(H, W)`` float32 RF.
    """
    h, w = shape
    n_bands, n_orders, n_taps = coefficients.shape
    ka = (n_taps - 1) // 2
    z = np.asarray(depth_samples, dtype=np.float64)
    x = np.asarray(lateral_lines, dtype=np.float64)
    amp = np.asarray(amplitude, dtype=np.float64)
    sigma = np.broadcast_to(np.asarray(sigma_lines, dtype=np.float64), z.shape)
    reach = np.ceil(lateral_truncation * sigma)
    keep = (z > -ka) & (z < h - 1 + ka) & (x > -reach) & (x < w - 1 + reach)
    z, x, amp, sigma = z[keep], x[keep], amp[keep], sigma[keep]
    position = np.interp(z, band_depths_samples, np.arange(n_bands, dtype=np.float64))
    out = np.zeros((h, w), dtype=np.float64)
    for k in range(n_bands):
        weight = np.clip(1.0 - np.abs(position - k), 0.0, None)
        sel = weight > 0
        if not sel.any():
            continue
        _render_band(out, z[sel], x[sel], amp[sel] * weight[sel], sigma[sel], coefficients[k], lateral_truncation)
    return out.astype(np.float32)


def _render_band(out, z, x, amp, sigma, coeffs, truncation) -> None:
    """Add the scatterers' PSFs of one band (pulse polynomial ``coeffs (Q, taps)``) into ``out (H, W)``."""
    h, w = out.shape
    n_orders, n_taps = coeffs.shape
    ka = (n_taps - 1) // 2
    kl = max(1, int(math.ceil(truncation * sigma.max())))
    n = np.rint(z).astype(np.int64)
    row0 = int(n.min())
    rows = int(n.max()) - row0 + 1
    pl = 2 * kl
    wp = w + 2 * pl
    frac2 = 2.0 * (z - n)
    cols = np.rint(x).astype(np.int64)[:, None] + np.arange(-kl, kl + 1)[None, :]  # (N, L)
    beam = np.exp(-0.5 * ((cols - x[:, None]) / sigma[:, None]) ** 2) * amp[:, None]
    flat = ((n[:, None] - row0) * wp + (cols + pl)).ravel()
    deposits = np.empty((n_orders, rows * wp), dtype=np.float64)
    weight = beam
    for q in range(n_orders):
        if q:
            weight = weight * frac2[:, None]
        deposits[q] = np.bincount(flat, weights=weight.ravel(), minlength=rows * wp)
    deposits = deposits.reshape(n_orders, rows, wp)
    nfft = next_fast_len(rows + n_taps - 1, real=True)
    spectrum = np.einsum("qfw,qf->fw", rfft(deposits, nfft, axis=1), rfft(coeffs, nfft, axis=1))
    full = irfft(spectrum, nfft, axis=0)[: rows + n_taps - 1, pl : pl + w]
    # full row r = sum_c C[c] D[r - c]; tap c is offset m = c - ka, so r holds output sample row0 - ka + r
    first = row0 - ka
    lo, hi = max(0, first), min(h, first + full.shape[0])
    if hi > lo:
        out[lo:hi] += full[lo - first : hi - first]
