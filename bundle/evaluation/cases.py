"""Load the cases of a MONAI datalist: RF frames, acquisition, phantom description and ground truth.

A datalist entry is ``{"case", "image", "sidecar"[, "displacement", "strain", "frames"]}`` with paths relative to
the datalist file (the layout :mod:`bundle.simulation.dataset` writes). Ground truth is optional: without it the
figures that need it are NaN. ``frames`` (indices; the first is the pre frame) picks frames of a longer
sequence, as :func:`bundle.training.site.site_splits` writes for a site's own RF files.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bundle.errors import ElastographyInputError
from bundle.io.frames import RFFrames
from bundle.io.jsonfile import read_json_object
from bundle.io.nifti import read_nifti, sidecar_path
from bundle.io.readers import read_rf

__all__ = ["Case", "datalist_split", "load_datalist", "load_case", "recording_entries", "recordings_entries",
           "skipped_entry"]  # fmt: skip

logger = logging.getLogger(__name__)

SPLITS = ("training", "validation", "test")


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


def load_datalist(path: str | Path, split: str = "test") -> tuple[list[dict], Path]:
    """Entries of one split and the folder their relative paths start from."""
    path = Path(path)
    data = read_json_object(path, "datalist")
    if split not in SPLITS and split != "all":
        raise ElastographyInputError(f"unknown split '{split}'; use one of {SPLITS} or 'all'", path)
    entries = [e for s in SPLITS for e in data.get(s, [])] if split == "all" else data.get(split)
    if not entries:
        raise ElastographyInputError(f"datalist has no cases in split '{split}'", path)
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or "image" not in entry:
            raise ElastographyInputError(f"entry {i} of split '{split}' has no 'image'", path)
    return entries, path.parent


#: datalist entry keys that hold file paths
PATH_KEYS = ("image", "sidecar", "displacement", "strain")


def datalist_split(datalist: str | Path, split: str) -> list[dict]:
    """Entries of ``split`` with every path made absolute (relative paths start at the datalist's folder)."""
    entries, base = load_datalist(datalist, split)
    return [{k: str((base / v).resolve()) if k in PATH_KEYS else v for k, v in e.items()} for e in entries]


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


def recording_entries(path: str | Path, name: str, per_pre: int = 3, notes: bool = False) -> list[dict]:
    """Datalist entries of one recording of any length: one per pre frame of its frame pairs
    (:func:`bundle.pairs.frame_pairs`, up to ``per_pre`` post frames each), ``frames = [pre, posts...]``. With
    ``notes``, an entry on a fallback pair (below the target strain range) carries its ``pairing_note``
    (training data lists leave it out: every entry of a batch must have the same keys).

    Raises:
        ElastographyInputError: the file cannot be read, or it has no usable frame pair.
    """
    from bundle.pairs import fallback_note, frame_pairs  # torch-backed; imported here to keep the reader light

    path = Path(path)
    pairs = frame_pairs(read_rf(path), per_pre=per_pre)
    entries = []
    for pre in dict.fromkeys(p.pre for p in pairs):
        mine = [p for p in pairs if p.pre == pre]
        entry = {"case": f"{name}_f{pre}", "image": str(path.resolve()), "frames": [pre, *(p.post for p in mine)]}
        note = fallback_note(mine) if notes else None
        entries.append(entry if note is None else {**entry, "pairing_note": note})
    return entries


def skipped_entry(case: str, file: str | Path, err: ElastographyInputError | OSError) -> dict:
    """``{"case", "file", "reason"}`` of a case left out: the file at fault (the error's, else ``file``) and the
    problem in words (an ``OSError``, such as a file without read permission: its message)."""
    if isinstance(err, ElastographyInputError):
        at_fault, reason = err.path, err.problem
    else:
        at_fault, reason = err.filename, f"cannot read the file ({err.strerror or err})"
    reason = " ".join(str(reason).split())  # one line: readers' messages may hold line breaks
    return {"case": case, "file": str(at_fault if at_fault is not None else file), "reason": reason}


def recordings_entries(recordings: Iterable[tuple[str | Path, str]], per_pre: int = 3) -> tuple[list[dict], list[dict]]:
    """:func:`recording_entries` (with notes) of every ``(path, name)``, and the recordings left out: one
    ``{"case", "file", "reason"}`` each (unreadable file, no usable frame pair, a name taken by an earlier file),
    logged as they are found. One bad recording costs only itself."""
    entries: list[dict] = []
    skipped: list[dict] = []
    first_file: dict[str, Path] = {}
    for path, name in recordings:
        path = Path(path)
        try:
            if first_file.setdefault(name, path) != path:  # rec.mha and rec.mat: one name, one figure file
                raise ElastographyInputError(f"case name '{name}' is taken by {first_file[name].name}; rename", path)
            entries += recording_entries(path, name, per_pre, notes=True)
        except (ElastographyInputError, OSError) as err:
            skipped.append(skipped_entry(name, path, err))
            logger.warning("skipped %s: %s", name, err)
    return entries, skipped
