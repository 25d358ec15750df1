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


def test_a_row_without_an_implementation_says_so_instead_of_a_number():
    result = run("--sizes", "1024x128", "--estimators", "ncc,musse-net (ONNX Runtime)", "--repeats", "1")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "| frame | estimator | s / pair (median) | p95 (of 1 calls; 2 for + io) | pairs / s |" in result.stdout
    ncc = next(line for line in lines if line.startswith("| 1024x128 | ncc |")).split("|")
    assert 0 < float(ncc[3]) <= float(ncc[4]) and float(ncc[5]) == pytest.approx(1 / float(ncc[3]), rel=0.02)
    assert "| 1024x128 | musse-net (ONNX Runtime) | not measured: no ONNX Runtime path yet" in result.stdout


def test_bad_arguments_exit_2_with_the_reason():
    assert "unknown sizes ['99x9']" in run("--sizes", "99x9").stderr
    bad = run("--estimators", "ncc,sad")
    assert bad.returncode == 2 and "unknown estimator" in bad.stderr
    assert run("--repeats", "0").returncode == 2
    onnx = run("--profile", "musse-net (ONNX Runtime)")
    assert onnx.returncode == 2 and "no implementation yet" in onnx.stderr
