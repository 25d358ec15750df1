"""USSE-Net and its blocks: shapes, gradients, scale invariance, TorchScript, and the matching mechanisms."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bundle.networks import LocalCrossAttention, USSENet, lsq_strain, warp
from bundle.strain import axial_strain


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return USSENet(channels=(4, 8, 8, 8), attention_dim=8).eval()


def _identity_projection(conv: torch.nn.Conv2d, gain: float = 1.0):
    with torch.no_grad():
        conv.weight.zero_()
        conv.bias.zero_()
        n = min(conv.weight.shape[0], conv.weight.shape[1])
        conv.weight[:n, :n, 0, 0] = torch.eye(n) * gain


def test_pair_and_sequence_shapes_with_padding(net):
    x = torch.randn(2, 2, 100, 13)
    assert net(x).shape == (2, 2, 100, 13)
    assert net.forward_sequence(torch.randn(1, 4, 100, 13)).shape == (1, 3, 2, 100, 13)
    assert net.strain(net(x)).shape == (2, 1, 100, 13)


def test_sequence_of_one_equals_the_pair_form(net):
    x = torch.randn(1, 2, 64, 16)
    torch.testing.assert_close(net.forward_sequence(x)[:, 0], net(x))


def test_output_does_not_depend_on_rf_amplitude(net):
    x = torch.randn(1, 2, 64, 16)
    ref = net(x)
    for scale in (1e-23, 3e4):
        torch.testing.assert_close(net(x * scale), ref, atol=1e-4, rtol=1e-4)


def test_gradients_reach_every_parameter():
    torch.manual_seed(1)
    model = USSENet(channels=(4, 8, 8, 8), attention_dim=8)
    optimiser = torch.optim.SGD(model.parameters(), lr=1e-2)
    for _ in range(2):  # the zero-initialised heads pass gradient on from the second step
        optimiser.zero_grad()
        out = model.forward_sequence(torch.randn(1, 3, 64, 16))
        (out**2).mean().backward()
        optimiser.step()
    grads = {n: p.grad for n, p in model.named_parameters()}
    assert all(g is not None and torch.isfinite(g).all() for g in grads.values())
    silent = [n for n, g in grads.items() if g.abs().max() == 0]
    assert not silent, f"no gradient reaches {silent}"


def test_torchscript_matches_eager(net):
    scripted = torch.jit.script(net)
    x = torch.randn(1, 2, 64, 16)
    torch.testing.assert_close(scripted(x), net(x))
    torch.testing.assert_close(scripted.forward_sequence(torch.randn(1, 3, 64, 16)).shape, (1, 2, 2, 64, 16))


def test_bad_input_is_refused_with_a_reason(net):
    with pytest.raises(ValueError, match=r"expects \(B, 2, H, W\)"):
        net(torch.randn(1, 3, 64, 16))
    with pytest.raises(ValueError, match="smaller than the network's minimum"):
        net(torch.randn(1, 2, 16, 16))


def test_local_cross_attention_finds_a_known_shift():
    torch.manual_seed(0)
    attention = LocalCrossAttention(channels=32, dim=32, radius=(2, 1))
    _identity_projection(attention.q, gain=3.0)
    _identity_projection(attention.k, gain=3.0)
    _identity_projection(attention.v)
    post = torch.randn(1, 32, 30, 10)
    pre = torch.roll(post, shifts=(-1, 1), dims=(2, 3))  # pre(i, j) = post(i + 1, j - 1)
    attended, cost, offset = attention(pre, post)
    assert cost.shape == (1, 15, 30, 10)
    torch.testing.assert_close(offset[0, :, 3:-3, 2:-2].mean(dim=(1, 2)), torch.tensor([1.0, -1.0]), atol=0.02, rtol=0)
    torch.testing.assert_close(attended[:, :, 3:-3, 2:-2], pre[:, :, 3:-3, 2:-2], atol=0.05, rtol=0)


def test_warp_moves_content_by_the_displacement():
    x = torch.randn(1, 1, 50, 9)
    u = torch.zeros(1, 2, 50, 9)
    u[:, 0], u[:, 1] = 3.0, 2.0
    torch.testing.assert_close(warp(x, u)[0, 0, :47, :7], x[0, 0, 3:, 2:])


def test_lsq_strain_matches_the_numpy_estimator():
    rng = np.random.default_rng(0)
    u = np.cumsum(rng.normal(-0.01, 0.02, size=(300, 4)), axis=0)
    torch_strain = lsq_strain(torch.tensor(u, dtype=torch.float64)[None, None], 10)[0, 0].numpy()
    np.testing.assert_allclose(torch_strain, axial_strain(u, 1.0, kernel_mm=21.0), atol=1e-6)
