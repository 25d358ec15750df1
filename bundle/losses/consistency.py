"""Consistency of the displacement over the deformation levels of one sequence (MUSSE-Net's consistency loss).

A sequence is one pre frame and T post frames at increasing compression. Every estimate ``u_k`` (pre ->
post_k) lives on the pre frame's pixel grid, so the strain maps of all levels are already motion compensated:
pixel x of every map is the same tissue point. Two terms:

- **composition**: ``u_k(x)`` must equal the chain ``u_j(x) + v_jk(x + u_j(x))`` through post_j, where ``v_jk``
  is the network's own estimate post_j -> post_k (``warp(v_jk, u_j)``); consecutive levels ``k = j + 1``.
  Mean squared difference in pixels over the in-frame pixels.
- **strain stability**: in a linear-elastic medium the strain at level k is the applied strain times a fixed
  pattern, ``e_k(x) = m_k p(x)`` with ``m_k`` the map's mean. The pattern is fitted per pixel by least squares
  over the levels (``p = sum_k m_k e_k / sum_k m_k^2``) and the term is the mean squared residual
  ``e_k - m_k p`` divided by the mean squared level ``mean_k m_k^2`` (dimensionless; 0 for perfectly
  proportional maps). Unlike dividing each map by its own mean (v0.5), a level with almost no compression
  (realistic sequences reach 0.1 %) weighs in with its strain, not with its noise divided by a near-zero mean;
  ``floor`` bounds the denominator when every level is that small.

Shapes: ``displacement_px (B, T, 2, H, W)`` (channel 0 axial samples, 1 lateral lines), ``chained_px
(B, T - 1, 2, H, W)`` with entry j the estimate post_j -> post_(j+1) on post_j's grid.
"""

from __future__ import annotations

import torch
from torch import nn

from bundle.losses.unsupervised import in_frame_mask
from bundle.networks.layers import lsq_strain, warp

__all__ = ["SequenceConsistencyLoss", "composition_error", "proportionality_residual"]

TERMS = ("composition", "strain_stability")


def composition_error(displacement_px: torch.Tensor, chained_px: torch.Tensor) -> torch.Tensor:
    """Mean squared gap (pixels^2) between ``u_(j+1)`` and ``u_j`` composed with ``v_(j, j+1)``, j = 1..T-1.

    Pixels whose chained sample ``x + u_j(x)`` falls outside the frame are left out (``warp`` has no data there).
    """
    b, t, _, h, w = displacement_px.shape
    if t < 2:
        return displacement_px.new_zeros(())
    if chained_px.shape != (b, t - 1, 2, h, w):
        raise ValueError(f"chained displacement must be {(b, t - 1, 2, h, w)}, got {tuple(chained_px.shape)}")
    first = displacement_px[:, :-1].reshape(b * (t - 1), 2, h, w)
    target = displacement_px[:, 1:].reshape(b * (t - 1), 2, h, w)
    chain = chained_px.reshape(b * (t - 1), 2, h, w)
    composed = first + warp(chain, first)
    inside = in_frame_mask(first)
    gap = (composed - target).pow(2) * inside
    return gap.sum() / (2.0 * inside.sum()).clamp_min(1.0)


def proportionality_residual(strain: torch.Tensor, floor: float = 1e-3) -> torch.Tensor:
    """Per-pixel squared departure of the T levels' strain maps from one shared pattern, relative to the levels.

    Args:
        strain: ``(B, T, H, W)`` strain of the T levels on the pre grid (signed fractions).
        floor: smallest RMS level strain used as the scale (fraction; 0.1 %).

    Returns:
        ``(B, H, W)``: ``mean_k (e_k - m_k p)^2 / max(mean_k m_k^2, floor^2)`` with ``m_k`` the mean of map k and
        ``p = sum_k m_k e_k / sum_k m_k^2`` the least-squares pattern (see the module docstring).
    """
    level = strain.mean(dim=(-2, -1), keepdim=True)  # (B, T, 1, 1)
    power = level.square().sum(dim=1, keepdim=True)
    pattern = (strain * level).sum(dim=1, keepdim=True) / power.clamp_min(1e-30)
    residual = strain - level * pattern
    scale = (power / strain.shape[1]).clamp_min(floor * floor)
    return (residual.square().mean(dim=1, keepdim=True) / scale)[:, 0]


class SequenceConsistencyLoss(nn.Module):
    """``w_comp * composition + w_stab * strain_stability`` over the levels of a sequence.

    Args:
        composition: weight of :func:`composition_error` (needs the chained estimates; 0 = off, no extra pass).
        strain_stability: weight of the mean of :func:`proportionality_residual`.
        strain_half_length: LSQ half length (samples) of the strain compared across levels.
        border: rows left out at the top and bottom (the strain's end effects and the probe-surface region).

    ``forward(displacement_px, chained_px=None)`` returns ``{"loss": weighted sum, "composition": ..,
    "strain_stability": ..}`` (unweighted terms detached, scalars). ``needs_chained`` says whether the caller
    must supply ``chained_px``.
    """

    def __init__(
        self, composition: float = 0.05, strain_stability: float = 0.1, strain_half_length: int = 16, border: int = 16
    ):
        super().__init__()
        self.weights = {"composition": float(composition), "strain_stability": float(strain_stability)}
        if any(w < 0 for w in self.weights.values()):
            raise ValueError(f"consistency weights must be >= 0, got {self.weights}")
        self.strain_half_length = int(strain_half_length)
        self.border = int(border)

    @property
    def needs_chained(self) -> bool:
        return self.weights["composition"] > 0

    def forward(self, displacement_px: torch.Tensor, chained_px: torch.Tensor | None = None) -> dict:
        if displacement_px.dim() != 5 or displacement_px.shape[2] != 2:
            raise ValueError(f"displacement must be (B, T, 2, H, W), got {tuple(displacement_px.shape)}")
        with torch.autocast(device_type=displacement_px.device.type, enabled=False):
            u = displacement_px.float()
            b, t, _, h, w = u.shape
            zero = u.new_zeros(())
            terms = {name: zero for name in TERMS}
            if self.weights["composition"] > 0 and t > 1:
                if chained_px is None:
                    raise ValueError("composition consistency needs the chained estimates post_j -> post_(j+1)")
                terms["composition"] = composition_error(u, chained_px.float())
            if self.weights["strain_stability"] > 0 and t > 1:
                half = max(1, min(self.strain_half_length, h - 2))
                strain = lsq_strain(u[:, :, :1].reshape(b * t, 1, h, w), half).reshape(b, t, h, w)
                m = min(self.border, (h - 2) // 4)
                inner = strain[..., m : h - m, :] if m > 0 else strain
                terms["strain_stability"] = proportionality_residual(inner).mean()
            total = sum(self.weights[name] * terms[name] for name in TERMS)
        out = {"loss": total}
        out.update({name: value.detach() for name, value in terms.items()})
        return out
