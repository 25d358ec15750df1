"""CUDA and AMP: the same code on a GPU gives the CPU's answers; AMP training steps stay finite.

Skipped where no CUDA device is present (CI); run on a GPU machine with ``pytest tests/networks/test_cuda.py``
(``scripts/device/evaluate_check.sh`` does, and docs/benchmarks.md records the result).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bundle.losses import SequenceConsistencyLoss, UnsupervisedElastographyLoss
from bundle.networks import IterativeRefiner, MUSSENet, USSENet
from bundle.networks.network_estimator import NetworkEstimator
from bundle.simulation import simulate_sequence
from bundle.training.engines import ElastographyTrainer

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

SMALL = {"channels": (4, 8, 8, 8), "attention_dim": 8}


@pytest.fixture(autouse=True)
def _exact_float32():
    # TF32 convolutions/matmuls would make CUDA differ from the CPU by ~1e-3 relative: compare true float32
    old = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = old


def _musse() -> MUSSENet:
    torch.manual_seed(0)
    net = MUSSENet(USSENet(**SMALL), IterativeRefiner(feature_channels=4, hidden_channels=8))
    with torch.no_grad():  # a non-zero refiner head, so that stage two contributes to the comparison
        for p in net.refiner.parameters():
            p.add_(0.01 * torch.randn_like(p))
    return net.eval()


def test_cuda_forward_matches_cpu():
    net = _musse()
    frames = torch.randn(1, 3, 128, 16, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        cpu = net.forward_sequence(frames)
        gpu = net.cuda().forward_sequence(frames.cuda()).cpu()
    assert gpu.shape == (1, 2, 2, 128, 16)
    np.testing.assert_allclose(gpu.numpy(), cpu.numpy(), atol=1e-4, rtol=1e-4)


def test_estimator_on_cuda_gives_the_cpu_displacement_in_mm(small_phantom):
    seq = simulate_sequence(small_phantom, None, [0.01], seed=3)
    net = _musse()
    cpu = NetworkEstimator(None, net, device="cpu").estimate(seq.rf[0], seq.rf[1:], small_phantom.acquisition)
    gpu = NetworkEstimator(None, net, device="cuda").estimate(seq.rf[0], seq.rf[1:], small_phantom.acquisition)
    assert gpu.dtype == cpu.dtype and gpu.shape == cpu.shape == (1, 2, 512, 48)
    # 2e-5 mm = 1e-3 samples: summation order differs between the devices (cuDNN, the prior's Gram matrices)
    np.testing.assert_allclose(gpu, cpu, atol=2e-5, err_msg=f"max |gpu - cpu| = {np.abs(gpu - cpu).max():.3g} mm")


def test_amp_training_steps_are_finite_and_move_the_weights():
    torch.manual_seed(0)
    net = USSENet(**SMALL).cuda()
    frames = torch.randn(16, 3, 128, 16)
    # GradScaler skips the steps whose scaled gradients overflow while it finds its scale: give it 16 steps
    loader = [{"image": frames[i : i + 2]} for i in range(0, 16, 2)]
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-3)
    before = [p.detach().clone() for p in net.parameters()]
    trainer = ElastographyTrainer(
        device=torch.device("cuda"),
        max_epochs=2,
        train_data_loader=loader,
        network=net,
        optimizer=optimizer,
        loss_function=UnsupervisedElastographyLoss(ncc_window=(9, 3), strain_half_length=4),
        consistency_function=SequenceConsistencyLoss(strain_half_length=8, border=8),
        amp=True,
    )
    trainer.run()
    assert trainer.scaler is not None  # AMP ran with gradient scaling, not silently in float32
    terms = trainer.state.output[0]
    assert set(terms) >= {"loss", "similarity", "composition", "strain_stability"}
    assert all(np.isfinite(v) for v in terms.values())
    moved = sum(int(not torch.equal(a, b)) for a, b in zip(before, net.parameters(), strict=True))
    assert moved > len(before) // 2, f"{moved} of {len(before)} parameters changed, scale {trainer.scaler.get_scale()}"


def test_float16_autocast_on_cuda_agrees_with_cpu_float32():
    """The GPU speed path (AMP float16, ``scripts/benchmark.py --throughput``) against CPU float32, shipped weights,
    a 1024 x 128 pair with a stiff lesion on the canonical grid. Stated tolerance: median displacement difference
    0.01 px, largest 0.1 px, median strain difference 1e-4 (0.01 % strain, against 1-2 % applied). bfloat16 does
    not meet it: on the CPU (autocast) it gives 0.02 px median, 0.32 px largest, 3e-4 strain (docs/benchmarks.md)."""
    from bundle.acquisition import Acquisition
    from bundle.bundle_config import read_bundle_config
    from bundle.networks.layers import lsq_strain
    from bundle.simulation import Inclusion, PhantomConfig

    parser = read_bundle_config("inference.json")
    parser["imports"] = []
    net = parser.get_parsed_content("network_def")
    state = torch.load(parser.get_parsed_content("checkpoint"), map_location="cpu", weights_only=True)
    net.load_state_dict(state.get("network", state))
    net.eval()
    acq = Acquisition(40e6, 5e6, 1540.0, 0.3)
    seq = simulate_sequence(PhantomConfig(shape=(1024, 128), acquisition=acq), Inclusion((10.0, 19.0), 3.0, 3.0),
                            (0.01, 0.02), seed=3)  # fmt: skip
    frames = torch.from_numpy(np.ascontiguousarray(seq.rf[None, :2], dtype=np.float32))
    with torch.inference_mode():
        cpu = net.forward_sequence(frames)[:, 0]
        with torch.autocast("cuda", dtype=torch.float16):
            gpu = net.cuda().forward_sequence(frames.cuda()).float().cpu()[:, 0]
    du = (gpu - cpu).abs()
    strain = (lsq_strain(gpu[:, :1], 32) - lsq_strain(cpu[:, :1], 32)).abs()
    summary = f"median {du.median():.3g} px, largest {du.max():.3g} px, strain median {strain.median():.3g}"
    assert du.median() <= 0.01 and du.max() <= 0.1 and strain.median() <= 1e-4, summary
