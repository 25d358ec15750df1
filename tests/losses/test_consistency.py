"""Known answers for the cross-level consistency loss (composition, strain stability) and the chained pass."""

from __future__ import annotations

import pytest
import torch

from bundle.losses.consistency import SequenceConsistencyLoss, composition_error, proportionality_residual
from bundle.training.engines import ElastographyTrainer

H, W = 32, 8
LEVELS = (0.01, 0.02, 0.04)


def compression(levels=LEVELS, b: int = 1, h: int = H, w: int = W) -> torch.Tensor:
    """``(b, T, 2, h, w)`` uniform axial compression ``u_k(z) = -s_k z`` (pixels), no lateral motion."""
    z = torch.arange(h, dtype=torch.float32).view(h, 1).expand(h, w)
    u = torch.zeros(b, len(levels), 2, h, w)
    for k, s in enumerate(levels):
        u[:, k, 0] = -s * z
    return u


def exact_chain(levels=LEVELS, b: int = 1, h: int = H, w: int = W) -> torch.Tensor:
    """``(b, T - 1, 2, h, w)`` post_j -> post_(j+1) on post_j's grid: ``v_j(z') = (s_j - s_(j+1)) z' / (1 - s_j)``.

    Then ``u_j(z) + v_j(z + u_j(z)) = -s_j z + (s_j - s_(j+1)) z = u_(j+1)(z)``: composition is exact.
    """
    z = torch.arange(h, dtype=torch.float32).view(h, 1).expand(h, w)
    v = torch.zeros(b, len(levels) - 1, 2, h, w)
    for j in range(len(levels) - 1):
        s_j, s_next = levels[j], levels[j + 1]
        v[:, j, 0] = (s_j - s_next) * z / (1.0 - s_j)
    return v


# ---------------------------------------------------------------------------------------------------------
# composition_error


def test_exact_composition_gives_zero():
    u, v = compression(b=2), exact_chain(b=2)
    assert composition_error(u, v).item() < 1e-10
    # the plain difference of the levels, (s_j - s_(j+1)) z, ignores that v_j lives on post_j's grid: the gap is
    # -s_j (s_j - s_(j+1)) z, i.e. 1e-4 z and 4e-4 z; mean z^2 over 0..31 is 31 * 63 / 6 = 325.5
    naive = u[:, 1:] - u[:, :-1]
    expected = (1e-4**2 + 4e-4**2) / 2 * 325.5 / 2  # mean over the two level pairs and the two channels
    assert composition_error(u, naive).item() == pytest.approx(expected, rel=1e-3)


def test_constant_offset_error_is_half_its_square():
    """The mean runs over both channels: an axial offset of c pixels gives c^2 / 2."""
    u, v = compression(), exact_chain()
    shifted = v.clone()
    shifted[:, :, 0] += 0.5
    assert composition_error(u, shifted).item() == pytest.approx(0.125, rel=1e-5)
    shifted = v.clone()
    shifted[:, :, 1] -= 0.5  # lateral
    assert composition_error(u, shifted).item() == pytest.approx(0.125, rel=1e-5)


def test_error_is_the_mean_over_batch_and_level_pairs():
    levels = (0.01, 0.02, 0.03)
    u, v = compression(levels, b=2), exact_chain(levels, b=2)
    offsets = torch.tensor([[0.5, 0.0], [1.0, 0.2]])  # (B, T - 1), axial only
    v[:, :, 0] += offsets.view(2, 2, 1, 1)
    expected = (offsets**2).mean().item() / 2.0  # (0.25 + 0 + 1 + 0.04) / 4 / 2
    assert expected == pytest.approx(0.16125)
    assert composition_error(u, v).item() == pytest.approx(expected, rel=1e-5)


def test_out_of_frame_pixels_are_left_out():
    """``u_1 = +2`` axial sends the last two rows below the frame: whatever ``u_2`` does there does not count."""
    u = torch.zeros(1, 2, 2, H, W)
    u[:, 0, 0] = 2.0
    u[:, 1, 0] = 3.0  # the chain is zero: a gap of 1 pixel on the in-frame rows
    u[:, 1, 0, H - 2 :] = 1000.0  # rows H-2, H-1 sample rows H, H+1 of post_1: outside
    v = torch.zeros(1, 1, 2, H, W)
    assert composition_error(u, v).item() == pytest.approx(0.5, rel=1e-6)  # 1^2 / 2 over (H - 2) x W pixels
    u[:, 1, 0, H - 3] = 1000.0  # row H-3 samples row H-1, the last one inside: it counts
    expected = ((H - 3) * W * 1.0 + W * 998.0**2) / (2 * (H - 2) * W)
    assert composition_error(u, v).item() == pytest.approx(expected, rel=1e-5)


