"""Residual refinement (stage two of MUSSE-Net): correct a displacement estimate from what is left to match.

Inputs, all ``(B, ., H, W)`` on the pre frame's grid:

- ``pre`` and ``warped`` (the post frame warped by the stage-one displacement), RF normalised by the pre frame's
  mean |RF|; where stage one is right the two agree sample by sample, so what remains is the residual motion;
- the stage-one displacement ``(B, 2, H, W)`` in pixels and its axial strain ``(B, 1, H, W)`` (fraction): the
  context of where stage one is likely wrong (lesion edges, strain jumps, the frame's ends).

Data flow::

    siamese ConvBlock(pre), ConvBlock(warped) -> LocalCrossAttention (radius r) -> attended, cost (K), offset (2)
    [features, attended, cost, offset, strain x 100, displacement / 100] -> full-res block -> two (2, 2) downsamplings
    with axially dilated context -> upsampling with skips -> zero-initialised head -> residual (B, 2, H, W)

The head starts at zero, so an untrained refiner returns stage one unchanged. Residual in pixels (axial
samples, lateral lines); capture range about +-r_z samples directly, more through the context path.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from bundle.networks.caf import LocalCrossAttention
from bundle.networks.layers import ConvBlock

__all__ = ["ResidualRefiner"]


class _Context(nn.Sequential):
    """Axially dilated convolutions (dilation 1, 2, 4): context several speckle cells tall at one scale."""

    def __init__(self, channels: int):
        groups = max(1, channels // 8)
        layers: list[nn.Module] = []
        for dilation in (1, 2, 4):
            layers += [
                nn.Conv2d(channels, channels, 3, padding=(dilation, 1), dilation=(dilation, 1)),
                nn.GroupNorm(groups, channels),
                nn.LeakyReLU(0.1),
            ]
        super().__init__(*layers)


class ResidualRefiner(nn.Module):
    """``(pre, warped, displacement_px, strain) -> residual displacement (B, 2, H, W)`` in pixels.

    Args:
        channels: widths at full resolution, after the first and after the second (2, 2) downsampling.
        attention_dim: query/key width of the local cross-attention.
        radius: (axial, lateral) radius of the local cross-attention at full resolution, in pixels.
    """

    def __init__(
        self, channels: tuple[int, int, int] = (12, 24, 32), attention_dim: int = 16, radius: tuple[int, int] = (3, 1)
    ):
        super().__init__()
        c0, c1, c2 = (int(c) for c in channels)
        self.features = ConvBlock(1, c0, kernel=(7, 3))
        self.attention = LocalCrossAttention(c0, attention_dim, radius)
        joined = 3 * c0 + self.attention.num_offsets + 2 + 1 + 2
        self.full = ConvBlock(joined, c0)
        self.down1 = nn.Sequential(ConvBlock(c0, c1, stride=(2, 2)), _Context(c1))
        self.down2 = nn.Sequential(ConvBlock(c1, c2, stride=(2, 2)), _Context(c2))
        self.up1 = ConvBlock(c2 + c1, c1)
        self.up0 = ConvBlock(c1 + c0, c0)
        self.head = nn.Conv2d(c0, 2, 3, padding=1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        self.multiple = 4

    def forward(
        self, pre: torch.Tensor, warped: torch.Tensor, displacement_px: torch.Tensor, strain: torch.Tensor
    ) -> torch.Tensor:
        h, w = pre.shape[-2], pre.shape[-1]
        ph, pw = (-h) % self.multiple, (-w) % self.multiple
        x = torch.cat((pre, warped, displacement_px, strain), dim=1)
        if ph or pw:
            x = F.pad(x, [0, pw, 0, ph], mode="replicate")
        pre_f = self.features(x[:, :1])
        warped_f = self.features(x[:, 1:2])
        attended, cost, offset = self.attention(pre_f, warped_f)
        # scales that bring the context to order one: strain of ~1 %, displacement of tens of samples
        context = torch.cat((x[:, 4:5] * 100.0, x[:, 2:4] * 0.01), dim=1)
        f0 = self.full(torch.cat((pre_f, warped_f, attended, cost, offset, context), dim=1))
        f1 = self.down1(f0)
        f2 = self.down2(f1)
        u1 = self.up1(torch.cat((F.interpolate(f2, size=f1.shape[-2:], mode="bilinear", align_corners=False), f1), 1))
        u0 = self.up0(torch.cat((F.interpolate(u1, size=f0.shape[-2:], mode="bilinear", align_corners=False), f0), 1))
        return self.head(u0)[:, :, :h, :w]
