"""Echogenicity: scatterer amplitude and density maps independent of stiffness, and specular layer interfaces.

What is drawn (one numpy Generator, so a model is reproducible from its seed):

- background density: ``cells`` scatterers per resolution cell (uniform, 8-20: fully developed speckle needs about
  10 or more);
- each layer between tissue interfaces: amplitude factor 10^(g/20), g uniform in +-``layer_db``;
- each stiffness inclusion: hypo-, iso- or hyperechoic with equal probability, independent of its stiffness:
  amplitude factor 10^(g/20), g uniform in ``hypo_db`` or ``hyper_db`` (1 for iso);
- 0-2 echo-only blobs (ellipses of semi-axes 2-8 mm, stiffness unchanged) with a hypo- or hyperechoic factor;
- with ``low_density_probability``, one ellipse (semi-axes 3-12 mm) of low scatterer density, ``low_cells``
  (0.5-3) scatterers per cell: speckle that is not fully developed;
- each layer interface with ``specular_probability``: a specular reflector, a line of equal-amplitude scatterers
  every lambda / 4 along the interface (laterally coherent), whose echo peaks about 10^(g/20) times the speckle
  RMS, g uniform in ``specular_db``.

Amplitudes multiply standard-normal reflectivities, so a factor a scales the mean envelope of fully developed
speckle by a; density scales the scatterer count per area.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from bundle.simulation.tissue import Tissue, interface_depth_mm

__all__ = ["EchoModel", "draw_echogenicity", "scatterers", "specular_scatterers"]


@dataclass(frozen=True)
class EchoModel:
    """Amplitude and density maps on the tissue grid, the specular lines, and the description of the draw.

    Attributes:
        amplitude: ``(H, W)`` amplitude factor of the scatterers (1 = background).
        density: ``(H, W)`` scatterers per mm^2.
        specular: one dict per specular interface (``layer`` index, ``contrast_db``).
        description: JSON-serialisable record of every drawn value.
    """

    amplitude: np.ndarray
    density: np.ndarray
    specular: tuple[dict, ...]
    description: dict


def _ellipse(rng, zz, xx, region, semi_axes):
    (z0, z1), (x0, x1) = region
    a, b = rng.uniform(*semi_axes), rng.uniform(*semi_axes)
    cz, cx = rng.uniform(z0 + a, max(z0 + a, z1 - a)), rng.uniform(x0 + b, max(x0 + b, x1 - b))
    angle = rng.uniform(0.0, math.pi)
    c, s = math.cos(angle), math.sin(angle)
    u, v = c * (zz - cz) + s * (xx - cx), -s * (zz - cz) + c * (xx - cx)
    record = {"center_mm": [float(cz), float(cx)], "semi_axes_mm": [float(a), float(b)], "angle_rad": float(angle)}
    return (u / a) ** 2 + (v / b) ** 2 < 1.0, record


def draw_echogenicity(
    rng: np.random.Generator,
    tissue: Tissue,
    cell_area_mm2: float,
    region_mm: tuple[tuple[float, float], tuple[float, float]],
    cells: tuple[float, float] = (8.0, 20.0),
    layer_db: float = 6.0,
    hypo_db: tuple[float, float] = (-12.0, -3.0),
    hyper_db: tuple[float, float] = (3.0, 12.0),
    num_blobs: tuple[int, int] = (0, 2),
    low_density_probability: float = 0.5,
    low_cells: tuple[float, float] = (0.5, 3.0),
    specular_probability: float = 0.8,
    specular_db: tuple[float, float] = (6.0, 20.0),
    kinds: tuple[str, ...] = ("hypo", "iso", "hyper"),
) -> EchoModel:
    """Draw an echogenicity model for ``tissue`` (see the module docstring); ``cell_area_mm2`` is the resolution
    cell (axial x lateral FWHM) that turns scatterers per cell into a density, ``region_mm`` the imaged window
    ((z0, z1), (x0, x1)) where blobs are placed; ``kinds`` are the echogenicities an inclusion is drawn from
    (equally likely)."""
    h, w = tissue.shear_modulus.shape
    dz, dx = tissue.spacing_mm
    zz, xx = np.meshgrid(np.arange(h) * dz, np.arange(w) * dx, indexing="ij")
    per_cell = float(rng.uniform(*cells))
    layer_gain = [float(rng.uniform(-layer_db, layer_db)) for _ in range(len(tissue.layers) + 1)]
    amplitude = 10.0 ** (np.asarray(layer_gain)[tissue.layer_index] / 20.0)
    inclusion_echo = []
    for k in range(len(tissue.inclusions)):
        kind = str(rng.choice(kinds))
        gain = 0.0 if kind == "iso" else float(rng.uniform(*(hypo_db if kind == "hypo" else hyper_db)))
        amplitude = np.where(tissue.inclusion_label == k + 1, amplitude * 10.0 ** (gain / 20.0), amplitude)
        inclusion_echo.append({"echogenicity": kind, "gain_db": gain})
    blobs = []
    for _ in range(rng.integers(num_blobs[0], num_blobs[1] + 1)):
        kind = str(rng.choice(("hypo", "hyper")))
        gain = float(rng.uniform(*(hypo_db if kind == "hypo" else hyper_db)))
        mask, record = _ellipse(rng, zz, xx, region_mm, (2.0, 8.0))
        amplitude = np.where(mask, amplitude * 10.0 ** (gain / 20.0), amplitude)
        blobs.append({**record, "echogenicity": kind, "gain_db": gain})
    density = np.full((h, w), per_cell / cell_area_mm2)
    low = None
    if rng.random() < low_density_probability:
        mask, record = _ellipse(rng, zz, xx, region_mm, (3.0, 12.0))
        low = {**record, "scatterers_per_cell": float(rng.uniform(*low_cells))}
        density = np.where(mask, low["scatterers_per_cell"] / cell_area_mm2, density)
    specular = []
    for k in range(len(tissue.layers)):
        if rng.random() < specular_probability:
            specular.append({"layer": k, "contrast_db": float(rng.uniform(*specular_db))})
    description = {
        "scatterers_per_cell": per_cell,
        "cell_area_mm2": float(cell_area_mm2),
        "layer_gain_db": layer_gain,
        "inclusions": inclusion_echo,
        "blobs": blobs,
        "low_density": low,
        "specular": specular,
    }
    return EchoModel(amplitude, density, tuple(specular), description)


def scatterers(
    echo: EchoModel,
    tissue: Tissue,
    region_mm: tuple[tuple[float, float], tuple[float, float]],
    rng: np.random.Generator,
    count_scale: float = 1.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Speckle scatterers over ``region_mm`` following the density and amplitude maps: positions (mm) and
    amplitudes ``(N,)``. ``count_scale`` (<= 1) thins every density alike (a cap on the scatterer count)."""
    (z0, z1), (x0, x1) = region_mm
    peak = float(echo.density.max()) * count_scale
    n = rng.poisson(peak * (z1 - z0) * (x1 - x0))
    z, x = rng.uniform(z0, z1, n), rng.uniform(x0, x1, n)
    i, j = _nearest(tissue, z, x)
    keep = rng.random(n) < echo.density[i, j] * count_scale / peak
    z, x, i, j = z[keep], x[keep], i[keep], j[keep]
    return z, x, rng.standard_normal(z.size) * echo.amplitude[i, j]


