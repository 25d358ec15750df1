"""Dynamic-programming displacement (Rivaz et al., IEEE TMI 2008): integer displacement per sample with continuity.

For every RF line independently, the integer axial displacement ``a_i`` and lateral displacement ``l_i`` of
each sample ``i`` minimise, over the whole line,

    sum_i |g(i, j) - g'(i + a_i, j + l_i)| + w * ((a_i - a_(i-1))^2 + (l_i - l_(i-1))^2)

with ``|a_i - a_(i-1)| <= 1`` and ``|l_i - l_(i-1)| <= 1`` (a strain below 100 %), found exactly by dynamic
programming and back-tracking. ``g`` and ``g'`` are the pre and post RF (unit standard deviation). The result
is integer (in half samples where :class:`DPEstimator` upsamples RF of fewer than 8 samples per period): it is
the seed of :mod:`bundle.baselines.glue`, and an estimator of its own whose strain is only meaningful after a
long least-squares kernel.

Cost: ``H x W x n_a x n_l x 15`` operations and ``H x W x n_a x n_l`` bytes of back-pointers for ``n_a`` axial
and ``n_l`` lateral states per sample; :class:`DPEstimator` searches the centre line over the whole range and
the other lines in a band around its path.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.signal import resample_poly

from bundle.acquisition import Acquisition
from bundle.errors import ElastographyInputError
from bundle.estimator import DisplacementEstimator, register_estimator

__all__ = ["DPEstimator", "dp_displacement"]

#: data cost of a candidate that samples the post frame outside the image (unit-variance RF differences are ~1.1)
_OUTSIDE_COST = 4.0


def dp_displacement(
    pre: np.ndarray,
    post: np.ndarray,
    half_range_px: int,
    max_lateral_px: int = 1,
    continuity: float = 0.15,
    reference: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Integer displacement of ``post`` relative to ``pre`` by dynamic programming along each line.

    Args:
        pre, post: ``(H, W)`` RF frames (unit standard deviation).
        half_range_px: axial displacements searched are ``reference[i] + (-half_range_px .. half_range_px)``.
        max_lateral_px: lateral displacements searched are ``-max_lateral_px .. max_lateral_px`` lines.
        continuity: ``w`` of the module docstring.
        reference: ``(H,)`` integer axial path that the search is centred on, with steps of at most one sample
            (e.g. the result of a full-range search of one line); None = zeros.

    Returns:
        ``(axial, lateral)``: two ``(H, W)`` int arrays in pixels; ``post[i + axial, j + lateral]`` matches
        ``pre[i, j]``.
    """
    pre = np.asarray(pre, dtype=np.float32)
    post = np.asarray(post, dtype=np.float32)
    if pre.ndim != 2 or pre.shape != post.shape:
        raise ElastographyInputError(f"pre and post must be (H, W) of one shape, got {pre.shape} and {post.shape}")
    if any(int(n) != n or n < 0 for n in (half_range_px, max_lateral_px)):
        raise ElastographyInputError("half_range_px and max_lateral_px must be non-negative integers")
    h, w = pre.shape
    ref = np.zeros(h, dtype=np.int64) if reference is None else np.asarray(reference, dtype=np.int64)
    if ref.shape != (h,) or (h > 1 and np.abs(np.diff(ref)).max() > 1):
        raise ElastographyInputError("reference must be an (H,) integer path with steps of at most one sample")
    offsets = np.arange(-half_range_px, half_range_px + 1)
    lateral = np.arange(-max_lateral_px, max_lateral_px + 1)
    na, nl = offsets.size, lateral.size
    # post padded so that every candidate (i + a, j + l) can be read; outside samples are NaN
    pad_a = half_range_px + int(np.abs(ref).max()) + 1
    pad_l = max_lateral_px
    padded = np.full((h + 2 * pad_a, w + 2 * pad_l), np.nan, dtype=np.float32)
    padded[pad_a : pad_a + h, pad_l : pad_l + w] = post
    cols = np.arange(w)[:, None, None] + lateral[None, None, :] + pad_l  # (W, 1, nl)
    # moves between rows in offset units: dk in -2..2 (the reference itself may step by -1..1), dl in -1..1
    moves = [(dk, dl) for dk in (-2, -1, 0, 1, 2) for dl in (-1, 0, 1)]
    pointers = np.empty((h, w, na, nl), dtype=np.uint8)
    big = np.float32(np.inf)
    cost = None
    for i in range(h):
        rows = i + ref[i] + offsets[None, :, None] + pad_a  # (1, na, 1)
        data = np.abs(pre[i][:, None, None] - padded[rows, cols])  # (W, na, nl)
        data = np.where(np.isnan(data), np.float32(_OUTSIDE_COST), data)
        if cost is None:
            cost = data
            pointers[i] = moves.index((0, 0))
            continue
        step = int(ref[i] - ref[i - 1])  # the axial move of a state that keeps its offset
        padded_cost = np.full((w, na + 4, nl + 2), big, dtype=np.float32)
        padded_cost[:, 2:-2, 1:-1] = cost
        options = np.full((len(moves), w, na, nl), big, dtype=np.float32)
        for k, (dk, dl) in enumerate(moves):
            da = step + dk  # the true axial move: at most one sample either way
            if abs(da) <= 1:
                shifted = padded_cost[:, 2 - dk : 2 - dk + na, 1 - dl : 1 - dl + nl]
                options[k] = shifted + np.float32(continuity * (da * da + dl * dl))
        best = options.argmin(axis=0)
        pointers[i] = best
        cost = data + np.take_along_axis(options, best[None], axis=0)[0]
    # back-tracking from the cheapest end state of each line
    ka, kl = np.unravel_index(cost.reshape(w, -1).argmin(axis=1), (na, nl))
    out_a = np.empty((h, w), dtype=np.int64)
    out_l = np.empty((h, w), dtype=np.int64)
    lines = np.arange(w)
    move_table = np.array(moves)
    for i in range(h - 1, -1, -1):
        out_a[i], out_l[i] = ref[i] + offsets[ka], lateral[kl]
        move = move_table[pointers[i, lines, ka, kl]]
        ka, kl = ka - move[:, 0], kl - move[:, 1]
    return out_a, out_l


