"""Which frames to compare: frame-pair selection for compression series and freehand sequences.

A freehand sequence has frames before, during and after each push, so most neighbouring frames differ by too
little compression (strain lost in noise) and frames far apart by too much (speckle decorrelates). Each candidate
pair gets a coarse estimate in milliseconds: the uniform strain and global shift that best align the two frames'
log envelopes (:class:`bundle.networks.prior.GlobalStrainPrior`, no network) and the envelope correlation at that
alignment. A pair is usable when ``min_strain <= |strain| <= max_strain`` and the correlation reaches
``min_correlation``; for every pre frame the usable post frame with the strain closest to ``target_strain``
is kept. Compression (negative strain) and release (positive) are both usable: the strain map's sign says which.

**Fallback.** A gentle in vivo push may never reach ``min_strain`` (issue 13: a public 6-frame sequence peaks at
0.17 %), though strain imaging works from about 0.1 %. When no pair is usable, the one pair with the strongest
``|strain|`` of at least ``floor_strain`` (default 0.1 %) at ``min_correlation`` is taken, marked
``fallback=True``, and the summaries say so (:func:`fallback_note`). ``floor_strain=None`` turns the fallback off.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch

from bundle.amplitude import scale_by_std
from bundle.errors import ElastographyInputError
from bundle.io.frames import RFFrames

__all__ = [
    "FramePair",
    "choose_frame_pairs",
    "coarse_estimate",
    "estimate_pairs",
    "fallback_note",
    "select_frame_pairs",
]

logger = logging.getLogger(__name__)

#: default selection: usable |strain| range, the strain aimed at, the correlation needed, the fallback's floor
MIN_STRAIN, MAX_STRAIN, TARGET_STRAIN, MIN_CORRELATION, FLOOR_STRAIN = 0.002, 0.03, 0.01, 0.5, 0.001


@dataclass(frozen=True)
class FramePair:
    """Indices of a pre and a post frame, with the coarse estimate that chose them.

    Attributes:
        pre, post: frame indices in the sequence.
        mean_strain: coarse uniform axial strain (fraction; negative = compression, as every strain in the
            toolkit), NaN when not estimated.
        correlation: log-envelope NCC at the coarse alignment (-1 .. 1), NaN when not estimated.
        fallback: chosen because no pair reached ``[min_strain, max_strain]``: its ``|strain|`` lies between the
            floor and ``min_strain`` (module docstring).
    """

    pre: int
    post: int
    mean_strain: float = float("nan")
    correlation: float = float("nan")
    fallback: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


def _prior(max_strain: float):
    from bundle.networks.prior import GlobalStrainPrior  # torch module; imported here to keep io light

    return GlobalStrainPrior(max_strain=max_strain + 0.01, strain_step=0.001, max_offset_px=64, decimation=8)


def coarse_estimate(frames: np.ndarray, pairs: list[tuple[int, int]], max_strain: float = 0.05) -> list[FramePair]:
    """Coarse mean strain and correlation of ``pairs`` of ``frames`` ``(N, H, W)``; amplitude-scale invariant.

    Small strains read low: on a 10 mm deep frame a uniform 0.17 % compression reads about 0.13 %
    (``tests/test_pairs.py``): the search aligns 8-sample envelope averages, and 0.17 % moves the deepest of them
    by a tenth of one."""
    if not pairs:
        return []
    prior = _prior(max_strain)
    rf = torch.from_numpy(scale_by_std(frames, frames[pairs[0][0]]))
    out: list[FramePair] = []
    with torch.no_grad():
        for start in range(0, len(pairs), 16):  # batches of 16 pairs bound the memory of the Gram matrices
            chunk = pairs[start : start + 16]
            x = torch.stack([torch.stack((rf[a], rf[b])) for a, b in chunk])
            strain, _, ncc = prior.fit(x)
            # the prior's parameter is compression (positive); the toolkit's strain is du_z/dz (negative)
            out += [FramePair(a, b, -float(s), float(c)) for (a, b), s, c in zip(chunk, strain, ncc, strict=True)]
    return out


def _check_selection(min_strain, max_strain, min_correlation, floor_strain) -> None:
    if not 0 <= min_strain <= max_strain:
        raise ValueError(f"need 0 <= min_strain <= max_strain, got {min_strain} and {max_strain}")
    if not -1.0 <= min_correlation <= 1.0:
        raise ValueError(f"min_correlation must lie in [-1, 1], got {min_correlation}")
    if floor_strain is not None and not floor_strain > 0:
        raise ValueError(f"floor_strain must be > 0 (a fraction), or None for no fallback; got {floor_strain}")


def select_frame_pairs(
    frames: np.ndarray,
    min_strain: float = MIN_STRAIN,
    max_strain: float = MAX_STRAIN,
    target_strain: float = TARGET_STRAIN,
    min_correlation: float = MIN_CORRELATION,
    max_gap: int = 8,
    per_pre: int = 1,
    floor_strain: float | None = FLOOR_STRAIN,
    candidates_out: list[FramePair] | None = None,
) -> list[FramePair]:
    """Usable pairs of a sequence ``(N, H, W)``: for each pre frame, the ``per_pre`` posts within ``max_gap``
    frames whose coarse ``|strain|`` is closest to ``target_strain`` among those in ``[min_strain, max_strain]``
    with correlation >= ``min_correlation``. Sorted by (pre, post). ``per_pre`` > 1 gives several deformation
    levels per pre frame (what cross-level consistency compares).

    When none qualifies: the single pair with the strongest ``|strain|`` in ``[floor_strain, min_strain)`` at
    correlation >= ``min_correlation``, with ``fallback=True`` (none with ``floor_strain=None``); else empty.

    Args:
        min_strain, max_strain, target_strain: fractions of ``|strain|``; ``min_correlation``: of the envelopes.
        floor_strain: the lowest ``|strain|`` (fraction) a fallback pair may have; None: no fallback.
        candidates_out: if given, every candidate's coarse estimate is appended to it (for error messages).

    Raises:
        ValueError: ``min_strain > max_strain``, a negative one, a correlation outside [-1, 1], a floor <= 0.
    """
    _check_selection(min_strain, max_strain, min_correlation, floor_strain)
    n = frames.shape[0]
    candidates = coarse_estimate(frames, [(a, b) for a in range(n) for b in range(a + 1, min(n, a + 1 + max_gap))],
                                 max_strain)  # fmt: skip
    if candidates_out is not None:
        candidates_out.extend(candidates)
    correlated = [p for p in candidates if p.correlation >= min_correlation]
    usable: dict[int, list[FramePair]] = {}
    for pair in correlated:
        if min_strain <= abs(pair.mean_strain) <= max_strain:
            usable.setdefault(pair.pre, []).append(pair)
    chosen = []
    for pre in sorted(usable):
        ranked = sorted(usable[pre], key=lambda p: abs(abs(p.mean_strain) - target_strain))
        chosen += sorted(ranked[:per_pre], key=lambda p: p.post)
    if chosen or floor_strain is None:
        return chosen
    weak = [p for p in correlated if floor_strain <= abs(p.mean_strain) < min_strain]
    if not weak:
        return []
    # the strongest: the most strain above the noise; the earliest pair wins a tie (deterministic)
    best = max(weak, key=lambda p: (abs(p.mean_strain), -p.pre, -p.post))
    return [FramePair(best.pre, best.post, best.mean_strain, best.correlation, fallback=True)]


def _percent(strain: float) -> str:
    return f"{100 * strain:.2g} %"


def _range_text(min_strain: float, max_strain: float) -> str:
    return f"the target range {_percent(min_strain)} <= |strain| <= {_percent(max_strain)}"


def _pair_text(pair: FramePair) -> str:
    return (f"frames {pair.pre}->{pair.post}, coarse strain {100 * pair.mean_strain:.3f} %, "
            f"correlation {pair.correlation:.2f}")  # fmt: skip


def fallback_note(
    pairs: Sequence[FramePair],
    min_strain: float = MIN_STRAIN,
    max_strain: float = MAX_STRAIN,
    floor_strain: float | None = FLOOR_STRAIN,
    **_other_selection,
) -> str | None:
    """One line for summaries when ``pairs`` hold a fallback pair, else None. Takes the selection keywords
    given to :func:`choose_frame_pairs` (those it does not use are ignored) so that the numbers match the run's."""
    weak = [p for p in pairs if p.fallback]
    if not weak:
        return None
    return (f"fallback pair: no pair reached {_range_text(min_strain, max_strain)}; the strongest pair above the "
            f"{_percent(floor_strain or 0.0)} floor was taken ({'; '.join(_pair_text(p) for p in weak)})")  # fmt: skip


