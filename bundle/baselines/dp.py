"""Dynamic-programming displacement (Rivaz et al., IEEE TMI 2008) on a grid fixed in wavelengths.

For every RF line independently, the integer axial displacement ``a_i`` and lateral displacement ``l_i`` of
each grid row ``i`` minimise, over the whole line,

    sum_i D_i(a_i, l_i) + w * ((a_i - a_(i-1))^2 + (l_i - l_(i-1))^2)

with ``|a_i - a_(i-1)| <= 1`` and ``|l_i - l_(i-1)| <= 1`` (a strain below 100 %), found exactly by dynamic
programming and back-tracking. ``D_i`` is the mean absolute difference ``|g - g'|`` of the pre and post RF
(unit standard deviation) over a small window around row ``i``: ``2K + 1`` rows along the line (displaced
together with the search's reference path) by ``window_lines`` lines. Rivaz et al. compare single samples;
on RF whose phase changes from line to line (plane-wave or wide-aperture delay-and-sum images) single samples
let the path hop by an RF period, which a seed for GLUE cannot afford (docs/baselines.md: GLUE's strain NRMSE
0.161 from a single-sample, single-line DP against 0.057 from this window on delay-and-sum-like RF at
7.6 MHz, F 0.7). Lines beside the frame are mirrored, so that a border line whose tissue moves out of view under
compression still has candidates that match.

Physical units (:class:`DPEstimator`): the RF is first resampled along depth to ``samples_per_period`` samples
per RF period (default 8: a grid row is ``lambda / 16`` deep, ``lambda = c / f0``), whatever the scanner's
sampling rate, so that the search, its continuity weight ``w`` and the window mean the same on any probe and a
2x finer sampling of the same RF gives the same result. Every other length is stated in mm or wavelengths and
converted through the :class:`~bundle.acquisition.Acquisition`:

=====================  ===========  ==============================================================
parameter              default      meaning
=====================  ===========  ==============================================================
``max_strain``         0.04         centre line searched over +-(max_strain x depth + margin_mm)
``margin_mm``          0.3          (a global shift of the frame on top of the strain)
``band_mm``            0.25         every other line searched this far either side of the centre line's path
``max_lateral_mm``     0.3          lateral lags searched: +-round(max_lateral_mm / pitch) lines (at least 1)
``window_wavelengths`` 0.5          axial length of the data window (8 grid rows + 1)
``window_lateral_mm``  0.9          lateral width of the data window: the odd number of lines nearest to it
``continuity``         0.1          ``w`` per grid row, against a mean |g - g'| of ~1.1 between unrelated RF
``strain_kernel_mm``   2.5          least-squares strain kernel (integer displacement needs a long one)
=====================  ===========  ==============================================================

The result is an integer number of grid rows (``lambda / 16``) axially and of lines laterally, interpolated to
the input rows: it is the seed of :mod:`bundle.baselines.glue`, and an estimator of its own whose strain is only
meaningful after a long least-squares kernel.

Cost: ``H x W x n_a x n_l`` states for ``H`` grid rows, ``n_a`` axial and ``n_l`` lateral states per row, each
reached by the cheapest of 15 moves, found separably (the best lateral move, then the best of the three allowed
axial moves: the same paths as all 15 at once, ~1.8x faster), and as many bytes of back-pointers;
:class:`DPEstimator` searches the centre line over the whole range and the other lines in a band around its
path. 4.2 s per 1400 x 128 pair at 7.6 MHz / 38 MHz / 0.21 mm (``scripts/tune_baselines.py --timing``, 2-core
machine with two other CPU-bound jobs running).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.ndimage import uniform_filter1d
from scipy.signal import resample_poly

from bundle.acquisition import Acquisition
from bundle.baselines.units import odd_lines, positive
from bundle.canonical_grid import axial_resampling
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
    continuity: float = 0.1,
    reference: np.ndarray | None = None,
    window_half_rows: int = 0,
    window_lines: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Integer displacement of ``post`` relative to ``pre`` by dynamic programming along each line.

    This is the grid-level routine: lengths are in rows and lines of the arrays given. :class:`DPEstimator`
    converts its physical parameters to them.

    Args:
        pre, post: ``(H, W)`` RF frames (unit standard deviation).
        half_range_px: axial displacements searched are ``reference[i] + (-half_range_px .. half_range_px)``.
        max_lateral_px: lateral displacements searched are ``-max_lateral_px .. max_lateral_px`` lines.
        continuity: ``w`` of the module docstring.
        reference: ``(H,)`` integer axial path that the search is centred on, with steps of at most one sample
            (e.g. the result of a full-range search of one line); None = zeros.
        window_half_rows: ``K``: the data cost of row ``i`` is the mean over rows ``i - K .. i + K`` (each at
            its own reference lag plus the candidate offset); 0 compares single samples (Rivaz et al.).
        window_lines: odd number of neighbouring lines averaged into the data cost (1: the line alone).

    Returns:
        ``(axial, lateral)``: two ``(H, W)`` int arrays in pixels; ``post[i + axial, j + lateral]`` matches
        ``pre[i, j]``.
    """
    pre = np.asarray(pre, dtype=np.float32)
    post = np.asarray(post, dtype=np.float32)
    if pre.ndim != 2 or pre.shape != post.shape:
        raise ElastographyInputError(f"pre and post must be (H, W) of one shape, got {pre.shape} and {post.shape}")
    if any(int(n) != n or n < 0 for n in (half_range_px, max_lateral_px, window_half_rows)):
        raise ValueError("half_range_px, max_lateral_px and window_half_rows must be non-negative integers")
    if int(window_lines) != window_lines or window_lines < 1 or window_lines % 2 == 0:
        raise ValueError(f"window_lines must be a positive odd integer, got {window_lines!r}")
    h, w = pre.shape
    ref = np.zeros(h, dtype=np.int64) if reference is None else np.asarray(reference, dtype=np.int64)
    if ref.shape != (h,) or (h > 1 and np.abs(np.diff(ref)).max() > 1):
        raise ElastographyInputError("reference must be an (H,) integer path with steps of at most one sample")
    offsets = np.arange(-half_range_px, half_range_px + 1)
    lateral = np.arange(-max_lateral_px, max_lateral_px + 1)
    na, nl = offsets.size, lateral.size
    # post padded so that every candidate (i + a, j + l) can be read: NaN above and below the frame, mirrored
    # lines beside it (tissue that lateral expansion pushes out of view still matches a neighbouring line
    # better than nothing, which keeps the axial path of the border lines on track)
    pad_a = half_range_px + int(np.abs(ref).max()) + 1
    pad_l = max_lateral_px
    padded = np.full((h + 2 * pad_a, w + 2 * pad_l), np.nan, dtype=np.float32)
    padded[pad_a : pad_a + h] = np.pad(post, ((0, 0), (pad_l, pad_l)), mode="symmetric")
    cols = np.arange(w)[:, None, None] + lateral[None, None, :] + pad_l  # (W, 1, nl)

    def row_cost(r: int) -> np.ndarray:
        """|g - g'| of row ``r`` at its reference lag plus every offset, averaged over the lateral window."""
        rows = r + ref[r] + offsets[None, :, None] + pad_a  # (1, na, 1)
        data = np.abs(pre[r][:, None, None] - padded[rows, cols])  # (W, na, nl)
        data = np.where(np.isnan(data), np.float32(_OUTSIDE_COST), data)
        if window_lines > 1:
            data = uniform_filter1d(data, window_lines, axis=0, mode="nearest")
        return data

    # running mean over rows i - K .. i + K (fewer at the ends)
    k_half = int(window_half_rows)
    window = {r: row_cost(r) for r in range(min(k_half, h - 1) + 1)}
    running = np.sum(list(window.values()), axis=0, dtype=np.float64)

    # moves between rows in offset units: dk in -2..2 (the reference itself may step by -1..1), dl in -1..1;
    # a back-pointer is the index (dk + 2) * 3 + (dl + 1) of the move that reached the state
    moves = [(dk, dl) for dk in (-2, -1, 0, 1, 2) for dl in (-1, 0, 1)]
    pointers = np.empty((h, w, na, nl), dtype=np.uint8)
    big = np.float32(np.inf)
    weight = np.float32(continuity)
    padded_cost = np.full((w, na + 4, nl + 2), big, dtype=np.float32)
    cost = None
    for i in range(h):
        if i > 0:
            if i + k_half < h:
                window[i + k_half] = row_cost(i + k_half)
                running += window[i + k_half]
            if i - k_half - 1 >= 0:
                running -= window.pop(i - k_half - 1)
        data = (running / len(window)).astype(np.float32)
        if cost is None:
            cost = data
            pointers[i] = moves.index((0, 0))
            continue
        step = int(ref[i] - ref[i - 1])  # the axial move of a state that keeps its offset
        padded_cost[:, 2:-2, 1:-1] = cost
        # the continuity cost w (da^2 + dl^2) is separable: the best lateral move first (for every axial
        # predecessor), then the best of the three allowed axial moves; the same minimum as all 15 moves at once
        lateral_best = padded_cost[:, :, 0:nl] + weight  # dl = +1 (reads column l - 1)
        lateral_arg = np.full(lateral_best.shape, 2, dtype=np.uint8)
        for dl, arg in ((0, 1), (-1, 0)):  # later in the loop wins ties: the lowest dl, as the full argmin
            option = padded_cost[:, :, 1 - dl : 1 - dl + nl] + (weight if dl else np.float32(0))
            better = option <= lateral_best
            lateral_best = np.where(better, option, lateral_best)
            lateral_arg[better] = arg
        best = None
        for dk in (1 - step, -step, -1 - step):  # da = step + dk in (1, 0, -1); last wins ties: the lowest dk
            if abs(dk) > 2:
                continue
            da = step + dk
            option = lateral_best[:, 2 - dk : 2 - dk + na] + (weight if da else np.float32(0))
            pointer = (dk + 2) * 3 + lateral_arg[:, 2 - dk : 2 - dk + na]
            if best is None:
                best, best_pointer = option, pointer.astype(np.uint8)
            else:
                better = option <= best
                best = np.where(better, option, best)
                best_pointer = np.where(better, pointer, best_pointer).astype(np.uint8)
        pointers[i] = best_pointer
        cost = data + best
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
    """Integer displacement by dynamic programming (:func:`dp_displacement`) on a wavelength grid, in mm.

    Args (defaults and conversions: module docstring):
        max_strain: largest compression searched by the centre line (fraction).
        margin_mm: extra axial range searched by the centre line beyond ``max_strain x depth`` (mm).
        band_mm: axial search half range of every line around the centre line's path (mm); it must cover how
            far a line's displacement departs from the centre line's (lesions, lateral offsets).
        max_lateral_mm: lateral search half range (mm; at least one line).
        window_wavelengths: axial length of the data window (wavelengths ``c / f0``).
        window_lateral_mm: lateral width of the data window (mm; an odd number of lines, at least 1).
        continuity: the continuity weight ``w`` per grid row.
        samples_per_period: RF samples per period of the grid the search runs on (>= 4).
        strain_kernel_mm: least-squares strain kernel (mm).
    """

    def __init__(
        self,
        max_strain: float = 0.04,
        margin_mm: float = 0.3,
        band_mm: float = 0.25,
        max_lateral_mm: float = 0.3,
        window_wavelengths: float = 0.5,
        window_lateral_mm: float = 0.9,
        continuity: float = 0.1,
        samples_per_period: float = 8.0,
        strain_kernel_mm: float = 2.5,
    ):
        if isinstance(max_strain, bool) or not (math.isfinite(max_strain) and 0 < max_strain < 0.5):
            raise ValueError(f"max_strain must be in (0, 0.5), got {max_strain!r}")
        for name, value in (("margin_mm", margin_mm), ("window_wavelengths", window_wavelengths),
                            ("window_lateral_mm", window_lateral_mm)):  # fmt: skip
            if isinstance(value, bool) or not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a number >= 0, got {value!r}")
        if isinstance(continuity, bool) or not (math.isfinite(continuity) and continuity >= 0):
            raise ValueError(f"continuity must be >= 0, got {continuity!r}")
        if not (isinstance(samples_per_period, (int, float)) and 4 <= samples_per_period <= 32):
            raise ValueError(f"samples_per_period must be in [4, 32], got {samples_per_period!r}")
        self.max_strain = float(max_strain)
        self.margin_mm = float(margin_mm)
        self.band_mm = positive("band_mm", band_mm)
        self.max_lateral_mm = positive("max_lateral_mm", max_lateral_mm)
        self.window_wavelengths = float(window_wavelengths)
        self.window_lateral_mm = float(window_lateral_mm)
        self.continuity = float(continuity)
        self.samples_per_period = float(samples_per_period)
        self.strain_kernel_mm = positive("strain_kernel_mm", strain_kernel_mm)

    # ------------------------------------------------------------------ physical -> grid
    def resampling(self, acquisition: Acquisition) -> tuple[int, int]:
        """``(up, down)``: the search grid has ``up / down`` times the input's axial sampling rate.

        The ratio is the fraction nearest to ``samples_per_period x f0 / fs`` with a denominator of at most 12
        (e.g. 8 / 5 at 5 samples per period, 2 / 3 at 12, exactly 1 at 8); the grid then has
        ``samples_per_period`` samples per period to within 5 %.
        """
        return axial_resampling(self.samples_per_period, acquisition)

    def grid(self, shape: tuple[int, int], acquisition: Acquisition) -> dict:
        """Search parameters in grid rows and lines for an input frame of ``shape`` (samples, lines)."""
        up, down = self.resampling(acquisition)
        row_mm = acquisition.axial_spacing_mm * down / up  # depth of one grid row
        pitch = acquisition.line_pitch_mm
        depth_mm = shape[0] * acquisition.axial_spacing_mm
        period_rows = acquisition.wavelength_mm / 2.0 / row_mm  # one RF period (lambda / 2 of depth)
        return {
            "up": up,
            "down": down,
            "row_mm": row_mm,
            "full_range": int(math.ceil((self.max_strain * depth_mm + self.margin_mm) / row_mm)),
            "band": max(1, int(math.ceil(self.band_mm / row_mm))),
            "max_lateral": max(1, int(round(self.max_lateral_mm / pitch))),
            "window_half_rows": int(round(0.5 * self.window_wavelengths * 2.0 * period_rows)),
            "window_lines": odd_lines(self.window_lateral_mm, pitch),
        }

    def seed_displacement(
        self, pre: np.ndarray, post: np.ndarray, acquisition: Acquisition
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(axial, lateral)`` displacement of one normalised pair in input pixels (samples, lines), ``(H, W)``.

        The frames are resampled along depth to the search grid (polyphase filter); the centre line is
        searched over the whole range (its data cost averaged over the ``window_lateral_mm`` of lines around it,
        as every line's is), every line then within ``band_mm`` of the centre line's path (which keeps
        the cost ~10x lower). The axial result (whole grid rows) is interpolated linearly to the input rows,
        the lateral one (whole lines) taken from the nearest grid row.
        """
        g = self.grid(pre.shape, acquisition)
        up, down = g["up"], g["down"]
        if (up, down) != (1, 1):
            pre_g = resample_poly(pre, up, down, axis=0).astype(np.float32)
            post_g = resample_poly(post, up, down, axis=0).astype(np.float32)
        else:
            pre_g, post_g = pre, post
        common = {"continuity": self.continuity, "window_half_rows": g["window_half_rows"]}
        # the centre line's full-range search averages its data cost over the same lines as every other line:
        # on a single line the path can drift far off where the RF decorrelates (PyMUST L11-5V set, a 2 % pair:
        # 0.8 mm off over the first 5 mm, which GLUE then kept; 0.01 mm with 3 or more lines)
        c = pre_g.shape[1] // 2
        k = min(g["window_lines"] // 2, c, pre_g.shape[1] - 1 - c)  # symmetric about the centre line
        lo, hi = c - k, c + k + 1
        strip, _ = dp_displacement(
            pre_g[:, lo:hi], post_g[:, lo:hi], g["full_range"], 0, window_lines=hi - lo, **common
        )
        a, lat = dp_displacement(
            pre_g,
            post_g,
            g["band"],
            g["max_lateral"],
            reference=strip[:, c - lo],
            window_lines=g["window_lines"],
            **common,
        )
        if (up, down) == (1, 1):
            return a.astype(np.float64), lat.astype(np.float64)
        # grid row k sits at input row k * down / up
        scale = down / up
        rows = np.arange(pre.shape[0], dtype=np.float64)
        grid_rows = np.arange(a.shape[0]) * scale
        axial = np.empty(pre.shape, dtype=np.float64)
        for j in range(pre.shape[1]):
            axial[:, j] = np.interp(rows, grid_rows, a[:, j] * scale)
        nearest = np.clip(np.rint(rows / scale).astype(np.int64), 0, a.shape[0] - 1)
        return axial, lat[nearest].astype(np.float64)

    def _estimate(self, pre: np.ndarray, posts: np.ndarray, acquisition: Acquisition) -> np.ndarray:
        dz, dx = acquisition.spacing_mm
        out = np.empty((posts.shape[0], 2, *pre.shape), dtype=np.float32)
        for k, post in enumerate(posts):
            a, lat = self.seed_displacement(pre, post, acquisition)
            out[k, 0], out[k, 1] = a * dz, lat * dx
        return out