def test_gradient_on_the_last_level_is_minus_gap_over_count():
    """``d/du_2 sum(gap^2) / (2 N) = -gap / N`` with N the number of in-frame pixels."""
    u = compression((0.01, 0.02)).requires_grad_(True)
    v = exact_chain((0.01, 0.02))
    v[:, :, 0] += 0.5  # composed - target = +0.5 axial
    composition_error(u, v).backward()
    n = H * W
    torch.testing.assert_close(u.grad[:, 1, 0], torch.full((1, H, W), -0.5 / n), rtol=1e-4, atol=1e-9)
    torch.testing.assert_close(u.grad[:, 1, 1], torch.zeros(1, H, W))


def test_composition_shapes():
    u = compression()
    assert composition_error(u[:, :1], u[:, :0]).item() == 0.0  # T = 1: nothing to compose
    with pytest.raises(ValueError, match="chained displacement must be"):
        composition_error(u, exact_chain()[:, :1])


# ---------------------------------------------------------------------------------------------------------
# proportionality_residual


def test_proportional_strain_maps_have_no_spread():
    torch.manual_seed(0)
    pattern = 1.0 + 0.5 * torch.rand(2, 1, H, W)  # a fixed non-uniform pattern per sample
    levels = torch.tensor([0.005, 0.01, 0.03]).view(1, 3, 1, 1)
    for sign in (1.0, -1.0):  # compression is negative strain: normalising by the signed mean cancels it
        spread = proportionality_residual(sign * levels * pattern)
        assert spread.shape == (2, H, W)
        assert spread.abs().max().item() < 1e-10


def test_residual_of_two_known_levels():
    """Levels -1 % (uniform) and -2 % x (0.8 | 1.2): at a 0.8 pixel the fitted pattern is 0.84, residuals
    -0.16 % and +0.08 %, mean square 1.6e-6 over the mean squared level 2.5e-4 = 0.0064 (0.0064 at 1.2 too)."""
    first = torch.full((1, 1, 2, 2), -0.01)
    second = -0.02 * torch.tensor([[0.8, 1.2], [1.2, 0.8]]).view(1, 1, 2, 2)
    residual = proportionality_residual(torch.cat((first, second), dim=1))
    torch.testing.assert_close(residual, torch.full((1, 2, 2), 0.0064))


def test_a_nearly_uncompressed_level_weighs_in_with_its_strain_not_its_noise():
    """Levels 0.05 % and 2 % with the same absolute noise (0.02 % RMS): dividing each map by its own mean made
    the tiny level's noise 40 % of its mean (variance ~0.04 / 2); the residual stays about noise^2 / level^2."""
    torch.manual_seed(0)
    noise = 0.0002 * torch.randn(1, 2, 64, 64)
    levels = torch.tensor([-0.0005, -0.02]).view(1, 2, 1, 1)
    residual = proportionality_residual(levels + noise).mean().item()
    assert residual < 1e-3
    assert residual == pytest.approx(0.0002**2 / 2 / ((0.0005**2 + 0.02**2) / 2), rel=0.3)


# ---------------------------------------------------------------------------------------------------------
# SequenceConsistencyLoss


def test_uniform_compression_with_an_exact_chain_costs_nothing():
    loss = SequenceConsistencyLoss(composition=1.0, strain_stability=1.0, strain_half_length=4, border=4)
    out = loss(compression(b=2), exact_chain(b=2))
    assert set(out) == {"loss", "composition", "strain_stability"}
    assert out["composition"].item() < 1e-10
    assert out["strain_stability"].item() < 1e-10
    assert out["loss"].item() < 1e-9


def test_proportional_non_uniform_fields_are_stable():
    """``u_k = -s_k g(z)`` with a non-uniform strain ``g'``: LSQ strain is linear, so the maps stay proportional."""
    z = torch.arange(H, dtype=torch.float32).view(H, 1).expand(H, W)
    x = torch.arange(W, dtype=torch.float32).view(1, W)
    g = z + 0.3 * z**2 / H + 0.5 * torch.sin(z / 3.0) * torch.cos(x)
    u = torch.zeros(1, 3, 2, H, W)
    for k, s in enumerate(LEVELS):
        u[:, k, 0] = -s * g
    loss = SequenceConsistencyLoss(composition=0.0, strain_stability=1.0, strain_half_length=4, border=4)
    assert loss(u)["strain_stability"].item() < 1e-9


