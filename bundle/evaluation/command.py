"""The evaluation's command-line options and run, shared by ``scripts/evaluate.py`` and ``scripts/ablation.py``."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path

from bundle.estimator import DisplacementEstimator
from bundle.evaluation.runner import EvaluationResult, evaluate_datalist

__all__ = ["add_evaluation_arguments", "evaluate_with_arguments", "run_evaluation"]


def add_evaluation_arguments(p: argparse.ArgumentParser) -> None:
    """``--datalist --split --output --overwrite --max-cases --no-figures --no-progress``."""
    p.add_argument("--datalist", type=Path, required=True)
    p.add_argument("--split", default="test", help="training, validation, test or all")
    p.add_argument("--output", type=Path, default=None, help="folder for CSV/JSON/PNG (none: print only)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    p.add_argument("--max-cases", type=int, default=None)
    p.add_argument("--no-figures", action="store_true")
    p.add_argument("--no-progress", action="store_true")


def evaluate_with_arguments(
    a: argparse.Namespace, estimators: Mapping[str, DisplacementEstimator], skipped: list[dict] | None = None
) -> EvaluationResult:
    """Evaluate ``estimators`` with the options of :func:`add_evaluation_arguments`; ``skipped``: cases left out
    before (:func:`bundle.evaluation.runner.evaluate_datalist`)."""
    return evaluate_datalist(
        a.datalist,
        estimators,
        split=a.split,
        output_dir=a.output,
        overwrite=a.overwrite,
        figures=not a.no_figures,
        max_cases=a.max_cases,
        progress=not a.no_progress,
        skipped=skipped,
    )


def run_evaluation(a: argparse.Namespace, estimators: Mapping[str, DisplacementEstimator]) -> int:
    """Evaluate ``estimators`` with the options of :func:`add_evaluation_arguments`; print the table, then the
    skipped cases and the pairing notes."""
    result = evaluate_with_arguments(a, estimators)
    print(result.table())
    if result.listing():
        print(result.listing())
    if a.output:
        print(f"results: {a.output}")
    return 0
