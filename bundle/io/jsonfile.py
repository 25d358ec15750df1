"""Reading a small JSON file (sidecar, datalist) with errors that name the file and say what it should be."""

from __future__ import annotations

import json
from pathlib import Path

from bundle.errors import ElastographyInputError

__all__ = ["read_json_object"]


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
