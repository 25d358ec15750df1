"""The network behind the estimator interface: units, checkpoints, wrong architectures."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bundle.catalogue import create_estimator
from bundle.errors import ElastographyInputError
from bundle.networks import USSENet
from bundle.networks.network_estimator import NetworkEstimator, load_weights

SMALL = {"channels": (4, 8, 8, 8), "attention_dim": 8}


class Constant(torch.nn.Module):
    """Predicts a constant (2, 1) pixel displacement: checks the pixel -> mm conversion."""

    def forward_sequence(self, frames):
        b, n, h, w = frames.shape
        out = torch.zeros(b, n - 1, 2, h, w)
        out[:, :, 0], out[:, :, 1] = 2.0, 1.0
        return out


def test_pixels_become_millimetres(acquisition):
    est = NetworkEstimator(checkpoint=None, network=Constant(), device="cpu", canonical_grid=None)
    rng = np.random.default_rng(0)
    disp = est.estimate(rng.standard_normal((64, 8)), rng.standard_normal((2, 64, 8)), acquisition)
    assert disp.shape == (2, 2, 64, 8)
    np.testing.assert_allclose(disp[:, 0], 2 * acquisition.axial_spacing_mm, rtol=1e-6)
    np.testing.assert_allclose(disp[:, 1], acquisition.line_pitch_mm, rtol=1e-6)


def test_checkpoint_roundtrip_and_registry(tmp_path, acquisition):
    torch.manual_seed(0)
    net = USSENet(**SMALL)
    torch.save({"network": net.state_dict()}, tmp_path / "model.pt")
    est = create_estimator(
        "usse-net",
        checkpoint=tmp_path / "model.pt",
        network=USSENet(**SMALL),
        device="cpu",
        checkpoint_prefix="",
        canonical_grid=None,  # the network's own pixels, to compare with the bare network
    )
    rng = np.random.default_rng(1)
    pre, post = rng.standard_normal((64, 16)), rng.standard_normal((64, 16))
    expected = net.eval()(torch.tensor(np.stack([pre, post])[None], dtype=torch.float32))[0].detach().numpy()
    got = est.estimate(pre, post, acquisition)[0] / np.array(acquisition.spacing_mm).reshape(2, 1, 1)
    np.testing.assert_allclose(got, expected, atol=1e-4)


def test_checkpoint_of_another_architecture_is_refused(tmp_path):
    torch.save(USSENet(**SMALL).state_dict(), tmp_path / "other.pt")
    with pytest.raises(ElastographyInputError, match=r"other\.pt: checkpoint is for another architecture"):
        load_weights(USSENet(channels=(4, 8, 8, 16), attention_dim=8), tmp_path / "other.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ElastographyInputError, match="not a PyTorch checkpoint"):
        load_weights(USSENet(**SMALL), tmp_path / "junk.pt")
    with pytest.raises(ElastographyInputError, match="not found"):
        load_weights(USSENet(**SMALL), tmp_path / "missing.pt")


def test_canonical_grid_gives_the_network_pixels_of_the_canonical_grid():
    """With a canonical grid the network's pixels are the grid's (lambda / 16 deep, a wavelength wide), whatever
    the probe; the displacement comes back on the input's grid in mm."""
    from bundle.acquisition import Acquisition
    from bundle.canonical_grid import CanonicalGrid

    acq = Acquisition(sampling_frequency_hz=12e6, center_frequency_hz=3e6, line_pitch_mm=0.4)  # 4 samples per period
    grid = CanonicalGrid()
    est = NetworkEstimator(checkpoint=None, network=Constant(), device="cpu", canonical_grid=grid)
    rng = np.random.default_rng(0)
    disp = est.estimate(rng.standard_normal((200, 24)), rng.standard_normal((1, 200, 24)), acq)
    assert disp.shape == (1, 2, 200, 24)
    canonical = grid.acquisition(acq)
    np.testing.assert_allclose(disp[:, 0], 2 * canonical.axial_spacing_mm, rtol=1e-6)  # 2 x lambda / 16
    np.testing.assert_allclose(disp[:, 1], canonical.line_pitch_mm, rtol=1e-6)  # one wavelength
    assert canonical.axial_spacing_mm == pytest.approx(acq.wavelength_mm / 16)
    with pytest.raises(ValueError):
        NetworkEstimator(checkpoint=None, network=Constant(), device="cpu", canonical_grid="yes")


def test_registered_network_estimators_keep_their_names_and_defaults():
    from bundle.networks import MUSSENet
    from bundle.networks.network_estimator import MUSSENetEstimator, USSENetEstimator

    usse = create_estimator("usse-net", checkpoint=None, device="cpu")
    assert type(usse) is USSENetEstimator and isinstance(usse, NetworkEstimator) and usse.name == "usse-net"
    assert isinstance(usse.network, USSENet) and usse.checkpoint_prefix == "stage_one."
    musse = create_estimator("musse-net", checkpoint=None, device="cpu")
    assert type(musse) is MUSSENetEstimator and musse.name == "musse-net"
    assert isinstance(musse.network, MUSSENet) and musse.checkpoint_prefix == ""
    from bundle.estimator import registered_estimators

    assert NetworkEstimator not in registered_estimators().values()  # the generic base is not registered


def test_precision_runs_the_network_under_autocast(acquisition):
    from bundle.simulation import PhantomConfig, simulate_sequence

    seq = simulate_sequence(PhantomConfig(shape=(256, 32), acquisition=acquisition), None, (0.01,), seed=4)
    torch.manual_seed(0)
    network = USSENet(channels=(4, 4, 8, 8), attention_dim=4)
    full = NetworkEstimator(None, network, device="cpu").estimate(seq.rf[0], seq.rf[1:], acquisition)
    half = NetworkEstimator(None, network, device="cpu", precision="bfloat16")
    assert half.precision == "bfloat16"
    reduced = half.estimate(seq.rf[0], seq.rf[1:], acquisition)
    assert reduced.dtype == np.float32 and reduced.shape == full.shape
    difference_px = np.abs(reduced - full) / np.array(acquisition.spacing_mm).reshape(1, 2, 1, 1)
    assert 0 < difference_px.max() < 1.0  # bfloat16 really ran, and stays near float32
    with pytest.raises(ValueError, match="precision must be one of float32, float16, bfloat16"):
        NetworkEstimator(None, network, device="cpu", precision="int8")
    with pytest.raises(ValueError, match="autocast: backend 'pytorch'"):
        NetworkEstimator(None, network, backend="onnxruntime", precision="float16")
