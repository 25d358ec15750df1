"""Instance optimisation: a network's displacement refined at test time on the unsupervised training loss.

A one-shot network stops short of the optimum of the loss it was trained on (docs/benchmarks.md, "Where the
lost lesion contrast comes from": a free field optimised on the same loss reaches the true strain ratio, the
network does not). Starting from the network's estimate, a few Adam steps on the same loss *for this frame
pair* close most of that gap: the network supplies the large, hard-to-find part (tens of samples of
compression, no local minimum), the optimisation the last fraction of a sample. No ground truth is involved, so
this is as unsupervised as training; it costs ``steps`` forward/backward passes of the loss per frame pair.

Shapes: ``frames`` ``(B, 1 + T, H, W)`` (pre, post_1..post_T) RF; displacement ``(B, T, 2, H, W)`` in pixels
(axial samples, lateral lines), on the pre-frame grid.
"""

from __future__ import annotations

import torch
from torch import nn

from bundle.amplitude import scale_by_std

__all__ = ["InstanceOptimization"]


class InstanceOptimization:
    """Refine ``(B, T, 2, H, W)`` displacement (pixels) by ``steps`` Adam steps on ``loss``.

    Args:
        loss: the unsupervised loss, called as ``loss(pre (B, 1, H, W), posts (B, T, H, W), u (B, T, 2, H, W))``
            and returning a dict whose ``"loss"`` is minimised (e.g. the ``loss`` of ``configs/train.json``).
        steps: Adam steps (0 returns the displacement unchanged); 100 in ``configs/inference.json``.
        learning_rate: Adam step size in pixels (a step changes a pixel by at most about this; Adam's
            ``eps`` of 1e-8 shortens the steps a little where the per-pixel gradient of the mean loss is tiny).

    The frames are scaled by the pre frame's sample standard deviation first (:func:`bundle.amplitude.scale_by_std`),
    so the result does not depend on the RF's amplitude scale (:class:`bundle.estimator.DisplacementEstimator` has
    normalised them already; direct callers need not). The displacement of every post frame of every batch item
    is optimised at once; the loss is their mean, as in training, so each pixel's gradient is scaled by one over
    the number of frames.
    """

    def __init__(self, loss: nn.Module, steps: int = 100, learning_rate: float = 0.05):
        if steps < 0:
            raise ValueError(f"steps must be >= 0, got {steps}")
        if not learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {learning_rate}")
        self.loss = loss
        self.steps = int(steps)
        self.learning_rate = float(learning_rate)

    def __call__(self, frames: torch.Tensor, displacement_px: torch.Tensor) -> torch.Tensor:
        if frames.ndim != 4 or displacement_px.ndim != 5 or displacement_px.shape[2] != 2:
            raise ValueError(
                f"expected frames (B, 1 + T, H, W) and displacement (B, T, 2, H, W), got {tuple(frames.shape)} "
                f"and {tuple(displacement_px.shape)}"
            )
        b, n, h, w = frames.shape
        if displacement_px.shape != (b, n - 1, 2, h, w):
            raise ValueError(f"displacement {tuple(displacement_px.shape)} does not match frames {tuple(frames.shape)}")
        if self.steps == 0:
            return displacement_px
        # clones made outside inference mode are ordinary tensors, also when the inputs were made inside it
        with torch.inference_mode(False), torch.enable_grad():
            frames = frames.detach().float().clone()
            frames = scale_by_std(frames, frames[:, :1], correction=1)
            pre, posts = frames[:, :1], frames[:, 1:]
            u = displacement_px.detach().float().clone().requires_grad_(True)
            optimizer = torch.optim.Adam([u], lr=self.learning_rate)
            for _ in range(self.steps):
                optimizer.zero_grad(set_to_none=True)
                self.loss(pre, posts, u)["loss"].backward()
                optimizer.step()
        return u.detach().to(displacement_px.dtype)
