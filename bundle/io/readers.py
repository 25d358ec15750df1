"""One entry point for RF files of any supported format: :func:`read_rf` -> :class:`RFFrames` (axial first).

Formats (by extension): NIfTI (``.nii``, ``.nii.gz``), MetaImage and PLUS sequences (``.mha``, ``.mhd`` + data
file), MATLAB (``.mat`` v5 and v7.3), NumPy (``.npy``, ``.npz``). Each file has a JSON sidecar
(:mod:`bundle.io.sidecar`) with the acquisition record. Amplitudes are kept as recorded (int16 scanners and
1e-23 simulators alike); estimators normalise them (:func:`bundle.io.frames.normalize_rf`).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from bundle.errors import ElastographyInputError
from bundle.io.array_files import read_matlab, read_numpy
from bundle.io.frames import RFFrames
from bundle.io.metaimage import orientation_axes, read_metaimage
from bundle.io.nifti import read_nifti, sidecar_path
from bundle.io.sidecar import RFSidecar, apply_axes, read_sidecar

__all__ = ["read_rf", "is_rf_file", "RF_SUFFIXES"]

logger = logging.getLogger(__name__)

RF_SUFFIXES = (".nii.gz", ".nii", ".mha", ".mhd", ".mat", ".npy", ".npz")
#: relative tolerance between a NIfTI header's spacing and the spacing the sidecar implies
SPACING_RTOL = 1e-3
_DEFAULT_AXES = ("axial", "lateral", "frame")


def is_rf_file(path: str | Path) -> bool:
    """True for a file name with a supported RF extension (a ``.raw`` belongs to its ``.mhd``)."""
    return Path(path).name.lower().endswith(RF_SUFFIXES)


def _read_nifti(path: Path, sidecar: RFSidecar) -> tuple[np.ndarray, tuple[str, ...]]:
    data, zooms = read_nifti(path, all_zooms=True)
    axes = sidecar.axes or _DEFAULT_AXES
    names = [a.lstrip("-") for a in axes]
    if len(zooms) >= len(names):  # the header's spacing must agree with the sidecar's (else one of them is wrong)
        spacing = (zooms[names.index("axial")], zooms[names.index("lateral")])
        expected = sidecar.acquisition.spacing_mm
        if not np.allclose(spacing, expected, rtol=SPACING_RTOL):
            raise ElastographyInputError(
                f"header spacing {spacing} mm disagrees with the sidecar's acquisition "
                f"{tuple(round(s, 6) for s in expected)} mm",
                path,
            )
    return data, axes


def _read_metaimage(
    path: Path, sidecar: RFSidecar
) -> tuple[np.ndarray, tuple[str, ...], np.ndarray | None, np.ndarray | None]:
    """Array, axes, timestamps and the file's frame numbers of the frames kept (None when all are kept)."""
    image = read_metaimage(path)
    kind = image.header.get("UltrasoundImageType", "RF_REAL").upper()
    if kind not in ("RF_REAL", "RF"):
        raise ElastographyInputError(f"PLUS image type is {kind}, not RF (need beamformed RF, UltrasoundImageType "
                                     f"= RF_REAL)", path)  # fmt: skip
    array, timestamps, keep = image.array, image.timestamps_s, None
    invalid = [k for k in image.invalid_frames if k < (array.shape[0] if array.ndim == 3 else 1)]
    if invalid and array.ndim == 3:
        logger.warning("%s: skipping frame(s) %s whose ImageStatus is not OK", path, invalid)
        keep = np.setdiff1d(np.arange(array.shape[0]), invalid)
        array = array[keep]
        timestamps = None if timestamps is None else timestamps[keep]
    axes = sidecar.axes or orientation_axes(image.header.get("UltrasoundImageOrientation"), array.ndim)
    axes = axes or (("frame", "axial", "lateral") if array.ndim == 3 else ("axial", "lateral"))
    return array, tuple(axes), timestamps, keep


def _renumber_pairs(pairs, kept: np.ndarray, path: Path):
    """Sidecar pairs name the file's frame numbers; after dropping invalid frames, map them to the kept ones."""
    if isinstance(pairs, str) or kept is None:
        return pairs
    position = {int(k): i for i, k in enumerate(kept)}
    dropped = sorted({i for pair in pairs for i in pair if i not in position})
    if dropped:
        raise ElastographyInputError(f"sidecar 'frame_pairs' names frame(s) {dropped}, which PLUS marked invalid", path)
    return tuple((position[a], position[b]) for a, b in pairs)


def read_rf(path: str | Path, sidecar: str | Path | None = None) -> RFFrames:
    """Read RF frames from ``path`` plus its JSON sidecar (default: same stem, ``.json``).

    Returns:
        :class:`RFFrames` with ``frames`` ``(N, H, W)`` float32, depth increasing with the row index.

    Raises:
        ElastographyInputError: unknown extension, unreadable or corrupt file, a sidecar missing or lacking a
            required field, axes that do not fit the array, NaN/Inf or all-zero frames, too small frames.
    """
    path = Path(path)
    if not is_rf_file(path):
        raise ElastographyInputError(f"unknown RF file type (supported: {', '.join(RF_SUFFIXES)})", path)
    if not path.is_file():
        raise ElastographyInputError("file not found", path)
    info = read_sidecar(sidecar_path(path) if sidecar is None else sidecar)
    name, timestamps, kept = path.name.lower(), None, None
    if name.endswith((".nii", ".nii.gz")):
        array, axes = _read_nifti(path, info)
    elif name.endswith((".mha", ".mhd")):
        array, axes, timestamps, kept = _read_metaimage(path, info)
    elif name.endswith(".mat"):
        array, axes = read_matlab(path, info.variable), info.axes or _DEFAULT_AXES
    else:
        array, axes = read_numpy(path, info.variable), info.axes or _DEFAULT_AXES
    if np.iscomplexobj(array):
        raise ElastographyInputError("RF must be real; this array is complex (IQ data?)", path)
    frames = apply_axes(np.asarray(array), axes, path)
    return RFFrames(
        frames,
        info.acquisition,
        source=path,
        timestamps_s=timestamps,
        frame_pairs=_renumber_pairs(info.frame_pairs, kept, path),
        reference_dicom=info.reference_dicom,
        frame_numbers=kept,
    )
