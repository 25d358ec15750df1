"""ONNX export of both MUSSE-Net stages: the graphs :class:`~bundle.networks.onnx_runtime.OnnxRuntimeNetwork` runs.

Why three graphs and not one: stage one carries its decoder state from one post frame to the next, and a
recording has any number of post frames, which a traced graph would fix. The export therefore holds the units
that :meth:`USSENet.forward_sequence` and :meth:`MUSSENet.forward_sequence` repeat, and the runtime repeats
them in the same order:

=================  ==================================================  ==========================================
graph              inputs                                              outputs
=================  ==================================================  ==========================================
``encoder.onnx``   ``pre (B, 1, H, W)``                                ``pre_feature_0..L`` (finest first)
``step.onnx``      ``pre, post (B, 1, H, W)``, pre features,           ``displacement_px (B, 2, H, W)``,
                   ``state_0..L-1`` (decoder states, coarsest first)   ``new_state_0..L-1``
``refiner.onnx``   ``pre, post (N, 1, H, W)``, ``u1 (N, 2, H, W)``     ``displacement_px (N, 2, H, W)``
=================  ==================================================  ==========================================

RF inputs are normalised (:func:`bundle.amplitude.scale_by_mean_abs`) and the frames padded to the network's
``size_multiple`` (8 x 4 for the shipped network) by the estimator, so every stride inside is exact and height,
width and batch stay dynamic. Displacement in pixels, axial first, as the PyTorch networks.

Exported with the dynamo exporter (``torch.onnx.export(..., dynamo=True)``, needs ``onnx`` and ``onnxscript``:
the ``export`` extra); the legacy TorchScript exporter cannot, because the global strain prior uses an FFT
(``aten::fft_fft``). ``manifest.json`` beside the graphs records the opset, the size multiple and minimum size,
the number of stages exported, the checkpoint's SHA-256 (the runtime refuses a checkpoint that differs) and the
torch version. The folder is written under a temporary name and renamed, so a failed export leaves no half.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from torch import nn

from bundle.io.atomic import atomic_directory
from bundle.networks.musse_net import MUSSENet
from bundle.networks.usse_net import USSENet

__all__ = ["OPSET", "MANIFEST", "export_onnx", "file_sha256"]

OPSET = 18
MANIFEST = "manifest.json"
# smallest padded frame the graphs accept: the prior's search and the refiner's strain kernel (33 samples) need
# room; real frames are thousands of samples tall
MIN_ROWS = 64
MAX_ROWS, MAX_LINES, MAX_BATCH = 32768, 4096, 1024


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class _Encoder(nn.Module):
    def __init__(self, stage_one: USSENet):
        super().__init__()
        self.stage_one = stage_one

    def forward(self, pre: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(self.stage_one.encode(pre))


class _Step(nn.Module):
    def __init__(self, stage_one: USSENet):
        super().__init__()
        self.stage_one = stage_one
        self.levels = len(stage_one.encoder)

    def forward(self, pre: torch.Tensor, post: torch.Tensor, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
        features, states = list(tensors[: self.levels]), list(tensors[self.levels :])
        displacement, new_states = self.stage_one.step(pre, post, features, states)
        return (displacement, *new_states)


class _Refine(nn.Module):
    def __init__(self, network: MUSSENet):
        super().__init__()
        self.network = network

    def forward(self, pre: torch.Tensor, post: torch.Tensor, u1: torch.Tensor) -> torch.Tensor:
        return self.network.refiner.refine(pre, post, u1, self.network.strain_half_length)


def _export(module: nn.Module, args: tuple, dynamic: tuple, names: tuple[list, list], path: Path, opset: int):
    program = torch.onnx.export(
        module,
        args,
        dynamo=True,
        opset_version=opset,
        dynamic_shapes=dynamic,
        input_names=names[0],
        output_names=names[1],
        external_data=False,
        verbose=False,
    )
    program.save(str(path), external_data=False)


def export_onnx(
    network: USSENet | MUSSENet,
    folder: str | Path,
    checkpoint: str | Path | None = None,
    opset: int = OPSET,
    example_size: tuple[int, int] = (256, 32),
) -> Path:
    """Export ``network`` (eval mode, weights loaded) to ``folder`` (replaced if present); returns the folder.

    Args:
        network: a :class:`MUSSENet` (both stages) or a :class:`USSENet` (stage one only); one pass of stage one.
        checkpoint: the weights file the network was loaded from; its SHA-256 goes into the manifest.
        example_size: (rows, lines) of the tracing example, rounded up to the size multiple; any size works at
            run time.
    """
    stage_one = network.stage_one if isinstance(network, MUSSENet) else network
    if not isinstance(stage_one, USSENet):
        raise ValueError(f"network must be a USSENet or MUSSENet, got {type(network).__name__}")
    if isinstance(network, MUSSENet) and network.stage_one_passes != 1:
        raise ValueError(f"only one stage-one pass exports, network has stage_one_passes={network.stage_one_passes}")
    stages = network.stages if isinstance(network, MUSSENet) else 1
    multiple = [int(m) for m in network.size_multiple]
    network = network.eval()
    from torch.export import Dim  # torch.export is heavy: loaded when exporting, not when the runtime is imported

    rows, lines = (-(-int(n) // m) * m for n, m in zip(example_size, multiple, strict=True))
    batch = Dim("batch", min=1, max=MAX_BATCH)
    row_unit = Dim("rows", min=max(1, -(-MIN_ROWS // multiple[0])), max=MAX_ROWS // multiple[0])
    line_unit = Dim("lines", min=max(1, -(-int(stage_one.min_size[1]) // multiple[1])), max=MAX_LINES // multiple[1])
    frame_shape = {0: batch, 2: multiple[0] * row_unit, 3: multiple[1] * line_unit}

    def dims(tensor: torch.Tensor) -> dict:
        # a level's rows and lines as multiples of the frame's units: H / stride = (multiple / stride) * unit
        return {
            0: batch,
            2: (multiple[0] * tensor.shape[-2] // rows) * row_unit,
            3: (multiple[1] * tensor.shape[-1] // lines) * line_unit,
        }

    pre, post = torch.randn(2, 1, rows, lines), torch.randn(2, 1, rows, lines)
    with torch.no_grad():
        features = stage_one.encode(pre)
        states = stage_one.initial_state(features)
    feature_shapes = tuple(dims(f) for f in features)
    state_shapes = tuple(dims(s) for s in states)
    with atomic_directory(Path(folder), overwrite=True) as staging:
        feature_names = [f"pre_feature_{i}" for i in range(len(features))]
        state_names = [f"state_{i}" for i in range(len(states))]
        _export(_Encoder(stage_one), (pre,), (frame_shape,), (["pre"], feature_names), staging / "encoder.onnx", opset)
        _export(
            _Step(stage_one),
            (pre, post, *features, *states),
            (frame_shape, frame_shape, (*feature_shapes, *state_shapes)),  # *tensors is one argument
            (["pre", "post", *feature_names, *state_names], ["displacement_px", *[f"new_{n}" for n in state_names]]),
            staging / "step.onnx",
            opset,
        )
        if stages == 2:
            u1 = torch.randn(2, 2, rows, lines)
            _export(
                _Refine(network),
                (pre, post, u1),
                (frame_shape, frame_shape, frame_shape),
                (["pre", "post", "u1"], ["displacement_px"]),
                staging / "refiner.onnx",
                opset,
            )
        manifest = {
            "format": "musse-elastography onnx export 1",
            "opset": int(opset),
            "stages": int(stages),
            "architecture": type(network).__name__,
            "size_multiple": multiple,
            "min_size": [max(MIN_ROWS, int(stage_one.min_size[0])), int(stage_one.min_size[1])],
            "levels": len(features),
            "checkpoint": None if checkpoint is None else Path(checkpoint).name,
            "checkpoint_sha256": None if checkpoint is None else file_sha256(checkpoint),
            "torch": torch.__version__,
        }
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return folder
