"""Run registered estimators on a datalist split and write per-frame and summary metrics, figures, a table.

Outputs in ``output_dir`` (built in a staging folder, moved into place when complete)::

    per_frame.csv   one row per (case, post frame, estimator): every metric + seconds per frame pair
    summary.csv     one row per estimator: mean of each metric over all frames (NaN ignored)
    results.json    the above plus the regions (mm) used for every case, estimator parameters, definitions,
                    ``skipped`` (every case left out, its file and the reason) and ``pairing_notes`` (cases
                    estimated on a fallback frame pair, :func:`bundle.pairs.fallback_note`)
    table.txt       the printed summary table, then the skipped cases and the pairing notes
    figures/        <case>.png: B-mode | ground truth | each estimate (middle post frame), on one colour scale
                    (:func:`bundle.plotting.comparison_display_range`)

A case whose files cannot be read (``ElastographyInputError``, ``OSError``), or that an estimator refuses as bad
input (``ElastographyInputError``), is listed as skipped, with its file and the reason, and the run goes on;
when no case is left the run fails with the list and writes nothing. Other errors (bugs) stop the run.
"""

from __future__ import annotations

import csv
import logging
import math
import platform
import time
from collections.abc import Iterable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from bundle.acquisition import Acquisition
from bundle.catalogue import create_estimator
from bundle.datasets import load_datalist, skipped_entry
from bundle.distributed import broadcast_from_main, current_ranks, gather_to_main
from bundle.errors import ElastographyInputError
from bundle.estimator import DisplacementEstimator
from bundle.evaluation.cases import Case, load_case
from bundle.io.atomic import atomic_directory
from bundle.io.jsonfile import strict_json_dumps
from bundle.metrics import METRIC_DESCRIPTIONS, frame_metrics, phantom_regions, regions_from_sidecar
from bundle.metrics.auto_window import most_homogeneous_window
from bundle.metrics.consistency import SEQUENCE_METRIC_DESCRIPTIONS, cross_level_spread
from bundle.metrics.regions import DEFAULT_BORDER_MM
from bundle.plotting import comparison_display_range, save_strain_panel

__all__ = ["EvaluationResult", "evaluate_datalist", "evaluate_case", "format_table", "skipped_lines"]

logger = logging.getLogger(__name__)

#: columns of the printed table: (metric key, header, format)
TABLE_COLUMNS = (
    ("snr_t", "SNRt", "{:.2f}"),
    ("snr_b", "SNRb", "{:.2f}"),
    ("snr_e", "SNRe", "{:.2f}"),
    ("cnr", "CNR(root)", "{:.2f}"),
    ("cnr_e", "CNRe(no root)", "{:.2f}"),
    ("strain_nrmse", "strain NRMSE", "{:.3f}"),
    ("disp_rmse_axial_um", "RMSE ax (um)", "{:.2f}"),
    ("disp_rmse_lateral_um", "RMSE lat (um)", "{:.1f}"),
    ("strain_ratio_error", "SR error", "{:.3f}"),
    ("warped_ncc", "warped NCC", "{:.3f}"),
    ("cross_level_spread", "level spread", "{:.3f}"),
    ("seconds_per_pair", "s/pair", "{:.2f}"),
)


@dataclass
class EvaluationResult:
    """Rows (one per case x frame x estimator), the per-estimator summary, and where they were written.

    Attributes:
        skipped: one ``{"case", "file", "reason"}`` per case left out (:func:`skipped_entry`).
        pairing_notes: case -> note, for cases estimated on a fallback frame pair.
        acquisitions: case -> its acquisition, for every scored case.
    """

    rows: list[dict]
    summary: dict[str, dict[str, float]]
    regions: dict[str, dict] = field(default_factory=dict)
    output_dir: Path | None = None
    skipped: list[dict] = field(default_factory=list)
    pairing_notes: dict[str, str] = field(default_factory=dict)
    acquisitions: dict[str, Acquisition] = field(default_factory=dict)

    def table(self) -> str:
        return format_table(self.summary)

    def listing(self) -> str:
        """Lines for people: one per skipped case (file and reason), one per case on a fallback pair."""
        lines = skipped_lines(self.skipped) + [f"note {case}: {note}" for case, note in self.pairing_notes.items()]
        return "\n".join(lines)


