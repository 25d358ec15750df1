"""RAFT-style stage two (IterativeRefiner): correlation lookup, zero start, shared-weight iterations, training."""

from __future__ import annotations

import pytest
import torch

from bundle.losses import UnsupervisedElastographyLoss
from bundle.networks import IterativeRefiner, MUSSENet, USSENet, local_correlation
from bundle.simulation.phantom import PhantomConfig, simulate_sequence

STAGE_ONE = {"channels": (4, 8, 8, 8), "attention_dim": 8}
REFINER = {"feature_channels": 6, "hidden_channels": 8, "radius": (3, 1), "iterations": 3}


def small_musse(seed: int = 0, **kwargs) -> MUSSENet:
    torch.manual_seed(seed)
    return MUSSENet(USSENet(**STAGE_ONE), IterativeRefiner(**REFINER), **kwargs)


def test_correlation_peaks_at_the_true_offset():
    """post(i, j) = pre(i - 2, j + 1): the content moved 2 rows down, 1 column left -> peak at (dz, dx) = (2, -1)."""
    g = torch.Generator().manual_seed(0)
    pre = torch.nn.functional.normalize(torch.randn(1, 5, 24, 10, generator=g), dim=1)
    post = torch.roll(pre, shifts=(2, -1), dims=(2, 3))
    cost = local_correlation(pre, post, [3, 1])
    assert cost.shape == (1, 7 * 3, 24, 10)
    offsets = [(dz, dx) for dz in range(-3, 4) for dx in range(-1, 2)]
    best = cost[0, :, 4:-4, 2:-2].argmax(dim=0)  # away from the replicated border
    assert set(best.flatten().tolist()) == {offsets.index((2, -1))}
    # unit-norm features: the matching offset gives the channel mean of |f|^2 = 1 / C
    torch.testing.assert_close(cost[0, offsets.index((2, -1)), 4:-4, 2:-2], torch.full((16, 6), 1 / 5))


def test_fresh_refiner_returns_stage_one_exactly():
    torch.manual_seed(0)
    refiner = IterativeRefiner(**REFINER)
    pre, post, u1 = torch.randn(2, 1, 30, 13), torch.randn(2, 1, 30, 13), torch.randn(2, 2, 30, 13)
    iterates = refiner.iterate(pre, post, u1, 8)
    assert len(iterates) == 3
    for u in iterates:
        assert torch.equal(u, u1)


def test_iterations_share_one_head():
    """Head weights 0, bias b: each of the n iterations adds exactly b (the same weights every time)."""
    torch.manual_seed(0)
    refiner = IterativeRefiner(**REFINER)
    with torch.no_grad():
        refiner.head[-1].bias.copy_(torch.tensor([0.5, -0.25]))
    pre, post, u1 = torch.randn(1, 1, 31, 9), torch.randn(1, 1, 31, 9), torch.zeros(1, 2, 31, 9)
    for k, u in enumerate(refiner.iterate(pre, post, u1, 8), start=1):
        torch.testing.assert_close(u[0, 0], torch.full((31, 9), 0.5 * k))
        torch.testing.assert_close(u[0, 1], torch.full((31, 9), -0.25 * k))


def test_iterations_must_be_positive():
    with pytest.raises(ValueError, match="iterations"):
        IterativeRefiner(iterations=0)


def test_gradients_reach_every_refiner_parameter():
    model = small_musse(freeze_stage_one=True)
    with torch.no_grad():  # a non-zero head, so that gradients flow back through the GRU and the features
        model.refiner.head[-1].weight.normal_(0, 0.1)
    frames = torch.randn(1, 3, 64, 16)
    model.forward_sequence(frames).square().mean().backward()
    silent = [n for n, p in model.refiner.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not silent, f"no gradient reaches {silent}"
    assert all(p.grad is None for p in model.stage_one.parameters())


def test_torchscript_matches_eager():
    model = small_musse().eval()
    with torch.no_grad():
        model.refiner.head[-1].weight.normal_(0, 0.1)
    scripted = torch.jit.script(model)
    frames = torch.randn(1, 3, 64, 16)
    with torch.no_grad():
        torch.testing.assert_close(scripted.forward_sequence(frames), model.forward_sequence(frames))
        torch.testing.assert_close(scripted(frames[:, :2]), model(frames[:, :2]))


def fixed_batch() -> torch.Tensor:
    """Simulated 1 % and 2 % compressions, ``(1, 3, 256, 16)`` (pre, post_1, post_2), normalised."""
    config = PhantomConfig(shape=(256, 16), snr_db=40.0)
    seq = simulate_sequence(config, None, [0.01, 0.02], seed=3)
    frames = torch.from_numpy(seq.rf.astype("float32"))[None]
    return frames / frames[:, :1].std()


def test_refinement_never_increases_the_training_loss_on_a_fixed_batch():
    """Stage one frozen; the refiner starts at zero (loss = stage one's) and 12 Adam steps on one batch never
    leave the loss above stage one's, and end clearly below it."""
    frames = fixed_batch()
    model = small_musse(freeze_stage_one=True)
    loss_fn = UnsupervisedElastographyLoss()
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)

    def loss_now() -> torch.Tensor:
        return loss_fn(frames[:, :1], frames[:, 1:], model.forward_sequence(frames))["loss"]

    with torch.no_grad():
        stage_one = loss_fn(frames[:, :1], frames[:, 1:], model.stage_one.forward_sequence(frames))["loss"].item()
    history = []
    for _ in range(12):
        optimizer.zero_grad()
        loss = loss_now()
        history.append(loss.item())
        loss.backward()
        optimizer.step()
    history.append(loss_now().item())
    assert history[0] == pytest.approx(stage_one, rel=1e-6)
    assert max(history) <= stage_one * (1 + 1e-6), history
    assert history[-1] < 0.97 * stage_one, (stage_one, history)
