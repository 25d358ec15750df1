"""Tri-Cross Attention (TCA) bottleneck: global axial matching at the coarsest scale.

Three attentions along the axial axis of every lateral column of the bottleneck (``H / 8`` rows):

1. pre -> post: each pre position attends to post positions within +-``band`` rows; the attention-weighted
   mean of the relative positions is a soft-argmax **axial displacement** (bottleneck rows), the weights'
   peak is its confidence. This gives the network its capture range (``band`` x 8 samples, e.g. +-160 samples
   = +-3 mm at 40 MHz) without any hand-made pre-alignment.
2. post -> pre: the reverse correspondence (in post coordinates), a consistency cue.
3. fused -> fused: context along the column from the CACFF fused features (e.g. the strain trend with depth).

Output: a bottleneck feature ``(B, C, h, w)`` and a coarse displacement ``(B, 2, h, w)`` in bottleneck pixels
(axial from the soft-argmax plus a learnt correction, lateral learnt).
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["AxialCrossAttention", "TriCrossAttention"]


class AxialCrossAttention(nn.Module):
    """Banded attention along dim 2 (axial) of each column; ``query (B, C, h, w)``, ``key_value (B, C, h, w)``.

    Returns ``(attended (B, C, h, w), offset (B, 1, h, w), confidence (B, 1, h, w))``: offset is the
    attention-weighted mean of ``key row - query row``, confidence the largest attention weight.
    """

    def __init__(self, channels: int, dim: int, band: int):
        super().__init__()
        self.band = int(band)
        self.dim = int(dim)
        self.q = nn.Conv2d(channels, dim, 1)
        self.k = nn.Conv2d(channels, dim, 1)
        self.v = nn.Conv2d(channels, channels, 1)
        self.log_temperature = nn.Parameter(torch.zeros(1))

    def forward(self, query: torch.Tensor, key_value: torch.Tensor):
        b, c, h, w = query.shape
        q = self.q(query).permute(0, 3, 2, 1)  # (B, w, h, d)
        k = self.k(key_value).permute(0, 3, 1, 2)  # (B, w, d, h)
        v = self.v(key_value).permute(0, 3, 2, 1)  # (B, w, h, C)
        logits = torch.matmul(q, k) * (torch.exp(self.log_temperature) / math.sqrt(self.dim))  # (B, w, h, h)
        rows = torch.arange(h, device=query.device, dtype=query.dtype)
        relative = rows.view(1, h) - rows.view(h, 1)  # key row - query row
        logits = logits.masked_fill(relative.abs() > self.band, -1e4)
        weights = torch.softmax(logits, dim=-1)
        attended = torch.matmul(weights, v).permute(0, 3, 2, 1)  # (B, C, h, w)
        offset = (weights * relative).sum(dim=-1).permute(0, 2, 1).unsqueeze(1)  # (B, 1, h, w)
        confidence = weights.amax(dim=-1).permute(0, 2, 1).unsqueeze(1)
        return attended, offset, confidence


class TriCrossAttention(nn.Module):
    """``(pre, post, fused)`` each ``(B, C, h, w)`` -> ``(feature (B, C, h, w), displacement (B, 2, h, w))``."""

    def __init__(self, channels: int, dim: int = 32, band: int = 20):
        super().__init__()
        self.pre_to_post = AxialCrossAttention(channels, dim, band)
        self.post_to_pre = AxialCrossAttention(channels, dim, band)
        self.fused_context = AxialCrossAttention(channels, dim, band)
        groups = max(1, channels // 8)
        self.mix = nn.Sequential(
            nn.Conv2d(4 * channels + 3, channels, 3, padding=1),
            nn.GroupNorm(groups, channels),
            nn.LeakyReLU(0.1),
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.LeakyReLU(0.1),
        )
        self.head = nn.Conv2d(channels, 2, 3, padding=1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, pre: torch.Tensor, post: torch.Tensor, fused: torch.Tensor):
        aligned_post, offset, confidence = self.pre_to_post(pre, post)
        aligned_pre, back_offset, _ = self.post_to_pre(post, pre)
        context, _, _ = self.fused_context(fused, fused)
        cues = (pre, aligned_post, aligned_pre, context, offset, back_offset, confidence)
        feature = self.mix(torch.cat(cues, dim=1))
        correction = self.head(feature)
        displacement = torch.cat((offset, torch.zeros_like(offset)), dim=1) + correction
        return feature, displacement
