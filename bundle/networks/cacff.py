"""Context-Aware Complementary Feature Fusion (CACFF): joins the pre and post streams at one encoder stage.

Each stream keeps its own (siamese) features for matching; CACFF builds the *fused* feature of the stage from
both: the two features and their absolute difference pass through dilated convolutions (axial dilation 1, 2,
4: context from a receptive field several speckle cells tall), and that context gates how much of each
stream's complementary information enters the fused feature. The fused features feed the bottleneck and, as
context skips, the decoder. Matching itself uses the unfused stream features, because mixing pre content into
the post stream would make the zero lag look like a match.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["CACFF"]


class CACFF(nn.Module):
    """``(pre, post)``, each ``(B, C, H, W)`` -> fused ``(B, C, H, W)``."""

    def __init__(self, channels: int):
        super().__init__()
        groups = max(1, channels // 8)
        layers = [nn.Conv2d(3 * channels, channels, 1)]
        for dilation in (1, 2, 4):
            layers += [
                nn.Conv2d(channels, channels, (3, 3), padding=(dilation, 1), dilation=(dilation, 1)),
                nn.GroupNorm(groups, channels),
                nn.LeakyReLU(0.1),
            ]
        self.context = nn.Sequential(*layers)
        self.gate_pre = nn.Conv2d(channels, channels, 1)
        self.gate_post = nn.Conv2d(channels, channels, 1)
        self.project_pre = nn.Conv2d(channels, channels, 1)
        self.project_post = nn.Conv2d(channels, channels, 1)
        self.out = nn.Conv2d(2 * channels, channels, 1)

    def forward(self, pre: torch.Tensor, post: torch.Tensor) -> torch.Tensor:
        context = self.context(torch.cat((pre, post, torch.abs(pre - post)), dim=1))
        from_post = torch.sigmoid(self.gate_pre(context)) * self.project_post(post)
        from_pre = torch.sigmoid(self.gate_post(context)) * self.project_pre(pre)
        return self.out(torch.cat((pre + from_post, post + from_pre), dim=1)) + context