def skipped_lines(skipped: list[dict]) -> list[str]:
    """``skipped <case> (<file>): <reason>`` for each entry of :func:`bundle.datasets.skipped_entry`."""
    return [f"skipped {s['case']} ({s['file']}): {s['reason']}" for s in skipped]


def _as_estimators(estimators) -> dict[str, DisplacementEstimator]:
    if isinstance(estimators, str):
        estimators = [estimators]
    if isinstance(estimators, Mapping):
        return {name: create_estimator(name) if est is None else est for name, est in estimators.items()}
    out = {}
    for est in estimators:
        est = create_estimator(est) if isinstance(est, str) else est
        out[est.name] = est
    return out


def _regions_for(case: Case, region_kwargs: dict):
    """Phantom regions from the sidecar's description; on other data the SNRe window the sidecar gives
    (``"uniform_window": {"center_mm": [z, x], "size_mm": [h, w]}``) or the most homogeneous one."""
    shape, spacing = case.frames.shape, case.frames.acquisition.spacing_mm
    if "phantom" in case.sidecar or "inclusion" in case.sidecar:
        return regions_from_sidecar(case.sidecar, shape, spacing, **region_kwargs)
    kwargs = dict(region_kwargs)
    window = case.sidecar.get("uniform_window")
    if window is not None:
        try:
            kwargs["uniform_window_center_mm"] = tuple(float(v) for v in window["center_mm"])
            kwargs["uniform_window_mm"] = tuple(float(v) for v in window.get("size_mm", (5.0, 5.0)))
        except (KeyError, TypeError, ValueError):
            raise ElastographyInputError(
                'sidecar \'uniform_window\' must be {"center_mm": [depth, lateral], "size_mm": [depth, lateral]}',
                case.frames.source,
            ) from None
    elif "uniform_window_center_mm" not in kwargs:
        border, lines = kwargs.get("border_mm", DEFAULT_BORDER_MM), kwargs.get("border_lines", 2)
        (h, w), (dz, dx) = shape, spacing
        kwargs["uniform_window_center_mm"] = most_homogeneous_window(
            case.frames.pre,
            spacing,
            kwargs.get("uniform_window_mm", (5.0, 5.0)),
            depth_range_mm=(border, (h - 1) * dz - border),
            lateral_range_mm=(lines * dx, (w - 1 - lines) * dx),
        )
    return phantom_regions(shape, spacing, None, **kwargs)


def evaluate_case(case: Case, estimators: Mapping[str, DisplacementEstimator], region_kwargs: dict | None = None):
    """Metrics rows, the regions used, and the estimated strain maps of one case."""
    regions = _regions_for(case, region_kwargs or {})
    acq = case.frames.acquisition
    pre, posts = case.frames.pre, case.frames.posts
    rows, maps = [], {}
    for name, estimator in estimators.items():
        start = time.perf_counter()
        displacement = estimator.estimate(pre, posts, acq)
        strain = estimator.strain(displacement, acq)
        seconds = (time.perf_counter() - start) / posts.shape[0]
        maps[name] = strain
        spread = cross_level_spread(strain, regions)
        for k in range(posts.shape[0]):
            metrics = frame_metrics(
                strain[k],
                regions,
                strain_true=None if case.strain is None else case.strain[k],
                displacement_est_mm=displacement[k],
                displacement_true_mm=None if case.displacement_mm is None else case.displacement_mm[k],
                pre=pre,
                post=posts[k],
                spacing_mm=acq.spacing_mm,
            )
            rows.append(
                {
                    "case": case.name,
                    "frame": k + 1,
                    "applied_strain": case.applied_strains[k],
                    "estimator": name,
                    **metrics,
                    "cross_level_spread": spread,
                    "seconds_per_pair": seconds,
                }
            )
    return rows, regions, maps


