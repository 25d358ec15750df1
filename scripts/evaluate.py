#!/usr/bin/env python
"""Evaluate displacement/strain estimators on a datalist split and print the metrics table.

Example::

    python scripts/evaluate.py --datalist data/simulated/datalist.json --split test --estimators ncc \\
        --output eval/baseline

Writes per_frame.csv, summary.csv, results.json (with the regions used), table.txt and figures/*.png.
The same job as a bundle config: ``python -m monai.bundle run --config_file configs/evaluate.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bundle.cli import run_main  # noqa: E402
from bundle.errors import ElastographyInputError  # noqa: E402
from bundle.estimator import available_estimators, create_estimator  # noqa: E402
from bundle.evaluation import evaluate_datalist  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datalist", type=Path, required=True)
    p.add_argument("--split", default="test", help="training, validation, test or all")
    p.add_argument("--estimators", default="ncc", help=f"comma-separated names; available: {available_estimators()}")
    p.add_argument(
        "--estimator-args", default="{}", help='JSON: {"ncc": {"window_mm": 2.0}} passes keyword arguments by name'
    )
    p.add_argument("--output", type=Path, default=None, help="folder for CSV/JSON/PNG (none: print only)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    p.add_argument("--max-cases", type=int, default=None)
    p.add_argument("--no-figures", action="store_true")
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)
    try:
        kwargs = json.loads(a.estimator_args)
    except json.JSONDecodeError as err:
        raise ElastographyInputError(f"--estimator-args is not valid JSON ({err})") from None
    names = [n.strip() for n in a.estimators.split(",") if n.strip()]
    estimators = {n: create_estimator(n, **kwargs.get(n, {})) for n in names}
    result = evaluate_datalist(
        a.datalist,
        estimators,
        split=a.split,
        output_dir=a.output,
        overwrite=a.overwrite,
        figures=not a.no_figures,
        max_cases=a.max_cases,
        progress=not a.no_progress,
    )
    print(result.table())
    if a.output:
        print(f"results: {a.output}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
