"""Evaluation regions (target, background, valid) in millimetres, and their pixel masks.

Definitions follow ``docs/metrics.md``:

- **valid**: the whole image minus ``border_mm`` of depth at the top and bottom (default
  :data:`DEFAULT_BORDER_MM` = 1.25 mm, half the 2.5 mm least-squares strain kernel the reports use: where the
  kernel leaves the frame) and ``border_lines`` RF lines on each side. An estimator's strain must be right
  everywhere else: edge artefacts count.
- **target**: the lesion eroded by ``margin_mm``: a disc of radius ``r - margin`` at the lesion centre.
- **background**: a disc of the target's radius at the lesion's depth, beside the lesion on the side with more
  lateral room, its nearest edge ``1 mm + r`` from the lesion boundary (``background_gap_mm`` overrides the
  gap). Where that does not fit inside the valid region it moves as close as fits, keeping at least 1 mm of
  gap (or the requested gap, if smaller); if even that does not fit, :class:`ElastographyInputError`.
  Without a lesion: a central ``uniform_window_mm`` (depth, lateral) rectangle, also the SNRe window.

Geometry is in mm with the toolkit's grid: pixel (i, j) sits at depth ``i * dz`` and lateral ``j * dx``
(``spacing_mm = (dz, dx)``). A pixel belongs to a region when its centre does. Masks are ``(H, W)`` bool.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from bundle.errors import ElastographyInputError

__all__ = ["DEFAULT_BORDER_MM", "Disc", "Box", "RegionGeometry", "Regions", "phantom_regions", "regions_from_sidecar"]

#: depth left out of the valid region at the top and the bottom (mm): half the 2.5 mm strain kernel of the reports
DEFAULT_BORDER_MM = 1.25

#: slack (mm) when testing a pixel centre or an edge against a boundary, so that float round-off in
#: ``i * dz`` never drops a pixel that lies exactly on it
_EPS_MM = 1e-9


def _grid(shape: tuple[int, int], spacing_mm: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Open grid of pixel-centre positions: depth ``(H, 1)`` and lateral ``(1, W)`` in mm."""
    h, w = shape
    return np.arange(h)[:, None] * spacing_mm[0], np.arange(w)[None, :] * spacing_mm[1]


@dataclass(frozen=True)
class Disc:
    """A disc: ``center_mm`` = (depth, lateral), ``radius_mm``."""

    center_mm: tuple[float, float]
    radius_mm: float

    def mask(self, shape: tuple[int, int], spacing_mm: tuple[float, float]) -> np.ndarray:
        z, x = _grid(shape, spacing_mm)
        r2 = (z - self.center_mm[0]) ** 2 + (x - self.center_mm[1]) ** 2
        return r2 <= self.radius_mm**2 + _EPS_MM

    def bounds(self) -> Box:
        (zc, xc), r = self.center_mm, self.radius_mm
        return Box((zc - r, zc + r), (xc - r, xc + r))

    def to_dict(self) -> dict[str, Any]:
        return {"shape": "disc", "center_mm": [float(c) for c in self.center_mm], "radius_mm": float(self.radius_mm)}


@dataclass(frozen=True)
class Box:
    """An axis-aligned rectangle: closed ranges ``depth_mm = (min, max)`` and ``lateral_mm = (min, max)``."""

    depth_mm: tuple[float, float]
    lateral_mm: tuple[float, float]

    def mask(self, shape: tuple[int, int], spacing_mm: tuple[float, float]) -> np.ndarray:
        z, x = _grid(shape, spacing_mm)
        inside_z = (z >= self.depth_mm[0] - _EPS_MM) & (z <= self.depth_mm[1] + _EPS_MM)
        inside_x = (x >= self.lateral_mm[0] - _EPS_MM) & (x <= self.lateral_mm[1] + _EPS_MM)
        return inside_z & inside_x

    def contains(self, other: Box) -> bool:
        return (
            other.depth_mm[0] >= self.depth_mm[0] - _EPS_MM
            and other.depth_mm[1] <= self.depth_mm[1] + _EPS_MM
            and other.lateral_mm[0] >= self.lateral_mm[0] - _EPS_MM
            and other.lateral_mm[1] <= self.lateral_mm[1] + _EPS_MM
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "shape": "box",
            "depth_mm": [float(v) for v in self.depth_mm],
            "lateral_mm": [float(v) for v in self.lateral_mm],
        }


