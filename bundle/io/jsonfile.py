"""Small JSON files: reading (sidecar, datalist) with errors that name the file and say what it should be, and
writing JSON that strict parsers accept (the one place every JSON output of the toolkit is made)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from bundle.errors import ElastographyInputError

__all__ = ["read_json_object", "strict_json_dumps"]


def strict_json_dumps(value, **kwargs) -> str:
    """``json.dumps(value, **kwargs)`` with NaN and +-inf written as ``null``, and NumPy scalars and arrays as
    plain numbers and lists.

    JSON has no NaN: Python writes a bare ``NaN`` by default, which JavaScript's ``JSON.parse`` and other strict
    readers reject. Metrics are NaN where undefined (no lesion, a uniform map), so every output needs this.
    """
    return json.dumps(_finite_or_null(value), allow_nan=False, **kwargs)


def _finite_or_null(value):
    if isinstance(value, dict):
        return {k: _finite_or_null(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_or_null(v) for v in value]
    if isinstance(value, np.ndarray):
        return _finite_or_null(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value


def read_json_object(path: str | Path, kind: str) -> dict:
    """The JSON object in ``path``; ``kind`` ("sidecar", "datalist") words the errors.

    Raises:
        ElastographyInputError: the file is missing, not valid JSON, or not a JSON object.
    """
    path = Path(path)
    if not path.is_file():
        raise ElastographyInputError(f"{kind} not found", path)
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ElastographyInputError(f"{kind} is not valid JSON ({err})", path) from None
    if not isinstance(data, dict):
        raise ElastographyInputError(f"{kind} must be a JSON object", path)
    return data
