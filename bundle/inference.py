"""Inference on a folder of RF files: displacement and strain NIfTI (mm spacing) and a PNG panel per case.

Input: ``dataset_dir`` holding RF NIfTI files with JSON sidecars (``case_rf.nii[.gz]`` + ``case_rf.json``), or
a ``datalist.json`` (all its splits). Output, in ``output_dir`` (staged, moved into place when complete)::

    <case>_displacement_mm.nii.gz   (H, W, T, 2) axial, lateral displacement in mm
    <case>_strain.nii.gz            (H, W, T) axial strain, fraction
    <case>.png                      B-mode and |strain| of every post frame
    summary.json                    cases, estimator, seconds per frame pair
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from bundle.errors import ElastographyInputError
from bundle.estimator import DisplacementEstimator
from bundle.evaluation.cases import datalist_split
from bundle.evaluation.figures import save_strain_panel
from bundle.io.atomic import atomic_directory
from bundle.io.nifti import sidecar_path, write_nifti
from bundle.io.readers import read_rf

__all__ = ["find_rf_files", "infer_folder"]


def find_rf_files(dataset_dir: str | Path) -> list[Path]:
    """RF files of a folder: the ``image`` entries of its ``datalist.json``, else every NIfTI with a sidecar."""
    folder = Path(dataset_dir)
    if not folder.is_dir():
        raise ElastographyInputError("dataset folder not found", folder)
    if (folder / "datalist.json").is_file():
        return [Path(e["image"]) for e in datalist_split(folder / "datalist.json", "all")]
    files = sorted(p for p in folder.iterdir() if p.name.endswith((".nii", ".nii.gz")) and sidecar_path(p).is_file())
    if not files:
        raise ElastographyInputError("no RF NIfTI file with a JSON sidecar found", folder)
    return files


def _case_name(path: Path) -> str:
    """``case_0000_rf.nii.gz`` -> ``case_0000`` (the ``_rf`` suffix names the input, not the case)."""
    stem = sidecar_path(path).stem
    return stem[: -len("_rf")] if stem.endswith("_rf") and len(stem) > 3 else stem


def infer_folder(
    dataset_dir: str | Path,
    output_dir: str | Path,
    estimator: DisplacementEstimator,
    overwrite: bool = False,
    progress: bool = True,
) -> Path:
    """Run ``estimator`` on every case of ``dataset_dir``; see the module docstring for the outputs."""
    files = find_rf_files(dataset_dir)
    summary = {"estimator": estimator.name, "cases": []}
    with atomic_directory(output_dir, overwrite=overwrite) as staging:
        for path in tqdm(files, desc="inference", unit="case", disable=not progress):
            frames = read_rf(path)
            if frames.posts.shape[0] < 1:
                raise ElastographyInputError("RF has a single frame; need a pre and at least one post frame", path)
            acq, name = frames.acquisition, _case_name(path)
            start = time.perf_counter()
            displacement = estimator.estimate(frames.pre, frames.posts, acq)
            strain = estimator.strain(displacement, acq)
            seconds = (time.perf_counter() - start) / frames.posts.shape[0]
            write_nifti(
                staging / f"{name}_displacement_mm.nii.gz", np.transpose(displacement, (2, 3, 0, 1)), acq.spacing_mm
            )
            write_nifti(staging / f"{name}_strain.nii.gz", np.moveaxis(strain, 0, -1), acq.spacing_mm)
            panels = {f"post {k + 1}": strain[k] for k in range(strain.shape[0])}
            save_strain_panel(
                staging / f"{name}.png", frames.pre, panels, acq.spacing_mm, title=f"{name} ({estimator.name})"
            )
            summary["cases"].append(
                {"case": name, "rf": str(path), "frames": int(strain.shape[0]), "seconds_per_pair": seconds}
            )
        (staging / "summary.json").write_text(json.dumps(summary, indent=1))
    return Path(output_dir)
