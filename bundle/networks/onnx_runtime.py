"""MUSSE-Net on ONNX Runtime (CPU): the exported graphs behind the networks' ``forward_sequence`` call.

:class:`OnnxRuntimeNetwork` reads a folder written by :func:`bundle.networks.onnx_export.export_onnx` and
repeats what :meth:`MUSSENet.forward_sequence` does, in the same order: normalise the frames by the pre frame's
mean |RF|, encode the pre frame once, run stage one's step over the post frames carrying the decoder state, then
the refiner over every post frame at once. It is what :class:`~bundle.networks.network_estimator.NetworkEstimator` runs
with ``backend="onnxruntime"``; frames must already be padded to :attr:`size_multiple` (the estimator does so).

``onnxruntime`` is an optional dependency (``pip install '.[onnx]'``), imported when a network is built.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from bundle.amplitude import scale_by_mean_abs
from bundle.errors import ElastographyInputError
from bundle.networks.onnx_export import MANIFEST, file_sha256

__all__ = ["OnnxRuntimeNetwork"]


def _session(path: Path, threads: int | None):
    try:
        import onnxruntime
    except ImportError:
        raise ImportError(
            "backend 'onnxruntime' needs the onnxruntime package: pip install '.[onnx]' (or onnxruntime)"
        ) from None
    if not path.is_file():
        raise ElastographyInputError("ONNX graph not found (make it with scripts/export_onnx.py)", path)
    options = onnxruntime.SessionOptions()
    if threads:
        options.intra_op_num_threads = int(threads)
    try:
        return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as err:  # ORT raises its own Fail/InvalidProtobuf types
        raise ElastographyInputError(f"not a loadable ONNX graph ({type(err).__name__}: {err})", path) from None


class OnnxRuntimeNetwork:
    """``forward_sequence((B, 1 + T, H, W)) -> (B, T, 2, H, W)`` displacement in pixels, on ONNX Runtime's CPU.

    Args:
        folder: the export (``manifest.json``, ``encoder.onnx``, ``step.onnx``, ``refiner.onnx``).
        stages: 2 = both stages (the export must hold the refiner), 1 = stage one only.
        checkpoint: when given, it must exist and its SHA-256 equal the one the export was made from, so that the
            graphs and the configured weights cannot silently differ.
        threads: ONNX Runtime's intra-op threads (None: its default, one per core).
    """

    def __init__(
        self, folder: str | Path, stages: int = 2, checkpoint: str | Path | None = None, threads: int | None = None
    ):
        self.folder = Path(folder)
        manifest_path = self.folder / MANIFEST
        if not manifest_path.is_file():
            raise ElastographyInputError(
                "no ONNX export here: manifest.json missing (scripts/export_onnx.py)", self.folder
            )
        try:
            manifest = json.loads(manifest_path.read_text())
            self.size_multiple = [int(v) for v in manifest["size_multiple"]]
            self.min_size = [int(v) for v in manifest["min_size"]]
            exported_stages = int(manifest["stages"])
            self.opset = int(manifest["opset"])
        except (ValueError, KeyError, TypeError) as err:
            problem = f"damaged ONNX manifest ({type(err).__name__}: {err})"
            raise ElastographyInputError(problem, manifest_path) from None
        if stages not in (1, 2):
            raise ValueError(f"stages must be 1 or 2, got {stages}")
        if stages > exported_stages:
            raise ElastographyInputError(
                f"export holds stage one only, {stages} stages asked (export a MUSSENet)", self.folder
            )
        if checkpoint is not None:
            expected = manifest.get("checkpoint_sha256")
            if not Path(checkpoint).is_file():  # the weights the export must match cannot be checked
                raise ElastographyInputError("checkpoint not found", checkpoint)
            if expected and file_sha256(checkpoint) != expected:
                raise ElastographyInputError(
                    f"was exported from other weights than {checkpoint} (checkpoint SHA-256 differs): "
                    "run scripts/export_onnx.py again",
                    self.folder,
                )
        self.stages = int(stages)
        self.manifest = manifest
        self.encoder = _session(self.folder / "encoder.onnx", threads)
        self.step = _session(self.folder / "step.onnx", threads)
        self.refiner = _session(self.folder / "refiner.onnx", threads) if self.stages == 2 else None
        self.state_names = [i.name for i in self.step.get_inputs() if i.name.startswith("state_")]

    def _check(self, frames: torch.Tensor) -> None:
        if frames.dim() != 4 or frames.shape[1] < 2:
            raise ValueError(f"expected (B, 1 + T, H, W) frames with T >= 1, got shape {list(frames.shape)}")
        h, w = frames.shape[-2], frames.shape[-1]
        if h % self.size_multiple[0] or w % self.size_multiple[1]:
            raise ValueError(f"frames of {h} x {w} are not padded to a multiple of {self.size_multiple}")
        if h < self.min_size[0] or w < self.min_size[1]:
            raise ValueError(f"frames of {h} x {w} are smaller than the export's minimum {self.min_size}")

    def forward_sequence(self, frames: torch.Tensor) -> torch.Tensor:
        self._check(frames)
        frames = frames.detach().float().cpu()
        normalised = scale_by_mean_abs(frames, frames[:, :1], eps=1e-30).numpy()
        b, n, h, w = normalised.shape
        pre = np.ascontiguousarray(normalised[:, :1])
        features = self.encoder.run(None, {"pre": pre})
        feed = {"pre": pre, **{f"pre_feature_{i}": f for i, f in enumerate(features)}}
        # zero decoder states, one per decoder level (coarsest first), each the size of its encoder level
        channels = {i.name: i.shape[1] for i in self.step.get_inputs()}
        levels = len(features)
        for i, name in enumerate(self.state_names):
            like = features[levels - 2 - i]
            feed[name] = np.zeros((b, channels[name], like.shape[2], like.shape[3]), dtype=np.float32)
        outputs = []
        for t in range(1, n):
            feed["post"] = np.ascontiguousarray(normalised[:, t : t + 1])
            displacement, *states = self.step.run(None, feed)
            feed.update(zip(self.state_names, states, strict=True))
            outputs.append(displacement)
        u1 = np.stack(outputs, axis=1)  # (B, T, 2, H, W)
        if self.refiner is None:
            return torch.from_numpy(u1)
        t = n - 1
        pre_all = np.ascontiguousarray(np.broadcast_to(pre, (b, t, h, w)).reshape(b * t, 1, h, w))
        post_all = np.ascontiguousarray(normalised[:, 1:].reshape(b * t, 1, h, w))
        (refined,) = self.refiner.run(None, {"pre": pre_all, "post": post_all, "u1": u1.reshape(b * t, 2, h, w)})
        return torch.from_numpy(refined.reshape(b, t, 2, h, w))
