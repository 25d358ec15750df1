#!/usr/bin/env python
"""Side-by-side report: every estimator on one data set in one run, with the strain-filter bound beside SNRe.

Example (held-out simulation; ``--datalist`` may also be a folder of RF NIfTI files with JSON sidecars, e.g. a
user's data without ground truth, where the figures that need it come out n/a)::

    python scripts/report.py --datalist data/simulated/datalist.json --split test --output runs/report \\
        --docs docs/benchmarks.md

Estimators: ``ncc``, ``dp``, ``glue`` and the networks of ``configs/evaluate.json`` (``usse-net``, ``musse-net``,
``musse-net + io``), all with the same least-squares strain kernel. Writes what ``scripts/evaluate.py`` writes
(per_frame.csv, summary.csv, results.json, table.txt, figures/<case>.png: B-mode | ground truth | every
estimator) plus ``report.md``; ``--docs FILE`` replaces the ``<!-- report:start/end -->`` section of FILE with
the table and the command.

A recording that cannot be scored (an unreadable file, no usable frame pair, bad input for an estimator) is listed
as skipped, with its file and the reason, in report.md, results.json (``skipped``) and on the console, and the
report goes on; recordings estimated on a fallback frame pair (below the target strain range,
:mod:`bundle.pairs`) are listed too. Exit status 0 when at least one case was scored, 2 (with the list) when none.
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import sys
import tempfile
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


from bundle.bundle_config import configured_estimators  # noqa: E402
from bundle.cli import run_main  # noqa: E402
from bundle.datasets import case_name, find_rf_files, recordings_entries  # noqa: E402
from bundle.errors import ElastographyInputError  # noqa: E402
from bundle.evaluation.command import add_evaluation_arguments, evaluate_with_arguments  # noqa: E402
from bundle.evaluation.report import (  # noqa: E402
    effective_window_mm,
    markdown_table,
    replace_section,
    strain_filter_bounds,
)
from bundle.evaluation.runner import EvaluationResult, skipped_lines  # noqa: E402
from bundle.io.atomic import atomic_write_text  # noqa: E402

DEFAULT_ESTIMATORS = "ncc,dp,glue,usse-net,musse-net,musse-net + io"


def _estimators(names: list[str], instance_steps: int | None, checkpoint: Path | None = None):
    """Classical ones from the registry, networks from configs/evaluate.json (same weights and kernel)."""
    return configured_estimators(names, checkpoint=checkpoint, instance_steps=instance_steps, root=ROOT)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_evaluation_arguments(p)
    p.add_argument("--estimators", default=DEFAULT_ESTIMATORS, help="comma-separated names")
    p.add_argument("--instance-steps", type=int, default=None, help="instance optimisation steps (config default)")
    p.add_argument(
        "--checkpoint", type=Path, default=None, help="network weights (default: the bundle's models/model.pt)"
    )
    p.add_argument("--snr-db", type=float, default=30.0, help="echo SNR of the data for the strain-filter bound")
    p.add_argument("--docs", type=Path, default=None, help="Markdown file whose report section is replaced")
    a = p.parse_args(argv)
    if a.output is None:
        raise ElastographyInputError("--output is required: the report writes files")
    args = argv if argv is not None else sys.argv[1:]
    skipped: list[dict] = []
    with tempfile.TemporaryDirectory() as scratch:
        if a.datalist.is_dir():  # a user's folder: every recording, one entry per pre frame of its frame pairs
            folder = a.datalist
            entries, skipped = recordings_entries((f, case_name(f)) for f in find_rf_files(folder))
            if not entries:
                raise ElastographyInputError(
                    f"no recording could be scored; {len(skipped)} skipped:\n" + "\n".join(skipped_lines(skipped)),
                    folder,
                )
            a.datalist, a.split = Path(scratch) / "datalist.json", "test"
            a.datalist.write_text(json.dumps({"test": entries}))
        return _report(a, args, skipped)


def _listings(result: EvaluationResult) -> list[str]:
    """report.md's lists: the skipped cases with file and reason, the cases estimated on a fallback pair."""
    lines = []
    if result.skipped:
        lines += ["", f"Skipped ({len(result.skipped)}; not in the table):", ""]
        lines += [f"- `{s['case']}` (`{s['file']}`): {s['reason']}" for s in result.skipped]
    if result.pairing_notes:
        lines += ["", f"Estimated on a fallback frame pair ({len(result.pairing_notes)}; in the table):", ""]
        lines += [f"- `{case}`: {note}" for case, note in result.pairing_notes.items()]
    return lines


def _report(a: argparse.Namespace, args: list[str], skipped: list[dict]) -> int:
    names = [n.strip() for n in a.estimators.split(",") if n.strip()]
    estimators = _estimators(names, a.instance_steps, a.checkpoint)
    result = evaluate_with_arguments(a, estimators, skipped)  # fails, with the list, when no case is left
    acquisitions = result.acquisitions
    first = next(iter(acquisitions.values()))
    windows = {n: effective_window_mm(e, first) for n, e in estimators.items()}
    kernels = {n: e.strain_kernel_mm for n, e in estimators.items()}
    bounds = strain_filter_bounds(result.rows, estimators, acquisitions, a.snr_db)
    command = "python scripts/report.py " + " ".join(shlex.quote(x) for x in args)
    windows_text = ", ".join(f"{n} {w:.2f} mm" for n, w in windows.items())
    body = "\n".join(
        [
            f"```bash\n{command}\n```",
            "",
            f"{platform.processor() or platform.machine()}, {date.today().isoformat()}; {len(acquisitions)} "
            f"case(s) scored, {len(result.skipped)} skipped; "
            f"{int(next(iter(result.summary.values()))['frames'])} frame pairs per estimator. SNRe bound: strain "
            f"filter at each frame's applied strain, echo SNR {a.snr_db:g} dB, strain kernel "
            f"{', '.join(sorted({f'{k:g} mm' for k in kernels.values()}))}, effective windows: {windows_text}. "
            "Figures: `figures/<case>.png` of the output folder.",
            "",
            markdown_table(result.summary, bounds),
            *_listings(result),
        ]
    )
    atomic_write_text(a.output / "report.md", body + "\n", overwrite=True)
    print(result.table())
    print(body)
    if a.docs is not None:
        text = a.docs.read_text() if a.docs.is_file() else ""
        atomic_write_text(a.docs, replace_section(text, body), overwrite=True)
        print(f"updated: {a.docs}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
