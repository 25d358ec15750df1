"""MUSSE-Net: USSE-Net (stage one) followed by residual refinement (stage two).

``u = refiner.refine(pre, post, u1)`` where ``u1`` is stage one's displacement: by default the RAFT-style
:class:`~bundle.networks.refine.IterativeRefiner` (full-resolution correlation lookup of the post frame warped by
the current estimate, shared-weight ConvGRU updates); :class:`~bundle.networks.refine.ResidualRefiner` is v0.5's
one-pass residual. Displacement in pixels (channel 0 axial samples, channel 1 lateral lines).

- ``forward((B, 2, H, W)) -> (B, 2, H, W)``: the one-tensor form of the bundle's ``network_def``.
- ``forward_sequence((B, 1 + T, H, W)) -> (B, T, 2, H, W)``: stage one carries its recurrent state over the
  post frames; the refiner corrects every level on its own.
- ``stages=1`` runs stage one only (same weights file); ``freeze_stage_one=True`` turns ``requires_grad`` off on
  stage one's parameters (no graph is recorded through it, the optimiser skips it): stage-two training.
- ``stage_one_passes=n`` applies stage one n times, each pass on the post frame warped by the estimate so far
  (``u <- r + u(x + r)``, as the prior is composed inside USSE-Net): an untrained alternative to the refiner
  that the ablation measures (docs/benchmarks.md).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from bundle.amplitude import scale_by_mean_abs
from bundle.networks.layers import lsq_strain, warp
from bundle.networks.refine import IterativeRefiner, ResidualRefiner
from bundle.networks.usse_net import USSENet

__all__ = ["MUSSENet"]


class MUSSENet(nn.Module):
    """Two-stage network.

    Args:
        stage_one: the USSE-Net (default arguments if None).
        refiner: stage two, :class:`IterativeRefiner` (default arguments if None) or :class:`ResidualRefiner`.
        stages: 2 = both (default), 1 = stage one only.
        freeze_stage_one: no gradients through stage one (train the refiner alone).
        strain_half_length: LSQ half length (samples) of the stage-one strain given to the refiner and of
            :meth:`strain`.
        stage_one_passes: how many times stage one is applied (>= 1); see the module docstring.
    """

    def __init__(
        self,
        stage_one: USSENet | None = None,
        refiner: ResidualRefiner | IterativeRefiner | None = None,
        stages: int = 2,
        freeze_stage_one: bool = False,
        strain_half_length: int = 32,
        stage_one_passes: int = 1,
    ):
        super().__init__()
        if stages not in (1, 2):
            raise ValueError(f"stages must be 1 or 2, got {stages}")
        if not isinstance(freeze_stage_one, bool):
            # a string would be truthy: "--freeze_stage_one false" on the command line once froze stage one
            raise ValueError(
                f"freeze_stage_one must be True or False, got {freeze_stage_one!r} (on the command line: False, True)"
            )
        self.stage_one = stage_one if stage_one is not None else USSENet()
        self.refiner = refiner if refiner is not None else IterativeRefiner()
        self.stages = int(stages)
        self.freeze_stage_one = bool(freeze_stage_one)
        self.strain_half_length = int(strain_half_length)
        if stage_one_passes < 1:
            raise ValueError(f"stage_one_passes must be >= 1, got {stage_one_passes}")
        self.stage_one_passes = int(stage_one_passes)
        self.min_size = self.stage_one.min_size
        pairs = zip(self.stage_one.size_multiple, self.refiner.size_multiple, strict=True)
        self.size_multiple = [math.lcm(int(a), int(b)) for a, b in pairs]  # frames of this size need no padding
        if self.freeze_stage_one:
            for p in self.stage_one.parameters():
                p.requires_grad_(False)

    def _refine(self, pre: torch.Tensor, post: torch.Tensor, u1: torch.Tensor) -> torch.Tensor:
        """``pre``/``post`` ``(N, 1, H, W)`` normalised RF, ``u1`` ``(N, 2, H, W)`` -> refined ``(N, 2, H, W)``."""
        return self.refiner.refine(pre, post, u1, self.strain_half_length)

    def _more_passes(self, pre: torch.Tensor, post: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """Passes 2..n of stage one on ``(N, 1, H, W)`` frames from the estimate ``u`` ``(N, 2, H, W)``."""
        for _ in range(self.stage_one_passes - 1):
            r = self.stage_one(torch.cat((pre, warp(post, u)), dim=1))
            u = r + warp(u, r)
        return u

    def _stage_one_pair(self, x: torch.Tensor) -> torch.Tensor:
        return self._more_passes(x[:, :1], x[:, 1:2], self.stage_one(x))

    def _stage_one_sequence(self, frames: torch.Tensor) -> torch.Tensor:
        # a frozen stage one records no graph: its parameters do not require gradients and neither do the frames
        u = self.stage_one.forward_sequence(frames)
        if self.stage_one_passes == 1:
            return u
        b, t, _, h, w = u.shape
        pre = frames[:, :1].expand(b, t, h, w).reshape(b * t, 1, h, w)
        post = frames[:, 1:].reshape(b * t, 1, h, w)
        return self._more_passes(pre, post, u.reshape(b * t, 2, h, w)).reshape(b, t, 2, h, w)

    def forward(self, x: torch.Tensor, sequence: bool = False) -> torch.Tensor:
        """``(B, 2, H, W)`` (pre, post) RF -> ``(B, 2, H, W)`` displacement in pixels; ``sequence=True``:
        :meth:`forward_sequence` (the way in for DistributedDataParallel, as in :meth:`USSENet.forward`)."""
        if sequence:
            return self.forward_sequence(x)
        u1 = self._stage_one_pair(x)
        if self.stages == 1:
            return u1
        x = scale_by_mean_abs(x, x[:, :1], eps=1e-30)
        return self._refine(x[:, :1], x[:, 1:2], u1)

    @torch.jit.export
    def forward_sequence(self, frames: torch.Tensor) -> torch.Tensor:
        """``(B, 1 + T, H, W)`` (pre, post_1..post_T) -> ``(B, T, 2, H, W)`` displacement in pixels."""
        u1 = self._stage_one_sequence(frames)
        if self.stages == 1:
            return u1
        b, t, _, h, w = u1.shape
        frames = scale_by_mean_abs(frames, frames[:, :1], eps=1e-30)
        pre = frames[:, :1].expand(b, t, h, w).reshape(b * t, 1, h, w)
        post = frames[:, 1:].reshape(b * t, 1, h, w)
        return self._refine(pre, post, u1.reshape(b * t, 2, h, w)).reshape(b, t, 2, h, w)

    @torch.jit.export
    def strain(self, displacement_px: torch.Tensor) -> torch.Tensor:
        """Axial strain ``(B, 1, H, W)`` (fraction) of ``(B, 2, H, W)`` displacement, by least squares."""
        return lsq_strain(displacement_px[:, :1], self.strain_half_length)
