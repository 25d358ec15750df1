"""One entry point for RF files of any supported format: :func:`read_rf` -> :class:`RFFrames` (axial first).

Formats (by extension): NIfTI (``.nii``, ``.nii.gz``), MetaImage and PLUS sequences (``.mha``, ``.mhd`` + data
file), MATLAB (``.mat`` v5 and v7.3), NumPy (``.npy``, ``.npz``). Each file has a JSON sidecar
(:mod:`bundle.io.sidecar`, found by :func:`sidecar_path`) with the acquisition record. Amplitudes are kept as
recorded (int16 scanners and 1e-23 simulators alike); estimators normalise them (:func:`bundle.amplitude.scale_by_std`).

:data:`READERS` (suffix -> reader) is the one list of formats: :data:`RF_SUFFIXES`, :func:`is_rf_file`, the
error for an unknown suffix, :func:`rf_suffix_list` and :func:`sidecar_path` all derive from it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bundle.errors import ElastographyInputError
from bundle.io.array_files import read_matlab, read_numpy
from bundle.io.frames import RFFrames
from bundle.io.metaimage import orientation_axes, read_metaimage
from bundle.io.nifti import read_nifti
from bundle.io.sidecar import RFSidecar, apply_axes, read_sidecar

__all__ = ["read_rf", "is_rf_file", "rf_suffix_list", "sidecar_path", "READERS", "RF_SUFFIXES"]

logger = logging.getLogger(__name__)

#: relative tolerance between a NIfTI header's spacing and the spacing the sidecar implies
SPACING_RTOL = 1e-3
_DEFAULT_AXES = ("axial", "lateral", "frame")


#: what a reader gives: the array, its axes' names, timestamps in s (or None) and the file's frame numbers of
#: the frames kept (None when all are kept)
ReaderOutput = tuple[np.ndarray, tuple[str, ...], np.ndarray | None, np.ndarray | None]


def _read_nifti(path: Path, sidecar: RFSidecar) -> ReaderOutput:
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
    return data, axes, None, None


def _read_metaimage(path: Path, sidecar: RFSidecar) -> ReaderOutput:
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


def _read_matlab(path: Path, sidecar: RFSidecar) -> ReaderOutput:
    return read_matlab(path, sidecar.variable), sidecar.axes or _DEFAULT_AXES, None, None


def _read_numpy(path: Path, sidecar: RFSidecar) -> ReaderOutput:
    return read_numpy(path, sidecar.variable), sidecar.axes or _DEFAULT_AXES, None, None


#: RF file suffix (lower case; a compressed variant after its base) -> reader ``(path, sidecar) -> ReaderOutput``
READERS: dict[str, Callable[[Path, RFSidecar], ReaderOutput]] = {
    ".nii.gz": _read_nifti,
    ".nii": _read_nifti,
    ".mha": _read_metaimage,
    ".mhd": _read_metaimage,
    ".mat": _read_matlab,
    ".npy": _read_numpy,
    ".npz": _read_numpy,
}
RF_SUFFIXES = tuple(READERS)


def _rf_suffix(name: str) -> str | None:
    """The suffix of :data:`READERS` that ``name`` ends with, or None."""
    return next((suffix for suffix in RF_SUFFIXES if name.endswith(suffix)), None)


def is_rf_file(path: str | Path) -> bool:
    """True for a file name with a supported RF extension (a ``.raw`` belongs to its ``.mhd``)."""
    return _rf_suffix(Path(path).name.lower()) is not None


def rf_suffix_list() -> str:
    """The supported suffixes in words, a compressed variant in brackets: ``.nii[.gz], .mha, ...``."""
    words = []
    for suffix in RF_SUFFIXES:
        if any(suffix != base and suffix.startswith(base) for base in RF_SUFFIXES):
            continue  # written with its base
        variants = [other[len(suffix) :] for other in RF_SUFFIXES if other != suffix and other.startswith(suffix)]
        words.append(suffix + "".join(f"[{v}]" for v in variants))
    return ", ".join(words)


def sidecar_path(path: str | Path) -> Path:
    """``case_rf.nii.gz`` -> ``case_rf.json`` (same folder, same stem; the suffix as written, case and all)."""
    path = Path(path)
    suffix = _rf_suffix(path.name)
    return path.with_name(path.name[: -len(suffix)] + ".json") if suffix else path.with_suffix(".json")


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
    suffix = _rf_suffix(path.name.lower())
    if suffix is None:
        raise ElastographyInputError(f"unknown RF file type (supported: {', '.join(RF_SUFFIXES)})", path)
    if not path.is_file():
        raise ElastographyInputError("file not found", path)
    info = read_sidecar(sidecar_path(path) if sidecar is None else sidecar)
    array, axes, timestamps, kept = READERS[suffix](path, info)
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
