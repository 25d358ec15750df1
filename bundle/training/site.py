"""Training and validation entries for any dataset folder: a simulated datalist or a site's own RF files.

Unsupervised learning lets a hospital adapt the network to its scanner without ground truth. A folder that holds
a ``datalist.json`` is used as it is (training / validation splits). Any other folder is read as a site's
recordings: every RF file of a supported format (:func:`bundle.io.read_rf`), its frame pairs chosen as inference
chooses them (:func:`bundle.pairs.choose_frame_pairs`). Files, not pairs, are split, so that no recording is in both
sets: every ``validation_every``-th file (by name) validates, the others train (with two files or more at least
one validates). Training entries are single pairs (``frames = [pre, post]``); training crops lines, not depth,
so batches need one depth: recordings whose depth (samples) differs from the most common one are left out of
training with a message (fine-tune once per depth setting). Validation entries keep up to three post frames
per pre frame (cross-level consistency needs two or more) and may have any depth (batches of one).
A file that cannot be read is reported and left out, like a failing case in batch inference.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

from bundle.datasets import case_name, datalist_split, find_rf_files, recording_entries
from bundle.errors import ElastographyInputError
from bundle.io.readers import read_rf
from bundle.pairs import choose_frame_pairs

__all__ = ["site_splits", "dataset_splits"]

logger = logging.getLogger(__name__)


def site_splits(dataset_dir: str | Path, validation_every: int = 5) -> dict[str, list[dict]]:
    """``{"training": [...], "validation": [...]}`` entries for a folder of a site's RF files (no ground truth)."""
    files = find_rf_files(dataset_dir)
    n = len(files)
    validate = {k for k in range(n) if k % validation_every == validation_every - 1}
    if n >= 2 and not validate:
        validate = {n - 1}
    splits: dict[str, list[dict]] = {"training": [], "validation": []}
    depths: dict[str, int] = {}
    for k, path in enumerate(files):
        base = {"case": case_name(path), "image": str(Path(path).resolve())}
        try:
            if k in validate:  # up to three deformation levels per pre frame (for cross-level consistency)
                splits["validation"] += recording_entries(path, base["case"], per_pre=3)
                continue
            rf = read_rf(path)
            pairs = choose_frame_pairs(rf)
        except ElastographyInputError as err:
            logger.error("left out of training: %s", err)
            continue
        depths[base["image"]] = rf.shape[0]
        splits["training"] += [{**base, "frames": [p.pre, p.post]} for p in pairs]
    if splits["training"]:
        common = Counter(depths[e["image"]] for e in splits["training"]).most_common(1)[0][0]
        odd = sorted({e["image"] for e in splits["training"] if depths[e["image"]] != common})
        for image in odd:
            logger.error("left out of training: %s has %d samples of depth, most recordings %d", image,
                         depths[image], common)  # fmt: skip
        splits["training"] = [e for e in splits["training"] if depths[e["image"]] == common]
    if not splits["training"] and not splits["validation"]:
        raise ElastographyInputError("no readable RF file with a usable frame pair", dataset_dir)
    if not splits["training"]:
        raise ElastographyInputError("every usable RF file went to validation; add recordings", dataset_dir)
    if not splits["validation"]:  # a single file: validate on its own pairs (nothing else exists)
        splits["validation"] = [dict(e) for e in splits["training"][:1]]
    logger.info(
        "%s: %d file(s), %d training pair(s), %d validation group(s)",
        dataset_dir, n, len(splits["training"]), len(splits["validation"]),
    )  # fmt: skip
    return splits


def dataset_splits(dataset_dir: str | Path, validation_every: int = 5) -> dict[str, list[dict]]:
    """The folder's ``datalist.json`` splits (absolute paths) if it has one, else :func:`site_splits`."""
    datalist = Path(dataset_dir) / "datalist.json"
    if datalist.is_file():
        return {split: datalist_split(datalist, split) for split in ("training", "validation")}
    return site_splits(dataset_dir, validation_every)
