"""Load one case of a datalist (:mod:`bundle.datasets`): RF frames, acquisition, phantom description, ground truth.

Ground truth is optional: without it the figures that need it are NaN.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bundle.errors import ElastographyInputError
from bundle.io.frames import RFFrames
from bundle.io.nifti import read_nifti
from bundle.io.readers import read_rf, sidecar_path

__all__ = ["Case", "load_case"]


@dataclass
class Case:
    """One sequence to evaluate.

    Attributes:
        name: case identifier.
        frames: RF frames (frame 0 pre) and acquisition.
        sidecar: the sidecar mapping (acquisition, phantom description, ...).
        displacement_mm: ``(T, 2, H, W)`` ground truth in mm, or None.
        strain: ``(T, H, W)`` ground-truth axial strain, or None.
    """

    name: str
    frames: RFFrames
    sidecar: dict
    displacement_mm: np.ndarray | None = None
    strain: np.ndarray | None = None

    @property
    def applied_strains(self) -> list[float | None]:
        levels = (self.sidecar.get("phantom") or {}).get("applied_strains")
        n = self.frames.posts.shape[0]
        return list(levels) if levels and len(levels) == n else [None] * n


def load_case(entry: dict, base_dir: str | Path) -> Case:
    """Read one datalist entry (RF, sidecar, optional ground truth) and check that the pieces agree."""
    base_dir = Path(base_dir)
    image = base_dir / entry["image"]
    sidecar_file = base_dir / entry["sidecar"] if "sidecar" in entry else sidecar_path(image)
    frames = read_rf(image, sidecar_file)  # validates the sidecar's acquisition record
    if "frames" in entry:
        frames = frames.select(entry["frames"])
    sidecar = json.loads(sidecar_file.read_text())
    n_post, (h, w) = frames.posts.shape[0], frames.shape
    if n_post < 1:
        raise ElastographyInputError("RF has a single frame; need a pre and at least one post frame", image)
    displacement = strain = None
    if "displacement" in entry:
        path = base_dir / entry["displacement"]
        data, _ = read_nifti(path)
        if data.shape != (h, w, n_post, 2):
            raise ElastographyInputError(f"displacement has shape {data.shape}, expected {(h, w, n_post, 2)}", path)
        displacement = np.ascontiguousarray(np.transpose(data, (2, 3, 0, 1)))
    if "strain" in entry:
        path = base_dir / entry["strain"]
        data, _ = read_nifti(path)
        data = data[..., None] if data.ndim == 2 else data
        if data.shape != (h, w, n_post):
            raise ElastographyInputError(f"strain has shape {data.shape}, expected {(h, w, n_post)}", path)
        strain = np.ascontiguousarray(np.moveaxis(data, -1, 0))
    return Case(entry.get("case", Path(entry["image"]).name), frames, sidecar, displacement, strain)
