"""Residual refinement (stage two of MUSSE-Net): correct a displacement estimate from what is left to match.

Two refiners share one call, ``refine(pre, post, u1) -> u`` (``(B, 1, H, W)`` normalised RF, ``(B, 2, H, W)``
pixels):

- :class:`IterativeRefiner` (the default since issue 14): RAFT-style. Siamese features at full resolution; at
  every iteration the post features are warped by the current estimate and a **local correlation** (cost volume)
  with the pre features is looked up at full resolution, aggregated over a small window, and fed with the
  current strain to a ConvGRU whose update head adds a residual. The same weights serve every iteration.
- :class:`ResidualRefiner` (v0.5): one pass, warps the post frame by stage one and predicts one residual.

ResidualRefiner inputs, all ``(B, ., H, W)`` on the pre frame's grid:

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

from bundle.networks.caf import ConvGRU, LocalCrossAttention
from bundle.networks.layers import ConvBlock, lsq_strain, warp

__all__ = ["IterativeRefiner", "ResidualRefiner", "local_correlation"]


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
        self.size_multiple = [self.multiple, self.multiple]  # no padding inside for frames of this multiple

    def refine(self, pre: torch.Tensor, post: torch.Tensor, u1: torch.Tensor, strain_half_length: int) -> torch.Tensor:
        """One residual on top of ``u1``: ``u1 + forward(pre, warp(post, u1), u1, strain(u1))``."""
        half = max(1, min(strain_half_length, u1.shape[-2] - 2))
        return u1 + self.forward(pre, warp(post, u1), u1, lsq_strain(u1[:, :1], half))

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


def local_correlation(pre: torch.Tensor, post: torch.Tensor, radius: list[int]) -> torch.Tensor:
    """Cost volume ``(B, K, H, W)``: channel mean of ``pre * post`` shifted by each of the K = (2 r_z + 1)(2 r_x + 1)
    offsets ``(dz, dx)``, dz outer; ``post`` is edge-replicated outside the frame. Both ``(B, C, H, W)``."""
    rz, rx = int(radius[0]), int(radius[1])
    h, w = pre.shape[-2], pre.shape[-1]
    padded = F.pad(post, [rx, rx, rz, rz], mode="replicate")
    costs: list[torch.Tensor] = []
    for dz in range(-rz, rz + 1):
        for dx in range(-rx, rx + 1):
            costs.append((pre * padded[:, :, rz + dz : rz + dz + h, rx + dx : rx + dx + w]).mean(dim=1))
    return torch.stack(costs, dim=1)


class IterativeRefiner(nn.Module):
    """RAFT-style residual refinement with a full-resolution correlation lookup and shared update weights.

    Per iteration ``k`` (same weights each time), with ``u_0`` = stage one's displacement::

        cost_k  = local_correlation(f(pre), warp(f(post), u_k), radius)      full resolution, unit-norm features
        motion  = conv([avgpool(cost_k), avgpool(strain(u_k)) x 100])        on the update grid (H / s_z, W / s_x)
        h_k+1   = ConvGRU([motion, context(pre)], h_k)                       h_0 from the pre frame's context
        u_k+1   = u_k + upsample(head(h_k+1))                                 residual in full-resolution pixels

    The average pooling of the cost volume is a matching window (as block matching sums over its kernel), so the
    sub-sample shape of the correlation peak survives the coarser update grid, which keeps the GRU cheap. The
    head starts at zero, so before training the refiner returns stage one unchanged.

    Args:
        feature_channels: width of the siamese full-resolution features.
        hidden_channels: ConvGRU state width (the context path has the same width).
        radius: (axial, lateral) correlation radius in full-resolution pixels.
        iterations: update steps (shared weights).
        update_stride: (axial, lateral) pooling from the full grid to the update grid.
    """

    def __init__(
        self,
        feature_channels: int = 12,
        hidden_channels: int = 24,
        radius: tuple[int, int] = (4, 1),
        iterations: int = 3,
        update_stride: tuple[int, int] = (2, 2),
    ):
        super().__init__()
        if iterations < 1:
            raise ValueError(f"iterations must be >= 1, got {iterations}")
        self.radius = [int(radius[0]), int(radius[1])]
        self.iterations = int(iterations)
        self.stride = [int(update_stride[0]), int(update_stride[1])]
        self.size_multiple = list(self.stride)  # the update grid is exact for frames of this multiple
        num_offsets = (2 * self.radius[0] + 1) * (2 * self.radius[1] + 1)
        hc = int(hidden_channels)
        self.features = ConvBlock(1, feature_channels, kernel=(7, 3))
        self.context = ConvBlock(1, 2 * hc, kernel=(7, 3), stride=tuple(self.stride))
        self.motion = nn.Sequential(nn.Conv2d(num_offsets + 1, hc, 3, padding=1), nn.LeakyReLU(0.1))
        self.gru = ConvGRU(2 * hc, hc)
        self.head = nn.Sequential(nn.Conv2d(hc, hc, 3, padding=1), nn.LeakyReLU(0.1), nn.Conv2d(hc, 2, 3, padding=1))
        nn.init.zeros_(self.head[-1].weight)
        nn.init.zeros_(self.head[-1].bias)

    def refine(self, pre: torch.Tensor, post: torch.Tensor, u1: torch.Tensor, strain_half_length: int) -> torch.Tensor:
        """``(N, 1, H, W)`` pre and post (normalised RF), ``u1 (N, 2, H, W)`` pixels -> refined ``(N, 2, H, W)``."""
        return self.iterate(pre, post, u1, strain_half_length)[-1]

    def iterate(
        self, pre: torch.Tensor, post: torch.Tensor, u1: torch.Tensor, strain_half_length: int
    ) -> list[torch.Tensor]:
        """Every iterate ``[u_1, ..., u_n]`` (for a loss on each, as RAFT's sequence loss)."""
        h, w = pre.shape[-2], pre.shape[-1]
        size = [max(1, -(-h // self.stride[0])), max(1, -(-w // self.stride[1]))]
        half = max(1, min(strain_half_length, h - 2))
        pre_f = F.normalize(self.features(pre), dim=1)
        post_f = F.normalize(self.features(post), dim=1)
        context = self.context(pre)
        if context.shape[-2:] != torch.Size(size):
            context = F.interpolate(context, size=size, mode="bilinear", align_corners=False)
        state, context = context.chunk(2, dim=1)
        state = torch.tanh(state)
        u = u1
        iterates: list[torch.Tensor] = []
        for _ in range(self.iterations):
            cost = local_correlation(pre_f, warp(post_f, u), self.radius)
            strain = lsq_strain(u[:, :1], half) * 100.0  # ~1 % strain -> order one
            motion = self.motion(F.adaptive_avg_pool2d(torch.cat((cost, strain), dim=1), size))
            state = self.gru(torch.cat((motion, context), dim=1), state)
            delta = F.interpolate(self.head(state), size=[h, w], mode="bilinear", align_corners=False)
            u = u + delta
            iterates.append(u)
        return iterates
