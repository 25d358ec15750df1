#!/usr/bin/env python
"""Evaluate displacement/strain estimators on a datalist split and print the metrics table.

Example::

    python scripts/evaluate.py --datalist data/simulated/datalist.json --split test --estimators ncc \\
        --output eval/baseline

Writes per_frame.csv, summary.csv, results.json (with the regions used), table.txt and figures/*.png. A case
that cannot be read or that an estimator refuses is skipped and listed with its file and the reason (results.json
``skipped``, table.txt, the console); exit status 2 when no case could be scored.
The same job as a bundle config: ``python -m monai.bundle run --config_file configs/evaluate.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bundle.catalogue import available_estimators, create_estimator  # noqa: E402
from bundle.cli import run_main  # noqa: E402
from bundle.errors import ElastographyInputError  # noqa: E402
from bundle.evaluation.command import add_evaluation_arguments, run_evaluation  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_evaluation_arguments(p)
    p.add_argument("--estimators", default="ncc", help=f"comma-separated names; available: {available_estimators()}")
    p.add_argument(
        "--estimator-args", default="{}", help='JSON: {"ncc": {"window_mm": 2.0}} passes keyword arguments by name'
    )
    a = p.parse_args(argv)
    try:
        kwargs = json.loads(a.estimator_args)
    except json.JSONDecodeError as err:
        raise ElastographyInputError(f"--estimator-args is not valid JSON ({err})") from None
    names = [n.strip() for n in a.estimators.split(",") if n.strip()]
    estimators = {n: create_estimator(n, **kwargs.get(n, {})) for n in names}
    return run_evaluation(a, estimators)


if __name__ == "__main__":
    sys.exit(run_main(main))
