"""Tri-Cross Attention (TCA) bottleneck: axial matching at the coarsest scale.

Three attentions along the axial axis at the bottleneck (``H / 8`` rows), each query attending to the
``2 band + 1`` rows around it in the same column (edges replicated, so every query has the same symmetric
support and the soft-argmax is not pulled inwards near the top and bottom of the frame):

1. pre -> post: the attention-weighted mean of the key offsets is a soft-argmax **axial displacement**
   (bottleneck rows) and the largest weight its confidence. With the global prior removing uniform
   compression first, ``band = 4`` (+-32 samples at the input) covers what lesions and shifts leave.
2. post -> pre: the reverse correspondence, a consistency cue.
3. fused -> fused: context along the column from the CACFF fused features.

Output: a bottleneck feature ``(B, C, h, w)`` and a coarse displacement ``(B, 2, h, w)`` in bottleneck pixels
(axial from the soft-argmax plus a learnt correction, lateral learnt).
"""

from __future__ import annotations

import torch
from torch import nn

from bundle.networks.caf import LocalCrossAttention

__all__ = ["TriCrossAttention"]


class TriCrossAttention(nn.Module):
    """``(pre, post, fused)`` each ``(B, C, h, w)`` -> ``(feature (B, C, h, w), displacement (B, 2, h, w))``."""

    def __init__(self, channels: int, dim: int = 16, band: int = 4):
        super().__init__()
        self.pre_to_post = LocalCrossAttention(channels, dim, (band, 0))
        self.post_to_pre = LocalCrossAttention(channels, dim, (band, 0))
        self.fused_context = LocalCrossAttention(channels, dim, (band, 0))
        k = self.pre_to_post.num_offsets
        groups = max(1, channels // 8)
        self.mix = nn.Sequential(
            nn.Conv2d(4 * channels + 3 * k + 3, channels, 3, padding=1),
            nn.GroupNorm(groups, channels),
            nn.LeakyReLU(0.1),
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.LeakyReLU(0.1),
        )
        self.head = nn.Conv2d(channels, 2, 3, padding=1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, pre: torch.Tensor, post: torch.Tensor, fused: torch.Tensor):
        aligned_post, cost, offset = self.pre_to_post(pre, post)
        aligned_pre, back_cost, back_offset = self.post_to_pre(post, pre)
        context, context_cost, _ = self.fused_context(fused, fused)
        confidence = torch.softmax(cost, dim=1).amax(dim=1, keepdim=True)
        cues = (pre, aligned_post, aligned_pre, context, cost, back_cost, context_cost, offset[:, :1],
                back_offset[:, :1], confidence)  # fmt: skip
        feature = self.mix(torch.cat(cues, dim=1))
        displacement = torch.cat((offset[:, :1], torch.zeros_like(offset[:, :1])), dim=1) + self.head(feature)
        return feature, displacement
