"""Facts kept in two places must agree: network definitions across configs, the package version."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "configs").glob("*.json"))


def _resolve(value, seen=()):
    """``value`` with every ``%file::key#sub`` macro replaced by what it names (recursively)."""
    if isinstance(value, dict):
        return {k: _resolve(v, seen) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, seen) for v in value]
    if isinstance(value, str) and value.startswith("%") and "::" in value:
        assert value not in seen, f"circular macro {value}"
        file, key = value[1:].split("::", 1)
        target = json.loads((ROOT / file).read_text())
        for part in key.split("#"):
            target = target[int(part)] if isinstance(target, list) else target[part]
        return _resolve(target, (*seen, value))
    return value


@pytest.mark.parametrize("key", ["stage_one_def", "refiner_def"])
def test_network_definitions_agree_across_configs(key):
    definitions = {}
    for path in CONFIGS:
        config = json.loads(path.read_text())
        if isinstance(config, dict) and key in config:
            definitions[path.name] = _resolve(config[key])
    assert len(definitions) >= 2, f"{key} is defined in fewer than two configs: {sorted(definitions)}"
    first_name, first = next(iter(definitions.items()))
    for name, definition in definitions.items():
        assert definition == first, f"{key} of {name} differs from that of {first_name}"


def test_package_version_is_the_bundle_version():
    package = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    bundle = json.loads((ROOT / "configs" / "metadata.json").read_text())["version"]
    assert package == bundle
