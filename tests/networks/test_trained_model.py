"""The shipped weights (models/model.pt) behave: zero motion for identical frames, the applied strain back.

Both forms are checked: stage one alone (USSE-Net, ``stage_one.`` entries) and both stages (MUSSE-Net)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bundle.networks.estimator import MUSSENetEstimator, NetworkEstimator
from bundle.simulation import PhantomConfig, simulate_sequence

MODEL = Path(__file__).resolve().parents[2] / "models" / "model.pt"


@pytest.fixture(scope="module", params=["usse-net", "musse-net"])
def estimator(request):
    if request.param == "usse-net":
        return NetworkEstimator(checkpoint=MODEL, device="cpu")
    return MUSSENetEstimator(checkpoint=MODEL, device="cpu")


def test_model_is_small_enough_for_the_zoo():
    assert MODEL.stat().st_size < 25e6


def test_identical_frames_give_zero_displacement(estimator, acquisition):
    seq = simulate_sequence(PhantomConfig(shape=(1024, 32), acquisition=acquisition), None, (0.01,), seed=11)
    displacement_mm = estimator.estimate(seq.rf[0], seq.rf[0][None], acquisition)
    samples = displacement_mm[0, 0] / acquisition.axial_spacing_mm
    lines = displacement_mm[0, 1] / acquisition.line_pitch_mm
    assert np.abs(samples).mean() < 0.1 and np.abs(lines).mean() < 0.1


def test_uniform_compression_comes_back(estimator, acquisition):
    seq = simulate_sequence(PhantomConfig(shape=(1024, 32), acquisition=acquisition), None, (0.01, 0.02), seed=12)
    displacement_mm = estimator.estimate(seq.rf[0], seq.rf[1:], acquisition)
    strain = estimator.strain(displacement_mm, acquisition)
    inner = (slice(104, -104), slice(2, -2))  # 2 mm and 2 lines in from the borders
    for k, applied in enumerate((0.01, 0.02)):
        assert strain[k][inner].mean() == pytest.approx(-applied, rel=0.05)
