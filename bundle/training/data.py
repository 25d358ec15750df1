"""Training data: datalist splits with absolute paths and the transforms that load RF sequences.

Transforms follow MONAI's two forms: :class:`LoadRFSequence` (array: path -> tensor) and
:class:`LoadRFSequenced` (dictionary). Both go through the toolkit's reader (:func:`bundle.io.read_rf`),
so training sees exactly what evaluation and inference see, with the same validation of the sidecar.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from pathlib import Path

import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform, Transform

from bundle.evaluation.cases import datalist_split
from bundle.io.frames import normalize_rf
from bundle.io.readers import read_rf

__all__ = ["datalist_split", "LoadRFSequence", "LoadRFSequenced", "first_item"]


def first_item(batch: list):
    """``collate_fn`` for a batch size of one that keeps the item as it is (a dict of paths)."""
    return batch[0]


class LoadRFSequence(Transform):
    """RF file (+ sidecar) -> ``(1 + T, H, W)`` float32 tensor, divided by the pre frame's standard deviation."""

    def __call__(self, path: str | Path, sidecar: str | Path | None = None) -> torch.Tensor:
        frames = read_rf(path, sidecar)
        return torch.from_numpy(normalize_rf(frames.frames, frames.pre))


class LoadRFSequenced(MapTransform):
    """Dictionary form: ``data[key]`` (a path) -> tensor ``(1 + T, H, W)``; ``sidecar_key`` names the sidecar."""

    def __init__(self, keys: KeysCollection = "image", sidecar_key: str | None = "sidecar"):
        super().__init__(keys)
        self.sidecar_key = sidecar_key
        self.loader = LoadRFSequence()

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        d = dict(data)
        sidecar = d.get(self.sidecar_key) if self.sidecar_key else None
        for key in self.key_iterator(d):
            d[key] = self.loader(d[key], sidecar)
        return d
