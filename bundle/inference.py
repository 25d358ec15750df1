"""Batch inference on a folder of RF files: one output folder per case, a summary, failures reported not fatal.

Input: ``dataset_dir`` holding RF files of any supported format with JSON sidecars (:func:`bundle.io.read_rf`),
or a ``datalist.json`` (all its splits; :func:`bundle.datasets.find_cases`). Each case's frame pairs come from
its sidecar (default: chosen by :func:`bundle.pairs.choose_frame_pairs`). Output, in the run folder::

    <case>/...        see :mod:`bundle.export.case` (NIfTI, PNG, optional DICOM); staged, moved in when complete
    summary.json      estimator, every case's pairs and seconds per pair (``pairing_note`` when the pair is a
                      fallback of :func:`bundle.pairs.select_frame_pairs`), every failure and its reason

A run never replaces earlier results silently: when ``output_dir`` holds files already, the run goes to a new
folder ``<output_dir>-2`` (``-3``, ...) unless ``overwrite`` is set. A case that fails (bad file, missing
sidecar, no usable frame pair, an estimator error) is logged and skipped; the batch goes on.

``resume`` finishes an interrupted run in ``output_dir`` itself: a case whose folder is complete (its
``case.json``, written last inside the staged folder, names the same RF file) is kept and listed with
``"resumed": true``; every other case is estimated, replacing a folder without ``case.json``. A folder made by
another estimator stops that case with the reason (resume with the same estimator, or use ``overwrite``).

Across processes (``torchrun ... --config_file "['configs/inference.json','configs/multi_gpu_inference.json']"``):
the cases are sharded over the ranks, each rank writes its own case folders as above, rank 0 writes the one
``summary.json``; the output folder must be one every rank sees (one machine, or a shared file system). A rank
that dies leaves the finished case folders in place (torchrun stops the others, no summary is written); the
same command with ``resume`` does the rest, with any number of processes.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from tqdm import tqdm

from bundle.datasets import case_name, find_cases
from bundle.distributed import barrier, broadcast_from_main, current_ranks, finish_distributed, gather_to_main
from bundle.errors import ElastographyInputError
from bundle.estimator import DisplacementEstimator
from bundle.export.case import CaseOutputs, write_case_outputs
from bundle.export.dicom import anonymous_identity, identity_from_reference
from bundle.export.uids import file_digest, recording_digest
from bundle.io.atomic import atomic_directory, atomic_write_text
from bundle.io.jsonfile import strict_json_dumps
from bundle.io.readers import read_rf
from bundle.pairs import choose_frame_pairs, estimate_pairs, fallback_note

__all__ = [
    "BatchSummary",
    "finished_case",
    "new_run_folder",
    "infer_case",
    "infer_folder",
    "run_batch_inference",
]

logger = logging.getLogger(__name__)

CASE_RECORD = "case.json"  # a case folder's own summary entry, written last (resume reads it)


@dataclass
class BatchSummary:
    """Result of a batch: where it went, what succeeded, what failed and why."""

    output_dir: Path
    estimator: str
    succeeded: list[dict] = field(default_factory=list)
    failed: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"output_dir": str(self.output_dir), "estimator": self.estimator, "succeeded": self.succeeded,
                "failed": self.failed}  # fmt: skip

    def report(self) -> str:
        """Human-readable lines: counts, one line per case on a fallback pair, one line per failure."""
        resumed = sum(1 for c in self.succeeded if c.get("resumed"))
        lines = [f"inference ({self.estimator}): {len(self.succeeded)} case(s) done"
                 + (f" ({resumed} kept from the interrupted run)" if resumed else "")
                 + f", {len(self.failed)} failed -> {self.output_dir}"]  # fmt: skip
        lines += [f"  NOTE {c['case']}: {c['pairing_note']}" for c in self.succeeded if c.get("pairing_note")]
        lines += [f"  FAILED {f['case']} ({f['file']}): {f['reason']}" for f in self.failed]
        return "\n".join(lines)


def new_run_folder(output_dir: str | Path, overwrite: bool = False) -> Path:
    """``output_dir`` if it is new, empty or ``overwrite``; else the first free ``<output_dir>-<k>``, k >= 2."""
    out = Path(output_dir)
    if out.exists() and not out.is_dir():
        raise ElastographyInputError("output path exists and is not a folder", out)
    if overwrite or not out.exists() or not any(out.iterdir()):
        return out
    k = 2
    while out.with_name(f"{out.name}-{k}").exists():
        k += 1
    fresh = out.with_name(f"{out.name}-{k}")
    logger.warning("%s holds earlier results; this run goes to %s (set overwrite to replace them)", out, fresh)
    return fresh


def infer_case(
    path: Path,
    estimator: DisplacementEstimator,
    run_dir: Path,
    outputs: CaseOutputs,
    overwrite: bool = False,
    pair_mode: str | None = None,
    sidecar: Path | None = None,
) -> dict:
    """Estimate and write one case into ``run_dir/<case>/`` (all or nothing); returns its summary entry.

    Pair indices in the entry are the file's frame numbers (PLUS frames marked invalid keep their numbers)."""
    rf = read_rf(path, sidecar)
    name = case_name(path)
    pairs = choose_frame_pairs(rf, pair_mode)
    identity = None
    if outputs.dicom:
        recording = recording_digest(path)  # content, not name: stable pseudonymous patient and UIDs
        reference = rf.reference_dicom
        identity = identity_from_reference(reference, recording) if reference else anonymous_identity(recording)
    start = time.perf_counter()
    displacement = estimate_pairs(estimator, rf.frames, pairs, rf.acquisition)
    strain = estimator.strain(displacement, rf.acquisition)
    seconds = (time.perf_counter() - start) / len(pairs)
    pre_frames = rf.frames[[p.pre for p in pairs]]
    numbers = rf.file_frame_numbers()
    # labels and the summary use the file's frame numbers (PLUS frames marked invalid keep theirs)
    labelled = [replace(p, pre=int(numbers[p.pre]), post=int(numbers[p.post])) for p in pairs]
    with atomic_directory(run_dir / name, overwrite=overwrite) as staging:
        files = write_case_outputs(
            staging, name, pre_frames, labelled, displacement, strain, rf.acquisition, outputs, identity
        )
        entry = {
            "case": name,
            "rf": str(path),
            "pairs": [p.to_dict() for p in labelled],
            "pairing_note": fallback_note(labelled),  # None unless no pair reached the target strain range
            "seconds_per_pair": seconds,
            "files": [f"{name}/{f}" for f in [*files, CASE_RECORD]],
            "dicom_identity": None if identity is None else ("anonymous" if identity.anonymous else "reference"),
        }
        # last file of the staged folder: a folder with it is complete, which is what resume relies on
        record = {"estimator": outputs.model_name, **entry}
        atomic_write_text(staging / CASE_RECORD, strict_json_dumps(record, indent=1))
    return entry


