"""Shared by the training tests: a tiny simulated data set and a runner for ``python -m monai.bundle run``.

Imported by the test modules of this folder (pytest puts the folder on ``sys.path``); ``train_data`` is
re-exported as a fixture by ``conftest.py``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bundle.simulation import PhantomConfig
from bundle.simulation.dataset import DatasetSpec, write_dataset

ROOT = Path(__file__).resolve().parents[2]
TINY_NET = ["--stage_one_def#channels", "[4,8,8,8]", "--stage_one_def#attention_dim", "8"]
TINY_REFINER = ["--refiner_def#feature_channels", "4", "--refiner_def#hidden_channels", "8"]


def bundle_args(*args) -> list[str]:
    return [sys.executable, "-m", "monai.bundle", "run", *map(str, args)]


def run_bundle(*args) -> subprocess.CompletedProcess:
    """``python -m monai.bundle run ARGS`` in the repository root, output captured."""
    return subprocess.run(bundle_args(*args), cwd=ROOT, capture_output=True, text=True, timeout=900)


def train_args(data, out, epochs, *extra) -> list:
    """The arguments of a tiny ``configs/train.json`` run: tiny network, 8-line crops, one validation case."""
    return [
        "--config_file", "configs/train.json", "--dataset_dir", data, "--output_dir", out, "--epochs", epochs,
        "--val_interval", 1, "--crop_lines", 8, "--num_val_cases", 1, *TINY_NET, *extra,
    ]  # fmt: skip


@pytest.fixture(scope="session")
def train_data(tmp_path_factory):
    """3 simulated sequences of 512 x 48 (one each for training, validation, test), 2 post frames each."""
    folder = tmp_path_factory.mktemp("train") / "data"
    spec = DatasetSpec(num_sequences=3, num_post_frames=2, lesion_probability=1.0, split=(0.34, 0.33, 0.33), seed=4)
    write_dataset(folder, spec, PhantomConfig(shape=(512, 48)), workers=1, progress=False)
    return folder
