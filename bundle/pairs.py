"""Which frames to compare: frame-pair selection for compression series and freehand sequences.

A freehand sequence has frames before, during and after each push, so most neighbouring frames differ by too
little compression (strain lost in noise) and frames far apart by too much (speckle decorrelates). Each candidate
pair gets a coarse estimate in milliseconds: the uniform strain and global shift that best align the two frames'
log envelopes (:class:`bundle.networks.prior.GlobalStrainPrior`, no network) and the envelope correlation at that
alignment. A pair is usable when ``min_strain <= |strain| <= max_strain`` and the correlation reaches
``min_correlation``; for every pre frame the usable post frame with the strain closest to ``target_strain``
is kept. Compression (negative strain) and release (positive) are both usable: the strain map's sign says which.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import numpy as np
import torch

from bundle.errors import ElastographyInputError
from bundle.io.frames import RFFrames, normalize_rf

__all__ = ["FramePair", "coarse_estimate", "select_frame_pairs", "frame_pairs"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FramePair:
    """Indices of a pre and a post frame, with the coarse estimate that chose them.

    Attributes:
        pre, post: frame indices in the sequence.
        mean_strain: coarse uniform axial strain (fraction; negative = compression, as every strain in the
            toolkit), NaN when not estimated.
        correlation: log-envelope NCC at the coarse alignment (-1 .. 1), NaN when not estimated.
    """

    pre: int
    post: int
    mean_strain: float = float("nan")
    correlation: float = float("nan")

    def to_dict(self) -> dict:
        return asdict(self)


def _prior(max_strain: float):
    from bundle.networks.prior import GlobalStrainPrior  # torch module; imported here to keep io light

    return GlobalStrainPrior(max_strain=max_strain + 0.01, strain_step=0.001, max_offset_px=64, decimation=8)


def coarse_estimate(frames: np.ndarray, pairs: list[tuple[int, int]], max_strain: float = 0.05) -> list[FramePair]:
    """Coarse mean strain and correlation of ``pairs`` of ``frames`` ``(N, H, W)``; amplitude-scale invariant."""
    if not pairs:
        return []
    prior = _prior(max_strain)
    rf = torch.from_numpy(normalize_rf(frames, frames[pairs[0][0]]))
    out: list[FramePair] = []
    with torch.no_grad():
        for start in range(0, len(pairs), 16):  # batches of 16 pairs bound the memory of the Gram matrices
            chunk = pairs[start : start + 16]
            x = torch.stack([torch.stack((rf[a], rf[b])) for a, b in chunk])
            strain, _, ncc = prior.fit(x)
            # the prior's parameter is compression (positive); the toolkit's strain is du_z/dz (negative)
            out += [FramePair(a, b, -float(s), float(c)) for (a, b), s, c in zip(chunk, strain, ncc, strict=True)]
    return out


def select_frame_pairs(
    frames: np.ndarray,
    min_strain: float = 0.002,
    max_strain: float = 0.03,
    target_strain: float = 0.01,
    min_correlation: float = 0.5,
    max_gap: int = 8,
    per_pre: int = 1,
) -> list[FramePair]:
    """Usable pairs of a sequence ``(N, H, W)``: for each pre frame, the ``per_pre`` posts within ``max_gap``
    frames whose coarse ``|strain|`` is closest to ``target_strain`` among those in ``[min_strain, max_strain]``
    with correlation >= ``min_correlation``. Sorted by (pre, post); empty when no pair qualifies. ``per_pre`` > 1
    gives several deformation levels per pre frame (what cross-level consistency compares)."""
    n = frames.shape[0]
    candidates = [(a, b) for a in range(n) for b in range(a + 1, min(n, a + 1 + max_gap))]
    usable: dict[int, list[FramePair]] = {}
    for pair in coarse_estimate(frames, candidates, max_strain):
        if min_strain <= abs(pair.mean_strain) <= max_strain and pair.correlation >= min_correlation:
            usable.setdefault(pair.pre, []).append(pair)
    chosen = []
    for pre in sorted(usable):
        ranked = sorted(usable[pre], key=lambda p: abs(abs(p.mean_strain) - target_strain))
        chosen += sorted(ranked[:per_pre], key=lambda p: p.post)
    return chosen


def frame_pairs(rf: RFFrames, mode: str | None = None, **selection) -> list[FramePair]:
    """The pairs to estimate for ``rf``: ``mode`` (default: the sidecar's ``frame_pairs``) is ``"first"``
    (frame 0 against every later frame), ``"consecutive"``, ``"auto"`` (:func:`select_frame_pairs`; a two-frame
    file is its own pair) or explicit ``[[pre, post], ...]``.

    Raises:
        ElastographyInputError: fewer than two frames, indices out of range, or no usable pair in ``auto``.
    """
    mode = rf.frame_pairs if mode is None else mode
    n = rf.frames.shape[0]
    if n < 2:
        raise ElastographyInputError("RF has a single frame; need a pre and at least one post frame", rf.source)
    if mode == "first":
        return [FramePair(0, k) for k in range(1, n)]
    if mode == "consecutive":
        return [FramePair(k, k + 1) for k in range(n - 1)]
    if mode == "auto":
        if n == 2:
            return [FramePair(0, 1)]
        pairs = select_frame_pairs(rf.frames, **selection)
        if not pairs:
            raise ElastographyInputError(
                f"no usable frame pair among {n} frames (coarse strain outside "
                f"[{selection.get('min_strain', 0.002):g}, {selection.get('max_strain', 0.03):g}] or frames "
                f"decorrelated); give 'frame_pairs' in the sidecar",
                rf.source,
            )
        logger.info("%s: %d frame pair(s) selected of %d frames", rf.source, len(pairs), n)
        return pairs
    if isinstance(mode, str):
        raise ElastographyInputError(f"unknown frame-pair mode {mode!r}", rf.source)
    bad = [p for p in mode if not (0 <= p[0] < n and 0 <= p[1] < n)]
    if bad:
        raise ElastographyInputError(f"frame pair(s) {bad} outside the {n} frames of the file", rf.source)
    return [FramePair(int(a), int(b)) for a, b in mode]
