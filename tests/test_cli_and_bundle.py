"""Command-line entry points and MONAI bundle configs, run as a user runs them (subprocesses)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT.parent / "shared" / "reference" / "monai_meta_schema_20240725.json"


def _run(*args, cwd=ROOT):
    return subprocess.run([sys.executable, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=600)


def test_simulate_then_evaluate_scripts(tmp_path):
    data = tmp_path / "data"
    r = _run(
        "scripts/simulate.py",
        "--output",
        data,
        "--num-sequences",
        "3",
        "--post-frames",
        "1",
        "--height",
        "768",
        "--width",
        "80",
        "--lesion-probability",
        "1",
        "--no-progress",
    )
    assert r.returncode == 0, r.stderr
    r = _run(
        "scripts/evaluate.py",
        "--datalist",
        data / "datalist.json",
        "--output",
        tmp_path / "eval",
        "--no-progress",
        "--no-figures",
    )
    assert r.returncode == 0, r.stderr
    assert "ncc" in r.stdout and "SNRe" in r.stdout
    # a second run refuses to overwrite, exits non-zero, says why, keeps the first results
    before = (tmp_path / "eval" / "summary.csv").read_text()
    r = _run("scripts/evaluate.py", "--datalist", data / "datalist.json", "--output", tmp_path / "eval")
    assert r.returncode == 2 and "not empty" in r.stderr
    assert (tmp_path / "eval" / "summary.csv").read_text() == before


def test_scripts_report_bad_input_with_the_file_name(tmp_path):
    r = _run("scripts/evaluate.py", "--datalist", tmp_path / "missing.json")
    assert r.returncode == 2 and "missing.json: datalist not found" in r.stderr
    r = _run("scripts/simulate.py", "--output", tmp_path / "x", "--min-strain", "0.05", "--max-strain", "0.01")
    assert r.returncode == 2 and "strain range" in r.stderr
    assert not (tmp_path / "x").exists()


@pytest.mark.skipif(not SCHEMA.is_file(), reason="shared/reference schema copy not present")
def test_metadata_is_valid_offline():
    r = _run("-m", "monai.bundle", "verify_metadata", "--meta_file", "configs/metadata.json", "--filepath", SCHEMA)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "metadata is verified with no error" in (r.stdout + r.stderr)


def test_bundle_configs_simulate_and_evaluate(tmp_path):
    r = _run(
        "-m",
        "monai.bundle",
        "run",
        "--config_file",
        "configs/simulate.json",
        "--dataset_dir",
        tmp_path / "d",
        "--spec#num_sequences",
        "2",
        "--spec#num_post_frames",
        "1",
        "--spec#split",
        "[0.5,0,0.5]",
        "--phantom#shape",
        "[768,80]",
        "--workers",
        "1",
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    datalist = json.loads((tmp_path / "d" / "datalist.json").read_text())
    assert len(datalist["training"]) == 1 and len(datalist["test"]) == 1
    r = _run(
        "-m",
        "monai.bundle",
        "run",
        "--config_file",
        "configs/evaluate.json",
        "--dataset_dir",
        tmp_path / "d",
        "--output_dir",
        tmp_path / "e",
        "--figures",
        "False",
        "--instance_steps",
        "3",
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "musse-net + io" in r.stdout
    assert "CNRe(no root)" in r.stdout and (tmp_path / "e" / "results.json").is_file()


def test_network_verifies_and_exports_to_torchscript(tmp_path):
    import torch

    from bundle.networks import MUSSENet

    # MONAI's own defaults (n = 1: the smallest frame the metadata claims, 32 x 8), then a larger n
    for n in ([], ["--n", "4"]):
        r = _run("-m", "monai.bundle", "verify_net_in_out", "network_def", "--meta_file", "configs/metadata.json",
                 "--config_file", "configs/inference.json", *n)  # fmt: skip
        output = r.stdout + r.stderr
        assert r.returncode == 0 and "verified with no error" in output, output[-3000:]
    torch.manual_seed(0)
    net = MUSSENet().eval()
    torch.nn.init.normal_(net.refiner.head[-1].weight, std=0.01)  # a non-zero stage two, so that it is exercised
    torch.save(net.state_dict(), tmp_path / "model.pt")
    r = _run("-m", "monai.bundle", "ckpt_export", "network_def", "--filepath", tmp_path / "model.ts",
             "--ckpt_file", tmp_path / "model.pt", "--meta_file", "configs/metadata.json",
             "--config_file", "configs/inference.json")  # fmt: skip
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    exported = torch.jit.load(str(tmp_path / "model.ts"))
    x = torch.randn(1, 2, 128, 32)
    torch.testing.assert_close(exported(x), net(x))
    torch.testing.assert_close(exported.forward_sequence(torch.randn(1, 3, 128, 32)).shape, (1, 2, 2, 128, 32))


@pytest.mark.parametrize(
    ("value", "expected"), [(True, True), (False, False), ("false", False), ("True", True), ("0", False), (1, True)]
)
def test_config_switches_read_command_line_strings(value, expected):
    """fire passes ``--resume false`` on as the string "false" (truthy in Python); ``flag`` reads it as meant."""
    from bundle.cli import flag

    assert flag(value, "resume") is expected


@pytest.mark.parametrize("value", ["maybe", 2, None, ""])
def test_config_switch_refuses_anything_else(value):
    from bundle.cli import flag

    with pytest.raises(ValueError, match="resume must be true or false"):
        flag(value, "resume")


def test_freeze_switch_from_the_command_line_reaches_the_network(monkeypatch):
    """``--freeze_stage_one false`` (the string) gives a trainable stage one; it once froze it silently."""
    from monai.bundle import ConfigParser

    monkeypatch.chdir(ROOT)  # the configs' "%configs/..." macros are relative to the bundle root
    parser = ConfigParser()
    parser.read_config(["configs/train.json", "configs/train_refine.json"])
    parser["freeze_stage_one"] = "false"
    parser["stage_one_def"]["channels"] = [4, 8, 8, 8]
    network = parser.get_parsed_content("network_def")
    assert network.freeze_stage_one is False
    assert all(p.requires_grad for p in network.stage_one.parameters())
