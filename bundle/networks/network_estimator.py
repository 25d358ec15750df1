"""The network behind the common estimator interface: RF frames + acquisition -> displacement in mm.

Networks work in pixels (axial samples, lateral lines); this wrapper feeds them the pre frame and all post
frames as one sequence, converts the output to mm with the acquisition record, and loads weights safely
(``torch.load(weights_only=True)``; a checkpoint of another architecture is refused with the names that differ).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from bundle.acquisition import Acquisition
from bundle.canonical_grid import CanonicalGrid
from bundle.errors import ElastographyInputError
from bundle.estimator import DisplacementEstimator, register_estimator
from bundle.networks.musse_net import MUSSENet
from bundle.networks.onnx_runtime import OnnxRuntimeNetwork
from bundle.networks.usse_net import USSENet

__all__ = [
    "BACKENDS",
    "PRECISIONS",
    "MUSSENetEstimator",
    "NetworkEstimator",
    "USSENetEstimator",
    "load_weights",
    "pad_to_multiple",
    "pick_device",
]

BACKENDS = ("pytorch", "onnxruntime")
#: precision -> autocast dtype of the network pass (None: plain float32)
PRECISIONS = {"float32": None, "float16": torch.float16, "bfloat16": torch.bfloat16}


def pad_to_multiple(frames: np.ndarray, multiple) -> np.ndarray:
    """Frames ``(N, H, W)`` as contiguous float32, edge rows and lines repeated at the bottom and right up to the
    next multiple of ``multiple`` = (rows, lines): what a network's strides divide exactly (``size_multiple``)."""
    h, w = frames.shape[-2:]
    pad = ((0, 0), (0, -h % int(multiple[0])), (0, -w % int(multiple[1])))
    return np.ascontiguousarray(np.pad(np.asarray(frames, dtype=np.float32), pad, mode="edge"))


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """``None`` -> CUDA when present, else CPU."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def load_weights(network: nn.Module, checkpoint: str | Path, key: str = "network", prefix: str = "") -> nn.Module:
    """Load a state dict (or a dict holding one under ``key``, as MONAI's CheckpointSaver writes) into ``network``.

    ``prefix`` takes the entries under that name only, with the prefix removed: ``"stage_one."`` loads the
    USSE-Net inside a MUSSE-Net checkpoint into a bare :class:`USSENet`.
    """
    path = Path(checkpoint)
    if not path.is_file():
        raise ElastographyInputError("checkpoint not found", path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # pickle errors, truncated zip, foreign objects refused by weights_only
        detail = f"{type(err).__name__}: {err}".rstrip(": ")
        raise ElastographyInputError(f"not a PyTorch checkpoint, or a damaged one ({detail})", path) from None
    if isinstance(state, dict) and key in state and isinstance(state[key], dict):
        state = state[key]
    if not isinstance(state, dict):
        raise ElastographyInputError("checkpoint holds no state dict", path)
    if prefix:
        state = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
        if not state:
            raise ElastographyInputError(f"checkpoint has no entries under '{prefix}'", path)
    own = network.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    mismatched = sorted(k for k in set(own) & set(state) if tuple(own[k].shape) != tuple(state[k].shape))
    if missing or unexpected or mismatched:
        stage_one = getattr(network, "stage_one", None)
        stage_one_shapes = {} if stage_one is None else {k: tuple(v.shape) for k, v in stage_one.state_dict().items()}
        if not prefix and stage_one_shapes and stage_one_shapes == {k: tuple(v.shape) for k, v in state.items()}:
            raise ElastographyInputError(
                "holds stage one (USSE-Net) weights only, not both MUSSE-Net stages: run stage one alone with "
                "scripts/infer.py --stage-one (python -m monai.bundle: --network_def @stage_one_def --stages 1)",
                path,
            )
        detail = "; ".join(
            f"{label}: {', '.join(names[:4])}{' ...' if len(names) > 4 else ''}"
            for label, names in (("missing", missing), ("unexpected", unexpected), ("shape differs", mismatched))
            if names
        )
        raise ElastographyInputError(
            f"checkpoint is for another architecture than {type(network).__name__} ({detail})", path
        )
    network.load_state_dict(state)
    return network


class NetworkEstimator(DisplacementEstimator):
    """Displacement from a trained network (the generic estimator that configs build with their network; the
    registered ones are :class:`USSENetEstimator` and :class:`MUSSENetEstimator`).

    Args:
        checkpoint: weights file (``models/model.pt``); None keeps the network's current weights.
        network: the module (default :class:`USSENet` with default arguments); it must provide
            ``forward_sequence((B, 1 + T, H, W)) -> (B, T, 2, H, W)`` in pixels.
        device: ``"cuda"``, ``"cpu"`` or None (CUDA when present).
        strain_kernel_mm: least-squares strain kernel for :meth:`strain`.
        checkpoint_prefix: load only the checkpoint's entries under this name (see :func:`load_weights`); the
            default takes stage one out of the bundle's MUSSE-Net weights.
        instance_optimization: optional test-time refinement of the network's displacement, called as
            ``f(frames (B, 1 + T, H, W), displacement_px (B, T, 2, H, W)) -> displacement_px``
            (:class:`bundle.instance_optimization.InstanceOptimization`).
        name: what reports, summaries and DICOM call this estimator (default: its registry name).
        canonical_grid: the grid the network sees (default :class:`CanonicalGrid()`: 8 samples per period, a line
            per wavelength): the RF is resampled to it from the acquisition record, whatever the probe, and the
            displacement mapped back to the input's grid in mm (:mod:`bundle.canonical_grid`). None feeds the
            network the input's own grid (for weights trained that way).
        backend: ``"pytorch"`` (default) or ``"onnxruntime"``: the graphs exported from the same checkpoint
            (``onnx_dir``, made by ``scripts/export_onnx.py``) on ONNX Runtime's CPU provider
            (:class:`~bundle.networks.onnx_runtime.OnnxRuntimeNetwork`). ``network`` then only says how many
            stages run; the export must come from ``checkpoint`` (SHA-256 checked); no instance optimisation.
        onnx_dir: the ONNX export for ``backend="onnxruntime"``.
        precision: ``"float32"`` (default), or ``"float16"``/``"bfloat16"``: the network pass under
            ``torch.autocast`` (AMP), the GPU speed path (backend ``pytorch`` only). float16 is the one meant for
            CUDA (its agreement with CPU float32 is tested there, tests/networks/test_cuda.py); bfloat16 moves the
            displacement by up to 0.3 px (docs/benchmarks.md).

    Frames are padded (edge samples repeated) to the network's ``size_multiple`` before it sees them and the
    displacement cropped back, for both backends alike, so that they compute the same thing.
    """

    #: what an instance built without ``name`` is called in reports (the name it had as the registered usse-net)
    name = "usse-net"

    def __init__(
        self,
        checkpoint: str | Path | None = "models/model.pt",
        network: nn.Module | None = None,
        device: str | None = None,
        strain_kernel_mm: float = 2.5,
        checkpoint_prefix: str = "stage_one.",
        instance_optimization: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
        name: str | None = None,
        canonical_grid: CanonicalGrid | None = CanonicalGrid(),  # noqa: B008 - frozen dataclass, immutable
        backend: str = "pytorch",
        onnx_dir: str | Path = "models/onnx",
        precision: str = "float32",
    ):
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        if precision != "float32" and backend != "pytorch":
            raise ValueError(f"precision {precision} is PyTorch's autocast: backend 'pytorch'")
        self.precision = precision
        if name:
            self.name = str(name)
        self.backend = backend
        network = network if network is not None else USSENet()
        if backend == "onnxruntime":
            if instance_optimization is not None:
                raise ValueError(
                    "instance optimisation needs PyTorch's gradients: backend 'pytorch', or instance_steps 0"
                )
            if getattr(network, "stage_one_passes", 1) != 1:
                raise ValueError("the ONNX export runs one stage-one pass: backend 'pytorch' for stage_one_passes > 1")
            self.device = torch.device("cpu")
            self.network = OnnxRuntimeNetwork(onnx_dir, stages=getattr(network, "stages", 1), checkpoint=checkpoint)
        else:
            self.device = pick_device(device)
            if checkpoint is not None:
                load_weights(network, checkpoint, prefix=checkpoint_prefix)
            self.network = network.to(self.device).eval()
        self.checkpoint = None if checkpoint is None else str(checkpoint)
        self.checkpoint_prefix = checkpoint_prefix
        self.strain_kernel_mm = float(strain_kernel_mm)
        self.instance_optimization = instance_optimization
        if canonical_grid is not None and not isinstance(canonical_grid, CanonicalGrid):
            raise ValueError(f"canonical_grid must be a CanonicalGrid or None, got {type(canonical_grid).__name__}")
        self.canonical_grid = canonical_grid

    def _estimate(self, pre: np.ndarray, posts: np.ndarray, acquisition: Acquisition) -> np.ndarray:
        frames = np.concatenate([pre[None], posts], axis=0)
        if self.canonical_grid is None:
            return self._network_mm(frames, acquisition)
        canonical, grid_acquisition = self.canonical_grid.to_canonical(frames, acquisition)
        displacement_mm = self._network_mm(canonical, grid_acquisition)
        return self.canonical_grid.from_canonical(displacement_mm, acquisition, pre.shape)

    def _network_mm(self, frames: np.ndarray, acquisition: Acquisition) -> np.ndarray:
        """Frames ``(1 + T, H, W)`` (frame 0 pre) -> displacement ``(T, 2, H, W)`` in mm on the same grid."""
        h, w = frames.shape[-2:]
        frames = pad_to_multiple(frames, getattr(self.network, "size_multiple", (1, 1)))
        frames = torch.from_numpy(frames[None]).to(self.device)
        dtype = PRECISIONS[self.precision]
        autocast = torch.autocast(self.device.type, dtype=dtype or torch.float32, enabled=dtype is not None)
        with torch.inference_mode(), autocast:
            displacement_px = self.network.forward_sequence(frames).float()[..., :h, :w]  # (1, T, 2, H, W)
        if self.instance_optimization is not None:  # on the frames as they came: no padded rows in its loss
            displacement_px = self.instance_optimization(frames[..., :h, :w], displacement_px)
        displacement_px = displacement_px[0].cpu().numpy()
        scale = np.array(acquisition.spacing_mm, dtype=np.float32).reshape(1, 2, 1, 1)
        return displacement_px * scale


@register_estimator("usse-net")
class USSENetEstimator(NetworkEstimator):
    """Stage one alone: :class:`NetworkEstimator` with a default :class:`USSENet` and the checkpoint's entries under
    ``stage_one.`` (``checkpoint_prefix``: the USSE-Net inside the bundle's MUSSE-Net weights); the other
    arguments are the parent's."""

    def __init__(self, checkpoint: str | Path | None = "models/model.pt", network: nn.Module | None = None, **kwargs):
        kwargs.setdefault("checkpoint_prefix", "stage_one.")
        super().__init__(checkpoint, network if network is not None else USSENet(), **kwargs)


@register_estimator("musse-net")
class MUSSENetEstimator(NetworkEstimator):
    """Both stages of MUSSE-Net: :class:`NetworkEstimator` with a default :class:`MUSSENet` and the whole
    checkpoint (``checkpoint_prefix=""``); the other arguments are the parent's."""

    def __init__(self, checkpoint: str | Path | None = "models/model.pt", network: nn.Module | None = None, **kwargs):
        kwargs.setdefault("checkpoint_prefix", "")
        super().__init__(checkpoint, network if network is not None else MUSSENet(), **kwargs)
