"""One interface for every displacement estimator, classical or network.

``estimator.estimate(pre, posts, acquisition) -> displacement_mm`` with

- ``pre``: ``(H, W)`` RF frame before compression (any amplitude scale),
- ``posts``: ``(H, W)`` or ``(T, H, W)`` RF frame(s) after compression,
- ``acquisition``: :class:`bundle.acquisition.Acquisition`,
- returns ``(T, 2, H, W)`` float32 displacement **in mm** on the pre frame's pixel grid; channel 0 is axial
  (positive = away from the probe), channel 1 lateral. The post frame sampled at ``x + u(x)`` matches the pre
  frame at ``x``.

Strain is derived from the displacement by :func:`bundle.strain.axial_strain`; each estimator suggests the
least-squares kernel that suits it (``strain_kernel_mm``). Estimators register by name with
:func:`register_estimator`; :mod:`bundle.catalogue` holds the built-in ones and creates them from a string.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

import numpy as np

from bundle.acquisition import Acquisition
from bundle.amplitude import scale_by_std
from bundle.errors import ElastographyInputError
from bundle.io.frames import check_pair
from bundle.strain import axial_strain

__all__ = ["DisplacementEstimator", "register_estimator", "registered_estimators"]

_REGISTRY: dict[str, Callable[..., DisplacementEstimator]] = {}


class DisplacementEstimator(ABC):
    """Base class: validates and normalises the input, checks the output, derives strain."""

    #: registry name, set by :func:`register_estimator`
    name: str = "estimator"
    #: least-squares strain kernel (mm) that suits this estimator's displacement noise
    strain_kernel_mm: float = 1.0

    def estimate(self, pre, posts, acquisition: Acquisition) -> np.ndarray:
        """Displacement ``(T, 2, H, W)`` in mm of each post frame relative to ``pre`` (see module docstring)."""
        if not isinstance(acquisition, Acquisition):
            kind = type(acquisition).__name__
            raise ElastographyInputError(f"acquisition must be an Acquisition record, got {kind}")
        pre, posts = check_pair(pre, posts)
        scale_ref = pre
        pre, posts = scale_by_std(pre, scale_ref), scale_by_std(posts, scale_ref)
        displacement_mm = np.asarray(self._estimate(pre, posts, acquisition), dtype=np.float32)
        expected = (posts.shape[0], 2, *pre.shape)
        if displacement_mm.shape != expected:
            shape = displacement_mm.shape
            raise RuntimeError(f"{self.name} returned displacement of shape {shape}, expected {expected}")
        if not np.isfinite(displacement_mm).all():
            raise RuntimeError(f"{self.name} returned non-finite displacement")
        return displacement_mm

    def strain(self, displacement_mm: np.ndarray, acquisition: Acquisition) -> np.ndarray:
        """Axial strain ``(T, H, W)`` (fraction) from ``estimate``'s output with this estimator's kernel."""
        return axial_strain(displacement_mm[:, 0], acquisition.axial_spacing_mm, self.strain_kernel_mm)

    @abstractmethod
    def _estimate(self, pre: np.ndarray, posts: np.ndarray, acquisition: Acquisition) -> np.ndarray:
        """Implementations get float32 ``pre (H, W)`` and ``posts (T, H, W)`` with unit standard deviation."""


def register_estimator(name: str):
    """Class decorator: make an estimator available to :func:`bundle.catalogue.create_estimator` under ``name``."""

    def decorator(cls):
        if name in _REGISTRY:
            raise ValueError(f"estimator name '{name}' is registered already")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return decorator


def registered_estimators() -> dict[str, Callable[..., DisplacementEstimator]]:
    """Name -> class of the estimators registered so far (:mod:`bundle.catalogue` registers the built-in ones)."""
    return dict(_REGISTRY)
