"""Probe motion beyond pure compression: freehand compression levels, lateral slip, small rotation, out-of-plane
decorrelation.

Each post frame k (k = 1..T) sees the tissue deformed by ``s_k`` times the unit-strain field u (linear elasticity)
and then moved rigidly: rotated by ``theta_k`` about ``center_mm`` (the probe surface point at the image's lateral
centre) and shifted laterally by ``t_k``::

    x_k(X) = c + R(theta_k) (X + s_k u(X) - c) + (0, t_k)          (positions (depth, lateral) in mm)

The ground-truth displacement of frame k on the pre-frame pixel grid is ``x_k(X) - X`` (rigid parts included), and
the ground-truth strain is its axial derivative d(u_z)/dz (a rotation adds (cos theta - 1) + ... to it, so the
truth of a rotated frame is not the pure compression strain).

Out of plane: between consecutive frames a fraction ``decorrelation`` of the speckle scatterers is replaced by new
ones (tissue moving through the elevational beam), so the frames decorrelate beyond what in-plane motion explains.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

__all__ = ["Motion", "draw_motion", "move_points"]


@dataclass(frozen=True)
class Motion:
    """Drawn motion of one sequence (T post frames).

    Attributes:
        strains: ``(T,)`` compression of each post frame (positive fractions, increasing, unequal steps).
        lateral_shift_mm: ``(T,)`` rigid lateral shift of each post frame relative to the pre frame (mm).
        rotation_rad: ``(T,)`` rigid in-plane rotation (radians, positive from depth towards lateral).
        center_mm: (depth, lateral) of the rotation centre (mm).
        decorrelation: fraction of speckle scatterers replaced between consecutive frames.
    """

    strains: tuple[float, ...]
    lateral_shift_mm: tuple[float, ...]
    rotation_rad: tuple[float, ...]
    center_mm: tuple[float, float]
    decorrelation: float

    def to_dict(self) -> dict:
        d = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


def draw_motion(
    rng: np.random.Generator,
    num_post_frames: int,
    center_mm: tuple[float, float],
    strain_range: tuple[float, float] = (0.001, 0.05),
    slip_probability: float = 0.5,
    slip_step_mm: tuple[float, float] = (0.0, 0.3),
    rotation_probability: float = 0.5,
    rotation_step_deg: tuple[float, float] = (0.0, 0.3),
    decorrelation_range: tuple[float, float] = (0.0, 0.1),
) -> Motion:
    """Draw a freehand sequence.

    - strains: T values log-uniform in ``strain_range``, sorted (so the steps between frames are unequal);
    - lateral slip (with ``slip_probability``): a random walk, each step normal with a standard deviation drawn
      uniform in ``slip_step_mm``;
    - rotation (with ``rotation_probability``): a random walk likewise, standard deviation uniform in
      ``rotation_step_deg`` (degrees);
    - decorrelation: uniform in ``decorrelation_range``.
    """
    lo, hi = strain_range
    if not 0 < lo <= hi < 0.2 or num_post_frames < 1:
        raise ValueError(f"need 0 < min <= max < 0.2 strain and >= 1 post frame, got {strain_range}, {num_post_frames}")
    strains = np.sort(np.exp(rng.uniform(math.log(lo), math.log(hi), num_post_frames)))
    shift = np.zeros(num_post_frames)
    if rng.random() < slip_probability:
        shift = np.cumsum(rng.normal(0.0, rng.uniform(*slip_step_mm), num_post_frames))
    angle = np.zeros(num_post_frames)
    if rng.random() < rotation_probability:
        angle = np.cumsum(rng.normal(0.0, math.radians(rng.uniform(*rotation_step_deg)), num_post_frames))
    decorrelation = float(rng.uniform(*decorrelation_range))
    as_tuple = lambda a: tuple(float(v) for v in a)  # noqa: E731
    return Motion(as_tuple(strains), as_tuple(shift), as_tuple(angle), as_tuple(center_mm), decorrelation)


def move_points(z_mm, x_mm, uz_unit_mm, ux_unit_mm, motion: Motion, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions of points (pre-frame positions z, x in mm) in post frame ``k`` (0-based), given the unit-strain
    displacement (u_z, u_x) at those points (mm per unit applied compression)."""
    s = motion.strains[k]
    cz, cx = motion.center_mm
    dz = z_mm + s * uz_unit_mm - cz
    dx = x_mm + s * ux_unit_mm - cx
    c, sn = math.cos(motion.rotation_rad[k]), math.sin(motion.rotation_rad[k])
    return cz + c * dz - sn * dx, cx + sn * dz + c * dx + motion.lateral_shift_mm[k]
