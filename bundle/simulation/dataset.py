"""Write a simulated data set: NIfTI RF + ground truth, JSON sidecars, and a MONAI datalist.

Layout of ``output_dir`` (``ext`` is ``.nii`` or ``.nii.gz``)::

    case_0000_rf.nii            RF (H, W, 1 + T): frame 0 pre, frames 1..T post; spacing (mm) in the header
    case_0000_rf.json           sidecar: acquisition record, phantom description, seed
    case_0000_displacement.nii  ground-truth displacement (H, W, T, 2) in mm, last axis (axial, lateral)
    case_0000_strain.nii        ground-truth axial strain (H, W, T), fraction
    datalist.json               {"training": [...], "validation": [...], "test": [...]} of
                                {"image", "sidecar", "displacement", "strain", "case"}; paths relative to it

The whole folder is built under a temporary name and renamed into place at the end, so an interrupted run
never leaves a data set that looks complete. Cases are seeded from ``SeedSequence(seed).spawn``, so the data
do not depend on the number of worker processes.

``DatasetSpec.mode`` picks the simulator: ``"convolution"`` (default: one shared acquisition, the closed-form
inclusion, :mod:`bundle.simulation.phantom`) or ``"realistic"`` (:mod:`bundle.simulation.realistic`: every
sequence draws its own acquisition, so frame sizes differ between cases; each sidecar holds its acquisition and
every drawn value, and the datalist's ``acquisition`` is null).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from bundle.errors import ElastographyInputError
from bundle.io.atomic import atomic_directory
from bundle.io.nifti import write_nifti
from bundle.metrics.regions import phantom_regions
from bundle.simulation.mechanics import Inclusion
from bundle.simulation.phantom import PhantomConfig, random_case, simulate_sequence
from bundle.simulation.realistic import RealisticSpec, simulate_realistic
from bundle.simulation.tissue import inscribed_radius_mm

__all__ = ["DatasetSpec", "write_dataset", "split_counts", "MODES"]

DATALIST_NAME = "datalist.json"
MODES = ("convolution", "realistic")


@dataclass(frozen=True)
class DatasetSpec:
    """How many sequences and how they are drawn.

    Attributes:
        num_sequences: number of cases.
        num_post_frames: post frames per sequence (T); each case has 1 + T frames.
        strain_range: compression range (fractions) the levels are drawn from.
        lesion_probability: share of cases with a lesion (the rest are uniform compression).
        split: fractions of (training, validation, test).
        seed: master seed.
        compress: write ``.nii.gz`` instead of ``.nii`` (smaller, about 3x slower to write).
        mode: ``"convolution"`` (the reference simulator) or ``"realistic"`` (strain_range and
            lesion_probability then come from the :class:`RealisticSpec`, not from here).
    """

    num_sequences: int = 12
    num_post_frames: int = 3
    strain_range: tuple[float, float] = (0.005, 0.03)
    lesion_probability: float = 0.85
    split: tuple[float, float, float] = (0.7, 0.15, 0.15)
    seed: int = 0
    compress: bool = False
    mode: str = "convolution"

    def __post_init__(self):
        if self.mode not in MODES:
            raise ElastographyInputError(f"simulation mode must be one of {MODES}, got {self.mode!r}")
        object.__setattr__(self, "strain_range", tuple(float(v) for v in self.strain_range))
        object.__setattr__(self, "split", tuple(float(v) for v in self.split))
        if self.num_sequences < 1 or self.num_post_frames < 1:
            raise ElastographyInputError("num_sequences and num_post_frames must be >= 1")
        lo, hi = self.strain_range
        if not 0 < lo <= hi < 0.2:
            raise ElastographyInputError(f"strain range must satisfy 0 < min <= max < 0.2, got {self.strain_range}")
        if any(f < 0 for f in self.split) or not np.isclose(sum(self.split), 1.0):
            raise ElastographyInputError(f"split fractions must be >= 0 and sum to 1, got {self.split}")


def split_counts(n: int, fractions: tuple[float, float, float]) -> tuple[int, int, int]:
    """Cases per split; each split with a non-zero fraction gets at least one case when n allows."""
    counts = [int(round(n * f)) for f in fractions]
    for i, f in enumerate(fractions):
        if f > 0 and counts[i] == 0 and n >= sum(1 for g in fractions if g > 0):
            counts[i] = 1
    counts[0] = n - counts[1] - counts[2]
    if counts[0] < 0:
        raise ElastographyInputError(f"cannot split {n} cases as {fractions}")
    return counts[0], counts[1], counts[2]


def _write_arrays(folder: Path, case: str, ext: str, seq, spacing) -> dict[str, str]:
    names = {k: f"{case}_{k}{ext}" for k in ("rf", "displacement", "strain")}
    write_nifti(folder / names["rf"], np.moveaxis(seq.rf, 0, -1), spacing)
    write_nifti(folder / names["displacement"], np.transpose(seq.displacement_mm, (2, 3, 0, 1)), spacing)
    write_nifti(folder / names["strain"], np.moveaxis(seq.strain, 0, -1), spacing)
    return names


def _entry(case: str, names: dict[str, str]) -> dict:
    return {
        "case": case,
        "image": names["rf"],
        "sidecar": f"{case}_rf.json",
        "displacement": names["displacement"],
        "strain": names["strain"],
    }


def _metric_inclusion(inclusions: list, shape: tuple[int, int], spacing_mm: tuple[float, float]) -> dict | None:
    """The disc the metrics score a realistic case on: the inscribed disc of the largest stiffness inclusion whose
    target and background regions fit the frame (``bundle.metrics.phantom_regions``), or None."""
    for inc in sorted(inclusions, key=lambda i: -i["radius_mm"]):
        radius = inscribed_radius_mm(inc)
        if radius < 2.0:
            continue
        disc = Inclusion((inc["center_mm"][0], inc["center_mm"][1]), radius, inc["stiffness_ratio"])
        try:
            phantom_regions(shape, spacing_mm, disc)
        except ElastographyInputError:
            continue
        return {"center_mm": list(disc.center_mm), "radius_mm": radius, "stiffness_ratio": disc.stiffness_ratio}
    return None


def _realistic_case(index, seed_seq, spec: DatasetSpec, realistic: RealisticSpec, folder: Path) -> dict:
    seq = simulate_realistic(realistic, spec.num_post_frames, seed_seq)
    case = f"case_{index:04d}"
    spacing = seq.acquisition.spacing_mm
    names = _write_arrays(folder, case, ".nii.gz" if spec.compress else ".nii", seq, spacing)
    sidecar = {
        "acquisition": seq.acquisition.to_dict(),
        "phantom": {
            "inclusion": _metric_inclusion(seq.inclusions_mm, seq.rf.shape[1:], spacing),
            "inclusion_note": "inscribed disc of the largest stiffness inclusion that the metrics' regions fit "
            "(other inclusions, layers and rigid motion are in simulation.parameters)",
            "applied_strains": list(seq.applied_strains),
        },
        "simulation": {
            "mode": "realistic",
            "seed_entropy": str(seed_seq.entropy),
            "spawn_key": list(seed_seq.spawn_key),
            "remake": "simulate_realistic(RealisticSpec(**spec), num_post_frames, "
            "SeedSequence(seed_entropy, spawn_key=spawn_key))",
            "num_post_frames": spec.num_post_frames,
            "spec": realistic.to_dict(),
            "parameters": seq.parameters,
        },
        "frames": "frame 0 before compression; frame k >= 1 at applied_strains[k - 1] plus the rigid motion",
        "frame_pairs": "first",
        "ground_truth_grid": "displacement and strain are given on the pre-frame pixel grid",
        "strain_definition": "axial derivative of the axial displacement (rigid motion included), compression negative",
    }
    (folder / f"{case}_rf.json").write_text(json.dumps(sidecar, indent=1))
    return _entry(case, names)


def _simulate_case(job: tuple) -> dict:
    index, seed_seq, config, spec, folder, realistic = job
    if spec.mode == "realistic":
        return _realistic_case(index, seed_seq, spec, realistic, folder)
    draw_seed, render_seed = seed_seq.spawn(2)
    inclusion, levels = random_case(
        config,
        np.random.default_rng(draw_seed),
        num_post_frames=spec.num_post_frames,
        strain_range=spec.strain_range,
        lesion_probability=spec.lesion_probability,
    )
    seq = simulate_sequence(config, inclusion, levels, seed=render_seed)
    case = f"case_{index:04d}"
    names = _write_arrays(folder, case, ".nii.gz" if spec.compress else ".nii", seq, config.acquisition.spacing_mm)
    sidecar = {
        "acquisition": config.acquisition.to_dict(),
        "phantom": seq.description(),
        "simulation": {
            **config.to_dict(),
            "seed_entropy": str(seed_seq.entropy),
            "spawn_key": list(seed_seq.spawn_key),
        },
        "frames": "frame 0 before compression; frame k >= 1 at applied_strains[k - 1]",
        "frame_pairs": "first",
        "ground_truth_grid": "displacement and strain are given on the pre-frame pixel grid",
    }
    sidecar["simulation"].pop("acquisition")
    (folder / f"{case}_rf.json").write_text(json.dumps(sidecar, indent=1))
    return _entry(case, names)


def write_dataset(
    output_dir: str | Path,
    spec: DatasetSpec | None = None,
    config: PhantomConfig | None = None,
    workers: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
    realistic: RealisticSpec | None = None,
) -> Path:
    """Simulate ``spec.num_sequences`` cases into ``output_dir`` and return the datalist path.

    ``config`` is used by the convolution mode, ``realistic`` (default :class:`RealisticSpec`) by the realistic one.

    Raises:
        ElastographyInputError: ``output_dir`` exists and is not empty and ``overwrite`` is False.
    """
    spec = spec or DatasetSpec()
    config = config or PhantomConfig()
    realistic = realistic or RealisticSpec()
    output_dir = Path(output_dir)
    with atomic_directory(output_dir, overwrite=overwrite) as staging, ExitStack() as stack:
        seeds = np.random.SeedSequence(spec.seed).spawn(spec.num_sequences)
        jobs = [(i, seeds[i], config, spec, staging, realistic) for i in range(spec.num_sequences)]
        workers = max(1, min(workers or os.cpu_count() or 1, spec.num_sequences))
        start = time.perf_counter()
        entries = []
        with tqdm(total=len(jobs), desc="simulating", unit="seq", disable=not progress) as bar:
            if workers == 1:
                results = map(_simulate_case, jobs)
            else:
                # fork: workers inherit the imported modules, no re-import per process
                method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
                ctx = multiprocessing.get_context(method)
                pool = stack.enter_context(ctx.Pool(workers))
                results = pool.imap(_simulate_case, jobs)
            for entry in results:
                entries.append(entry)
                bar.update()
        n_train, n_val, _ = split_counts(spec.num_sequences, spec.split)
        is_realistic = spec.mode == "realistic"
        datalist = {
            "description": "simulated quasi-static compression sequences (bundle.simulation)",
            "mode": spec.mode,
            # realistic: every case has its own acquisition (in its sidecar)
            "acquisition": None if is_realistic else config.acquisition.to_dict(),
            "spec": {**spec.__dict__, "strain_range": list(spec.strain_range), "split": list(spec.split)},
            **({"realistic": realistic.to_dict()} if is_realistic else {}),
            "seconds": round(time.perf_counter() - start, 2),
            "training": entries[:n_train],
            "validation": entries[n_train : n_train + n_val],
            "test": entries[n_train + n_val :],
        }
        (staging / DATALIST_NAME).write_text(json.dumps(datalist, indent=1))
    return output_dir / DATALIST_NAME
