"""The amplitude normalisations give exactly what the four former copies gave, at every RF scale."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bundle.amplitude import scale_by_mean_abs, scale_by_std
from bundle.errors import ElastographyInputError

SCALES = [1e-23, 1.0, 1e4]


@pytest.mark.parametrize("scale", SCALES)
def test_mean_abs_matches_the_former_network_and_loss_scalings(scale):
    x = (torch.randn(3, 4, 40, 6, generator=torch.Generator().manual_seed(0)) * scale).float()
    network_input = x / (x[:, :1].abs().mean(dim=(1, 2, 3), keepdim=True) + 1e-30)  # former normalize_pair
    assert torch.equal(scale_by_mean_abs(x, x[:, :1], eps=1e-30), network_input)
    per_image = x / x.abs().mean(dim=(2, 3), keepdim=True).clamp_min(torch.finfo(x.dtype).tiny)  # former _unit_scale
    assert torch.equal(scale_by_mean_abs(x), per_image)
    assert torch.equal(torch.jit.script(scale_by_mean_abs)(x, x[:, :1], 1e-30), network_input)


def test_mean_abs_of_a_zero_image_is_zero():
    assert torch.equal(scale_by_mean_abs(torch.zeros(1, 2, 8, 4)), torch.zeros(1, 2, 8, 4))


@pytest.mark.parametrize("scale", SCALES)
def test_std_matches_the_former_numpy_and_instance_optimisation_scalings(scale):
    rng = np.random.default_rng(0)
    rf = (rng.standard_normal((3, 40, 6)) * scale).astype(np.float32)
    former = (rf.astype(np.float64) / float(np.std(rf[0].astype(np.float64)))).astype(np.float32)  # normalize_rf
    out = scale_by_std(rf, rf[0])
    assert out.dtype == np.float32 and np.array_equal(out, former)
    frames = torch.from_numpy(rf).view(1, 3, 40, 6).repeat(2, 1, 1, 1)
    std = frames[:, :1].flatten(1).std(dim=1).clamp_min(torch.finfo(frames.dtype).tiny)  # instance optimisation
    assert torch.equal(scale_by_std(frames, frames[:, :1], correction=1), frames / std.view(2, 1, 1, 1))


def test_std_of_constant_rf_from_a_file_is_refused():
    with pytest.raises(ElastographyInputError, match="zero variance"):
        scale_by_std(np.ones((4, 4), np.float32))
