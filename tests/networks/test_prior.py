"""The global pre-alignment recovers the applied compression of simulated pairs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bundle.networks.prior import GlobalStrainPrior
from bundle.simulation import PhantomConfig, simulate_sequence


@pytest.mark.parametrize("strain", [0.006, 0.02])
def test_prior_finds_uniform_compression(acquisition, strain):
    seq = simulate_sequence(PhantomConfig(shape=(1024, 32), acquisition=acquisition), None, (strain,), seed=3)
    x = torch.tensor(np.stack([seq.rf[0], seq.rf[1]])[None])
    found, offset = GlobalStrainPrior().best_fit(x)
    assert found.item() == pytest.approx(strain, abs=0.001)
    assert offset.item() == 0.0
    prior = GlobalStrainPrior()(x)[0]
    assert prior.shape == (2, 1024, 32)
    depth, lines = np.arange(1024), np.arange(32) - 15.5
    np.testing.assert_allclose(prior[0, :, 0].numpy(), -found.item() * depth, atol=1e-3)
    # plane-strain expansion of nearly incompressible tissue about the centre line, as the simulator's truth
    np.testing.assert_allclose(prior[1, 0].numpy(), 0.495 / 0.505 * found.item() * lines, atol=1e-5)
    truth_lines = seq.displacement_mm[0, 1, 500] / acquisition.line_pitch_mm
    np.testing.assert_allclose(prior[1, 500].numpy(), truth_lines, atol=0.03)


def test_prior_is_scale_invariant_and_scriptable(acquisition):
    seq = simulate_sequence(PhantomConfig(shape=(512, 16), acquisition=acquisition), None, (0.015,), seed=4)
    x = torch.tensor(np.stack([seq.rf[0], seq.rf[1]])[None])
    prior = torch.jit.script(GlobalStrainPrior())
    torch.testing.assert_close(prior(x * 1e4), prior(x))
