"""The shipped ONNX export (models/onnx) on ONNX Runtime gives PyTorch's numbers for models/model.pt.

The export itself takes minutes (torch.export's symbolic shapes), too long for the suite: scripts/export_onnx.py
made models/onnx, and these tests hold it to the checkpoint beside it, through the estimator interface on a
frame size that needs padding, with a lesion and two post frames (the recurrent state and the refiner both
matter)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from bundle.acquisition import Acquisition
from bundle.bundle_config import read_bundle_config
from bundle.errors import ElastographyInputError
from bundle.networks.network_estimator import MUSSENetEstimator, NetworkEstimator, USSENetEstimator
from bundle.networks.onnx_runtime import OnnxRuntimeNetwork
from bundle.simulation import Inclusion, PhantomConfig, simulate_sequence

pytest.importorskip("onnxruntime")

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "models" / "model.pt"
ONNX = ROOT / "models" / "onnx"
# stated tolerances, ONNX Runtime against PyTorch, both float32 on the CPU; measured on this recording:
# 1.9e-5 px (usse-net) and 1.5e-5 px (musse-net) displacement, 3e-7 strain (docs/benchmarks.md)
DISPLACEMENT_TOLERANCE_PX = 2e-4
STRAIN_TOLERANCE = 3e-6


@pytest.fixture(scope="module")
def recording():
    acquisition = Acquisition(40e6, 5e6, 1540.0, 0.3)
    config = PhantomConfig(shape=(901, 45), acquisition=acquisition)  # 901 rows, 45 lines: both need padding
    sequence = simulate_sequence(config, Inclusion((8.5, 6.6), 2.5, 3.0), (0.01, 0.02), seed=5)
    return sequence.rf[0], sequence.rf[1:], acquisition


@pytest.mark.parametrize("estimator_class", [USSENetEstimator, MUSSENetEstimator], ids=["usse-net", "musse-net"])
def test_onnx_runtime_equals_pytorch(estimator_class, recording):
    pre, posts, acquisition = recording
    torch_estimator = estimator_class(checkpoint=MODEL, device="cpu")
    ort_estimator = estimator_class(checkpoint=MODEL, backend="onnxruntime", onnx_dir=ONNX)
    assert isinstance(ort_estimator.network, OnnxRuntimeNetwork)
    expected = torch_estimator.estimate(pre, posts, acquisition)
    got = ort_estimator.estimate(pre, posts, acquisition)
    assert got.shape == expected.shape == (2, 2, *pre.shape)
    spacing = np.array(acquisition.spacing_mm).reshape(1, 2, 1, 1)
    assert np.abs((got - expected) / spacing).max() < DISPLACEMENT_TOLERANCE_PX
    strain_difference = ort_estimator.strain(got, acquisition) - torch_estimator.strain(expected, acquisition)
    assert np.abs(strain_difference).max() < STRAIN_TOLERANCE
    assert np.abs(expected / spacing).max() > 5  # a real displacement was compared, not zeros


def test_the_config_switch_builds_the_onnx_runtime_estimator():
    parser = read_bundle_config("inference.json", ROOT)
    parser["backend"], parser["instance_steps"] = "onnxruntime", 0
    estimator = parser.get_parsed_content("estimator")
    assert isinstance(estimator.network, OnnxRuntimeNetwork) and estimator.network.stages == 2
    assert estimator.name == "musse-net (ONNX Runtime)"
    parser = read_bundle_config("inference.json", ROOT)
    parser["backend"] = "onnxruntime"  # instance optimisation on by default: needs gradients, refused
    with pytest.raises(RuntimeError) as raised:  # MONAI wraps the component's ValueError
        parser.get_parsed_content("estimator")
    causes = [raised.value]
    while causes[-1].__cause__ is not None:
        causes.append(causes[-1].__cause__)
    assert any(isinstance(c, ValueError) and "instance optimisation needs PyTorch" in str(c) for c in causes)


def test_an_export_of_other_weights_is_refused(tmp_path):
    state = torch.load(MODEL, map_location="cpu", weights_only=True)
    other = tmp_path / "other.pt"
    torch.save({k: v + 1e-3 if v.is_floating_point() else v for k, v in state.items()}, other)
    with pytest.raises(ElastographyInputError, match="exported from other weights than .*other.pt"):
        MUSSENetEstimator(checkpoint=other, backend="onnxruntime", onnx_dir=ONNX)
    with pytest.raises(ElastographyInputError, match="missing.pt: checkpoint not found"):
        MUSSENetEstimator(checkpoint=tmp_path / "missing.pt", backend="onnxruntime", onnx_dir=ONNX)


def test_missing_or_partial_exports_name_the_path(tmp_path):
    with pytest.raises(ElastographyInputError, match=f"{tmp_path / 'none'}: no ONNX export here"):
        OnnxRuntimeNetwork(tmp_path / "none")
    partial = tmp_path / "partial"
    shutil.copytree(ONNX, partial)
    (partial / "refiner.onnx").unlink()
    assert OnnxRuntimeNetwork(partial, stages=1).stages == 1  # stage one needs no refiner
    with pytest.raises(ElastographyInputError, match="refiner.onnx: ONNX graph not found"):
        OnnxRuntimeNetwork(partial, stages=2)
    (partial / "step.onnx").write_bytes(b"not a graph")
    with pytest.raises(ElastographyInputError, match="step.onnx: not a loadable ONNX graph"):
        OnnxRuntimeNetwork(partial, stages=1)


def test_bad_arguments_are_value_errors():
    with pytest.raises(ValueError, match="backend must be one of pytorch, onnxruntime"):
        NetworkEstimator(checkpoint=MODEL, backend="tensorrt")
    network = OnnxRuntimeNetwork(ONNX)
    with pytest.raises(ValueError, match="not padded to a multiple"):
        network.forward_sequence(torch.zeros(1, 2, 100, 32))
