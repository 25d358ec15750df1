"""Random tissue maps: shear modulus of layers and irregular inclusions, with their geometry kept for echogenicity.

A map covers a block of ``(H, W)`` pixels of ``spacing_mm`` (pixel (i, j) at depth ``i * dz``, lateral ``j * dx``).
Drawn in this order from one numpy Generator (so a map is reproducible from its seed):

- ``num_layers`` interfaces ``z(x) = depth + amp sin(2 pi x / period + phase)``, depth uniform in 15-85 % of the
  region's depth, amp up to 5 % of it, period 0.5-2 region widths; below each interface the modulus is multiplied
  by a log-uniform factor in ``layer_ratio``.
- ``num_inclusions`` star-shaped inclusions, ``r(theta) = radius (1 + sum_m a_m cos(m theta + phi_m))`` for
  harmonics m = 2..5 (a_m uniform in [0, 0.35 / m]), radius uniform in ``radius_mm``, centre uniform inside the
  region at least one radius from its edges, stiffness log-uniform in ``stiffness_ratio`` times the local modulus;
  later inclusions lie on top of earlier ones.

``region_mm`` ((z0, z1), (x0, x1)) is where layers and inclusion centres are drawn (default: the whole block), so
that a block larger than the image can hold its structures inside the imaged window.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Tissue", "draw_tissue", "interface_depth_mm", "inclusion_mask", "inscribed_radius_mm"]

_LOBES = 5
_ROUGHNESS = 0.35


@dataclass(frozen=True)
class Tissue:
    """A drawn tissue block.

    Attributes:
        shear_modulus: ``(H, W)`` shear modulus (background = ``background``).
        inclusion_label: ``(H, W)`` int: 0 outside every inclusion, k >= 1 inside inclusion k - 1 (the topmost).
        layer_index: ``(H, W)`` int: number of interfaces above the pixel (0 = top layer).
        layers: one dict per interface (``depth_mm``, ``amplitude_mm``, ``period_mm``, ``phase``, ``factor``).
        inclusions: one dict per inclusion (``center_mm``, ``radius_mm``, ``stiffness_ratio``, ``harmonics``).
        spacing_mm: (axial, lateral) pixel spacing of the maps.
    """

    shear_modulus: np.ndarray
    inclusion_label: np.ndarray
    layer_index: np.ndarray
    layers: tuple[dict, ...]
    inclusions: tuple[dict, ...]
    spacing_mm: tuple[float, float]

    def description(self) -> dict:
        """JSON-serialisable geometry (what the sidecar records)."""
        return {"layers": [dict(layer) for layer in self.layers], "inclusions": [dict(inc) for inc in self.inclusions]}


def interface_depth_mm(layer: dict, x_mm) -> np.ndarray:
    """Depth (mm) of a layer interface at lateral positions ``x_mm``."""
    x = np.asarray(x_mm, dtype=np.float64)
    return layer["depth_mm"] + layer["amplitude_mm"] * np.sin(2.0 * np.pi * x / layer["period_mm"] + layer["phase"])


def _star_radius(theta, inclusion: dict) -> np.ndarray:
    edge = np.ones_like(theta)
    for m, (amp, phase) in enumerate(inclusion["harmonics"], start=2):
        edge = edge + amp * np.cos(m * theta + phase)
    return inclusion["radius_mm"] * np.clip(edge, 0.3, None)


def inscribed_radius_mm(inclusion: dict) -> float:
    """Radius (mm) of the largest disc about the centre inside a star-shaped inclusion (its smallest r(theta))."""
    return float(_star_radius(np.linspace(0.0, 2.0 * np.pi, 720, endpoint=False), inclusion).min())


def inclusion_mask(zz, xx, inclusion: dict) -> np.ndarray:
    """Points (zz, xx in mm, any broadcastable shapes) inside a star-shaped inclusion."""
    cz, cx = inclusion["center_mm"]
    theta = np.arctan2(xx - cx, zz - cz)
    return np.hypot(zz - cz, xx - cx) < _star_radius(theta, inclusion)


def draw_tissue(
    shape: tuple[int, int],
    spacing_mm: tuple[float, float],
    rng: np.random.Generator,
    num_inclusions: tuple[int, int] = (1, 4),
    radius_mm: tuple[float, float] = (1.5, 6.0),
    stiffness_ratio: tuple[float, float] = (0.2, 6.0),
    num_layers: tuple[int, int] = (0, 3),
    layer_ratio: tuple[float, float] = (0.5, 2.0),
    background: float = 1.0,
    region_mm: tuple[tuple[float, float], tuple[float, float]] | None = None,
) -> Tissue:
    """Draw layers and inclusions (see the module docstring) on an ``(H, W)`` grid of ``spacing_mm``.

    Raises:
        ValueError: a bad shape, spacing, background or range.
    """
    h, w = shape
    dz, dx = spacing_mm
    if h < 2 or w < 2 or dz <= 0 or dx <= 0 or background <= 0:
        raise ValueError(f"bad map shape {shape}, spacing {spacing_mm} or background {background}")
    if not 0 < stiffness_ratio[0] <= stiffness_ratio[1] or not 0 < layer_ratio[0] <= layer_ratio[1]:
        raise ValueError("stiffness and layer ratios must be positive ranges (low <= high)")
    zz, xx = np.meshgrid(np.arange(h) * dz, np.arange(w) * dx, indexing="ij")
    (z0, z1), (x0, x1) = region_mm if region_mm is not None else ((0.0, (h - 1) * dz), (0.0, (w - 1) * dx))
    rz, rx = z1 - z0, x1 - x0
    mu = np.full(shape, float(background))
    layer_index = np.zeros(shape, dtype=np.int16)
    layers = []
    for _ in range(rng.integers(num_layers[0], num_layers[1] + 1)):
        layer = {"depth_mm": z0 + rng.uniform(0.15, 0.85) * rz}
        layer["amplitude_mm"], layer["period_mm"] = rng.uniform(0.0, 0.05) * rz, rng.uniform(0.5, 2.0) * rx
        layer["phase"] = rng.uniform(0.0, 2.0 * np.pi)
        layer["factor"] = np.exp(rng.uniform(np.log(layer_ratio[0]), np.log(layer_ratio[1])))
        below = zz > interface_depth_mm(layer, xx)
        mu = np.where(below, mu * layer["factor"], mu)
        layer_index += below
        layers.append({k: float(v) for k, v in layer.items()})
    label = np.zeros(shape, dtype=np.int16)
    inclusions = []
    for k in range(rng.integers(num_inclusions[0], num_inclusions[1] + 1)):
        radius = rng.uniform(*radius_mm)
        center_z = rng.uniform(z0 + radius, max(z0 + radius, z1 - radius))
        center = (center_z, rng.uniform(x0 + radius, max(x0 + radius, x1 - radius)))
        ratio = np.exp(rng.uniform(np.log(stiffness_ratio[0]), np.log(stiffness_ratio[1])))
        harmonics = []
        for m in range(2, _LOBES + 1):
            amp = _ROUGHNESS * rng.uniform(0.0, 1.0) / m
            harmonics.append((float(amp), float(rng.uniform(0.0, 2.0 * np.pi))))
        inclusion = {
            "center_mm": [float(center[0]), float(center[1])],
            "radius_mm": float(radius),
            "stiffness_ratio": float(ratio),
            "harmonics": [list(hm) for hm in harmonics],
        }
        mask = inclusion_mask(zz, xx, inclusion)
        mu = np.where(mask, mu * ratio, mu)
        label[mask] = k + 1
        inclusions.append(inclusion)
    return Tissue(mu, label, layer_index, tuple(layers), tuple(inclusions), (float(dz), float(dx)))
