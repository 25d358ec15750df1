"""scripts/benchmark.py: the table's shape, unmeasured rows said plainly, bad arguments refused (no timing here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, str(ROOT / "scripts" / "benchmark.py"), "--no-progress", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, cwd="/")


def test_the_table_has_every_figure_for_ncc_and_onnx_runtime():
    pytest.importorskip("onnxruntime")
    result = run("--sizes", "1024x128", "--estimators", "ncc,musse-net (ONNX Runtime)", "--repeats", "1")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "| frame | estimator | s / pair (median) | p95 (of 1 calls; 2 for + io) | pairs / s |" in result.stdout
    for name in ("ncc", "musse-net (ONNX Runtime)"):
        row = next(line for line in lines if line.startswith(f"| 1024x128 | {name} |")).split("|")
        assert 0 < float(row[3]) <= float(row[4]) and float(row[5]) == pytest.approx(1 / float(row[3]), rel=0.02)
        assert int(row[7]) >= 1  # threads


def test_bad_arguments_exit_2_with_the_reason():
    assert "unknown sizes ['99x9']" in run("--sizes", "99x9").stderr
    bad = run("--estimators", "ncc,sad")
    assert bad.returncode == 2 and "unknown estimator" in bad.stderr
    assert run("--repeats", "0").returncode == 2
    onnx = run("--profile", "musse-net (ONNX Runtime)")
    assert onnx.returncode == 2 and "the torch profiler does not see inside ONNX Runtime" in onnx.stderr
