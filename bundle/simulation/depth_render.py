"""RF rendering with a depth-dependent PSF: any sampled axial pulse, changing with depth, and a lateral beam width
that follows each scatterer's depth.

The exact sub-sample scheme of :func:`bundle.simulation.rf.render_rf` (each scatterer deposits
``amplitude x beam x (2 f)^q`` at its nearest sample, one depth convolution per polynomial order q) is applied per
depth band: K band depths z_k carry their own axial pulse (e.g. the drawn pulse after the two-way attenuation to
z_k); a scatterer at depth z between z_k and z_k+1 is rendered with both pulses, weighted 1 - t and t
(t = (z - z_k) / (z_k+1 - z_k)), so its pulse changes linearly with depth. The lateral beam is a Gaussian of each
scatterer's own width (in lines), so the lateral resolution follows the beam model at every depth without bands.

Pulses are given sampled ``oversampling`` times finer than the RF (the sub-sample fit reads them at exact
fractions, with no interpolation).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.fft import irfft, next_fast_len, rfft

__all__ = ["pulse_half_taps", "band_coefficients", "render_rf_banded"]

#: polynomial degrees tried, in order, until the sub-sample fit is within tolerance
_DEGREES = (5, 7, 9, 11, 13)


def pulse_half_taps(samples: np.ndarray, oversampling: int, threshold: float = 2e-3) -> int:
    """Half length (RF samples) beyond which a finely sampled pulse stays below ``threshold`` of its peak."""
    samples = np.abs(np.asarray(samples, dtype=np.float64))
    above = np.nonzero(samples > threshold * samples.max())[0]
    centre = (samples.size - 1) / 2.0
    reach = max(centre - above[0], above[-1] - centre) / oversampling
    return int(math.ceil(reach)) + 1


def band_coefficients(fine_pulses, oversampling: int, half_taps: int, tolerance: float = 1e-4) -> np.ndarray:
    """Sub-sample polynomial coefficients ``(K, Q, 2 (half_taps + 1) + 1)`` of K pulses sampled ``oversampling``
    (even) times finer than the RF and centred in their (odd-length) arrays.

    For tap m and fraction f = j / oversampling (|f| <= 1/2) the pulse value ``p(m - f)`` is a sample of the fine
    pulse, so the least-squares fit ``p(m - f) ~= sum_q C[q, m] (2 f)^q`` needs no interpolation. The lowest degree
    in 5, 7, ..., 13 whose largest residual over every tap, fraction and pulse is within ``tolerance`` (of the unit
    peak) is used.

    Raises:
        ValueError: no degree up to 13 fits (a pulse with content above the RF's Nyquist frequency).
    """
    if oversampling < 8 or oversampling % 2:
        raise ValueError(f"oversampling must be an even number >= 8, got {oversampling}")
    ka = half_taps + 1
    taps = np.arange(-ka, ka + 1)
    j = np.arange(-(oversampling // 2), oversampling // 2 + 1)
    frac2 = 2.0 * j / oversampling
    targets = []
    for pulse in fine_pulses:
        pulse = np.asarray(pulse, dtype=np.float64)
        centre = (pulse.size - 1) // 2
        idx = centre + taps[None, :] * oversampling - j[:, None]  # (fractions, taps)
        inside = (idx >= 0) & (idx < pulse.size)
        targets.append(np.where(inside, pulse[np.clip(idx, 0, pulse.size - 1)], 0.0))
    targets = np.stack(targets)  # (K, fractions, taps)
    for degree in _DEGREES:
        basis = np.vander(frac2, degree + 1, increasing=True)  # (fractions, Q)
        flat = np.moveaxis(targets, 1, 0).reshape(j.size, -1)
        coeffs, *_ = np.linalg.lstsq(basis, flat, rcond=None)
        residual = float(np.abs(basis @ coeffs - flat).max())
        if residual <= tolerance:
            return np.moveaxis(coeffs.reshape(degree + 1, len(targets), taps.size), 1, 0)
    raise ValueError(f"pulse polynomial of degree {_DEGREES[-1]} misses by {residual:.2e}")


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
