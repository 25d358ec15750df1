"""Regularisers of a displacement field ``u`` of shape ``(B, 2, H, W)`` in pixels.

Channel 0 is axial displacement in samples, channel 1 lateral displacement in lines; z is depth (axis 2, one
sample per step), x lateral (axis 3, one line per step). Derivatives are finite differences in pixel units
(not mm: a lateral step is ~15 axial steps at 40 MHz and 0.3 mm pitch, which the weights absorb). Each function
returns a scalar: the sum over its terms of the mean over that term's elements.
"""

from __future__ import annotations

import torch

from bundle.networks.layers import lsq_strain

__all__ = ["displacement_gradient_loss", "displacement_curvature_loss", "strain_smoothness_loss"]


def _dz(x: torch.Tensor) -> torch.Tensor:
    return x[:, :, 1:] - x[:, :, :-1]


def _dx(x: torch.Tensor) -> torch.Tensor:
    return x[..., 1:] - x[..., :-1]


def _check(u: torch.Tensor) -> None:
    if u.dim() != 4 or u.shape[1] != 2:
        raise ValueError(f"expected displacement (B, 2, H, W), got {tuple(u.shape)}")


def _mean_sq(x: torch.Tensor) -> torch.Tensor:
    # an empty difference (a frame one pixel wide) contributes nothing rather than NaN
    return x.pow(2).mean() if x.numel() else x.new_zeros(())


def displacement_gradient_loss(u: torch.Tensor) -> torch.Tensor:
    """First-order smoothness, **excluding d u_axial / d z**.

    ``mean((du_ax/dx)^2) + mean((du_lat/dz)^2) + mean((du_lat/dx)^2)`` with forward differences, each mean over
    its own elements. d u_axial / d z is left out on purpose: it *is* the axial strain, the quantity being
    measured, and penalising it pulls every strain toward zero (a bias proportional to the weight). Its
    variation is regularised instead by :func:`displacement_curvature_loss` / :func:`strain_smoothness_loss`,
    which vanish for any uniform strain.

    Args:
        u: ``(B, 2, H, W)`` displacement in pixels (axial samples, lateral lines).

    Returns:
        scalar, pixels^2 per pixel^2 (dimensionless). Affine ``u_lat = 0.005 x`` alone gives exactly 0.005^2.
    """
    _check(u)
    ax, lat = u[:, :1], u[:, 1:]
    return _mean_sq(_dx(ax)) + _mean_sq(_dz(lat)) + _mean_sq(_dx(lat))


def displacement_curvature_loss(u: torch.Tensor) -> torch.Tensor:
    """Second-order (thin-plate bending) smoothness of both components; zero for any affine field.

    ``mean(d2u/dz2 ^2) + mean(d2u/dx2 ^2) + 2 mean(d2u/dzdx ^2)`` over both channels, with central second
    differences and the forward mixed difference (the factor 2 is the thin-plate energy's). Unlike the
    first-order loss it does not penalise a uniform strain, so it regularises d u_ax / d z without biasing it.

    Args:
        u: ``(B, 2, H, W)`` displacement in pixels.

    Returns:
        scalar, pixels^2 per pixel^4.
    """
    _check(u)
    d2z = u[:, :, 2:] - 2.0 * u[:, :, 1:-1] + u[:, :, :-2]
    d2x = u[..., 2:] - 2.0 * u[..., 1:-1] + u[..., :-2]
    dzx = _dx(_dz(u))
    return _mean_sq(d2z) + _mean_sq(d2x) + 2.0 * _mean_sq(dzx)


def strain_smoothness_loss(u: torch.Tensor, half_length: int = 8) -> torch.Tensor:
    """Smoothness of the axial strain the field implies: ``mean((de/dz)^2) + mean((de/dx)^2)``.

    The strain ``e = lsq_strain(u[:, :1], half_length)`` (least-squares slope over ``2 * half_length + 1``
    samples, the estimator the toolkit reports) is differenced axially and laterally. Zero for any uniform
    strain; penalises the noise the strain image would show rather than the raw displacement's.

    Args:
        u: ``(B, 2, H, W)`` displacement in pixels; only channel 0 (axial samples) is used.
        half_length: LSQ half length in samples; clamped to ``H - 2`` so that short frames still work.

    Returns:
        scalar, strain^2 per pixel^2 (strain as a fraction).
    """
    _check(u)
    h = max(1, min(int(half_length), u.shape[2] - 2))
    strain = lsq_strain(u[:, :1], h)
    return _mean_sq(_dz(strain)) + _mean_sq(_dx(strain))
