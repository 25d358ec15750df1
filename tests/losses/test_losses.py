"""Known answers for the unsupervised losses (tiny tensors, fixed seeds, a few seconds in all)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from bundle.losses import (
    LocalNCCLoss,
    UnsupervisedElastographyLoss,
    displacement_curvature_loss,
    displacement_gradient_loss,
    envelope,
    in_frame_mask,
    local_ncc,
    strain_smoothness_loss,
)
from bundle.networks.layers import warp

H, W = 64, 16


def speckle(h: int, w: int, seed: int = 0, period: float = 8.0, sigma: float = 3.0) -> torch.Tensor:
    """``(1, 1, h, w)`` noise smoothed along depth by a Gaussian-windowed cosine (8 samples per period)."""
    g = torch.Generator().manual_seed(seed)
    k = torch.arange(-12, 13, dtype=torch.float32)
    kernel = (torch.exp(-0.5 * (k / sigma) ** 2) * torch.cos(2 * math.pi * k / period)).view(1, 1, -1, 1)
    return F.conv2d(torch.randn(1, 1, h, w, generator=g), kernel, padding=(12, 0))


def shifted_pair(dz: int, dx: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """pre and post ``(1, 1, H, W)`` with ``post[z, x] = pre[z - dz, x - dx]``: true displacement (dz, dx)."""
    big = speckle(H + 2 * dz + 8, W + 2 * dx + 2, seed)
    z0, x0 = dz + 4, dx + 1
    pre = big[:, :, z0 : z0 + H, x0 : x0 + W]
    post = big[:, :, z0 - dz : z0 - dz + H, x0 - dx : x0 - dx + W]
    return pre, post


def constant_field(dz: float, dx: float, b: int = 1) -> torch.Tensor:
    u = torch.zeros(b, 2, H, W)
    u[:, 0], u[:, 1] = dz, dx
    return u


def test_identical_frames_and_independent_noise():
    loss = LocalNCCLoss()
    pre, _ = shifted_pair(3, 1)
    assert loss(pre, warp(pre, constant_field(0.0, 0.0))).item() < 1e-4
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(2, 1, H, W, generator=g), torch.randn(2, 1, H, W, generator=g)
    assert loss(a, b).item() > 0.8
    ncc_map = local_ncc(pre, pre, reduction="none")
    assert ncc_map.shape == pre.shape and torch.all(ncc_map > 0.999)  # borders are not biased by zero padding


def test_true_shift_aligns_speckle():
    pre, post = shifted_pair(3, 1)
    u = constant_field(3.0, 1.0)
    loss = LocalNCCLoss()
    aligned = loss(pre, warp(post, u), in_frame_mask(u)).item()
    unaligned = loss(pre, post).item()
    assert aligned < 0.05
    assert unaligned > 0.5 and unaligned > 20 * aligned
    combined = UnsupervisedElastographyLoss()
    assert combined(pre, post, u)["similarity"].item() < 0.05
    assert combined(pre, post, constant_field(0.0, 0.0))["similarity"].item() > 0.5


@pytest.mark.parametrize("envelope_weight", [0.0, 1.0])
def test_similarity_is_amplitude_scale_invariant(envelope_weight):
    pre, post = shifted_pair(3, 1)
    post = warp(post, constant_field(2.6, 0.7))  # a partial alignment: a loss well inside (0, 1)
    loss = LocalNCCLoss(envelope_weight=envelope_weight)
    reference = loss(pre, post).item()
    assert 0.05 < reference < 1.5
    assert loss(pre * 1e3, post * 1e3).item() == pytest.approx(reference, abs=1e-4)
    assert loss(pre * 1e-20, post * 1e-20).item() == pytest.approx(reference, abs=1e-4)  # simulator-scale RF


def test_envelope_of_gaussian_burst():
    z = torch.arange(256, dtype=torch.float32)
    gauss = torch.exp(-0.5 * ((z - 128.0) / 20.0) ** 2)
    burst = (gauss * torch.cos(2 * math.pi * z / 8.0)).view(1, 1, -1, 1).repeat(2, 1, 1, 3)
    env = envelope(burst)
    assert env.shape == burst.shape
    centre = slice(128 - 40, 128 + 41)  # +- 2 sigma
    rel = (env[..., centre, :] - gauss.view(1, 1, -1, 1)[..., centre, :]).abs() / gauss.view(1, 1, -1, 1)[
        ..., centre, :
    ]
    assert rel.max().item() < 0.02
    x = torch.zeros(1, 1, 16, 2, requires_grad=True)  # |analytic| at 0 must not give NaN gradients
    envelope(x).sum().backward()
    assert torch.isfinite(x.grad).all()


def affine_field() -> torch.Tensor:
    z = torch.arange(H, dtype=torch.float64).view(H, 1).expand(H, W)
    x = torch.arange(W, dtype=torch.float64).view(1, W).expand(H, W)
    return torch.stack((-0.01 * z, 0.005 * x)).unsqueeze(0)


def test_smoothness_known_answers():
    u = affine_field()
    assert displacement_curvature_loss(u).item() < 1e-8
    assert strain_smoothness_loss(u, 8).item() < 1e-8
    # only d u_lat / dx = 0.005 is non-zero; d u_ax / dz = -0.01 (the strain) is not penalised
    assert displacement_gradient_loss(u).item() == pytest.approx(0.005**2, rel=1e-9)
    axial_only = u.clone()
    axial_only[:, 1] = 0.0
    assert displacement_gradient_loss(axial_only).item() == 0.0
    noise = torch.randn(2, 2, H, W, generator=torch.Generator().manual_seed(2))
    for value in (displacement_gradient_loss(noise), displacement_curvature_loss(noise), strain_smoothness_loss(noise)):
        assert value.item() > 0


def test_combined_loss_terms_sum_and_gradients():
    pre, post = shifted_pair(3, 1)
    weights = dict(similarity=1.0, envelope_similarity=0.5, gradient=0.3, curvature=2.0, strain_smoothness=50.0)
    loss = UnsupervisedElastographyLoss(**weights)
    u = constant_field(2.5, 0.5) + 0.1 * torch.randn(1, 2, H, W, generator=torch.Generator().manual_seed(3))
    u.requires_grad_(True)
    out = loss(pre, post, u)
    assert set(out) == {"loss", *weights}
    expected = sum(w * out[name] for name, w in weights.items())
    assert out["loss"].item() == pytest.approx(expected.item(), rel=1e-6)
    assert all(out[name].item() > 0 for name in weights)
    out["loss"].backward()
    assert torch.isfinite(u.grad).all() and u.grad.abs().sum().item() > 0

    sparse = UnsupervisedElastographyLoss(envelope_similarity=0.0, strain_smoothness=0.0)(pre, post, u)
    assert set(sparse) == set(out)
    assert sparse["envelope_similarity"].item() == 0.0 and sparse["strain_smoothness"].item() == 0.0
    with pytest.raises(ValueError):
        UnsupervisedElastographyLoss(ncc_window=(14, 3))
    with pytest.raises(ValueError):
        UnsupervisedElastographyLoss(similarity=0.0, gradient=0.0, curvature=0.0, strain_smoothness=0.0)


def test_sequence_form_is_mean_over_frames():
    b, t = 2, 3
    g = torch.Generator().manual_seed(4)
    pairs = [shifted_pair(2, 1, seed=s) for s in range(b * t)]
    pre = torch.cat([p for p, _ in pairs[:b]])  # (B, 1, H, W)
    post = torch.cat([q for _, q in pairs]).view(b, t, H, W)
    u = constant_field(2.0, 1.0, b * t).view(b, t, 2, H, W) + 0.2 * torch.randn(b, t, 2, H, W, generator=g)
    loss = UnsupervisedElastographyLoss(envelope_similarity=0.5)
    sequence = loss(pre, post, u)
    per_frame = [loss(pre, post[:, k : k + 1], u[:, k]) for k in range(t)]
    for name, value in sequence.items():
        assert value.item() == pytest.approx(sum(f[name].item() for f in per_frame) / t, rel=1e-5, abs=1e-9)


def test_optimising_a_free_field_recovers_a_constant_shift():
    torch.manual_seed(0)
    pre, post = shifted_pair(2, 0, seed=0)
    loss = UnsupervisedElastographyLoss()
    u = torch.zeros(1, 2, H, W, requires_grad=True)
    optimiser = torch.optim.Adam([u], lr=0.05)
    for _ in range(150):
        optimiser.zero_grad()
        loss(pre, post, u)["loss"].backward()
        optimiser.step()
    interior = u.detach()[0, :, 8:-8, 2:-2]
    assert interior[0].mean().item() == pytest.approx(2.0, abs=0.1)
    assert interior[1].abs().mean().item() < 0.1