def finished_case(folder: Path, path: Path, estimator_name: str) -> dict | None:
    """The summary entry of a complete earlier result of ``path`` in ``folder``, or None when it must be redone
    (no folder, no readable ``case.json``, another RF file).

    Raises:
        ElastographyInputError: the folder holds another estimator's result.
    """
    try:
        record = json.loads((folder / CASE_RECORD).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("rf") != str(path):
        return None
    if record.get("estimator") != estimator_name:
        raise ElastographyInputError(
            f"holds a result of {record.get('estimator')}, not {estimator_name}: resume with the same estimator, "
            "or use overwrite",
            folder,
        )
    record.pop("estimator")
    return {**record, "resumed": True}


def infer_folder(
    dataset_dir: str | Path,
    output_dir: str | Path,
    estimator: DisplacementEstimator,
    overwrite: bool = False,
    progress: bool = True,
    dicom: bool = False,
    png: bool = True,
    frame_pairs: str | None = None,
    software_version: str = "0",
    resume: bool = False,
) -> BatchSummary:
    """Run ``estimator`` on every case of ``dataset_dir``; see the module docstring for outputs and policy.

    Under ``torchrun`` (a process group from :func:`bundle.distributed.init_distributed`) the cases are sharded
    across the ranks: rank 0 chooses the run folder, each rank writes its own cases' folders (atomically, as in
    one process), and rank 0 writes the one ``summary.json`` with every case and failure in the case list's order.
    Every rank returns that merged summary.

    Args:
        frame_pairs: override every sidecar's pairing (``auto``, ``first``, ``consecutive``); None = sidecars'.
        resume: finish an interrupted run in ``output_dir`` (see the module docstring); not with ``overwrite``.
    """
    if overwrite and resume:
        raise ValueError("overwrite replaces every case and resume keeps the finished ones: choose one")
    ranks = current_ranks()
    plan = None
    try:
        if ranks.is_main:
            cases, run_dir = find_cases(dataset_dir), new_run_folder(output_dir, overwrite or resume)
            run_dir.mkdir(parents=True, exist_ok=True)
            plan = (cases, run_dir)
    finally:  # one listing and one folder for all ranks, or word that rank 0 failed (else the others would wait)
        plan = broadcast_from_main(plan)
    if plan is None:
        raise ElastographyInputError("rank 0 could not list the cases or open the output folder", dataset_dir)
    cases, run_dir = plan
    weights = getattr(estimator, "checkpoint", None)  # part of the DICOM series UIDs: new weights, new series
    weights = file_digest(weights) if dicom and weights else ""
    outputs = CaseOutputs(png=png, dicom=dicom, model_name=estimator.name, software_version=software_version,
                          weights=weights)  # fmt: skip
    first_file: dict[str, Path] = {}
    owners = [first_file.setdefault(case_name(path), path) for path, _ in cases]  # rec.mha and rec.mat: one name
    jobs = ranks.shard(list(enumerate(cases)))
    succeeded: list[tuple[int, dict]] = []
    failed: list[tuple[int, dict]] = []
    bar = tqdm(jobs, desc="inference", unit="case", disable=not progress or not ranks.is_main)
    for index, (path, sidecar) in bar:
        name = case_name(path)
        try:
            if owners[index] != path:
                raise ElastographyInputError(f"case name '{name}' is taken by {owners[index].name}; rename", path)
            entry = finished_case(run_dir / name, path, estimator.name) if resume else None
            if entry is None:  # resume replaces an incomplete or foreign-file folder of this case name
                entry = infer_case(path, estimator, run_dir, outputs, overwrite or resume, frame_pairs, sidecar)
            succeeded.append((index, entry))
        except Exception as err:  # noqa: BLE001 - one bad case must not cost the others: record why, go on
            bad_input = isinstance(err, ElastographyInputError)
            reason = err.problem if bad_input else f"{type(err).__name__}: {err}"
            file = str(err.path) if bad_input and err.path is not None else str(path)
            logger.error("%s: %s", file, reason, exc_info=not bad_input)
            failed.append((index, {"case": name, "rf": str(path), "file": file, "reason": reason}))
        bar.set_postfix(done=len(succeeded), failed=len(failed))
    summary = None
    gathered = gather_to_main((succeeded, failed))
    if ranks.is_main:
        summary = BatchSummary(run_dir, estimator.name)
        summary.succeeded = [entry for _, entry in sorted(e for part in gathered for e in part[0])]
        summary.failed = [entry for _, entry in sorted(e for part in gathered for e in part[1])]
        atomic_write_text(run_dir / "summary.json", strict_json_dumps(summary.to_dict(), indent=1), overwrite=True)
    return broadcast_from_main(summary)


def run_batch_inference(*args, **kwargs) -> BatchSummary:
    """:func:`infer_folder`, then the summary on stdout (rank 0's); exits with status 1 when any case failed."""
    summary = infer_folder(*args, **kwargs)
    if current_ranks().is_main:
        print(summary.report(), flush=True)
    if summary.failed:
        barrier()  # every rank exits together, after rank 0 printed: torchrun stops the rest at the first exit
        finish_distributed()
        sys.exit(1)
    return summary
