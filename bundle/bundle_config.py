"""The bundle's own configs as Python objects, from any working directory: one home for scripts and servers.

MONAI resolves a file macro such as ``"%configs/train.json::loss"`` against the working directory, which a
script run from elsewhere or a server does not choose; :func:`read_bundle_config` makes those macros absolute
against the bundle root instead of changing directory. :func:`configured_estimators` gives the estimators the
way ``configs/evaluate.json`` wires them (the networks with their checkpoint, canonical grid and strain kernel),
and any other registered name from the registry.
"""

from __future__ import annotations

import json
from pathlib import Path

from bundle.errors import ElastographyInputError

__all__ = ["bundle_root", "read_bundle_config", "configured_estimators"]


def bundle_root() -> Path:
    """The folder holding ``configs/`` and ``models/``: the checkout this package was installed from."""
    return Path(__file__).resolve().parents[1]


def _absolute_macros(item, root: Path):
    """``item`` with every relative file macro (``"%configs/train.json::loss"``) made absolute against ``root``."""
    if isinstance(item, dict):
        return {k: _absolute_macros(v, root) for k, v in item.items()}
    if isinstance(item, list):
        return [_absolute_macros(v, root) for v in item]
    if isinstance(item, str) and item.startswith("%") and "::" in item:
        file, key = item[1:].split("::", 1)
        if file and not Path(file).is_absolute():
            return f"%{root / file}::{key}"
    return item


def read_bundle_config(name: str, root: str | Path | None = None):
    """``monai.bundle.ConfigParser`` of ``<root>/configs/<name>`` with absolute file macros and ``bundle_root``.

    Raises:
        ElastographyInputError: the config file is missing.
    """
    from monai.bundle import ConfigParser

    root = Path(root) if root is not None else bundle_root()
    path = root / "configs" / name
    if not path.is_file():
        raise ElastographyInputError("bundle file not found", path)
    parser = ConfigParser(_absolute_macros(json.loads(path.read_text()), root))
    parser["bundle_root"] = str(root)
    return parser


def configured_estimators(
    names: list[str],
    checkpoint: str | Path | None = None,
    instance_steps: int | None = None,
    device: str | None = None,
    root: str | Path | None = None,
    backend: str | None = None,
) -> dict:
    """Name -> estimator: those of ``configs/evaluate.json`` as it wires them (with ``checkpoint``,
    ``instance_steps``, the networks' ``device`` and ``backend`` (``pytorch``, ``onnxruntime``) when given), any
    other name from the registry.

    Raises:
        ElastographyInputError: ``checkpoint`` is given and missing, or a name nobody knows.
    """
    from bundle.catalogue import create_estimator

    parser = read_bundle_config("evaluate.json", root)
    if instance_steps is not None:
        parser["instance_steps"] = instance_steps
    if backend is not None:
        parser["backend"] = backend
    if checkpoint is not None:
        checkpoint = Path(checkpoint).resolve()
        if not checkpoint.is_file():
            raise ElastographyInputError("checkpoint not found", checkpoint)
        parser["checkpoint"] = str(checkpoint)
    configured = parser.config["estimators"]
    out = {}
    for name in names:
        if name not in configured:
            out[name] = create_estimator(name)  # unknown names are refused here with the list of known ones
            continue
        if device is not None and "checkpoint" in configured[name]:  # the networks
            parser[f"estimators#{name}#device"] = device
        out[name] = parser.get_parsed_content(f"estimators#{name}", lazy=False)
    return out