@dataclass(frozen=True)
class RegionGeometry:
    """The regions of one frame in mm, plus how they were chosen (all JSON-serialisable via :meth:`to_dict`).

    Attributes:
        shape: (H, W) of the frame in pixels.
        spacing_mm: (axial, lateral) pixel spacing in mm.
        valid: the valid region.
        background: a :class:`Disc` beside the lesion, or the central :class:`Box` without a lesion.
        target: the eroded lesion, or None without a lesion.
        lesion: the whole lesion disc, or None.
        parameters: the settings used (margin, border, gap requested/used, side), for the record.
    """

    shape: tuple[int, int]
    spacing_mm: tuple[float, float]
    valid: Box
    background: Disc | Box
    target: Disc | None = None
    lesion: Disc | None = None
    parameters: tuple[tuple[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "shape": [int(n) for n in self.shape],
            "spacing_mm": [float(s) for s in self.spacing_mm],
            "valid": self.valid.to_dict(),
            "target": None if self.target is None else self.target.to_dict(),
            "background": self.background.to_dict(),
            "lesion": None if self.lesion is None else self.lesion.to_dict(),
            "parameters": {k: list(v) if isinstance(v, tuple) else v for k, v in self.parameters},
        }


@dataclass(frozen=True)
class Regions:
    """Pixel masks of a :class:`RegionGeometry`; each mask is ``(H, W)`` bool and lies inside ``valid``.

    Without a lesion ``target`` is an all-False mask (``has_target`` is False), so that target figures come
    out NaN instead of failing.
    """

    geometry: RegionGeometry

    @property
    def shape(self) -> tuple[int, int]:
        return self.geometry.shape

    @property
    def has_target(self) -> bool:
        return self.geometry.target is not None

    @cached_property
    def valid(self) -> np.ndarray:
        return self.geometry.valid.mask(self.shape, self.geometry.spacing_mm)

    @cached_property
    def target(self) -> np.ndarray:
        if self.geometry.target is None:
            return np.zeros(self.shape, dtype=bool)
        return self.geometry.target.mask(self.shape, self.geometry.spacing_mm) & self.valid

    @cached_property
    def background(self) -> np.ndarray:
        return self.geometry.background.mask(self.shape, self.geometry.spacing_mm) & self.valid

    def to_dict(self) -> dict[str, Any]:
        """The mm geometry used plus the pixel count of each region."""
        d = self.geometry.to_dict()
        d["pixels"] = {name: int(getattr(self, name).sum()) for name in ("target", "background", "valid")}
        return d


def _valid_box(shape, spacing_mm, border_mm, border_lines) -> Box:
    (h, w), (dz, dx) = shape, spacing_mm
    box = Box((border_mm, (h - 1) * dz - border_mm), (border_lines * dx, (w - 1 - border_lines) * dx))
    if box.depth_mm[0] > box.depth_mm[1] + _EPS_MM or box.lateral_mm[0] > box.lateral_mm[1] + _EPS_MM:
        raise ElastographyInputError(
            f"frame {h} x {w} at spacing {dz:g} x {dx:g} mm has no valid region left after a {border_mm:g} mm "
            f"axial border and {border_lines} border line(s)"
        )
    return box


def _place_background(inclusion: Disc, target: Disc, valid: Box, dx: float, gap_requested: float):
    """Lateral position of the background disc; returns (disc, side, gap actually used in mm)."""
    zc, xc = inclusion.center_mm
    r, rt = inclusion.radius_mm, target.radius_mm
    gap_min = min(1.0, gap_requested)
    room_right, room_left = valid.lateral_mm[1] - xc, xc - valid.lateral_mm[0]
    side, room = ("right", room_right) if room_right >= room_left else ("left", room_left)
    # centre offsets in whole lines, so that the background is the target's pixel pattern shifted sideways
    # and both windows hold exactly the same number of pixels
    n_wanted = math.ceil((r + gap_requested + rt) / dx - 1e-9)
    n_least = math.ceil((r + gap_min + rt) / dx - 1e-9)
    n_fits = math.floor((room - rt) / dx + 1e-9)
    n = min(n_wanted, n_fits)
    if n < n_least:
        raise ElastographyInputError(
            f"no room for the background window beside the lesion: a disc of radius {rt:g} mm at least "
            f"{gap_min:g} mm from the lesion (radius {r:g} mm at lateral {xc:g} mm) needs "
            f"{r + gap_min + 2 * rt:g} mm on the {side}, but only {room:g} mm of the valid region lies there"
        )
    offset = n * dx if side == "right" else -n * dx
    return Disc((zc, xc + offset), rt), side, n * dx - r - rt


def phantom_regions(
    shape: tuple[int, int],
    spacing_mm: tuple[float, float],
    inclusion: Disc | None,
    margin_mm: float = 1.0,
    border_mm: float = DEFAULT_BORDER_MM,
    border_lines: int = 2,
    background_gap_mm: float | None = None,
    uniform_window_mm: tuple[float, float] = (5.0, 5.0),
    uniform_window_center_mm: tuple[float, float] | None = None,
) -> Regions:
    """Target, background and valid regions of a phantom frame (see the module docstring for definitions).

    Args:
        shape: (H, W) of the frame.
        spacing_mm: (axial, lateral) pixel spacing in mm.
        inclusion: the lesion in image mm (its ``center_mm`` and ``radius_mm``: a :class:`Disc`, or the
            simulator's :class:`~bundle.simulation.mechanics.Inclusion`), or None for a uniform phantom.
        margin_mm: erosion of the lesion for the target (mm).
        border_mm: depth left out at the top and the bottom (mm).
        border_lines: RF lines left out on each side.
        background_gap_mm: gap between the lesion boundary and the background's nearest edge; default
            ``1 mm + lesion radius``.
        uniform_window_mm: (depth, lateral) size of the window used without a lesion (mm).
        uniform_window_center_mm: its centre (depth, lateral) in mm; default the frame's centre (see
            :func:`bundle.metrics.auto_window.most_homogeneous_window` for a data-driven choice).

    Returns:
        :class:`Regions`; ``to_dict()`` gives the geometry actually used.

    Raises:
        ElastographyInputError: bad spacing/shape, a lesion no larger than the margin, a target outside the
            valid region, or no room for the background.
        ValueError: a negative ``margin_mm``, ``border_mm``, ``border_lines`` or ``background_gap_mm``.
    """
    shape = (int(shape[0]), int(shape[1]))
    spacing_mm = (float(spacing_mm[0]), float(spacing_mm[1]))
    if min(shape) < 1 or min(spacing_mm) <= 0 or not all(map(math.isfinite, spacing_mm)):
        raise ElastographyInputError(f"need a positive shape and spacing, got shape {shape}, spacing {spacing_mm}")
    if margin_mm < 0 or border_mm < 0 or border_lines < 0:
        raise ValueError("margin_mm, border_mm and border_lines must not be negative")
    valid = _valid_box(shape, spacing_mm, border_mm, border_lines)
    params: dict[str, Any] = {
        "margin_mm": float(margin_mm),
        "border_mm": float(border_mm),
        "border_lines": int(border_lines),
    }

    if inclusion is None:
        dz_win, dx_win = (float(v) for v in uniform_window_mm)
        zc, xc = (shape[0] - 1) * spacing_mm[0] / 2.0, (shape[1] - 1) * spacing_mm[1] / 2.0
        if uniform_window_center_mm is not None:
            zc, xc = (float(v) for v in uniform_window_center_mm)
            params["uniform_window_center_mm"] = (zc, xc)
        window = Box((zc - dz_win / 2, zc + dz_win / 2), (xc - dx_win / 2, xc + dx_win / 2))
        if dz_win <= 0 or dx_win <= 0 or not valid.contains(window):
            raise ElastographyInputError(
                f"uniform window {dz_win:g} x {dx_win:g} mm does not fit inside the valid region "
                f"(depth {valid.depth_mm[0]:g}-{valid.depth_mm[1]:g} mm, lateral "
                f"{valid.lateral_mm[0]:g}-{valid.lateral_mm[1]:g} mm)"
            )
        params["uniform_window_mm"] = (dz_win, dx_win)
        return Regions(RegionGeometry(shape, spacing_mm, valid, window, parameters=tuple(params.items())))

    r = float(inclusion.radius_mm)
    rt = r - margin_mm
    if rt <= 0:
        raise ElastographyInputError(
            f"lesion radius {r:g} mm is not larger than the target margin {margin_mm:g} mm: no target left"
        )
    center = (float(inclusion.center_mm[0]), float(inclusion.center_mm[1]))
    target = Disc(center, rt)
    if not valid.contains(target.bounds()):
        raise ElastographyInputError(
            f"target disc (centre {center[0]:g}, {center[1]:g} mm, radius {rt:g} mm) is not inside the valid "
            f"region (depth {valid.depth_mm[0]:g}-{valid.depth_mm[1]:g} mm, lateral "
            f"{valid.lateral_mm[0]:g}-{valid.lateral_mm[1]:g} mm)"
        )
    gap_requested = 1.0 + r if background_gap_mm is None else float(background_gap_mm)
    if not gap_requested >= 0:
        raise ValueError(f"background gap must not be negative, got {background_gap_mm}")
    background, side, gap_used = _place_background(inclusion, target, valid, spacing_mm[1], gap_requested)
    params.update(background_side=side, background_gap_requested_mm=gap_requested, background_gap_mm=gap_used)
    geometry = RegionGeometry(shape, spacing_mm, valid, background, target, Disc(center, r), tuple(params.items()))
    return Regions(geometry)


def regions_from_sidecar(
    sidecar: dict[str, Any], shape: tuple[int, int], spacing_mm: tuple[float, float], **kwargs: Any
) -> Regions:
    """Regions from a sidecar-style mapping ``{"inclusion": {"center_mm": [z, x], "radius_mm": r,
    "stiffness_ratio": k} or null}`` (at top level or under ``"phantom"``); ``kwargs`` go to
    :func:`phantom_regions`.

    The ``"inclusion"`` key is required (``null`` for a uniform phantom), so that a misspelt key does not
    silently turn a lesion phantom into a uniform one.
    """
    if isinstance(sidecar, dict) and "inclusion" not in sidecar and isinstance(sidecar.get("phantom"), dict):
        sidecar = sidecar["phantom"]
    if not isinstance(sidecar, dict) or "inclusion" not in sidecar:
        raise ElastographyInputError("sidecar has no 'inclusion' entry (use null for a phantom without a lesion)")
    inc = sidecar["inclusion"]
    inclusion = None
    if inc is not None:
        try:
            z, x = (float(v) for v in inc["center_mm"])
            radius, stiffness_ratio = float(inc["radius_mm"]), float(inc.get("stiffness_ratio", 1.0))
            if not radius > 0:
                raise ElastographyInputError(f"inclusion radius must be positive, got {radius}")
            if not stiffness_ratio > 0:
                raise ElastographyInputError(f"stiffness ratio must be positive, got {stiffness_ratio}")
            inclusion = Disc((z, x), radius)
        except (KeyError, TypeError, ValueError) as err:
            if isinstance(err, ElastographyInputError):
                raise
            raise ElastographyInputError(
                f"sidecar 'inclusion' must hold center_mm [depth, lateral] and radius_mm numbers ({err!r})"
            ) from None
    return phantom_regions(shape, spacing_mm, inclusion, **kwargs)
