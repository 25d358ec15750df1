"""Stage two (ResidualRefiner) and MUSSE-Net: zero start, padding, freezing, TorchScript, weights, registry."""

from __future__ import annotations

import pytest
import torch

from bundle.catalogue import available_estimators, create_estimator
from bundle.errors import ElastographyInputError
from bundle.networks import MUSSENet, ResidualRefiner, USSENet, lsq_strain, warp
from bundle.networks.network_estimator import MUSSENetEstimator, load_weights

STAGE_ONE = {"channels": (4, 8, 8, 8), "attention_dim": 8}
REFINER = {"channels": (4, 8, 8), "attention_dim": 8, "radius": (2, 1)}
H, W = 64, 16  # USSENet(channels=(4, 8, 8, 8)).min_size is 32 x 8


def small_musse(seed: int = 0, **kwargs) -> MUSSENet:
    torch.manual_seed(seed)
    return MUSSENet(USSENet(**STAGE_ONE), ResidualRefiner(**REFINER), **kwargs)


def perturb_head(refiner: ResidualRefiner, seed: int = 1, std: float = 0.1) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        refiner.head.weight.copy_(torch.randn(refiner.head.weight.shape, generator=g) * std)
        refiner.head.bias.copy_(torch.randn(refiner.head.bias.shape, generator=g) * std)