def test_strain_stability_of_a_level_with_a_strain_gradient():
    """Level 1 uniform (-s1), level 2 ``-(s2 + a z)``, M = s2 + a mean(z): the fitted pattern leaves residuals
    ``s1 M d / (s1^2 + M^2)`` and ``-s1^2 d / (s1^2 + M^2)`` with d = a (z - mean(z)), so the term is
    ``a^2 var(z) s1^2 / (s1^2 + M^2)^2``.

    The LSQ derivative of a quadratic is exact where the kernel needs no reflection, which the border
    (4 rows, half length 4) guarantees; z runs over the kept rows 4 .. H-5.
    """
    s1, s2, a = 0.01, 0.02, 5e-4
    z = torch.arange(H, dtype=torch.float32).view(H, 1).expand(H, W)
    u = torch.zeros(1, 2, 2, H, W)
    u[:, 0, 0] = -s1 * z
    u[:, 1, 0] = -(s2 * z + 0.5 * a * z**2)
    kept = torch.arange(4, H - 4, dtype=torch.float64)
    m = s2 + a * kept.mean().item()
    expected = a**2 * kept.var(unbiased=False).item() * s1**2 / (s1**2 + m**2) ** 2
    assert expected == pytest.approx(0.0015825, rel=1e-3)  # by hand: 2.5e-7 * 47.917 * 1e-4 / (8.7006e-4)^2
    loss = SequenceConsistencyLoss(composition=0.0, strain_stability=3.0, strain_half_length=4, border=4)
    out = loss(u)
    assert out["strain_stability"].item() == pytest.approx(expected, rel=1e-4)
    assert out["loss"].item() == pytest.approx(3.0 * expected, rel=1e-4)
    assert out["composition"].item() == 0.0


def test_weighted_sum_and_detached_terms():
    loss = SequenceConsistencyLoss(composition=2.0, strain_stability=3.0, strain_half_length=4, border=4)
    u = compression().requires_grad_(True)
    v = exact_chain()
    v[:, :, 0] += 0.5
    out = loss(u, v)
    assert out["composition"].item() == pytest.approx(0.125, rel=1e-5)
    assert out["loss"].item() == pytest.approx(2.0 * 0.125, rel=1e-5)
    assert out["loss"].requires_grad
    assert not out["composition"].requires_grad and not out["strain_stability"].requires_grad
    out["loss"].backward()
    assert u.grad is not None and u.grad.abs().sum() > 0


def test_needs_chained_and_refusals():
    assert SequenceConsistencyLoss(composition=0.05).needs_chained
    assert not SequenceConsistencyLoss(composition=0.0).needs_chained
    with pytest.raises(ValueError, match="must be >= 0"):
        SequenceConsistencyLoss(composition=-0.1)
    with pytest.raises(ValueError, match="must be >= 0"):
        SequenceConsistencyLoss(strain_stability=-1.0)
    with pytest.raises(ValueError, match="needs the chained estimates"):
        SequenceConsistencyLoss(composition=1.0)(compression())
    with pytest.raises(ValueError, match=r"\(B, T, 2, H, W\)"):
        SequenceConsistencyLoss()(torch.zeros(1, 2, 3, H, W))
    # without the composition term no chained estimate is needed
    out = SequenceConsistencyLoss(composition=0.0, strain_stability=1.0)(compression())
    assert out["composition"].item() == 0.0


def test_single_level_gives_zeros():
    loss = SequenceConsistencyLoss(composition=1.0, strain_stability=1.0)
    out = loss(compression((0.02,)))  # T = 1: no chained estimate needed, nothing to compare
    assert {name: value.item() for name, value in out.items()} == {
        "loss": 0.0,
        "composition": 0.0,
        "strain_stability": 0.0,
    }


# ---------------------------------------------------------------------------------------------------------
# ElastographyTrainer._chained: the network on consecutive post pairs


class PairProbe(torch.nn.Module):
    """``(N, 2, H, W) -> (N, 2, H, W)``: channel 0 = second - first frame, channel 1 = 10 x first frame."""

    def __init__(self):
        super().__init__()
        self.batches: list[int] = []

    def forward(self, x):
        self.batches.append(x.shape[0])
        return torch.cat((x[:, 1:2] - x[:, :1], 10.0 * x[:, :1]), dim=1)


def test_chained_runs_the_network_on_consecutive_post_pairs():
    b, t, h, w = 2, 3, 4, 5
    # frame n of sample i holds the constant 100 i + n n (n = 0 is the pre frame, never used)
    frames = torch.zeros(b, 1 + t, h, w)
    for i in range(b):
        for n in range(1 + t):
            frames[i, n] = 100.0 * i + n * n
    net = PairProbe()
    chained = ElastographyTrainer._chained(net, frames)
    assert chained.shape == (b, t - 1, 2, h, w)
    assert net.batches == [b * (t - 1)]  # one pass over all pairs
    for i in range(b):
        for j in range(t - 1):  # pair (post_(j+1), post_(j+2)) = frames n = j + 1, j + 2
            first, second = 100.0 * i + (j + 1) ** 2, 100.0 * i + (j + 2) ** 2
            torch.testing.assert_close(chained[i, j, 0], torch.full((h, w), second - first))
            torch.testing.assert_close(chained[i, j, 1], torch.full((h, w), 10.0 * first))


def test_chained_is_none_for_a_single_post_frame():
    net = PairProbe()
    assert ElastographyTrainer._chained(net, torch.zeros(1, 2, 4, 5)) is None
    assert net.batches == []
