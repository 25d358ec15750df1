"""The README's layout table names every module of bundle/, every config, script, doc and top-level folder."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def layout_rows() -> dict[str, str]:
    text = (ROOT / "README.md").read_text()
    table = text[text.index("## Layout") :]
    return {m.group(1): m.group(2) for m in re.finditer(r"^\| `([^`]+)` \| (.*) \|$", table, flags=re.M)}


def named(row: str) -> set[str]:
    return set(re.findall(r"`([^`]+)`", row))


def test_every_folder_has_a_row():
    rows = layout_rows()
    for folder in ("bundle/", "configs/", "scripts/", "models/", "docs/", "tests/"):
        assert folder in rows, f"README layout table has no row for {folder}"


def test_every_module_config_script_and_doc_is_named():
    rows = layout_rows()
    modules = {p.stem for p in (ROOT / "bundle").glob("*.py") if p.stem != "__init__"}
    packages = {f"{p.name}/" for p in (ROOT / "bundle").iterdir() if (p / "__init__.py").is_file()}
    assert modules | packages <= named(rows["bundle/"]), sorted((modules | packages) - named(rows["bundle/"]))
    configs = {p.name for p in (ROOT / "configs").iterdir() if p.is_file()}
    assert configs <= named(rows["configs/"]), sorted(configs - named(rows["configs/"]))
    scripts = {p.stem for p in (ROOT / "scripts").glob("*.py")}
    assert scripts <= named(rows["scripts/"]), sorted(scripts - named(rows["scripts/"]))
    docs = {p.name + ("/" if p.is_dir() else "") for p in (ROOT / "docs").iterdir() if not p.name.startswith(".")}
    assert docs <= named(rows["docs/"]), sorted(docs - named(rows["docs/"]))
