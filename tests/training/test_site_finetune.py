"""A site fine-tunes models/model.pt on its own unlabelled RF (PLUS .mha and MATLAB .mat) with configs/train.json."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch

from bundle.acquisition import Acquisition
from bundle.io.metaimage import write_metaimage
from bundle.simulation import Inclusion, PhantomConfig, simulate_sequence
from bundle.training import site_splits

ROOT = Path(__file__).resolve().parents[2]
ACQ = {"sampling_frequency_mhz": 40, "center_frequency_mhz": 5, "line_pitch_mm": 0.3}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """Three recordings without ground truth: two PLUS sequences (int16) and one MATLAB file."""
    folder = tmp_path_factory.mktemp("site") / "rf"
    folder.mkdir()
    config = PhantomConfig(shape=(512, 32), acquisition=Acquisition(40e6, 5e6, 1540.0, 0.3))
    for k in range(3):
        lesion = Inclusion((5.0, 4.8), 1.5, 3.0)
        seq = simulate_sequence(config, lesion, (0.004, 0.008, 0.012), seed=10 + k)
        rf = np.round(seq.rf / np.abs(seq.rf).max() * 20000).astype(np.int16)
        if k < 2:
            write_metaimage(folder / f"rec{k}.mha", rf, fields={"UltrasoundImageOrientation": "MF"})
        else:
            scipy.io.savemat(folder / f"rec{k}.mat", {"rf": np.moveaxis(rf, 0, -1)})
        (folder / f"rec{k}.json").write_text(json.dumps({"acquisition": ACQ}))
    return folder


def test_site_splits_keep_recordings_apart(site):
    splits = site_splits(site, validation_every=3)
    train_files = {e["image"] for e in splits["training"]}
    val_files = {e["image"] for e in splits["validation"]}
    assert len(val_files) == 1 and not train_files & val_files and len(train_files) == 2
    assert all(len(e["frames"]) == 2 for e in splits["training"])  # single pairs batch together
    assert {Path(f).suffix for f in train_files | val_files} == {".mha", ".mat"}


def test_finetune_from_shipped_model_on_site_folder(site, tmp_path):
    out = tmp_path / "finetune"
    cmd = [
        sys.executable, "-m", "monai.bundle", "run", "--config_file", "configs/train.json",
        "--dataset_dir", str(site), "--output_dir", str(out), "--epochs", "1", "--val_interval", "1",
        "--crop_lines", "8", "--num_val_cases", "1", "--resume", "False",
    ]  # fmt: skip
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    log = r.stdout + r.stderr
    assert r.returncode == 0, log[-4000:]
    # validation on data without ground truth: warped NCC is the key metric (finite, high), NRMSE is n/a
    assert "Key metric: val_warped_ncc" in log
    ncc = float(log.split("Got new best metric of val_warped_ncc: ")[1].split()[0])
    assert 0.9 < ncc <= 1.0
    spread = log.split("val_cross_level_spread: ")[1].split()[0]
    assert spread != "nan"  # validation groups hold several deformation levels
    tuned = torch.load(out / "checkpoints" / "model.pt", map_location="cpu", weights_only=True)
    shipped = torch.load(ROOT / "models" / "model.pt", map_location="cpu", weights_only=True)
    shipped = {k[len("stage_one.") :]: v for k, v in shipped.items() if k.startswith("stage_one.")}
    assert tuned.keys() == shipped.keys()  # the shipped stage one, fine-tuned
    changed = [k for k in tuned if tuned[k].dtype.is_floating_point and not torch.equal(tuned[k], shipped[k])]
    assert changed, "fine-tuning left every weight as shipped"
    delta = max(float((tuned[k] - shipped[k]).abs().max()) for k in changed)
    assert delta < 0.05  # a few small steps at the fine-tuning learning rate, not a fresh network


def test_recording_of_another_depth_is_left_out_of_training(site, tmp_path, caplog):
    folder = tmp_path / "mixed"
    folder.mkdir()
    for path in site.iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    seq = scipy.io.loadmat(folder / "rec2.mat")["rf"]
    np.save(folder / "rec0b.npy", seq[:384])  # a shallower depth setting
    (folder / "rec0b.json").write_text(json.dumps({"acquisition": ACQ}))
    with caplog.at_level("ERROR"):
        splits = site_splits(folder, validation_every=10)
    images = {Path(e["image"]).name for e in splits["training"]}
    assert "rec0b.npy" not in images and len(images) == 2
    assert "384 samples of depth" in caplog.text
