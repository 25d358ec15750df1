"""torch.distributed under torchrun: helpers in one process, and batch inference sharded over two gloo processes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch

from bundle.acquisition import Acquisition
from bundle.distributed import (
    Ranks,
    barrier,
    broadcast_from_main,
    current_ranks,
    finish_distributed,
    gather_to_main,
    init_distributed,
    local_device,
)
from bundle.io.nifti import write_nifti
from bundle.simulation import PhantomConfig, simulate_sequence

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
#: torchrun runs each rank with one thread (OMP_NUM_THREADS=1), a single process with two: float sums in another
#: order. Measured differences: strain 3e-8, displacement 2e-7 mm
STRAIN_ATOL, DISPLACEMENT_ATOL_MM = 1e-6, 1e-5


def test_ranks_shard_every_item_once_in_order():
    items = list(range(7))
    shards = [Ranks(rank, 3).shard(items) for rank in range(3)]
    assert shards == [[0, 3, 6], [1, 4], [2, 5]]
    assert sorted(sum(shards, [])) == items
    assert Ranks(0, 3).is_main and not Ranks(2, 3).is_main


def test_one_process_without_torchrun(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "MASTER_ADDR"):
        monkeypatch.delenv(name, raising=False)
    assert init_distributed() == Ranks() == current_ranks()
    assert gather_to_main({"a": 1}) == [{"a": 1}] and broadcast_from_main(5) == 5
    barrier()
    finish_distributed()  # nothing joined: nothing to leave
    assert local_device().type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="'nccl' or 'gloo'"):
        init_distributed("mpi")


def write_case(folder: Path, name: str, seed: int, sidecar: bool = True) -> None:
    acq = Acquisition(40e6, 5e6, 1540.0, 0.3)
    seq = simulate_sequence(PhantomConfig(shape=(384, 40), acquisition=acq), None, (0.005, 0.01), seed=seed)
    write_nifti(folder / f"{name}_rf.nii.gz", np.moveaxis(seq.rf, 0, -1), acq.spacing_mm)
    if sidecar:
        (folder / f"{name}_rf.json").write_text(json.dumps({"acquisition": acq.to_dict(), "frame_pairs": "first"}))


def comparable(summary: dict) -> dict:
    """A summary without what differs between runs: the folder and the timing."""
    succeeded = [{k: v for k, v in case.items() if k != "seconds_per_pair"} for case in summary["succeeded"]]
    return {"estimator": summary["estimator"], "succeeded": succeeded, "failed": summary["failed"]}


@pytest.mark.slow
def test_torchrun_inference_equals_one_process(tmp_path):
    data = tmp_path / "in"
    data.mkdir()
    for k, name in enumerate(("a", "b", "c")):
        write_case(data, name, seed=k)
    write_case(data, "d", seed=9, sidecar=False)  # fails on its rank; the other cases go on
    args = ["--dataset_dir", str(data), "--instance_steps", "0", "--png", "False", "--progress", "False"]
    single = subprocess.run(
        [str(BIN / "python"), "-m", "monai.bundle", "run", "--config_file", "configs/inference.json",
         "--output_dir", str(tmp_path / "one"), *args],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    distributed = torchrun(["configs/inference.json", "configs/multi_gpu_inference.json"],
                           "--output_dir", str(tmp_path / "two"), *args)  # fmt: skip
    assert single.returncode == 1 and distributed.returncode != 0, distributed.stderr[-3000:]  # d failed in both
    assert distributed.stdout.count("inference (musse-net): 3 case(s) done, 1 failed") == 1  # rank 0 reports
    one = json.loads((tmp_path / "one" / "summary.json").read_text())
    two = json.loads((tmp_path / "two" / "summary.json").read_text())
    assert comparable(two) == comparable(one)
    assert [c["case"] for c in two["succeeded"]] == ["a", "b", "c"] and two["failed"][0]["case"] == "d"
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == ["a", "b", "c", "summary.json"]
    for case in ("a", "b", "c"):
        for name, atol in (("strain", STRAIN_ATOL), ("displacement_mm", DISPLACEMENT_ATOL_MM)):
            a = nib.load(tmp_path / "one" / case / f"{name}.nii.gz").get_fdata()
            b = nib.load(tmp_path / "two" / case / f"{name}.nii.gz").get_fdata()
            np.testing.assert_allclose(b, a, rtol=0, atol=atol)
    shutil.rmtree(tmp_path / "one")


DYING_ESTIMATOR = """
import os
from bundle.baselines import NCCEstimator

