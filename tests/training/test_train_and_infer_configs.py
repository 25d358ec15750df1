"""The bundle trains, resumes, and infers with `python -m monai.bundle run`, as a user runs it."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
from bundle_runner import TINY_NET, TINY_REFINER, run_bundle, train_args

from bundle.training import latest_checkpoint


def test_train_resume_and_infer(train_data, tmp_path):
    data = train_data
    out = tmp_path / "train"
    r = run_bundle(*train_args(data, out, 1))
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    checkpoints = sorted((out / "checkpoints").glob("*checkpoint_epoch=*.pt"))
    assert [p.name.split("=")[-1] for p in checkpoints] == ["1.pt"]
    assert (out / "checkpoints" / "model.pt").is_file()
    assert (out / "figures" / "validation_epoch_0001.png").is_file()
    assert "val_strain_nrmse" in r.stdout + r.stderr
    assert "train_composition" in r.stdout + r.stderr  # the consistency loss is on by default

    # a second run with more epochs resumes from epoch 1 instead of starting again
    r = run_bundle(*train_args(data, out, 2))
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    log = r.stdout + r.stderr
    assert "Epoch[2]" in log and "Epoch[1]" not in log.split("Restored all variables")[-1]
    assert Path(latest_checkpoint(out / "checkpoints")).name.endswith("epoch=2.pt")
    # n_saved=1 holds across processes: the first process's epoch-1 file is gone
    assert sorted(p.name for p in (out / "checkpoints").glob("checkpoint_epoch=*.pt")) == ["checkpoint_epoch=2.pt"]

    # stage two on top of the frozen stage one, then inference with both stages
    refine = tmp_path / "refine"
    r = run_bundle(
        "--config_file", "['configs/train.json','configs/train_refine.json']", "--dataset_dir", data,
        "--output_dir", refine, "--epochs", 1, "--val_interval", 1, "--crop_lines", 8, "--num_val_cases", 1,
        "--stage_one_checkpoint", out / "checkpoints" / "model.pt", "--stage_one_prefix", "", *TINY_NET, *TINY_REFINER,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    log = r.stdout + r.stderr
    assert "train_strain_stability" in log and "val_strain_nrmse" in log
    import torch

    def weights(path):
        state = torch.load(path, weights_only=True)
        return state.get("network", state)  # ignite saves a lone object's state dict without a key

    stage_one, both = weights(out / "checkpoints" / "model.pt"), weights(refine / "checkpoints" / "model.pt")
    for name, value in stage_one.items():  # stage one stayed frozen while the refiner trained
        torch.testing.assert_close(both[f"stage_one.{name}"], value, rtol=0, atol=0)
    assert any(k.startswith("refiner.") for k in both)

    infer = tmp_path / "infer"
    r = run_bundle(
        "--config_file", "configs/inference.json", "--dataset_dir", data, "--output_dir", infer,
        "--checkpoint", refine / "checkpoints" / "model.pt", *TINY_NET, *TINY_REFINER, "--instance_steps", 3,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    strain = nib.load(infer / "case_0000" / "strain.nii.gz")
    assert strain.shape == (512, 48, 2)
    np.testing.assert_allclose(strain.header.get_zooms()[:2], (0.01925, 0.3), rtol=1e-5)
    assert nib.load(infer / "case_0000" / "displacement_mm.nii.gz").shape == (512, 48, 2, 2)
    summary = json.loads((infer / "summary.json").read_text())
    assert len(summary["succeeded"]) == 3 and not summary["failed"] and (infer / "case_0000" / "strain.png").is_file()
    assert [(p["pre"], p["post"]) for p in summary["succeeded"][0]["pairs"]] == [(0, 1), (0, 2)]


def test_inference_refuses_a_checkpoint_of_another_architecture(train_data, tmp_path):
    data = train_data
    import torch

    from bundle.networks import USSENet

    torch.save(USSENet(channels=(4, 8, 8, 16), attention_dim=8).state_dict(), tmp_path / "other.pt")
    r = run_bundle(
        "--config_file", "configs/inference.json", "--dataset_dir", data, "--output_dir", tmp_path / "infer",
        "--checkpoint", tmp_path / "other.pt", *TINY_NET,
    )  # fmt: skip
    assert r.returncode != 0 and "checkpoint is for another architecture" in r.stdout + r.stderr
    assert not (tmp_path / "infer").exists()