def _summarise(rows: list[dict]) -> dict[str, dict[str, float]]:
    summary: dict[str, dict[str, float]] = {}
    keys = [*METRIC_DESCRIPTIONS, *SEQUENCE_METRIC_DESCRIPTIONS, "seconds_per_pair"]
    for name in dict.fromkeys(r["estimator"] for r in rows):
        mine = [r for r in rows if r["estimator"] == name]
        entry: dict[str, float] = {"frames": len(mine)}
        for key in keys:
            values = np.array([r[key] for r in mine], dtype=np.float64)
            finite = values[np.isfinite(values)]
            entry[key] = float(finite.mean()) if finite.size else math.nan
        summary[name] = entry
    return summary


def format_table(summary: Mapping[str, Mapping[str, float]]) -> str:
    """Fixed-width text table: one row per estimator, the columns of ``TABLE_COLUMNS`` (means over frames)."""
    headers = ["estimator", "frames", *(h for _, h, _ in TABLE_COLUMNS)]
    lines = []
    for name, entry in summary.items():
        cells = [name, str(int(entry["frames"]))]
        cells += ["n/a" if not math.isfinite(entry[k]) else fmt.format(entry[k]) for k, _, fmt in TABLE_COLUMNS]
        lines.append(cells)
    widths = [max(len(h), *(len(row[i]) for row in lines)) for i, h in enumerate(headers)]
    out = ["  ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True))]
    out += ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in lines]
    out.append("means over frames; linear SNR/CNR of |strain|; CNR = root form, CNRe = no-root form (metrics.md)")
    return "\n".join(out)


