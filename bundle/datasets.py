"""What a case is and where the cases of a dataset come from: datalists and folders of RF files.

A **case** is one RF recording to estimate (or score, or train on): an RF file of a supported format
(:func:`bundle.io.read_rf`) with its JSON sidecar, named by :func:`case_name` (``case_0000_rf.nii.gz`` ->
``case_0000``). A recording of many frames can be several cases, one per pre frame of its frame pairs
(:func:`recording_entries`; the case is then ``<name>_f<pre>``).

A **datalist** is MONAI's (:func:`monai.data.load_decathlon_datalist`): a JSON object whose splits
``"training"``, ``"validation"`` and ``"test"`` are lists of entries
``{"case", "image", "sidecar"[, "displacement", "strain", "frames"]}``, with paths relative to the datalist file
(the layout :mod:`bundle.simulation.dataset` writes). ``sidecar`` defaults to the image's
(:func:`bundle.io.sidecar_path`); ``displacement`` (``(H, W, T, 2)`` in mm) and ``strain`` (``(H, W, T)``) are
optional NIfTI ground truth; ``frames`` (indices; the first is the pre frame) picks frames of a longer sequence,
as :func:`bundle.training.site.site_splits` writes for a site's own RF files.

A **dataset folder** holds a ``datalist.json`` (all its splits are its cases), else its RF files are its cases
(:func:`find_cases`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

from bundle.errors import ElastographyInputError
from bundle.io.jsonfile import read_json_object
from bundle.io.readers import is_rf_file, read_rf, rf_suffix_list, sidecar_path

__all__ = [
    "PATH_KEYS",
    "SPLITS",
    "case_name",
    "datalist_split",
    "find_cases",
    "find_rf_files",
    "load_datalist",
    "recording_entries",
    "recordings_entries",
    "skipped_entry",
]

logger = logging.getLogger(__name__)

#: the splits of a datalist
SPLITS = ("training", "validation", "test")
#: datalist entry keys that hold file paths
PATH_KEYS = ("image", "sidecar", "displacement", "strain")


def load_datalist(path: str | Path, split: str = "test") -> tuple[list[dict], Path]:
    """Entries of one split (``"all"``: every split's, in :data:`SPLITS` order) and the folder their relative
    paths start from."""
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


def datalist_split(datalist: str | Path, split: str) -> list[dict]:
    """Entries of ``split`` with every path made absolute (relative paths start at the datalist's folder)."""
    entries, base = load_datalist(datalist, split)
    return [{k: str((base / v).resolve()) if k in PATH_KEYS else v for k, v in e.items()} for e in entries]


def find_cases(dataset_dir: str | Path) -> list[tuple[Path, Path | None]]:
    """(RF file, sidecar or None for the default) of every case: the entries of the folder's ``datalist.json``,
    else every supported RF file of the folder. Files without a sidecar are listed too, so that the batch
    reports them instead of skipping them silently."""
    folder = Path(dataset_dir)
    if not folder.is_dir():
        raise ElastographyInputError("dataset folder not found", folder)
    if (folder / "datalist.json").is_file():
        entries = datalist_split(folder / "datalist.json", "all")
        return [(Path(e["image"]), Path(e["sidecar"]) if "sidecar" in e else None) for e in entries]
    files = sorted(p for p in folder.iterdir() if p.is_file() and is_rf_file(p))
    if not files:
        raise ElastographyInputError(f"no RF file ({rf_suffix_list()}) found", folder)
    return [(p, None) for p in files]


def find_rf_files(dataset_dir: str | Path) -> list[Path]:
    """The RF files of :func:`find_cases`."""
    return [path for path, _ in find_cases(dataset_dir)]


def case_name(path: Path) -> str:
    """``case_0000_rf.nii.gz`` -> ``case_0000`` (the ``_rf`` suffix names the input, not the case)."""
    stem = sidecar_path(path).stem
    return stem[: -len("_rf")] if stem.endswith("_rf") and len(stem) > 3 else stem


def recording_entries(path: str | Path, name: str, per_pre: int = 3, notes: bool = False) -> list[dict]:
    """Datalist entries of one recording of any length: one per pre frame of its frame pairs
    (:func:`bundle.pairs.choose_frame_pairs`, up to ``per_pre`` post frames each), ``frames = [pre, posts...]``. With
    ``notes``, an entry on a fallback pair (below the target strain range) carries its ``pairing_note``
    (training data lists leave it out: every entry of a batch must have the same keys).

    Raises:
        ElastographyInputError: the file cannot be read, or it has no usable frame pair.
    """
    from bundle.pairs import choose_frame_pairs, fallback_note  # torch-backed; imported here to keep the reader light

    path = Path(path)
    pairs = choose_frame_pairs(read_rf(path), per_pre=per_pre)
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
