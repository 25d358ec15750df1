"""NIfTI reading and writing with spacing in millimetres and the axial-first convention.

Array layout on disk: axis 0 = axial (depth, mm), axis 1 = lateral (mm), then frames / components.
The affine is ``diag(axial_spacing_mm, lateral_spacing_mm, 1, 1)``, so nibabel and MONAI's loaders read the
spacing back from the header.
"""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np

from bundle.errors import ElastographyInputError
from bundle.io.atomic import atomic_path

__all__ = ["write_nifti", "read_nifti"]


def _affine(spacing_mm: tuple[float, float]) -> np.ndarray:
    return np.diag([float(spacing_mm[0]), float(spacing_mm[1]), 1.0, 1.0])


def write_nifti(path: str | Path, array: np.ndarray, spacing_mm: tuple[float, float], overwrite: bool = False) -> Path:
    """Write ``array`` (axial first, float32) with ``spacing_mm`` = (axial, lateral) in the header, atomically."""
    img = nib.Nifti1Image(np.asarray(array, dtype=np.float32), _affine(spacing_mm))
    img.header.set_xyzt_units(xyz="mm")
    with atomic_path(path, overwrite=overwrite) as tmp:
        nib.save(img, tmp)
    return Path(path)


def read_nifti(path: str | Path, all_zooms: bool = False) -> tuple[np.ndarray, tuple[float, ...]]:
    """Read a NIfTI file; return (float32 array, (axial, lateral) spacing in mm, or every axis' if ``all_zooms``)."""
    path = Path(path)
    if not path.is_file():
        raise ElastographyInputError("file not found", path)
    if path.stat().st_size == 0:
        raise ElastographyInputError("file is empty", path)
    try:
        img = nib.load(path)
        data = np.asarray(img.dataobj, dtype=np.float32)
        zooms = img.header.get_zooms()
    except Exception as err:  # nibabel raises many types for truncated/corrupt files
        raise ElastographyInputError(f"cannot read NIfTI ({type(err).__name__}: {err})", path) from None
    if len(zooms) < 2:
        raise ElastographyInputError(f"NIfTI has {len(zooms)} dimension(s); need at least axial x lateral", path)
    return data, tuple(float(z) for z in (zooms if all_zooms else zooms[:2]))
