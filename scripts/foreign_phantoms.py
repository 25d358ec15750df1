"""Phantoms of the independent validation set (``scripts/make_foreign_set.py``): geometry, scatterers, ground truth.

Nothing here imports PyMUST: the mechanics are this toolkit's closed-form inclusion
(:func:`bundle.simulation.mechanics.displacement_mm`) and, for the layered phantom, its finite elements
(:func:`bundle.simulation.fem.solve_compression`); the RF comes from SIMUS in ``make_foreign_set.py``.

Coordinates: ``z`` depth from the probe surface and ``x`` lateral from the probe axis, both in mm (PyMUST's frame,
in mm instead of m). The RF image covers ``IMAGE_DEPTH_MM`` x ``IMAGE_HALF_WIDTH_MM``; the sidecar gives lesion
positions in the toolkit's image coordinates (depth from the first RF sample, lateral from the first line).
Displacement and strain: mm and fraction, compression negative, axial first; a post frame at applied strain
``s`` moves every scatterer from ``p`` to ``p + u_s(p)``, and the ground truth is ``u_s`` at the pre frame's pixels
(the same Lagrangian convention as ``bundle.simulation``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.interpolate import RegularGridInterpolator

from bundle.simulation.fem import solve_compression
from bundle.simulation.mechanics import Inclusion, axial_strain_field, displacement_mm

#: depth range of the beamformed image (mm from the probe surface)
IMAGE_DEPTH_MM = (5.0, 20.0)
#: the image spans -8 .. +8 mm laterally (lines centred on the probe axis)
IMAGE_HALF_WIDTH_MM = 8.0
#: scatterers fill the image plus 1.5 mm of depth and 1 mm of width each side (the PSF's reach)
SCATTER_DEPTH_MM = (3.5, 21.5)
SCATTER_HALF_WIDTH_MM = 9.0
POISSON_RATIO = 0.495
#: layered phantom: interfaces z = z0 + slope * x (mm), shear moduli top/middle/bottom, echo amplitude per layer
LAYER_INTERFACES = ((9.5, 0.08), (15.5, -0.06))
LAYER_MODULI = (1.0, 2.0, 0.7)
LAYER_ECHO = (1.0, 0.7, 1.3)
#: the FEM block of the layered phantom (mm): wider and deeper than the scatterers, so its edges stay out of view
FEM_DEPTH_MM = 30.0
FEM_HALF_WIDTH_MM = 16.0
FEM_PIXEL_MM = 0.1


@dataclass(frozen=True)
class ForeignPhantom:
    """One phantom: a circular lesion (closed form) or three tilted layers with a lesion (finite elements).

    Attributes:
        name: file stem of the case.
        center_mm: lesion centre (z depth from the probe, x from the probe axis), mm.
        radius_mm: lesion radius (mm).
        stiffness_ratio: lesion shear modulus over its surroundings'.
        echo: scatterer amplitude inside the lesion relative to the background (1 iso, < 1 hypo, > 1 hyper).
        layered: three layers with specular interfaces, solved by finite elements (lesion in the middle layer).
    """

    name: str
    center_mm: tuple[float, float]
    radius_mm: float
    stiffness_ratio: float
    echo: float = 1.0
    layered: bool = False

    def describe(self) -> dict:
        kind = "iso" if self.echo == 1.0 else ("hypo" if self.echo < 1.0 else "hyper")
        out = {
            "lesion_center_mm_from_probe": list(self.center_mm),
            "lesion_radius_mm": self.radius_mm,
            "stiffness_ratio": self.stiffness_ratio,
            "echogenicity": f"{kind}-echoic (amplitude x{self.echo:g})",
            "mechanics": "closed-form circular inclusion, plane strain, Poisson 0.495",
        }
        if self.layered:
            out["mechanics"] = (
                f"finite elements (bundle.simulation.fem, P2/P0, Poisson {POISSON_RATIO}) on a "
                f"{FEM_DEPTH_MM:g} x {2 * FEM_HALF_WIDTH_MM:g} mm block compressed from the top"
            )
            out["layers"] = {
                "interfaces_z_mm": [f"{z0:g} + {s:g} x" for z0, s in LAYER_INTERFACES],
                "shear_moduli_top_middle_bottom": list(LAYER_MODULI),
                "echo_top_middle_bottom": list(LAYER_ECHO),
                "lesion": "in the middle layer, stiffness ratio relative to that layer",
                "interfaces": "specular: a coherent line of equal scatterers every lambda / 8",
            }
        return out


#: the eight phantoms; every lesion's target and background discs fit the metrics' valid region
#: (bundle.metrics.regions) for each probe's image
PHANTOMS = (
    ForeignPhantom("stiff3_r2.5_axis", (12.5, 0.0), 2.5, 3.0),
    ForeignPhantom("soft0.33_r2.5", (12.5, -2.0), 2.5, 1.0 / 3.0),
    ForeignPhantom("stiff2_r2.5_offaxis", (10.0, 3.5), 2.5, 2.0),
    ForeignPhantom("stiff5_r2_hypo", (9.0, -3.5), 2.0, 5.0, echo=0.35),
    ForeignPhantom("stiff4_r3.5_hyper", (14.5, -3.0), 3.5, 4.0, echo=2.5),
    ForeignPhantom("soft0.5_r2.5_hyper", (15.5, 3.0), 2.5, 0.5, echo=2.0),
    ForeignPhantom("stiff6_r3_hypo", (13.0, 2.5), 3.0, 6.0, echo=0.5),
    ForeignPhantom("layered_stiff3_r2.2", (12.5, -3.0), 2.2, 3.0, layered=True),
)


def layer_index(z_mm, x_mm) -> np.ndarray:
    """0, 1 or 2: the layer of the layered phantom that holds each point."""
    z, x = np.broadcast_arrays(np.asarray(z_mm, float), np.asarray(x_mm, float))
    index = np.zeros(z.shape, dtype=np.int64)
    for z0, slope in LAYER_INTERFACES:
        index += z >= z0 + slope * x
    return index


def _in_lesion(phantom: ForeignPhantom, z, x) -> np.ndarray:
    return (z - phantom.center_mm[0]) ** 2 + (x - phantom.center_mm[1]) ** 2 <= phantom.radius_mm**2


@lru_cache(maxsize=2)
def _layered_unit_field(phantom: ForeignPhantom):
    """FEM displacement and strain of the layered phantom at 1 % compression, as interpolators over (z, x) mm.

    Linear elasticity: the field at level ``s`` is ``s / 0.01`` times this one.
    """
    nz = int(round(FEM_DEPTH_MM / FEM_PIXEL_MM)) + 1
    nx = int(round(2 * FEM_HALF_WIDTH_MM / FEM_PIXEL_MM)) + 1
    z = np.arange(nz) * FEM_PIXEL_MM
    x = np.arange(nx) * FEM_PIXEL_MM - FEM_HALF_WIDTH_MM
    zz, xx = np.meshgrid(z, x, indexing="ij")
    mu = np.asarray(LAYER_MODULI)[layer_index(zz, xx)]
    mu = np.where(_in_lesion(phantom, zz, xx), mu * phantom.stiffness_ratio, mu)
    fem = solve_compression(mu, (FEM_PIXEL_MM, FEM_PIXEL_MM), POISSON_RATIO, -0.01, element_mm=0.25)
    grid = (z, x)
    return tuple(
        RegularGridInterpolator(grid, f, bounds_error=True) for f in (fem.axial_mm, fem.lateral_mm, fem.axial_strain)
    )


def displacement_at(phantom: ForeignPhantom, z_mm, x_mm, applied_strain: float) -> tuple[np.ndarray, np.ndarray]:
    """(u_z, u_x) in mm at points (z, x) (mm from the probe surface and axis) at ``applied_strain`` (> 0)."""
    z, x = np.broadcast_arrays(np.asarray(z_mm, float), np.asarray(x_mm, float))
    if phantom.layered:
        fz, fx, _ = _layered_unit_field(phantom)
        pts = np.stack([z.ravel(), x.ravel()], axis=-1)
        scale = applied_strain / 0.01
        return (fz(pts) * scale).reshape(z.shape), (fx(pts) * scale).reshape(z.shape)
    inclusion = Inclusion(phantom.center_mm, phantom.radius_mm, phantom.stiffness_ratio)
    return displacement_mm(z, x, applied_strain, inclusion, poisson_ratio=POISSON_RATIO)


def axial_strain_at(phantom: ForeignPhantom, z_mm, x_mm, applied_strain: float) -> np.ndarray:
    """d u_z / d z (fraction, compression negative) at points (z, x) in mm."""
    z, x = np.broadcast_arrays(np.asarray(z_mm, float), np.asarray(x_mm, float))
    if phantom.layered:
        _, _, fs = _layered_unit_field(phantom)
        pts = np.stack([z.ravel(), x.ravel()], axis=-1)
        return (fs(pts) * applied_strain / 0.01).reshape(z.shape)
    inclusion = Inclusion(phantom.center_mm, phantom.radius_mm, phantom.stiffness_ratio)
    return axial_strain_field(z, x, applied_strain, inclusion, poisson_ratio=POISSON_RATIO)


def scatterers(
    phantom: ForeignPhantom, per_mm2: float, wavelength_mm: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pre-frame scatterers: positions z, x (mm) and reflection coefficients.

    Speckle: ``per_mm2`` uniformly placed scatterers with Gaussian amplitudes, scaled by the lesion's (and the
    layers') echogenicity. The layered phantom adds its two interfaces as lines of equal scatterers every
    ``wavelength / 8``: they add up coherently, as a specular reflector does.
    """
    (z0, z1), half = SCATTER_DEPTH_MM, SCATTER_HALF_WIDTH_MM
    n = int(round(per_mm2 * (z1 - z0) * 2 * half))
    z = rng.uniform(z0, z1, n)
    x = rng.uniform(-half, half, n)
    rc = rng.standard_normal(n)
    if phantom.layered:
        rc *= np.asarray(LAYER_ECHO)[layer_index(z, x)]
    rc = np.where(_in_lesion(phantom, z, x), rc * phantom.echo, rc)
    if phantom.layered:
        step = wavelength_mm / 8.0
        line_x = np.arange(-half, half, step)
        lines_z = [zi + s * line_x for zi, s in LAYER_INTERFACES]
        amplitude = 0.5 * np.sqrt(per_mm2 * wavelength_mm**2 / 4.0)  # ~10 dB above the speckle
        z = np.concatenate([z, *lines_z])
        x = np.concatenate([x, line_x, line_x])
        rc = np.concatenate([rc, np.full(2 * line_x.size, amplitude)])
    return z, x, rc


def image_inclusion(phantom: ForeignPhantom, x_first_line_mm: float) -> dict:
    """The lesion in the toolkit's image coordinates, for the sidecar's ``phantom.inclusion`` (metrics regions).

    For the layered phantom the stiffness ratio is relative to the middle layer around the lesion.
    """
    zc, xc = phantom.center_mm
    return {
        "center_mm": [zc - IMAGE_DEPTH_MM[0], xc - x_first_line_mm],
        "radius_mm": phantom.radius_mm,
        "stiffness_ratio": phantom.stiffness_ratio,
    }
