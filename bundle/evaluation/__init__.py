"""Evaluation: run estimators on a datalist, compute the metrics of metrics.md, write tables and figures."""

from bundle.evaluation.cases import Case, load_case
from bundle.evaluation.runner import EvaluationResult, evaluate_case, evaluate_datalist, format_table

__all__ = [
    "Case",
    "EvaluationResult",
    "evaluate_case",
    "evaluate_datalist",
    "format_table",
    "load_case",
]