class DyingEstimator(NCCEstimator):
    # NCC that kills its process (rank 1 only) at its second recording, as a crash or an OOM kill would
    calls = 0

    def _estimate(self, pre, posts, acquisition):
        DyingEstimator.calls += 1
        if os.environ.get("RANK") == "1" and DyingEstimator.calls == 2:
            os._exit(17)
        return super()._estimate(pre, posts, acquisition)
"""


def run_bundle(configs: list[str], *args: str) -> subprocess.CompletedProcess:
    command = [str(BIN / "python"), "-m", "monai.bundle", "run", "--config_file", str(configs), *args]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_a_dying_rank_keeps_finished_cases_and_resume_does_the_rest(tmp_path, monkeypatch):
    data = tmp_path / "in"
    data.mkdir()
    for k, name in enumerate(("a", "b", "c", "d")):
        write_case(data, name, seed=k)
    (tmp_path / "dying.py").write_text(DYING_ESTIMATOR)
    overlay = tmp_path / "dying.json"
    overlay.write_text(json.dumps({"estimator": {"_target_": "dying.DyingEstimator"}}))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]))
    out = tmp_path / "run"
    args = ["--dataset_dir", str(data), "--output_dir", str(out), "--png", "False", "--progress", "False"]
    # rank 1 gets b and d (the case list is sharded round robin), finishes b and dies on d; torchrun stops rank 0
    died = torchrun(["configs/inference.json", "configs/multi_gpu_inference.json", str(overlay)], *args)
    assert died.returncode != 0 and not (out / "summary.json").exists(), died.stderr[-3000:]
    finished = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
    assert "b" in finished and "d" not in finished  # only complete folders are published
    b_record = (out / "b" / "case.json").read_text()
    b_strain = (out / "b" / "strain.nii.gz").stat().st_mtime_ns
    # the same command again with resume, here in one process: keeps b (and whatever rank 0 finished), does d
    resumed = run_bundle(["configs/inference.json", str(overlay)], *args, "--resume", "True")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"4 case(s) done ({len(finished)} kept from the interrupted run), 0 failed" in resumed.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert [c["case"] for c in summary["succeeded"]] == ["a", "b", "c", "d"]
    assert {c["case"] for c in summary["succeeded"] if c.get("resumed")} == set(finished)
    assert (out / "b" / "case.json").read_text() == b_record
    assert (out / "b" / "strain.nii.gz").stat().st_mtime_ns == b_strain  # kept, not written again
    assert all((out / case / "case.json").is_file() for case in "abcd")
    # a folder of another estimator is not mixed in silently
    (out / "b" / "case.json").write_text(json.dumps({**json.loads(b_record), "estimator": "glue"}))
    again = run_bundle(["configs/inference.json", str(overlay)], *args, "--resume", "True")
    assert again.returncode == 1 and "holds a result of glue, not ncc" in again.stdout


def torchrun(configs: list[str], *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    """``torchrun --nproc_per_node=2 -m monai.bundle run``; on timeout the whole process group is killed (the
    workers too, not only torchrun) and the test fails."""
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_PORT")}
    command = [str(BIN / "torchrun"), "--standalone", "--nproc_per_node=2", "-m", "monai.bundle", "run",
               "--config_file", str(configs), *args]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                               start_new_session=True)  # fmt: skip
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        pytest.fail(f"torchrun did not finish within {timeout} s")
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


@pytest.mark.slow
def test_torchrun_training_keeps_ranks_equal_writes_once_and_resumes(tmp_path):
    from bundle.simulation.dataset import DatasetSpec, write_dataset

    acq = Acquisition(40e6, 5e6, 1540.0, 0.3)
    write_dataset(tmp_path / "data", DatasetSpec(num_sequences=6, num_post_frames=2, lesion_probability=0.0),
                  PhantomConfig(shape=(768, 40), acquisition=acq), workers=1, progress=False)  # fmt: skip
    # test-only overlay: each rank leaves its weights outside the run folder once training is over
    dump = tmp_path / "dump.json"
    dump.write_text(json.dumps({
        "+imports": ["$import os"],
        "+finalize": [f"$torch.save(@network_module.state_dict(), '{tmp_path}/rank' + os.environ['RANK'] + '.pt')"],
    }))  # fmt: skip
    configs = ["configs/train.json", "configs/multi_gpu_train.json", str(dump)]
    out = tmp_path / "run"
    # start from the shipped stage one (the data has ground truth, so train.json alone would start from scratch)
    common = ["--dataset_dir", str(tmp_path / "data"), "--output_dir", str(out), "--val_interval", "1",
              "--num_val_cases", "1", "--batch_size", "1", "--crop_rows", "256", "--pretrained_checkpoint",
              str(ROOT / "models" / "model.pt"), "--pretrained_prefix", "stage_one."]  # fmt: skip
    first = torchrun(configs, *common, "--epochs", "1", "--tracking", "mlflow")
    assert first.returncode == 0, first.stderr[-4000:]

    def weights(rank: int) -> dict:
        return torch.load(tmp_path / f"rank{rank}.pt", weights_only=True)

    zero, one = weights(0), weights(1)
    assert all(torch.equal(zero[k], one[k]) for k in zero)  # DDP kept the replicas equal
    start = torch.load(ROOT / "models" / "model.pt", weights_only=True)
    assert all(k in zero for k in (k[len("stage_one.") :] for k in start if k.startswith("stage_one.")))
    assert any(not torch.equal(v, start["stage_one." + k]) for k, v in zero.items())  # and they trained
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["checkpoint_epoch=1.pt", "model.pt"]
    assert sorted(p.name for p in (out / "figures").iterdir()) == ["validation_epoch_0001.png"]
    import sqlite3

    with sqlite3.connect(out / "mlruns.db") as db:
        assert db.execute("select count(*) from runs").fetchone()[0] == 1  # rank 0's run only

    second = torchrun(configs, *common, "--epochs", "2")  # the same command, one epoch more: resumes
    assert second.returncode == 0, second.stderr[-4000:]
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["checkpoint_epoch=2.pt", "model.pt"]
    assert "Restored all variables from" in second.stdout + second.stderr  # from checkpoint_epoch=1.pt
    resumed = torch.load(out / "checkpoints" / "checkpoint_epoch=2.pt", weights_only=True)["trainer"]
    # 4 training sequences over 2 ranks at batch 1: 2 iterations per epoch, not 4 (the sampler shards them)
    assert (resumed["epoch_length"], resumed["iteration"], resumed["max_epochs"]) == (2, 4, 2)
    zero, one = weights(0), weights(1)
    assert all(torch.equal(zero[k], one[k]) for k in zero)


@pytest.mark.slow
def test_torchrun_evaluation_equals_one_process(tmp_path):
    from bundle.simulation.dataset import DatasetSpec, write_dataset

    acq = Acquisition(40e6, 5e6, 1540.0, 0.3)
    datalist = write_dataset(tmp_path / "data", DatasetSpec(num_sequences=3, num_post_frames=2, split=(0, 0, 1)),
                             PhantomConfig(shape=(768, 40), acquisition=acq), workers=1, progress=False)  # fmt: skip
    entries = json.loads(datalist.read_text())
    entries["test"].append({**entries["test"][0], "case": "broken", "image": "missing_rf.nii"})  # skipped in both
    datalist.write_text(json.dumps(entries))
    two_estimators = tmp_path / "estimators.json"  # ncc and the network alone: io is minutes on a CPU
    two_estimators.write_text(
        json.dumps(
            {
                "estimators": {
                    "ncc": "%configs/evaluate.json::estimators#ncc",
                    "musse-net": "%configs/evaluate.json::estimators#musse-net",
                }
            }
        )
    )
    args = ["--datalist", str(datalist), "--split", "test"]
    single = subprocess.run(
        [str(BIN / "python"), "-m", "monai.bundle", "run", "--config_file",
         str(["configs/evaluate.json", str(two_estimators)]), "--output_dir", str(tmp_path / "one"), *args],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert single.returncode == 0, single.stderr[-3000:]
    distributed = torchrun(["configs/evaluate.json", "configs/multi_gpu_evaluate.json", str(two_estimators)],
                           "--output_dir", str(tmp_path / "two"), *args)  # fmt: skip
    assert distributed.returncode == 0, distributed.stderr[-3000:]
    one = json.loads((tmp_path / "one" / "results.json").read_text())
    two = json.loads((tmp_path / "two" / "results.json").read_text())
    assert [s["case"] for s in two["skipped"]] == ["broken"] == [s["case"] for s in one["skipped"]]
    assert [(r["case"], r["estimator"], r["frame"]) for r in two["rows"]] == [
        (r["case"], r["estimator"], r["frame"]) for r in one["rows"]]  # fmt: skip
    for a, b in zip(one["rows"], two["rows"], strict=True):
        for key in ("strain_nrmse", "snr_e", "warped_ncc"):
            assert b[key] == pytest.approx(a[key], rel=1e-4, abs=1e-6), (a["case"], a["estimator"], key)
    assert sorted(p.name for p in (tmp_path / "two" / "figures").iterdir()) == sorted(
        p.name for p in (tmp_path / "one" / "figures").iterdir()) and len(two["regions"]) == 3  # fmt: skip
