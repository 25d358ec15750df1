"""RF frames plus their acquisition record: what every reader returns and every estimator consumes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bundle.acquisition import Acquisition
from bundle.errors import ElastographyInputError

__all__ = ["RFFrames", "check_rf", "check_pair"]

#: smallest frame an estimator is asked to handle (samples, lines)
MIN_FRAME_SHAPE = (32, 4)


@dataclass
class RFFrames:
    """A sequence of beamformed RF frames of one probe position.

    Attributes:
        frames: float32 array ``(N, H, W)``: N frames, H axial samples (depth, axis 0), W lines.
            For a compression sequence frame 0 is the pre-compression frame and frames 1..N-1 are post frames
            at increasing compression.
        acquisition: sampling/centre frequency, speed of sound, line pitch.
        source: the file the frames came from (for error messages), if any.
        timestamps_s: acquisition time of each frame ``(N,)`` in seconds, when the file records it (PLUS).
        frame_pairs: how to pair the frames, from the sidecar: ``"auto"`` (choose by coarse strain and
            correlation, :mod:`bundle.pairs`), ``"first"`` (frame 0 against every later frame: a compression
            series such as the simulator's), ``"consecutive"``, or explicit ``[[pre, post], ...]`` indices.
        reference_dicom: a B-mode DICOM of the same exam named by the sidecar, for the DICOM export's identity.
        frame_numbers: the file's frame number of each frame ``(N,)`` when the reader left frames out (PLUS
            frames marked invalid); None when frame ``i`` is the file's frame ``i``.
    """

    frames: np.ndarray
    acquisition: Acquisition
    source: Path | None = None
    timestamps_s: np.ndarray | None = None
    frame_pairs: str | tuple[tuple[int, int], ...] = "auto"
    reference_dicom: Path | None = None
    frame_numbers: np.ndarray | None = None

    def __post_init__(self):
        self.frames = check_rf(self.frames, self.source, ndim=3)
        if self.timestamps_s is not None:
            self.timestamps_s = np.asarray(self.timestamps_s, dtype=np.float64)
            if self.timestamps_s.shape != (self.frames.shape[0],):
                raise ElastographyInputError(
                    f"{self.timestamps_s.size} timestamps for {self.frames.shape[0]} frames", self.source
                )

    def select(self, indices) -> RFFrames:
        """The frames ``indices`` (first = pre, the rest = posts) as a new compression series."""
        indices = [int(i) for i in indices]
        n = self.frames.shape[0]
        if len(indices) < 2 or not all(0 <= i < n for i in indices):
            raise ElastographyInputError(f"frame selection {indices} is not >= 2 indices in 0..{n - 1}", self.source)
        stamps = None if self.timestamps_s is None else self.timestamps_s[indices]
        numbers = self.file_frame_numbers()[indices]
        return RFFrames(
            self.frames[indices], self.acquisition, self.source, stamps, "first", self.reference_dicom, numbers
        )

    def file_frame_numbers(self) -> np.ndarray:
        """The file's frame number of every frame ``(N,)`` (what a user sees in the scanner's file)."""
        if self.frame_numbers is not None:
            return np.asarray(self.frame_numbers)
        return np.arange(self.frames.shape[0])

    @property
    def pre(self) -> np.ndarray:
        """Pre-compression frame ``(H, W)``."""
        return self.frames[0]

    @property
    def posts(self) -> np.ndarray:
        """Post-compression frames ``(T, H, W)``."""
        return self.frames[1:]

    @property
    def shape(self) -> tuple[int, int]:
        """(H, W) of one frame."""
        return tuple(self.frames.shape[1:])


def check_rf(rf, source: str | Path | None = None, ndim: int | tuple[int, ...] = (2, 3)) -> np.ndarray:
    """Validate RF data and return it as a C-contiguous float32 array.

    Raises:
        ElastographyInputError: wrong number of dimensions, a frame smaller than ``MIN_FRAME_SHAPE``,
            NaN/Inf samples, or frames that are all zero.
    """
    arr = np.asarray(rf)
    allowed = (ndim,) if isinstance(ndim, int) else ndim
    if arr.ndim not in allowed:
        dims = " or ".join(map(str, allowed))
        raise ElastographyInputError(f"RF must have {dims} dimensions, got shape {arr.shape}", source)
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise ElastographyInputError(f"RF must be real numbers, got dtype {arr.dtype}", source)
    h, w = arr.shape[-2:]
    if h < MIN_FRAME_SHAPE[0] or w < MIN_FRAME_SHAPE[1]:
        raise ElastographyInputError(
            f"RF frame of {h} x {w} (samples x lines) is smaller than the minimum {MIN_FRAME_SHAPE}", source
        )
    arr = np.ascontiguousarray(arr, dtype=np.float32) if arr.dtype != np.float64 else arr
    bad = ~np.isfinite(arr)
    if bad.any():
        raise ElastographyInputError(f"RF contains {int(bad.sum())} NaN/Inf sample(s)", source)
    frame_axes = tuple(range(arr.ndim - 2, arr.ndim))
    empty = np.flatnonzero(np.all(arr == 0, axis=frame_axes).reshape(-1))
    if empty.size:
        raise ElastographyInputError(f"RF frame(s) {empty.tolist()} are all zero", source)
    return np.ascontiguousarray(arr, dtype=np.float32)


def check_pair(pre, posts, source: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Validate a pre frame ``(H, W)`` and post frame(s) ``(H, W)`` or ``(T, H, W)``.

    Returns:
        ``pre`` as ``(H, W)`` float32 and ``posts`` as ``(T, H, W)`` float32.
    """
    pre = check_rf(pre, source, ndim=2)
    posts = check_rf(posts, source, ndim=(2, 3))
    if posts.ndim == 2:
        posts = posts[None]
    if posts.shape[1:] != pre.shape:
        raise ElastographyInputError(
            f"pre frame {pre.shape} and post frame(s) {posts.shape[1:]} differ in shape", source
        )
    return pre, posts