def specular_scatterers(
    echo: EchoModel,
    tissue: Tissue,
    x_range_mm: tuple[float, float],
    spacing_mm: float,
    peak_per_contrast: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scatterers of the specular interfaces: every ``spacing_mm`` along each chosen interface over ``x_range_mm``,
    amplitude ``peak_per_contrast * 10^(contrast_db / 20)`` (``peak_per_contrast`` makes a contrast of 0 dB give an
    echo peak equal to the speckle RMS; the caller derives it from the PSF)."""
    xs = np.arange(x_range_mm[0], x_range_mm[1], spacing_mm)
    zs, xo, amp = [], [], []
    for spec in echo.specular:
        zs.append(interface_depth_mm(tissue.layers[spec["layer"]], xs))
        xo.append(xs)
        amp.append(np.full(xs.size, peak_per_contrast * 10.0 ** (spec["contrast_db"] / 20.0)))
    if not zs:
        return np.empty(0), np.empty(0), np.empty(0)
    return np.concatenate(zs), np.concatenate(xo), np.concatenate(amp)


def _nearest(tissue: Tissue, z, x):
    h, w = tissue.shear_modulus.shape
    dz, dx = tissue.spacing_mm
    i = np.clip(np.rint(z / dz).astype(np.int64), 0, h - 1)
    j = np.clip(np.rint(x / dx).astype(np.int64), 0, w - 1)
    return i, j
