"""NIfTI reading and writing with spacing in millimetres and the axial-first convention.

Array layout on disk: axis 0 = axial (depth, mm), axis 1 = lateral (mm), then frames / components.
The affine is ``diag(axial_spacing_mm, lateral_spacing_mm, 1, 1)``, so nibabel and MONAI's loaders read the
spacing back from the header.
"""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np

from bundle.acquisition import Acquisition
from bundle.errors import ElastographyInputError
from bundle.io.atomic import atomic_path
from bundle.io.frames import RFFrames

__all__ = ["write_nifti", "read_nifti", "read_rf_nifti", "sidecar_path"]

#: relative tolerance between the header spacing and the spacing the sidecar implies
SPACING_RTOL = 1e-3


def _affine(spacing_mm: tuple[float, float]) -> np.ndarray:
    return np.diag([float(spacing_mm[0]), float(spacing_mm[1]), 1.0, 1.0])


def write_nifti(path: str | Path, array: np.ndarray, spacing_mm: tuple[float, float], overwrite: bool = False) -> Path:
    """Write ``array`` (axial first, float32) with ``spacing_mm`` = (axial, lateral) in the header, atomically."""
    img = nib.Nifti1Image(np.asarray(array, dtype=np.float32), _affine(spacing_mm))
    img.header.set_xyzt_units(xyz="mm")
    with atomic_path(path, overwrite=overwrite) as tmp:
        nib.save(img, tmp)
    return Path(path)


def read_nifti(path: str | Path) -> tuple[np.ndarray, tuple[float, float]]:
    """Read a NIfTI file; return (float32 array, (axial, lateral) spacing in mm)."""
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
    return data, (float(zooms[0]), float(zooms[1]))


def sidecar_path(path: str | Path) -> Path:
    """``case_rf.nii.gz`` -> ``case_rf.json`` (same folder, same stem)."""
    path = Path(path)
    name = path.name
    for ext in (".nii.gz", ".nii", ".npz", ".npy", ".mha", ".mhd", ".mat"):
        if name.endswith(ext):
            return path.with_name(name[: -len(ext)] + ".json")
    return path.with_suffix(".json")


def read_rf_nifti(path: str | Path, sidecar: str | Path | None = None) -> RFFrames:
    """Read RF frames ``(H, W[, N])`` from NIfTI plus the JSON sidecar with the acquisition record.

    The header spacing must agree with the spacing the sidecar implies (c / 2 fs axially, line pitch
    laterally); a disagreement means one of the two is wrong, so it is an error rather than a guess.
    """
    path = Path(path)
    sidecar = sidecar_path(path) if sidecar is None else Path(sidecar)
    acquisition = Acquisition.from_json(sidecar)
    data, spacing = read_nifti(path)
    if data.ndim == 2:
        data = data[:, :, None]
    data = np.squeeze(data, axis=tuple(range(3, data.ndim))) if data.ndim > 3 else data
    if data.ndim != 3:
        raise ElastographyInputError(f"RF NIfTI must be (H, W) or (H, W, frames), got {data.shape}", path)
    expected = acquisition.spacing_mm
    if not np.allclose(spacing, expected, rtol=SPACING_RTOL):
        raise ElastographyInputError(
            f"header spacing {spacing} mm disagrees with the sidecar's acquisition "
            f"{tuple(round(s, 6) for s in expected)} mm",
            path,
        )
    return RFFrames(np.moveaxis(data, 2, 0), acquisition, source=path)