def choose_frame_pairs(rf: RFFrames, mode: str | None = None, **selection) -> list[FramePair]:
    """The pairs to estimate for ``rf``: ``mode`` (default: the sidecar's ``frame_pairs``) is ``"first"``
    (frame 0 against every later frame), ``"consecutive"``, ``"auto"`` (:func:`select_frame_pairs` with the
    keywords ``selection``; a two-frame file is its own pair) or explicit ``[[pre, post], ...]``.

    Raises:
        ElastographyInputError: fewer than two frames, indices out of range, or no usable pair in ``auto`` (the
            message gives the range, the floor and the strongest well-correlated pair found).
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
        candidates: list[FramePair] = []
        pairs = select_frame_pairs(rf.frames, candidates_out=candidates, **selection)
        if not pairs:
            raise ElastographyInputError(_no_pair_message(n, candidates, **selection), rf.source)
        note = fallback_note(pairs, **selection)
        if note is not None:
            logger.warning("%s: %s", rf.source, note)
        logger.info("%s: %d frame pair(s) selected of %d frames", rf.source, len(pairs), n)
        return pairs
    if isinstance(mode, str):
        raise ElastographyInputError(f"unknown frame-pair mode {mode!r}", rf.source)
    bad = [p for p in mode if not (0 <= p[0] < n and 0 <= p[1] < n)]
    if bad:
        raise ElastographyInputError(f"frame pair(s) {bad} outside the {n} frames of the file", rf.source)
    return [FramePair(int(a), int(b)) for a, b in mode]


def _no_pair_message(
    n: int,
    candidates: list[FramePair],
    min_strain: float = MIN_STRAIN,
    max_strain: float = MAX_STRAIN,
    min_correlation: float = MIN_CORRELATION,
    floor_strain: float | None = FLOOR_STRAIN,
    **_other_selection,
) -> str:
    """Why ``auto`` found nothing, with the numbers a user needs to decide what to do."""
    correlated = [p for p in candidates if p.correlation >= min_correlation]
    floor = (" (fallback off)" if floor_strain is None else
             f" nor in the fallback's [{_percent(floor_strain)}, {_percent(min_strain)})")  # fmt: skip
    if correlated:
        best = max(correlated, key=lambda p: abs(p.mean_strain))
        found = f"strongest pair at correlation >= {min_correlation:g}: {_pair_text(best)}"
    else:
        found = f"no pair reached correlation {min_correlation:g} (frames decorrelated)"
    return (f"no usable frame pair among {n} frames: no coarse |strain| in [{_percent(min_strain)}, "
            f"{_percent(max_strain)}]{floor} at correlation >= {min_correlation:g}; {found}; give 'frame_pairs' "
            f"in the sidecar")  # fmt: skip


def estimate_pairs(estimator, frames: np.ndarray, pairs: Sequence[FramePair], acquisition) -> np.ndarray:
    """Displacement ``(P, 2, H, W)`` in mm of every pair of ``frames`` ``(N, H, W)`` (indices into ``frames``).

    Pairs sharing a pre frame go to ``estimator.estimate`` in one call, as a sequence, in their order here: a
    network that estimates a sequence jointly (MUSSE-Net) gives a pair's displacement with its sequence, so batch
    inference and a server must group pairs the same way to give the same numbers."""
    out: list[np.ndarray | None] = [None] * len(pairs)
    for pre in dict.fromkeys(p.pre for p in pairs):
        members = [k for k, p in enumerate(pairs) if p.pre == pre]
        posts = frames[[pairs[k].post for k in members]]
        for k, displacement in zip(members, estimator.estimate(frames[pre], posts, acquisition), strict=True):
            out[k] = displacement
    return np.stack(out)
