"""Global pre-alignment: the uniform-compression field that best explains a frame pair.

RF similarity only guides a displacement estimate within about a quarter period (2 samples at fs = 8 f0),
while quasi-static compression moves deep tissue by tens of samples. Before the network looks at a pair, this
module finds the axial field ``u_z(z) = offset - strain * z`` (probe-fixed compression plus a global shift)
that maximises the NCC of the log-compressed envelopes, by exhaustive search over a grid of strains and
offsets on axially decimated envelopes. Laterally it adds the plane-strain expansion of nearly incompressible
tissue about the frame's centre line, ``u_x = nu / (1 - nu) * strain * (x - x_centre)`` (nu = 0.495: about one
line at the edge of a 128-line frame at 2 % strain), which keeps the speckle of the outer lines correlated.
The network then estimates only what is left: lesions, slip, the sub-sample part. No trainable parameters;
not differentiated.

Speed: NCC of every candidate comes from two Gram matrices of the decimated envelopes (rows x rows), so the
search costs one matrix product and a gather per candidate row, not one warp per candidate.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from bundle.networks.layers import envelope

__all__ = ["GlobalStrainPrior"]


class GlobalStrainPrior(nn.Module):
    """``(B, 2, H, W)`` (pre, post) RF -> ``(B, 2, H, W)`` prior displacement in pixels (lateral channel 0).

    Args:
        max_strain: strains searched are ``-max_strain .. max_strain`` (compression positive).
        strain_step: grid step of the strain.
        max_offset_px: global axial shifts searched, ``+-max_offset_px`` samples in steps of ``decimation``.
        decimation: axial averaging of the envelopes before the search (samples).
        poisson_ratio: of the tissue, for the lateral expansion; 0 turns the lateral prior off.
    """

    def __init__(
        self,
        max_strain: float = 0.06,
        strain_step: float = 0.002,
        max_offset_px: int = 64,
        decimation: int = 8,
        poisson_ratio: float = 0.495,
    ):
        super().__init__()
        self.lateral_ratio = float(poisson_ratio) / (1.0 - float(poisson_ratio))
        self.decimation = int(decimation)
        n_strain = int(round(max_strain / strain_step))
        strains = torch.arange(-n_strain, n_strain + 1, dtype=torch.float32) * strain_step
        n_offset = int(max_offset_px) // self.decimation
        offsets = torch.arange(-n_offset, n_offset + 1, dtype=torch.float32)  # decimated rows
        self.strain_step = float(strain_step)
        self.grid_shape = [int(strains.numel()), int(offsets.numel())]
        grid_s, grid_o = torch.meshgrid(strains, offsets, indexing="ij")
        self.register_buffer("strains", grid_s.reshape(-1), persistent=False)
        self.register_buffer("offsets", grid_o.reshape(-1), persistent=False)

    def _features(self, rf: torch.Tensor) -> torch.Tensor:
        env = envelope(rf)
        log_env = torch.log(env / env.mean(dim=(2, 3), keepdim=True).clamp_min(1e-30) + 1e-2)
        return F.avg_pool2d(log_env, kernel_size=(self.decimation, 1), stride=(self.decimation, 1))[:, 0]

    def best_fit(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Best ``(strain (B,), offset_px (B,))`` for ``x`` = (pre, post) ``(B, 2, H, W)``."""
        strain, offset, _ = self.fit(x)
        return strain, offset

    def fit(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Best ``(strain (B,), offset_px (B,), ncc (B,))``: ``ncc`` is the log-envelope NCC at the best fit."""
        a = self._features(x[:, :1])  # (B, h, W)
        p = self._features(x[:, 1:2])
        b, h, w = a.shape
        rows = torch.arange(h, dtype=a.dtype, device=a.device)
        # candidate k samples post row z_k(r) = r + offset_k - strain_k * (r + 0.5), decimated rows
        z = rows.view(1, h) + self.offsets.view(-1, 1) - self.strains.view(-1, 1) * (rows.view(1, h) + 0.5)
        valid = ((z >= 0) & (z <= h - 1)).to(a.dtype)  # (K, h)
        z = z.clamp(0, h - 1)
        i0 = z.floor().clamp(max=h - 2).long()
        f = z - i0.to(a.dtype)
        i1 = i0 + 1
        gram_ap = torch.bmm(a, p.transpose(1, 2))  # (B, h, h): sum over lines of pre row r * post row i
        gram_pp = torch.bmm(p, p.transpose(1, 2))
        k = i0.shape[0]
        r_index = rows.long().view(1, h).expand(k, h)
        s_ap = (1 - f) * gram_ap[:, r_index, i0] + f * gram_ap[:, r_index, i1]  # (B, K, h)
        s_pp = (1 - f) ** 2 * gram_pp[:, i0, i0] + 2 * f * (1 - f) * gram_pp[:, i0, i1] + f**2 * gram_pp[:, i1, i1]
        row_a, row_p = a.sum(dim=2), p.sum(dim=2)  # (B, h)
        s_a = row_a.view(b, 1, h).expand(b, k, h)
        s_p = (1 - f) * row_p[:, i0] + f * row_p[:, i1]
        s_aa = (a * a).sum(dim=2).view(b, 1, h).expand(b, k, h)
        n = valid.sum(dim=1).view(1, k) * w
        m = valid.view(1, k, h)
        sum_ap, sum_pp, sum_aa = (s_ap * m).sum(2), (s_pp * m).sum(2), (s_aa * m).sum(2)
        sum_a, sum_p = (s_a * m).sum(2), (s_p * m).sum(2)
        cov = sum_ap - sum_a * sum_p / n
        var = (sum_aa - sum_a**2 / n) * (sum_pp - sum_p**2 / n)
        ncc = cov / var.clamp_min(1e-12).sqrt()
        ncc = torch.where(n >= 0.5 * h * w, ncc, torch.full_like(ncc, -2.0))  # ignore candidates seeing < half
        best = ncc.argmax(dim=1)
        # sub-step strain: parabola through the best candidate and its strain neighbours (same offset)
        n_s, n_o = self.grid_shape[0], self.grid_shape[1]
        si = torch.div(best, n_o, rounding_mode="floor").clamp(1, n_s - 2)
        oi = best % n_o
        grid = ncc.view(b, n_s, n_o)
        batch = torch.arange(b, device=x.device)
        lo, mid, hi = grid[batch, si - 1, oi], grid[batch, si, oi], grid[batch, si + 1, oi]
        curvature = lo - 2 * mid + hi
        shift = torch.where(curvature < 0, 0.5 * (lo - hi) / curvature.clamp(max=-1e-12), torch.zeros_like(mid))
        strain = self.strains[si * n_o + oi] + shift.clamp(-1.0, 1.0) * self.strain_step
        return strain, self.offsets[best] * float(self.decimation), ncc.max(dim=1).values

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            strain, offset = self.best_fit(x)
            h, w = x.shape[-2], x.shape[-1]
            depth = torch.arange(h, dtype=x.dtype, device=x.device).view(1, h, 1)
            axial = offset.view(-1, 1, 1) - strain.view(-1, 1, 1) * depth
            lines = torch.arange(w, dtype=x.dtype, device=x.device).view(1, 1, w) - 0.5 * (w - 1)
            lateral = self.lateral_ratio * strain.view(-1, 1, 1) * lines
            return torch.stack((axial.expand(-1, h, w), lateral.expand(-1, h, w)), dim=1)
