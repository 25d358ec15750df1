"""Small differentiable building blocks shared by the networks and the losses.

Units: displacement in **pixels** of the frame it applies to (channel 0 axial samples, channel 1 lateral
lines), axial first; the estimator wrapper converts to mm with the acquisition record.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["warp", "lsq_strain", "envelope", "ConvBlock"]


def warp(image: torch.Tensor, displacement_px: torch.Tensor) -> torch.Tensor:
    """Sample ``image`` at ``x + u(x)``: the post frame warped by the displacement matches the pre frame.

    Args:
        image: ``(B, C, H, W)``.
        displacement_px: ``(B, 2, H, W)`` (axial samples, lateral lines).

    Returns:
        ``(B, C, H, W)`` bilinearly interpolated; outside the frame the border value is repeated.
    """
    b, _, h, w = image.shape
    dtype, device = image.dtype, image.device
    rows = torch.arange(h, dtype=dtype, device=device).view(1, h, 1)
    cols = torch.arange(w, dtype=dtype, device=device).view(1, 1, w)
    z = rows + displacement_px[:, 0]
    x = cols + displacement_px[:, 1]
    # grid_sample wants (x, y) in [-1, 1] with align_corners=True: -1 is pixel 0, +1 pixel n - 1
    gz = 2.0 * z / max(h - 1, 1) - 1.0
    gx = 2.0 * x / max(w - 1, 1) - 1.0
    grid = torch.stack((gx, gz), dim=-1)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=True)


def lsq_strain(axial_displacement_px: torch.Tensor, half_length: int) -> torch.Tensor:
    """Least-squares (Savitzky-Golay) axial derivative of ``(B, 1, H, W)`` axial displacement in samples.

    Both displacement and depth are in samples, so the result is strain as a fraction. The ends are
    continued by odd reflection (a linear field stays linear), matching :func:`bundle.strain.axial_strain`.
    """
    h = int(half_length)
    k = torch.arange(-h, h + 1, dtype=axial_displacement_px.dtype, device=axial_displacement_px.device)
    weight = (k * 3.0 / (h * (h + 1) * (2 * h + 1))).view(1, 1, 2 * h + 1, 1)
    u = axial_displacement_px
    top = 2.0 * u[:, :, :1] - torch.flip(u[:, :, 1 : h + 1], dims=[2])
    bottom = 2.0 * u[:, :, -1:] - torch.flip(u[:, :, -h - 1 : -1], dims=[2])
    return F.conv2d(torch.cat((top, u, bottom), dim=2), weight)


def envelope(rf: torch.Tensor, pad: bool = True) -> torch.Tensor:
    """Magnitude of the analytic signal along depth (Hilbert transform by FFT), differentiable.

    Args:
        rf: ``(B, C, H, W)`` RF, axial axis 2.
        pad: zero-pad to 2H before the FFT so that the top and bottom of the frame do not wrap into each other.

    Returns:
        ``(B, C, H, W)`` envelope, same unit as ``rf``.
    """
    h = rf.shape[2]
    n = 2 * h if pad else h
    spectrum = torch.fft.fft(rf, n=n, dim=2)
    weights = torch.zeros(n, dtype=rf.dtype, device=rf.device)
    weights[0] = 1.0
    if n % 2 == 0:
        weights[1 : n // 2] = 2.0
        weights[n // 2] = 1.0
    else:
        weights[1 : (n + 1) // 2] = 2.0
    analytic = torch.fft.ifft(spectrum * weights.view(1, 1, n, 1), dim=2)[:, :, :h]
    return analytic.abs()


class ConvBlock(nn.Sequential):
    """Conv -> GroupNorm -> LeakyReLU, twice. ``(B, C_in, H, W) -> (B, C_out, H / sz, W / sx)``.

    Kernels are taller than wide (default 5 x 3): RF oscillates along depth, about 8 samples per period at
    fs = 8 f0, and the first convolution has to see a period to tell phase.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: tuple[int, int] = (1, 1), kernel=(5, 3)):
        pad = (kernel[0] // 2, kernel[1] // 2)
        groups = max(1, out_channels // 8)
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel, stride=stride, padding=pad),
            nn.GroupNorm(groups, out_channels),
            nn.LeakyReLU(0.1),
            nn.Conv2d(out_channels, out_channels, kernel, padding=pad),
            nn.GroupNorm(groups, out_channels),
            nn.LeakyReLU(0.1),
        )
