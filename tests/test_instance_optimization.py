"""Instance optimisation: known answers on a simulated uniform compression (small frames, fixed seeds)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bundle.acquisition import Acquisition
from bundle.instance_optimization import InstanceOptimization
from bundle.losses import UnsupervisedElastographyLoss
from bundle.networks.network_estimator import NetworkEstimator
from bundle.simulation import PhantomConfig, simulate_sequence
from bundle.strain import axial_strain

STRAIN = 0.01


@pytest.fixture(scope="module")
def compressed():
    acq = Acquisition(sampling_frequency_hz=40e6, center_frequency_hz=5e6, speed_of_sound_m_s=1540.0, line_pitch_mm=0.3)
    seq = simulate_sequence(PhantomConfig(shape=(512, 32), acquisition=acq, snr_db=40.0), None, [STRAIN], seed=7)
    dz, dx = acq.spacing_mm
    true_px = seq.displacement_mm[0] / np.array([dz, dx]).reshape(2, 1, 1)
    frames = torch.tensor(seq.rf[None], dtype=torch.float32)  # (1, 2, H, W)
    return seq, frames, torch.tensor(true_px, dtype=torch.float32)[None, None]  # (1, 1, 2, H, W)


def _loss():
    return UnsupervisedElastographyLoss(ncc_window=(15, 3), strain_half_length=4)


def _mean_strain(u_px: torch.Tensor, dz_mm: float) -> float:
    e = axial_strain(u_px[0, 0, 0].numpy() * dz_mm, dz_mm, 1.5)
    return float(np.mean(e[64:-64, 2:-2]))


def test_a_wrong_start_is_pulled_to_the_applied_strain(compressed):
    seq, frames, true_px = compressed
    dz = seq.acquisition.axial_spacing_mm
    start = true_px * 0.9  # 10 % too little compression: up to 0.5 samples wrong at the bottom
    start[:, :, 0] += 0.4  # and a 0.4-sample global offset
    loss = _loss()
    before = float(loss(frames[:, :1], frames[:, 1:], start)["loss"])
    refined = InstanceOptimization(loss, steps=80, learning_rate=0.1)(frames, start)
    after = float(loss(frames[:, :1], frames[:, 1:], refined)["loss"])
    assert after < 0.5 * before
    assert _mean_strain(start, dz) == pytest.approx(-0.9 * STRAIN, rel=0.02)
    assert _mean_strain(refined, dz) == pytest.approx(-STRAIN, rel=0.02)
    inner = (slice(None), slice(None), 0, slice(64, -64), slice(2, -2))
    assert float((refined - true_px)[inner].abs().mean()) < 0.1  # samples, from 0.4-0.9 at the start (with the offset)


def test_result_does_not_depend_on_the_rf_amplitude_scale(compressed):
    _, frames, true_px = compressed
    start = true_px * 0.9
    io = InstanceOptimization(_loss(), steps=10, learning_rate=0.05)
    a = io(frames, start)
    b = io(frames * 1e-22, start)  # simulator-scale amplitudes
    # float32 rounding differs between the two scales and Adam's normalised steps carry it on: 0.005 samples
    # (0.1 um) is far below any physical effect (the ~1e-23 of simulators and ~1e4 of scanners must agree)
    np.testing.assert_allclose(b.numpy(), a.numpy(), atol=5e-3)


def test_zero_steps_and_bad_shapes():
    frames = torch.zeros(1, 3, 32, 8)
    u = torch.ones(1, 2, 2, 32, 8)
    assert InstanceOptimization(_loss(), steps=0)(frames, u) is u
    with pytest.raises(ValueError, match="does not match"):
        InstanceOptimization(_loss(), steps=1)(frames, torch.ones(1, 1, 2, 32, 8))
    with pytest.raises(ValueError, match="expected frames"):
        InstanceOptimization(_loss(), steps=1)(frames[0], u)
    with pytest.raises(ValueError, match="steps"):
        InstanceOptimization(_loss(), steps=-1)


class Fixed(torch.nn.Module):
    """Returns a given field (the 'network' estimate), for the estimator path."""

    def __init__(self, u):
        super().__init__()
        self.u = u

    def forward_sequence(self, frames):
        return self.u.clone()


def test_estimator_applies_it_after_the_network_in_inference_mode(compressed):
    seq, frames, true_px = compressed
    acq = seq.acquisition
    start = true_px * 0.9
    # the fixed displacement is in the input's pixels: no canonical grid
    plain = NetworkEstimator(None, Fixed(start), device="cpu", canonical_grid=None)
    refined = NetworkEstimator(
        None,
        Fixed(start),
        device="cpu",
        instance_optimization=InstanceOptimization(_loss(), 80, 0.1),
        canonical_grid=None,
    )
    e_plain = plain.strain(plain.estimate(seq.rf[0], seq.rf[1:], acq), acq)
    e_refined = refined.strain(refined.estimate(seq.rf[0], seq.rf[1:], acq), acq)
    assert float(np.mean(e_plain[0, 64:-64])) == pytest.approx(-0.9 * STRAIN, rel=0.03)
    assert float(np.mean(e_refined[0, 64:-64])) == pytest.approx(-STRAIN, rel=0.03)
