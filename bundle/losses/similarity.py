"""Image similarity for unsupervised displacement estimation: local NCC of RF and of log-compressed envelopes.

Shapes are ``(B, C, H, W)``: H axial samples (depth, array axis 2), W lateral lines. RF similarity locks on the
carrier phase (sub-sample precision, but a capture range of about a quarter period, 2 samples at fs = 8 f0);
the log envelope has no carrier, so its similarity is smooth over a speckle size (wider capture range, less
precise). Every function here is invariant to the RF amplitude scale (simulator RF is ~1e-23, files ~1).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from bundle.amplitude import scale_by_mean_abs
from bundle.networks.layers import envelope

__all__ = ["local_ncc", "envelope", "log_envelope", "LocalNCCLoss", "check_window"]


def check_window(window: tuple[int, int]) -> tuple[int, int]:
    """``window`` as two ints, or ``ValueError`` unless both are odd and positive (axial, lateral) box sizes."""
    wz, wx = (int(n) for n in window)
    if wz < 1 or wx < 1 or wz % 2 == 0 or wx % 2 == 0:
        raise ValueError(f"NCC window must be odd positive (axial, lateral) sizes, got {window}")
    return wz, wx


def local_ncc(
    a: torch.Tensor,
    b: torch.Tensor,
    window: tuple[int, int] = (15, 3),
    eps: float = 1e-5,
    mask: torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    """Local normalised cross-correlation of ``a`` and ``b`` over an anisotropic box window.

    Local means, variances and covariance are box averages (stride 1). At the borders (and outside ``mask``)
    the average is over the pixels that exist, not over zero padding, so border windows are not biased.
    ``NCC = cov / sqrt(var_a * var_b + eps)`` where ``eps`` is relative: both images are first divided by their
    mean absolute value, so the result does not depend on the amplitude scale of either input.

    Args:
        a, b: ``(B, C, H, W)`` images (any unit; RF or log envelope).
        window: (axial samples, lateral lines), odd sizes. 15 x 3 spans ~2 periods at fs = 8 f0.
        eps: regulariser of the denominator, relative to unit-scale images (flat windows give NCC ~ 0).
        mask: optional ``(B, 1 or C, H, W)`` weights in {0, 1}: pixels with 0 are left out of every window and
            of the mean (e.g. warped samples that fell outside the frame).
        reduction: ``"mean"`` -> scalar (per-sample masked mean, then mean over batch and channels);
            ``"none"`` -> the ``(B, C, H, W)`` NCC map (dimensionless, in [-1, 1]).
    """
    wz, wx = check_window(window)
    if a.shape != b.shape or a.dim() != 4:
        raise ValueError(f"expected two (B, C, H, W) tensors of the same shape, got {tuple(a.shape)}, {tuple(b.shape)}")
    a, b = scale_by_mean_abs(a), scale_by_mean_abs(b)
    pad = (wz // 2, wx // 2)
    if mask is None:

        def box(x: torch.Tensor) -> torch.Tensor:
            return F.avg_pool2d(x, (wz, wx), stride=1, padding=pad, count_include_pad=False)

    else:
        mask = mask.to(a.dtype).expand_as(a)
        a, b = a * mask, b * mask
        count = F.avg_pool2d(mask, (wz, wx), stride=1, padding=pad).clamp_min(1e-6)

        def box(x: torch.Tensor) -> torch.Tensor:  # inputs already masked: sum over valid / count of valid
            return F.avg_pool2d(x, (wz, wx), stride=1, padding=pad) / count

    mu_a, mu_b = box(a), box(b)
    var_a = (box(a * a) - mu_a * mu_a).clamp_min(0.0)
    var_b = (box(b * b) - mu_b * mu_b).clamp_min(0.0)
    cov = box(a * b) - mu_a * mu_b
    ncc = cov / torch.sqrt(var_a * var_b + eps)
    if reduction == "none":
        return ncc if mask is None else ncc * mask
    if reduction != "mean":
        raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")
    if mask is None:
        return ncc.mean()
    per_image = (ncc * mask).sum(dim=(2, 3)) / mask.sum(dim=(2, 3)).clamp_min(1.0)
    return per_image.mean()


def log_envelope(rf: torch.Tensor, floor: float = 1e-2) -> torch.Tensor:
    """``log(envelope / mean envelope + floor)``: ``(B, C, H, W)`` log-compressed B-mode, scale invariant.

    ``floor`` (relative to the mean envelope, 1e-2 = -40 dB) keeps the log and its gradient finite in dark spots.
    """
    env = envelope(scale_by_mean_abs(rf))
    env = env / env.mean(dim=(2, 3), keepdim=True).clamp_min(torch.finfo(env.dtype).tiny)
    return torch.log(env + floor)


class LocalNCCLoss(nn.Module):
    """``1 - mean local NCC`` (0 for identical images, ~1 for independent ones, up to 2 for inverted).

    Args:
        window: (axial, lateral) odd box size in pixels.
        eps: relative denominator regulariser (see :func:`local_ncc`).
        envelope_weight: if > 0, add ``envelope_weight * (1 - NCC)`` of the log envelopes of ``a`` and ``b``
            (wider capture range than RF alone).
        envelope_window: box for the envelope NCC; defaults to ``window``.

    ``forward(a, b, mask=None)``: ``a``, ``b`` ``(B, C, H, W)``; returns a scalar tensor (dimensionless).
    """

    def __init__(
        self,
        window: tuple[int, int] = (15, 3),
        eps: float = 1e-5,
        envelope_weight: float = 0.0,
        envelope_window: tuple[int, int] | None = None,
    ):
        super().__init__()
        self.window = check_window(window)
        self.envelope_window = self.window if envelope_window is None else check_window(envelope_window)
        self.eps = float(eps)
        self.envelope_weight = float(envelope_weight)

    def forward(self, a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        loss = 1.0 - local_ncc(a, b, self.window, self.eps, mask)
        if self.envelope_weight > 0:
            ncc_env = local_ncc(log_envelope(a), log_envelope(b), self.envelope_window, self.eps, mask)
            loss = loss + self.envelope_weight * (1.0 - ncc_env)
        return loss
