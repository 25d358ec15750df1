"""scripts/infer.py, the short wrapper of configs/inference.json: exit status, summary, stage-one checkpoints."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from bundle.acquisition import Acquisition
from bundle.simulation import PhantomConfig, simulate_sequence

ROOT = Path(__file__).resolve().parents[1]
ACQ = Acquisition(40e6, 5e6, 1540.0, 0.3)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("infer") / "in"
    path.mkdir()
    seq = simulate_sequence(PhantomConfig(shape=(512, 48), acquisition=ACQ), None, (0.01,), seed=2)
    np.save(path / "good.npy", np.moveaxis(seq.rf, 0, -1))
    (path / "good.json").write_text(json.dumps({"acquisition": ACQ.to_dict()}))
    return path


def _infer(*args):
    cmd = [sys.executable, str(ROOT / "scripts" / "infer.py"), *map(str, args), "--no-progress"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600)


def test_failing_case_gives_status_1_and_the_rest_is_done(folder, tmp_path):
    bad = tmp_path / "in"
    bad.mkdir()
    for name in ("good.npy", "good.json"):
        (bad / name).write_bytes((folder / name).read_bytes())
    (bad / "broken.npz").write_bytes(b"PK\x03\x04 truncated zip")
    (bad / "broken.json").write_text(json.dumps({"acquisition": ACQ.to_dict()}))
    r = _infer(bad, "--output", tmp_path / "out", "--estimator", "ncc", "--dicom")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "1 case(s) done, 1 failed" in r.stdout and "FAILED broken" in r.stdout
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["estimator"] == "ncc" and summary["failed"][0]["case"] == "broken"
    assert sorted(p.name for p in (tmp_path / "out" / "good" / "dicom").iterdir()) == [
        "overlay_sc_0.dcm", "strain_pm_0.dcm"
    ]  # fmt: skip


def test_missing_folder_is_bad_input(tmp_path):
    r = _infer(tmp_path / "nowhere", "--output", tmp_path / "out", "--estimator", "ncc")
    assert r.returncode == 2 and "dataset folder not found" in r.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_fine_tuned_stage_one_checkpoint(folder, tmp_path):
    shipped = torch.load(ROOT / "models" / "model.pt", map_location="cpu", weights_only=True)
    stage_one = {k[len("stage_one.") :]: v for k, v in shipped.items() if k.startswith("stage_one.")}
    torch.save(stage_one, tmp_path / "stage_one.pt")
    r = _infer(folder, "--output", tmp_path / "out", "--checkpoint", tmp_path / "stage_one.pt", "--stage-one",
               "--instance-steps", "0")  # fmt: skip
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["estimator"] == "usse-net" and len(summary["succeeded"]) == 1


def test_onnx_runtime_backend_and_resume(folder, tmp_path):
    pytest.importorskip("onnxruntime")
    out = tmp_path / "out"
    first = _infer(folder, "--output", out, "--backend", "onnxruntime")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "inference (musse-net (ONNX Runtime)): 1 case(s) done, 0 failed" in first.stdout
    strain = (out / "good" / "strain.nii.gz").stat().st_mtime_ns
    again = _infer(folder, "--output", out, "--backend", "onnxruntime", "--resume")
    assert again.returncode == 0 and "1 case(s) done (1 kept from the interrupted run)" in again.stdout
    assert (out / "good" / "strain.nii.gz").stat().st_mtime_ns == strain
    both = _infer(folder, "--output", out, "--resume", "--overwrite")
    assert both.returncode == 2 and "choose one" in both.stderr
