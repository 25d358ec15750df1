"""Training data: the transforms that load RF sequences (datalist splits: :func:`bundle.datasets.datalist_split`).

Transforms follow MONAI's two forms: :class:`LoadRFSequence` (array: path -> tensor) and
:class:`LoadRFSequenced` (dictionary). Both go through the toolkit's reader (:func:`bundle.io.read_rf`),
so training sees exactly what evaluation and inference see, with the same validation of the sidecar. With a
:class:`~bundle.canonical_grid.CanonicalGrid` they resample every recording to that grid (as
:class:`~bundle.networks.network_estimator.NetworkEstimator` does at inference), so recordings of different probes share
one pixel scale and fixed-size crops of them batch together.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from pathlib import Path

import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform, Transform

from bundle.amplitude import scale_by_std
from bundle.canonical_grid import CanonicalGrid
from bundle.io.readers import read_rf

__all__ = ["LoadRFSequence", "LoadRFSequenced", "first_item"]


def first_item(batch: list):
    """``collate_fn`` for a batch size of one that keeps the item as it is (a dict of paths)."""
    return batch[0]


class LoadRFSequence(Transform):
    """RF file (+ sidecar) -> ``(1 + T, H, W)`` float32 tensor, divided by the pre frame's standard deviation.

    ``canonical_grid``: resample to that grid first (``H, W`` are then the canonical grid's); None keeps the
    recording's own grid.
    """

    def __init__(self, canonical_grid: CanonicalGrid | None = None):
        if canonical_grid is not None and not isinstance(canonical_grid, CanonicalGrid):
            raise ValueError(f"canonical_grid must be a CanonicalGrid or None, got {type(canonical_grid).__name__}")
        self.canonical_grid = canonical_grid

    def __call__(self, path: str | Path, sidecar: str | Path | None = None, frames=None) -> torch.Tensor:
        """``frames``: indices to keep (first = pre), e.g. a pair chosen from a freehand sequence."""
        rf = read_rf(path, sidecar)
        rf = rf if frames is None else rf.select(frames)
        data = rf.frames
        if self.canonical_grid is not None:
            data, _ = self.canonical_grid.to_canonical(data, rf.acquisition)
        return torch.from_numpy(scale_by_std(data, data[0]))


class LoadRFSequenced(MapTransform):
    """Dictionary form: ``data[key]`` (a path) -> tensor ``(1 + T, H, W)``; ``sidecar_key`` names the sidecar,
    ``frames_key`` the optional frame indices, ``canonical_grid`` as :class:`LoadRFSequence`."""

    def __init__(
        self,
        keys: KeysCollection = "image",
        sidecar_key: str | None = "sidecar",
        frames_key: str = "frames",
        canonical_grid: CanonicalGrid | None = None,
    ):
        super().__init__(keys)
        self.sidecar_key = sidecar_key
        self.frames_key = frames_key
        self.loader = LoadRFSequence(canonical_grid)

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        d = dict(data)
        sidecar = d.get(self.sidecar_key) if self.sidecar_key else None
        for key in self.key_iterator(d):
            d[key] = self.loader(d[key], sidecar, d.get(self.frames_key))
        return d
