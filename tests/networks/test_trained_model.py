"""The shipped weights (models/model.pt) behave: zero motion for identical frames, the applied strain back.

Both forms are checked: stage one alone (USSE-Net, ``stage_one.`` entries) and both stages (MUSSE-Net)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bundle.acquisition import Acquisition
from bundle.networks.network_estimator import MUSSENetEstimator, USSENetEstimator
from bundle.simulation import PhantomConfig, simulate_sequence

MODEL = Path(__file__).resolve().parents[2] / "models" / "model.pt"


@pytest.fixture(scope="module", params=["usse-net", "musse-net"])
def estimator(request):
    if request.param == "usse-net":
        return USSENetEstimator(checkpoint=MODEL, device="cpu")
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


@pytest.fixture(scope="module")
def musse_net():
    return MUSSENetEstimator(checkpoint=MODEL, device="cpu")


@pytest.mark.parametrize("pitch_mm", [0.1, 0.4])
@pytest.mark.parametrize("samples_per_period", [4.0, 12.0])
@pytest.mark.parametrize("f0_mhz", [3.0, 12.0])
def test_canonical_grid_round_trip_at_any_probe(musse_net, f0_mhz, samples_per_period, pitch_mm):
    """One checkpoint, any probe: a 1 % uniform compression at 3 or 12 MHz, 4 or 12 samples per period and
    0.1 or 0.4 mm pitch comes back within 5 % through the trained network (the canonical grid at work).
    The beam width follows the wavelength (1.5 lambda), as a real probe's does."""
    acq = Acquisition(f0_mhz * 1e6 * samples_per_period, f0_mhz * 1e6, 1540.0, pitch_mm)
    lam = acq.wavelength_mm
    depth_mm, width_mm = 40 * lam, max(24 * lam, 10 * pitch_mm)
    shape = (int(depth_mm / acq.axial_spacing_mm), int(width_mm / pitch_mm))
    config = PhantomConfig(shape=shape, acquisition=acq, lateral_fwhm_mm=max(1.5 * lam, 1.2 * pitch_mm))
    seq = simulate_sequence(config, None, (0.01,), seed=21)
    strain = musse_net.strain(musse_net.estimate(seq.rf[0], seq.rf[1:], acq), acq)[0]
    rows = int(np.ceil(musse_net.strain_kernel_mm / 2 / acq.axial_spacing_mm))  # where the strain kernel fits
    inner = strain[rows:-rows, 2:-2]
    assert np.median(inner) == pytest.approx(-0.01, rel=0.05), (shape, float(np.median(inner)))


def test_no_bands_at_the_top_and_bottom(estimator, acquisition):
    """Uniform 1 % and 2 %: the strain in the 2 mm just inside the metrics' border (half the 2.5 mm kernel) at the
    top and at the bottom is as right as in the middle (within 5 %): no edge bands."""
    seq = simulate_sequence(PhantomConfig(shape=(1024, 32), acquisition=acquisition), None, (0.01, 0.02), seed=13)
    strain = estimator.strain(estimator.estimate(seq.rf[0], seq.rf[1:], acquisition), acquisition)
    dz = acquisition.axial_spacing_mm
    border, band = int(np.ceil(1.25 / dz)), int(round(2.0 / dz))
    for k, applied in enumerate((0.01, 0.02)):
        top = strain[k, border : border + band, 2:-2].mean()
        bottom = strain[k, -border - band : -border, 2:-2].mean()
        middle = strain[k, 400:624, 2:-2].mean()
        for where, value in (("top", top), ("bottom", bottom), ("middle", middle)):
            assert value == pytest.approx(-applied, rel=0.05), (where, applied, float(value))
