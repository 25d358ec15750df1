"""A resumed training keeps its best model and its MLflow run; bad checkpoints give one clear line."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch
from bundle_runner import ROOT, TINY_NET, bundle_args, run_bundle, train_args

from bundle.networks import USSENet
from bundle.training import EpochCheckpointSaver, checkpoint_epoch, latest_checkpoint


def _log(r: subprocess.CompletedProcess) -> str:
    return r.stdout + r.stderr


def _set_best(checkpoint: Path, value: float) -> dict:
    """Rewrites the best-metric state carried by an epoch checkpoint; returns the state it had."""
    state = torch.load(checkpoint, weights_only=True)
    before = dict(state["best_model"])
    state["best_model"] = {"best_metric": value, "best_metric_epoch": before["best_metric_epoch"]}
    torch.save(state, checkpoint)
    return before


def test_latest_checkpoint_goes_by_epoch_and_passes_over_broken_files(tmp_path):
    torch.save({"epoch": 10}, tmp_path / "checkpoint_epoch=10.pt")
    torch.save({"epoch": 2}, tmp_path / "checkpoint_epoch=2.pt")  # written last: newest by time
    (tmp_path / "checkpoint_epoch=11.pt").write_bytes((tmp_path / "checkpoint_epoch=10.pt").read_bytes()[:100])
    old = time.time() - 3600
    os.utime(tmp_path / "checkpoint_epoch=10.pt", (old, old))
    assert Path(latest_checkpoint(tmp_path)).name == "checkpoint_epoch=10.pt"
    assert checkpoint_epoch("checkpoint_epoch=11.pt") == 11 and checkpoint_epoch("model.pt") is None
    assert latest_checkpoint(tmp_path / "missing") == ""


def test_epoch_saver_keeps_n_saved_across_processes(tmp_path):
    from ignite.engine import Engine

    net = torch.nn.Linear(2, 2)
    for name in ("checkpoint_epoch=1.pt", "checkpoint_epoch=2.pt"):  # left by an earlier process
        torch.save({"network": net.state_dict()}, tmp_path / name)
    engine = Engine(lambda e, b: None)
    engine.state.epoch = 2  # as a resume restores it
    EpochCheckpointSaver(tmp_path, {"network": net}, n_saved=2).attach(engine)
    engine.run([0], max_epochs=4)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint_epoch=3.pt", "checkpoint_epoch=4.pt"]
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind


def test_resume_keeps_the_best_model_of_the_earlier_process(train_data, tmp_path):
    out = tmp_path / "train"
    r = run_bundle(*train_args(train_data, out, 1))
    assert r.returncode == 0, _log(r)[-4000:]
    best_line = re.search(r"Key metric: val_strain_nrmse best value: ([0-9.]+) at epoch: 1", _log(r))
    assert best_line, _log(r)[-3000:]
    first = out / "checkpoints" / "checkpoint_epoch=1.pt"
    state = torch.load(first, weights_only=True)["best_model"]
    assert state["best_metric_epoch"] == 1
    assert state["best_metric"] == pytest.approx(float(best_line.group(1)), rel=1e-9)

    # the earlier best is better than anything this run can reach: a resume must not replace model.pt
    model = out / "checkpoints" / "model.pt"
    saved = model.read_bytes()
    _set_best(first, 0.0)
    r = run_bundle(*train_args(train_data, out, 2))
    assert r.returncode == 0, _log(r)[-4000:]
    assert "Got new best metric of val_strain_nrmse" not in _log(r)
    assert model.read_bytes() == saved
    state = torch.load(out / "checkpoints" / "checkpoint_epoch=2.pt", weights_only=True)["best_model"]
    assert state == {"best_metric": 0.0, "best_metric_epoch": 1}

    # an earlier best worse than this run's: the resumed validation replaces it
    _set_best(out / "checkpoints" / "checkpoint_epoch=2.pt", 10.0)
    r = run_bundle(*train_args(train_data, out, 3))
    assert r.returncode == 0, _log(r)[-4000:]
    assert "Got new best metric of val_strain_nrmse" in _log(r) and model.read_bytes() != saved
    state = torch.load(out / "checkpoints" / "checkpoint_epoch=3.pt", weights_only=True)["best_model"]
    assert state["best_metric_epoch"] == 3 and state["best_metric"] < 10.0


def _one_line_error(r: subprocess.CompletedProcess, path: Path, words: str) -> None:
    assert r.returncode != 0
    assert "Traceback" not in r.stderr, r.stderr[-3000:]
    errors = [line for line in r.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and errors[0].startswith(f"error: {path}: {words}"), r.stderr[-3000:]


def test_a_file_that_is_not_a_checkpoint_is_one_line(train_data, tmp_path):
    empty, text = tmp_path / "empty.pt", tmp_path / "notes.pt"
    empty.write_bytes(b"")
    text.write_text("not a checkpoint\n")
    r = run_bundle(*train_args(train_data, tmp_path / "t", 1, "--pretrained_checkpoint", empty))
    _one_line_error(r, empty, "not a PyTorch checkpoint")
    r = run_bundle(*train_args(train_data, tmp_path / "t", 1, "--resume_checkpoint", text))
    _one_line_error(r, text, "not a PyTorch checkpoint")
    infer = ["--config_file", "configs/inference.json", "--dataset_dir", train_data, "--checkpoint", text]
    r = run_bundle(*infer, "--output_dir", tmp_path / "infer", *TINY_NET)
    _one_line_error(r, text, "not a PyTorch checkpoint")


def test_stage_one_weights_given_to_musse_net_name_the_fix(train_data, tmp_path):
    stage_one = tmp_path / "stage_one.pt"
    torch.save(USSENet(channels=(4, 8, 8, 8), attention_dim=8).state_dict(), stage_one)
    infer = ["--config_file", "configs/inference.json", "--dataset_dir", train_data, "--checkpoint", stage_one]
    r = run_bundle(*infer, "--output_dir", tmp_path / "infer", *TINY_NET)
    _one_line_error(r, stage_one, "holds stage one (USSE-Net) weights only")
    assert "--stage-one" in r.stderr and "--network_def @stage_one_def --stages 1" in r.stderr


def _mlflow_runs(uri: str):
    import mlflow

    client = mlflow.MlflowClient(uri)
    experiment = client.get_experiment_by_name("elastography")
    return client, experiment, client.search_runs([experiment.experiment_id])


def _artifacts(client, run_id: str, path: str = "") -> list[str]:
    out = []
    for item in client.list_artifacts(run_id, path):
        out += _artifacts(client, run_id, item.path) if item.is_dir else [item.path]
    return out


@pytest.mark.slow
def test_killed_and_resumed_training_logs_into_its_own_mlflow_run(train_data, tmp_path):
    """A is killed (SIGKILL) after its first epoch; B, the demo's fine-tuning, runs in the same experiment; A
    resumes. Each run gets its own parameters, artifacts and MLflow model; nothing of A lands in B's run."""
    import mlflow

    uri = f"sqlite:///{tmp_path}/mlruns.db"
    track = ["--tracking", "mlflow", "--tracking_uri", uri]
    a, b = tmp_path / "a", tmp_path / "b"
    killed = subprocess.Popen(
        bundle_args(*train_args(train_data, a, 200, *track)), cwd=ROOT, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.time() + 300
        while not latest_checkpoint(a / "checkpoints") and time.time() < deadline and killed.poll() is None:
            time.sleep(0.2)
    finally:
        os.killpg(killed.pid, signal.SIGKILL)
        killed.wait()
    epoch = checkpoint_epoch(latest_checkpoint(a / "checkpoints"))
    assert epoch is not None and epoch < 200

    # B: the demo's short fine-tuning of the shipped stage one (Makefile `demo`), same experiment
    demo = ["--pretrained_checkpoint", "models/model.pt", "--pretrained_prefix", "stage_one.", "--learning_rate", 1e-4]
    r = run_bundle(
        "--config_file", "configs/train.json", "--dataset_dir", train_data, "--output_dir", b, "--epochs", 1,
        "--val_interval", 1, "--num_val_cases", 1, *demo, *track,
    )  # fmt: skip
    assert r.returncode == 0, _log(r)[-4000:]
    r = run_bundle(*train_args(train_data, a, epoch + 1, *track))
    assert r.returncode == 0, _log(r)[-4000:]

    client, experiment, runs = _mlflow_runs(uri)
    by_name = {run.info.run_name: run for run in runs}
    run_a = by_name.pop((a / "mlflow_run_name.txt").read_text().strip())  # the killed run, re-attached
    run_b = by_name.pop((b / "mlflow_run_name.txt").read_text().strip())
    assert not by_name, f"unexpected runs {list(by_name)}"
    mlflow.set_tracking_uri(uri)
    models = mlflow.search_logged_models(experiment_ids=[experiment.experiment_id], output_format="list")
    for run, folder in ((run_a, a), (run_b, b)):
        assert run.info.status == "FINISHED"
        files = _artifacts(client, run.info.run_id)
        configs = [f for f in files if re.fullmatch(r"config_\d{8}_\d{6}\.json", f)]
        assert "model.pt" in files and any(f.startswith("figures/validation_epoch_") for f in files), files
        assert {Path(c).name for c in configs} <= {p.name for p in folder.glob("config_*.json")}, (files, folder)
        assert [m.source_run_id for m in models].count(run.info.run_id) == 1
        params = run.data.params
        for key in ("learning_rate", "batch_size", "crop_lines", "loss.similarity", "loss.strain_smoothness",
                    "consistency.composition", "stage_one.channels", "network_parameters", "seed", "dataset_dir",
                    "training_entries", "pretrained_checkpoint"):  # fmt: skip
            assert key in params, (key, sorted(params))
        assert params["dataset_dir"] == str(train_data) and params["training_entries"] == "1"
        assert run.data.tags["package_version"] and run.data.tags["mlflow.source.git.commit"]
        assert [d.dataset.name for d in run.inputs.dataset_inputs] == ["training"]
    assert run_b.data.params["pretrained_checkpoint"].endswith("models/model.pt")
    assert run_b.data.params["learning_rate"] == "0.0001"
    assert run_b.data.params["stage_one.channels"] == "[8, 16, 32, 48]"
    assert run_a.data.params["stage_one.channels"] == "[4, 8, 8, 8]"

    # the logged model of the demo's run loads and estimates displacement of the signature's shape
    model_b = next(m for m in models if m.source_run_id == run_b.info.run_id)
    network = mlflow.pytorch.load_model(f"models:/{model_b.model_id}")
    with torch.inference_mode():
        assert tuple(network(torch.randn(1, 2, 128, 16)).shape) == (1, 2, 128, 16)