@register_estimator("dp")
class DPEstimator(DisplacementEstimator):
    """Integer displacement by dynamic programming (:func:`dp_displacement`), converted to mm.

    Args:
        max_strain: largest compression searched (fraction); sets ``max_axial_px = max_strain * H + margin``.
        margin_px: extra axial samples searched beyond ``max_strain * H`` (global shift of the frame).
        max_lateral_px: lateral search half range (lines).
        continuity: the continuity weight ``w``.
        band_px: axial search half range (samples) of every line around the centre line's path; it must
            cover how far a line's displacement departs from the centre line's (lesions, lateral offsets).
        strain_kernel_mm: least-squares strain kernel (mm); integer displacement needs a long one.
    """

    def __init__(
        self,
        max_strain: float = 0.04,
        margin_px: int = 8,
        max_lateral_px: int = 1,
        continuity: float = 0.15,
        band_px: int = 12,
        strain_kernel_mm: float = 2.5,
    ):
        if not (math.isfinite(max_strain) and 0 < max_strain < 0.5):
            raise ElastographyInputError(f"max_strain must be in (0, 0.5), got {max_strain!r}")
        if int(margin_px) != margin_px or margin_px < 0 or int(max_lateral_px) != max_lateral_px or max_lateral_px < 0:
            raise ElastographyInputError("margin_px and max_lateral_px must be non-negative integers")
        if int(band_px) != band_px or band_px < 1:
            raise ElastographyInputError(f"band_px must be a positive integer, got {band_px!r}")
        if not (math.isfinite(continuity) and continuity >= 0):
            raise ElastographyInputError(f"continuity must be >= 0, got {continuity!r}")
        if not (math.isfinite(strain_kernel_mm) and strain_kernel_mm > 0):
            raise ElastographyInputError(f"strain_kernel_mm must be > 0, got {strain_kernel_mm!r}")
        self.max_strain = float(max_strain)
        self.margin_px = int(margin_px)
        self.max_lateral_px = int(max_lateral_px)
        self.continuity = float(continuity)
        self.band_px = int(band_px)
        self.strain_kernel_mm = float(strain_kernel_mm)

    def max_axial_px(self, height: int) -> int:
        """Axial search half range (samples) of the seed line for frames of ``height`` samples."""
        return int(math.ceil(self.max_strain * height)) + self.margin_px

    @staticmethod
    def upsampling(acquisition: Acquisition) -> int:
        """Axial upsampling that gives the search at least 8 samples per period (1 at fs >= 8 f0).

        On coarser RF (e.g. 4 samples per period) neighbouring samples differ by a quarter period and the
        sample-by-sample cost hops between peaks half a period apart.
        """
        ratio = acquisition.sampling_frequency_hz / acquisition.center_frequency_hz
        return max(1, math.ceil(8.0 / ratio - 1e-9))

    def seed_displacement(self, pre: np.ndarray, post: np.ndarray, upsample: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """``(axial, lateral)`` displacement (pixels of the input grid) of one normalised pair.

        The frames are first upsampled ``upsample`` times along depth (polyphase filter); the axial result is
        then in steps of ``1 / upsample`` sample, the lateral one in whole lines. The centre line is searched
        over the whole range (``max_axial_px``); every line is then searched ``band_px`` samples either side
        of the centre line's path, which keeps the cost ~10x lower.
        """
        if upsample > 1:
            pre = resample_poly(pre, upsample, 1, axis=0).astype(np.float32)
            post = resample_poly(post, upsample, 1, axis=0).astype(np.float32)
        c = pre.shape[1] // 2
        full_range = self.max_axial_px(pre.shape[0] // upsample) * upsample
        seed, _ = dp_displacement(pre[:, c : c + 1], post[:, c : c + 1], full_range, 0, self.continuity)
        band = self.band_px * upsample
        a, lat = dp_displacement(pre, post, band, self.max_lateral_px, self.continuity, reference=seed[:, 0])
        if upsample > 1:
            return a[::upsample] / upsample, lat[::upsample]
        return a, lat

    def _estimate(self, pre: np.ndarray, posts: np.ndarray, acquisition: Acquisition) -> np.ndarray:
        dz, dx = acquisition.spacing_mm
        out = np.empty((posts.shape[0], 2, *pre.shape), dtype=np.float32)
        upsample = self.upsampling(acquisition)
        for k, post in enumerate(posts):
            a, lat = self.seed_displacement(pre, post, upsample)
            out[k, 0], out[k, 1] = a * dz, lat * dx
        return out
