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

    Each scatterer is deposited once, with one polynomial order more than the pulses need: on the segment between
    band depths z_k and z_k+1 (length Delta, samples) a scatterer at ``z = n + f`` has the blending weight
    ``t = (n - z_k) / Delta + (2 f) / (2 Delta)``, so ``t (2 f)^q`` deposits are ``a(n) D_q + D_(q+1) / (2 Delta)``
    with ``a(n)`` a per-row factor: both bands' inputs come from the same deposits ``D_q`` by row weights. A row's
    segment is taken from its nearest sample n, so within half a sample of a band depth the weights extend the
    neighbouring segment's line (still summing to 1).

    Args:
        depth_samples: ``(N,)`` continuous depth of each scatterer in samples (sample i at depth i).
        lateral_lines: ``(N,)`` continuous lateral position in lines.
        amplitude: ``(N,)`` reflectivity (times any depth gain).
        sigma_lines: ``(N,)`` lateral standard deviation of each scatterer's beam (lines).
        band_depths_samples: ``(K,)`` increasing depths (samples) of the bands, K >= 2.
        coefficients: ``(K, Q, 2 ka + 1)`` from :func:`band_coefficients` (taps -ka..ka).
        shape: (H, W) of the frame.
        lateral_truncation: the beam is evaluated within this many of its standard deviations.

    Returns:
        ``(H, W)`` float32 RF.
    """
    h, w = shape
    n_bands, n_orders, n_taps = coefficients.shape
    bands = np.asarray(band_depths_samples, dtype=np.float64)
    if n_bands < 2 or bands.size != n_bands or np.any(np.diff(bands) <= 0):
        raise ValueError("need K >= 2 increasing band depths, one per coefficient set")
    ka = (n_taps - 1) // 2
    z = np.asarray(depth_samples, dtype=np.float64)
    x = np.asarray(lateral_lines, dtype=np.float64)
    amp = np.asarray(amplitude, dtype=np.float64)
    sigma = np.broadcast_to(np.asarray(sigma_lines, dtype=np.float64), z.shape)
    reach = np.ceil(lateral_truncation * sigma)
    keep = (z > -ka) & (z < h - 1 + ka) & (x > -reach) & (x < w - 1 + reach) & (amp != 0)
    z, x, amp, sigma = z[keep], x[keep], amp[keep], sigma[keep]
    out = np.zeros((h, w), dtype=np.float64)
    if not z.size:
        return out.astype(np.float32)
    rows = h + 2 * ka  # deposit row r holds sample n = r - ka
    deposits, pl = _deposit(z, x, amp, sigma, rows, w, ka, n_orders + 1, lateral_truncation)
    n = np.arange(rows) - ka
    segment = np.clip(np.searchsorted(bands, n, side="right") - 1, 0, n_bands - 2)
    delta = np.diff(bands)[segment]
    a = (n - bands[segment]) / delta  # (rows,)
    for k in range(n_bands):
        lower = segment == k - 1  # rows where band k is the upper band: weight t
        upper = segment == k  # rows where band k is the lower band: weight 1 - t
        sel = np.nonzero(lower | upper)[0]
        if not sel.size:
            continue
        r0, r1 = int(sel[0]), int(sel[-1]) + 1
        wa = np.where(lower[r0:r1], a[r0:r1], 1.0 - a[r0:r1])[:, None]
        wd = (np.where(lower[r0:r1], 1.0, -1.0) / (2.0 * delta[r0:r1]))[:, None]
        inputs = wa * deposits[:n_orders, r0:r1] + wd * deposits[1 : n_orders + 1, r0:r1]  # (Q, rows_k, wp)
        span = r1 - r0
        nfft = next_fast_len(span + n_taps - 1, real=True)
        spectrum = np.einsum("qfw,qf->fw", rfft(inputs, nfft, axis=1), rfft(coefficients[k], nfft, axis=1))
        full = irfft(spectrum, nfft, axis=0)[: span + n_taps - 1, pl : pl + w]
        # full row i = sum_c C[c] G[i - c]; G row 0 is sample r0 - ka, tap c is offset c - ka: sample r0 - 2 ka + i
        first = r0 - 2 * ka
        lo, hi = max(0, first), min(h, first + full.shape[0])
        if hi > lo:
            out[lo:hi] += full[lo - first : hi - first]
    return out.astype(np.float32)


#: lateral half-widths (lines) the scatterers are grouped by, so a narrow beam does not pay for the widest one
_LATERAL_LADDER = np.array([1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32, 40, 48, 64, 80, 96, 128, 160, 192, 256])


def _deposit(z, x, amp, sigma, rows, w, ka, n_orders, truncation):
    """Deposits ``(n_orders, rows, w + 2 pl)`` of ``amplitude x beam x (2 f)^q`` at each scatterer's nearest
    sample (row ``n + ka``) and its lateral taps, and the column padding ``pl``."""
    half = np.ceil(truncation * sigma).astype(np.int64)
    if half.max() > _LATERAL_LADDER[-1]:
        raise ValueError(f"beam of {sigma.max():.0f} lines is wider than the renderer's {_LATERAL_LADDER[-1]} taps")
    group = np.searchsorted(_LATERAL_LADDER, np.maximum(half, 1))
    pl = 2 * int(_LATERAL_LADDER[group.max()])
    wp = w + 2 * pl
    n = np.rint(z).astype(np.int64)
    frac2_all = 2.0 * (z - n)
    flats, beams, fracs = [], [], []
    for g in np.unique(group):
        idx = np.nonzero(group == g)[0]
        kl = int(_LATERAL_LADDER[g])
        cols = np.rint(x[idx]).astype(np.int64)[:, None] + np.arange(-kl, kl + 1)[None, :]  # (N_g, L_g)
        beams.append((np.exp(-0.5 * ((cols - x[idx, None]) / sigma[idx, None]) ** 2) * amp[idx, None]).ravel())
        flats.append(((n[idx, None] + ka) * wp + (cols + pl)).ravel())
        fracs.append(np.repeat(frac2_all[idx], 2 * kl + 1))
    flat, weight, frac2 = np.concatenate(flats), np.concatenate(beams), np.concatenate(fracs)
    deposits = np.empty((n_orders, rows * wp), dtype=np.float64)
    for q in range(n_orders):
        if q:
            weight = weight * frac2
        deposits[q] = np.bincount(flat, weights=weight, minlength=rows * wp)
    return deposits.reshape(n_orders, rows, wp), pl