def _write_csv(path: Path, rows: list[dict]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _parameters(estimator: DisplacementEstimator) -> dict:
    """Public plain-valued attributes of an estimator (its settings, as written into results.json)."""
    plain = (str, int, float, bool, type(None), list, tuple)
    return {k: v for k, v in vars(estimator).items() if not k.startswith("_") and isinstance(v, plain)}


def _outlines(case: Case) -> list:
    inc = (case.sidecar.get("phantom") or {}).get("inclusion")
    return [] if not inc else [(tuple(inc["center_mm"]), float(inc["radius_mm"]))]


def evaluate_datalist(
    datalist: str | Path,
    estimators: Iterable | Mapping,
    split: str = "test",
    output_dir: str | Path | None = None,
    overwrite: bool = False,
    figures: bool = True,
    max_cases: int | None = None,
    region_kwargs: dict | None = None,
    progress: bool = True,
    skipped: list[dict] | None = None,
) -> EvaluationResult:
    """Evaluate ``estimators`` (names, instances, or name -> instance) on one split of ``datalist``.

    Without ``output_dir`` nothing is written and the result is only returned.

    Args:
        skipped: cases left out before this run (e.g. recordings without a usable frame pair), as
            :func:`skipped_entry` gives them; listed first in the result and in results.json.

    Raises:
        ElastographyInputError: no case could be scored (the message lists every skipped case and why).
    """
    entries, base = load_datalist(datalist, split)
    entries = entries[:max_cases] if max_cases else entries
    estimators = _as_estimators(estimators)
    earlier = list(skipped or [])
    if output_dir is None:
        return _run(entries, base, estimators, None, False, region_kwargs, progress, earlier)
    output_dir = Path(output_dir)
    if not current_ranks().is_main:  # rank 0 owns the folder; this rank's figures go into rank 0's staging
        staging = broadcast_from_main(None)
        if staging is None:
            raise ElastographyInputError("rank 0 could not open the output folder", output_dir)
        result = _run(entries, base, estimators, staging, figures, region_kwargs, progress, earlier)
        result.output_dir = output_dir
        return result
    with ExitStack() as stack:
        staging = None
        try:
            staging = stack.enter_context(atomic_directory(output_dir, overwrite=overwrite))
        finally:
            broadcast_from_main(staging)  # the other ranks wait for the folder, or for word that there is none
        result = _run(entries, base, estimators, staging, figures, region_kwargs, progress, earlier)
        meta = {
            "datalist": str(Path(datalist).resolve()),
            "split": split,
            "estimators": {n: _parameters(e) for n, e in estimators.items()},
            "machine": {
                "platform": platform.platform(),
                "processor": platform.processor(),
                "python": platform.python_version(),
            },
            "metric_definitions": {**METRIC_DESCRIPTIONS, **SEQUENCE_METRIC_DESCRIPTIONS},
        }
        payload = {**meta, "summary": result.summary, "skipped": result.skipped,
                   "pairing_notes": result.pairing_notes, "regions": result.regions, "rows": result.rows}  # fmt: skip
        (staging / "results.json").write_text(strict_json_dumps(payload, indent=1, default=str))
        _write_csv(staging / "per_frame.csv", result.rows)
        _write_csv(staging / "summary.csv", [{"estimator": n, **s} for n, s in result.summary.items()])
        (staging / "table.txt").write_text("\n".join(filter(None, (result.table(), result.listing()))) + "\n")
    result.output_dir = output_dir
    return result


def _run(entries, base, estimators, staging, figures, region_kwargs, progress, skipped) -> EvaluationResult:
    """Score every entry; under torchrun each rank scores its shard (figures into rank 0's ``staging``, which
    every rank sees) and rank 0 merges the cases in the datalist's order; every rank returns the merged result."""
    ranks = current_ranks()
    records = []  # (entry index, the case's outcome): picklable, gathered on rank 0
    jobs = ranks.shard(list(enumerate(entries)))
    for index, entry in tqdm(jobs, desc="evaluating", unit="case", disable=not progress or not ranks.is_main):
        name = entry.get("case", Path(entry["image"]).name)
        try:  # a bad file or a recording an estimator refuses costs that case only: listed with the reason
            case = load_case(entry, base)
            case_rows, regions, maps = evaluate_case(case, estimators, region_kwargs)
        except (ElastographyInputError, OSError) as err:
            records.append((index, {"skipped": skipped_entry(name, Path(base) / entry["image"], err)}))
            logger.warning("skipped %s: %s", name, err)
            continue
        note = str(entry["pairing_note"]) if entry.get("pairing_note") else None
        records.append((index, {"name": case.name, "rows": case_rows, "regions": regions.to_dict(),
                                "acquisition": case.frames.acquisition, "note": note}))  # fmt: skip
        if figures and staging is not None:
            _save_figure(staging / "figures" / f"{case.name}.png", case, maps)
    gathered = gather_to_main(records)
    result = None
    if ranks.is_main:
        result = EvaluationResult([], {}, skipped=list(skipped))
        for _, record in sorted((r for part in gathered for r in part), key=lambda r: r[0]):
            if "skipped" in record:
                result.skipped.append(record["skipped"])
                continue
            result.rows += record["rows"]
            result.regions[record["name"]] = record["regions"]
            result.acquisitions[record["name"]] = record["acquisition"]
            if record["note"]:
                result.pairing_notes[record["name"]] = record["note"]
        if result.rows:
            result.summary = _summarise(result.rows)
    result = broadcast_from_main(result)
    if not result.rows:
        raise ElastographyInputError(
            f"no case could be scored; {len(result.skipped)} skipped:\n" + result.listing(),
            Path(base) if entries else None,
        )
    return result


def _save_figure(path: Path, case: Case, maps: dict[str, np.ndarray]) -> None:
    """B-mode | ground truth | every estimate of the middle post frame, on the scale of
    :func:`comparison_display_range` (applied strain when known, else robust over the panels)."""
    k = case.frames.posts.shape[0] // 2
    truth = None if case.strain is None else case.strain[k]
    panels = {} if truth is None else {"ground truth": truth}
    panels.update({name: strain[k] for name, strain in maps.items()})
    level = case.applied_strains[k]
    title = f"{case.name}, post frame {k + 1}" + (f", {100 * level:.2f} % compression" if level else "")
    display_range = comparison_display_range(list(panels.values()), applied_strain=level, ground_truth=truth)
    save_strain_panel(path, case.frames.pre, panels, case.frames.acquisition.spacing_mm, title=title,
                      outlines=_outlines(case), display_range=display_range)  # fmt: skip