def refiner_inputs(b: int, h: int, w: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    pre, warped = torch.randn(b, 1, h, w, generator=g), torch.randn(b, 1, h, w, generator=g)
    displacement = torch.randn(b, 2, h, w, generator=g)
    strain = 0.01 * torch.randn(b, 1, h, w, generator=g)
    return pre, warped, displacement, strain


# ---------------------------------------------------------------------------------------------------------
# ResidualRefiner


@pytest.mark.parametrize("size", [(32, 16), (30, 13), (33, 6)])
def test_untrained_refiner_returns_exact_zeros(size):
    torch.manual_seed(0)
    refiner = ResidualRefiner(**REFINER)
    out = refiner(*refiner_inputs(2, *size))
    assert out.shape == (2, 2, *size)
    assert torch.equal(out, torch.zeros_like(out))


def test_head_bias_alone_gives_a_constant_residual():
    torch.manual_seed(0)
    refiner = ResidualRefiner(**REFINER)
    with torch.no_grad():
        refiner.head.bias.copy_(torch.tensor([0.5, -0.25]))
    out = refiner(*refiner_inputs(1, 30, 13))
    assert out.shape == (1, 2, 30, 13)
    assert torch.equal(out[:, 0], torch.full((1, 30, 13), 0.5))
    assert torch.equal(out[:, 1], torch.full((1, 30, 13), -0.25))


def test_padding_is_replicate_then_crop():
    """A 30 x 13 input is padded to 32 x 16 by repeating its last row / column, run, and cropped back."""
    torch.manual_seed(0)
    refiner = ResidualRefiner(**REFINER).eval()
    perturb_head(refiner)
    inputs = refiner_inputs(1, 30, 13)
    padded = [torch.nn.functional.pad(t, [0, 3, 0, 2], mode="replicate") for t in inputs]
    out = refiner(*inputs)
    assert out.abs().max() > 1e-3  # not trivially zero
    torch.testing.assert_close(out, refiner(*padded)[..., :30, :13], rtol=0, atol=1e-6)


# the refiner keeps only the cost and offset of its LocalCrossAttention and drops the attended values, so the
# value projection attention.v never sees a gradient (see test_attention_values_are_used)


def silent_parameters(module: torch.nn.Module) -> list[str]:
    """Names of the parameters that got no (or an all-zero) gradient; raises on a non-finite one."""
    silent = []
    for name, p in module.named_parameters():
        if p.grad is None or p.grad.abs().max() == 0:
            silent.append(name)
        else:
            assert torch.isfinite(p.grad).all(), name
    return silent


def refiner_backward() -> ResidualRefiner:
    torch.manual_seed(0)
    refiner = ResidualRefiner(**REFINER)
    perturb_head(refiner)
    out = refiner(*refiner_inputs(1, 30, 13))
    (out**2).mean().backward()
    return refiner


def test_refiner_gradients_reach_every_parameter():
    silent = silent_parameters(refiner_backward())
    assert not silent, f"no gradient reaches {silent}"


# ---------------------------------------------------------------------------------------------------------
# MUSSENet


def test_fresh_refiner_leaves_stage_one_unchanged():
    model = small_musse().eval()
    x = torch.randn(2, 2, H, W)
    frames = torch.randn(1, 4, H, W)
    with torch.no_grad():
        assert torch.equal(model(x), model.stage_one(x))
        out = model.forward_sequence(frames)
        assert out.shape == (1, 3, 2, H, W)
        assert torch.equal(out, model.stage_one.forward_sequence(frames))
    assert model.min_size == model.stage_one.min_size


def test_refinement_adds_the_residual_to_stage_one():
    """Head weights 0, bias (0.5, -0.25): every level moves by exactly that residual."""
    model = small_musse().eval()
    with torch.no_grad():
        model.refiner.head.bias.copy_(torch.tensor([0.5, -0.25]))
        shift = torch.tensor([0.5, -0.25]).view(1, 2, 1, 1)
        x = torch.randn(1, 2, H, W)
        torch.testing.assert_close(model(x), model.stage_one(x) + shift)
        frames = torch.randn(2, 3, H, W)
        torch.testing.assert_close(
            model.forward_sequence(frames), model.stage_one.forward_sequence(frames) + shift.unsqueeze(1)
        )


def test_one_stage_ignores_the_refiner():
    model = small_musse(stages=1).eval()
    perturb_head(model.refiner)
    x, frames = torch.randn(1, 2, H, W), torch.randn(1, 3, H, W)
    with torch.no_grad():
        assert torch.equal(model(x), model.stage_one(x))
        assert torch.equal(model.forward_sequence(frames), model.stage_one.forward_sequence(frames))
        model.stages = 2  # same weights, both stages: now the perturbed head matters
        assert (model(x) - model.stage_one(x)).abs().max() > 1e-3


@pytest.mark.parametrize("stages", [0, 3])
def test_stage_count_is_checked(stages):
    with pytest.raises(ValueError, match="stages must be 1 or 2"):
        MUSSENet(USSENet(**STAGE_ONE), ResidualRefiner(**REFINER), stages=stages)


@pytest.mark.parametrize("value", ["false", "False", 0, None])
def test_freeze_flag_must_be_a_bool(value):
    """A command-line "false" arrives as a string, which is truthy: refused instead of silently freezing."""
    with pytest.raises(ValueError, match="freeze_stage_one must be True or False"):
        MUSSENet(USSENet(**STAGE_ONE), ResidualRefiner(**REFINER), freeze_stage_one=value)


def test_frozen_stage_one_gets_no_gradient():
    model = small_musse(freeze_stage_one=True)
    assert model.freeze_stage_one
    assert all(not p.requires_grad for p in model.stage_one.parameters())
    assert all(p.requires_grad for p in model.refiner.parameters())
    perturb_head(model.refiner)
    out = model.forward_sequence(torch.randn(1, 3, H, W))
    (out**2).mean().backward()
    assert all(p.grad is None for p in model.stage_one.parameters())
    silent = silent_parameters(model.refiner)
    assert not silent, f"no gradient reaches {silent}"
    # freezing changes what is trained, not what is computed
    unfrozen = small_musse(freeze_stage_one=False)
    unfrozen.load_state_dict(model.state_dict())
    x = torch.randn(1, 2, H, W)
    with torch.no_grad():
        torch.testing.assert_close(unfrozen(x), model(x))


def test_unfrozen_stage_one_is_trained_too():
    model = small_musse()
    perturb_head(model.refiner)
    (model(torch.randn(1, 2, H, W)) ** 2).mean().backward()
    assert all(p.requires_grad for p in model.stage_one.parameters())
    assert any(p.grad is not None and p.grad.abs().max() > 0 for p in model.stage_one.parameters())


def test_strain_of_uniform_compression():
    model = small_musse()
    z = torch.arange(H, dtype=torch.float32).view(1, 1, H, 1).expand(1, 1, H, W)
    u = torch.cat((-0.01 * z, torch.zeros_like(z)), dim=1)
    torch.testing.assert_close(model.strain(u), torch.full((1, 1, H, W), -0.01), rtol=0, atol=1e-6)
    torch.testing.assert_close(model.strain(u), lsq_strain(u[:, :1], model.strain_half_length))


def test_second_stage_one_pass_composes_a_residual_on_the_warped_post_frame():
    """Pass 2 sees (pre, post warped by pass 1); identical frames stay at exactly what pass 1 gives for them."""
    model = small_musse(stages=1, stage_one_passes=2).eval()
    one = small_musse(stages=1).eval()
    frames = torch.randn(1, 3, H, W)
    with torch.no_grad():
        u1 = one.forward_sequence(frames)
        u2 = model.forward_sequence(frames)
        assert u2.shape == u1.shape and not torch.allclose(u2, u1)
        # by hand: r = stage_one(pre, warp(post, u1)), u = r + warp(u1, r)
        pre, post = frames[:, :1], frames[:, 1:2]
        r = one.stage_one(torch.cat((pre, warp(post, u1[:, 0])), dim=1))
        torch.testing.assert_close(u2[:, 0], r + warp(u1[:, 0], r))
    with pytest.raises(ValueError, match="stage_one_passes"):
        small_musse(stage_one_passes=0)


@pytest.mark.parametrize(("freeze", "passes"), [(False, 1), (True, 1), (True, 2)])
def test_torchscript_matches_eager(freeze, passes):
    model = small_musse(freeze_stage_one=freeze, stage_one_passes=passes).eval()
    perturb_head(model.refiner)
    scripted = torch.jit.script(model)
    x, frames = torch.randn(1, 2, H, W), torch.randn(1, 3, H, W)
    with torch.no_grad(), torch.jit.optimized_execution(False):  # same graph, without the profiling runs
        torch.testing.assert_close(scripted(x), model(x))
        torch.testing.assert_close(scripted.forward_sequence(frames), model.forward_sequence(frames))
        assert scripted.forward_sequence(frames).shape == (1, 2, 2, H, W)


# ---------------------------------------------------------------------------------------------------------
# weights and the estimator registry


def test_stage_one_loads_from_a_musse_checkpoint(tmp_path):
    model = small_musse(seed=0)
    torch.save({"network": model.state_dict()}, tmp_path / "musse.pt")
    torch.manual_seed(5)
    bare = USSENet(**STAGE_ONE)
    assert not torch.equal(bare.state_dict()["encoder.0.0.weight"], model.stage_one.state_dict()["encoder.0.0.weight"])
    load_weights(bare, tmp_path / "musse.pt", prefix="stage_one.")
    expected = model.stage_one.state_dict()
    loaded = bare.state_dict()
    assert set(loaded) == set(expected)
    assert all(torch.equal(loaded[k], expected[k]) for k in expected)
    with pytest.raises(ElastographyInputError, match="no entries under 'stage_two.'"):
        load_weights(USSENet(**STAGE_ONE), tmp_path / "musse.pt", prefix="stage_two.")
    # without the prefix the refiner's entries do not belong to a bare USSE-Net
    with pytest.raises(ElastographyInputError, match="another architecture.*unexpected: refiner"):
        load_weights(USSENet(**STAGE_ONE), tmp_path / "musse.pt")


def test_musse_net_is_registered_and_loads_both_stages(tmp_path):
    assert {"musse-net", "usse-net"} <= set(available_estimators())
    model = small_musse(seed=0)
    perturb_head(model.refiner)
    torch.save({"network": model.state_dict()}, tmp_path / "musse.pt")
    est = create_estimator("musse-net", checkpoint=tmp_path / "musse.pt", network=small_musse(seed=3), device="cpu")
    assert isinstance(est, MUSSENetEstimator) and est.checkpoint_prefix == ""
    expected, loaded = model.state_dict(), est.network.state_dict()
    assert all(torch.equal(loaded[k], expected[k]) for k in expected)
