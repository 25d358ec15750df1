"""The built-in displacement estimators by name: the classical baselines and the networks.

Importing this module imports (and so registers, :func:`bundle.estimator.register_estimator`) every built-in
estimator; :func:`create_estimator` builds one from its name, as evaluation, benchmarks and ``scripts/infer.py
--estimator`` do.
"""

from __future__ import annotations

from typing import Any

import bundle.baselines  # noqa: F401 - registers ncc, dp, glue
import bundle.networks.network_estimator  # noqa: F401 - registers usse-net, musse-net
from bundle.errors import ElastographyInputError
from bundle.estimator import DisplacementEstimator, registered_estimators

__all__ = ["available_estimators", "create_estimator"]


def available_estimators() -> list[str]:
    """Names of the registered estimators."""
    return sorted(registered_estimators())


def create_estimator(name: str, **kwargs: Any) -> DisplacementEstimator:
    """Instantiate a registered estimator by name with keyword arguments."""
    registry = registered_estimators()
    if name not in registry:
        raise ElastographyInputError(f"unknown estimator '{name}'; available: {', '.join(sorted(registry))}")
    return registry[name](**kwargs)
