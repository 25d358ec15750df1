"""Cross-Attentive Fusion (CAF) decoder level: refine the displacement at one scale, carry a recurrent state.

At each level (coarse to fine):

1. the displacement of the coarser level is upsampled (values scaled by the stride) and the post stream's
   features are warped by it;
2. **local cross-attention**: every pre-feature position attends to the warped post features at the
   ``(2 r_z + 1) x (2 r_x + 1)`` neighbouring offsets; the weights' mean offset is a soft-argmax residual
   displacement and the logits are a correlation cost volume — this is where sub-sample precision comes
   from at full axial resolution;
3. the upsampled decoder feature, the stage's CACFF fused feature (context skip), the attended post feature,
   the cost volume and the residual offset are fused by a convolution and update a **ConvGRU** state, which
   carries over from one post frame of a sequence to the next (zero for a single pair);
4. a head turns the state into a residual displacement added to the upsampled one.

Shapes at a level of size ``(h, w)``: features ``(B, C, h, w)``, displacement ``(B, 2, h, w)`` in that
level's pixels (axial rows, lateral columns).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from bundle.networks.layers import warp

__all__ = ["ConvGRU", "LocalCrossAttention", "CAFLevel", "upsample_displacement"]


def upsample_displacement(displacement: torch.Tensor, size: list[int], stride: list[int]) -> torch.Tensor:
    """Bilinear upsampling of ``(B, 2, h, w)`` displacement to ``size``; values multiplied by the stride."""
    up = F.interpolate(displacement, size=size, mode="bilinear", align_corners=False)
    scale = torch.tensor([float(stride[0]), float(stride[1])], dtype=up.dtype, device=up.device).view(1, 2, 1, 1)
    return up * scale


def _shift(x: torch.Tensor, dz: int, dx: int) -> torch.Tensor:
    """``out[..., i, j] = x[..., i + dz, j + dx]`` with edge replication."""
    h, w = x.shape[-2], x.shape[-1]
    pz, px = abs(dz), abs(dx)
    padded = F.pad(x, [px, px, pz, pz], mode="replicate")
    return padded[:, :, pz + dz : pz + dz + h, px + dx : px + dx + w]


class LocalCrossAttention(nn.Module):
    """``query (B, C, h, w)``, ``key_value (B, C, h, w)`` -> ``(attended (B, C, h, w), cost (B, K, h, w),
    offset (B, 2, h, w))`` over the K = (2 r_z + 1)(2 r_x + 1) neighbouring offsets."""

    def __init__(self, channels: int, dim: int, radius: tuple[int, int]):
        super().__init__()
        self.rz, self.rx = int(radius[0]), int(radius[1])
        self.scale = float(dim) ** -0.5
        self.q = nn.Conv2d(channels, dim, 1)
        self.k = nn.Conv2d(channels, dim, 1)
        self.v = nn.Conv2d(channels, channels, 1)
        offsets = [(dz, dx) for dz in range(-self.rz, self.rz + 1) for dx in range(-self.rx, self.rx + 1)]
        self.offsets_z = [o[0] for o in offsets]
        self.offsets_x = [o[1] for o in offsets]
        self.register_buffer("offset_grid", torch.tensor(offsets, dtype=torch.float32).t().reshape(2, -1, 1, 1))

    @property
    def num_offsets(self) -> int:
        return len(self.offsets_z)

    def forward(self, query: torch.Tensor, key_value: torch.Tensor):
        q = self.q(query)
        k = self.k(key_value)
        v = self.v(key_value)
        logits = []
        for i in range(len(self.offsets_z)):
            logits.append((q * _shift(k, self.offsets_z[i], self.offsets_x[i])).sum(dim=1) * self.scale)
        cost = torch.stack(logits, dim=1)  # (B, K, h, w)
        weights = torch.softmax(cost, dim=1)
        attended = torch.zeros_like(v)
        for i in range(len(self.offsets_z)):
            attended = attended + weights[:, i : i + 1] * _shift(v, self.offsets_z[i], self.offsets_x[i])
        offset_z = (weights * self.offset_grid[0].view(1, -1, 1, 1)).sum(dim=1, keepdim=True)
        offset_x = (weights * self.offset_grid[1].view(1, -1, 1, 1)).sum(dim=1, keepdim=True)
        return attended, cost, torch.cat((offset_z, offset_x), dim=1)


class ConvGRU(nn.Module):
    """Convolutional GRU cell: ``(x (B, C_in, h, w), state (B, C, h, w)) -> state (B, C, h, w)``."""

    def __init__(self, in_channels: int, channels: int):
        super().__init__()
        self.gates = nn.Conv2d(in_channels + channels, 2 * channels, 3, padding=1)
        self.candidate = nn.Conv2d(in_channels + channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        update, reset = torch.sigmoid(self.gates(torch.cat((x, state), dim=1))).chunk(2, dim=1)
        candidate = torch.tanh(self.candidate(torch.cat((x, reset * state), dim=1)))
        return (1.0 - update) * state + update * candidate


class CAFLevel(nn.Module):
    """One decoder level; see the module docstring.

    Args:
        channels: feature channels at this level.
        coarser_channels: decoder-state channels of the coarser level.
        stride: (axial, lateral) factor between the coarser level and this one.
        radius: local attention radius (axial, lateral) in this level's pixels.
        dim: attention key/query width.
    """

    def __init__(
        self, channels: int, coarser_channels: int, stride: tuple[int, int], radius: tuple[int, int], dim: int
    ):
        super().__init__()
        self.stride = [int(stride[0]), int(stride[1])]
        self.channels = channels
        self.attention = LocalCrossAttention(channels, dim, radius)
        self.lift = nn.Conv2d(coarser_channels, channels, 1)
        fuse_in = 4 * channels + self.attention.num_offsets + 2
        groups = max(1, channels // 8)
        self.fuse = nn.Sequential(
            nn.Conv2d(fuse_in, channels, (5, 3), padding=(2, 1)),
            nn.GroupNorm(groups, channels),
            nn.LeakyReLU(0.1),
        )
        self.gru = ConvGRU(channels, channels)
        self.head = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1), nn.LeakyReLU(0.1), nn.Conv2d(channels, 2, 3, padding=1)
        )
        nn.init.zeros_(self.head[-1].weight)
        nn.init.zeros_(self.head[-1].bias)

    def forward(
        self,
        decoder: torch.Tensor,
        displacement: torch.Tensor,
        pre: torch.Tensor,
        post: torch.Tensor,
        fused: torch.Tensor,
        state: torch.Tensor,
    ):
        """``decoder``/``displacement`` from the coarser level; ``pre``/``post``/``fused`` and ``state`` at this
        level. Returns ``(new state (B, C, h, w), displacement (B, 2, h, w))``."""
        size = [pre.shape[-2], pre.shape[-1]]
        up = upsample_displacement(displacement, size, self.stride)
        lifted = self.lift(F.interpolate(decoder, size=size, mode="bilinear", align_corners=False))
        attended, cost, offset = self.attention(pre, warp(post, up))
        x = self.fuse(torch.cat((lifted, fused, pre, attended, cost, offset), dim=1))
        state = self.gru(x, state)
        return state, up + offset + self.head(state)
