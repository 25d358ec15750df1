"""The JSON sidecar: what an RF file lacks (acquisition record, axis order, which variable, how to pair frames).

``case_rf.<ext>`` is described by ``case_rf.json``::

    {
      "acquisition": {"sampling_frequency_mhz": 40, "center_frequency_mhz": 5, "line_pitch_mm": 0.3,
                      "speed_of_sound_m_s": 1540},
      "axes": ["axial", "lateral", "frame"],
      "variable": "rf",
      "frame_pairs": "auto",
      "reference_dicom": "bmode.dcm"
    }

``acquisition`` (or the same fields at top level) is required; units may be given by suffix
(:meth:`bundle.acquisition.Acquisition.from_dict`). ``axes`` names the array's dimensions in the order NumPy shows
them after loading (MATLAB: the order of ``size(x)``; MetaImage: ``frames, rows, columns``); ``-axial`` or
``-lateral`` marks an axis stored in the reverse direction (depth decreasing, or lines from the unmarked side).
Without ``axes`` each reader uses its format's default. ``variable`` picks the array in a ``.mat``/``.npz``.
``frame_pairs`` is ``auto``, ``first``, ``consecutive`` or a list of ``[pre, post]`` frame indices
(:mod:`bundle.pairs`). ``reference_dicom`` (relative to the sidecar's folder) is a B-mode DICOM of the same exam
whose patient and study the DICOM outputs join (:mod:`bundle.export.dicom`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bundle.acquisition import Acquisition
from bundle.errors import ElastographyInputError
from bundle.io.jsonfile import read_json_object

__all__ = ["RFSidecar", "read_sidecar", "read_acquisition", "apply_axes", "AXIS_NAMES", "FRAME_PAIR_MODES"]

AXIS_NAMES = ("axial", "lateral", "frame")
FRAME_PAIR_MODES = ("auto", "first", "consecutive")


@dataclass(frozen=True)
class RFSidecar:
    """Parsed sidecar; ``axes`` and ``variable`` are None when the sidecar leaves them to the reader."""

    acquisition: Acquisition
    axes: tuple[str, ...] | None = None
    variable: str | None = None
    frame_pairs: str | tuple[tuple[int, int], ...] = "auto"
    path: Path | None = None
    reference_dicom: Path | None = None


def _check_axes(axes, path: Path) -> tuple[str, ...]:
    if not isinstance(axes, list) or not all(isinstance(a, str) for a in axes):
        raise ElastographyInputError(f"sidecar 'axes' must be a list of names, got {axes!r}", path)
    names = [a.lstrip("-") for a in axes]
    if sorted(n for n in names if n != "frame") != ["axial", "lateral"] or any(n not in AXIS_NAMES for n in names):
        raise ElastographyInputError(
            f"sidecar 'axes' {axes} must name 'axial' and 'lateral' once each, and at most one 'frame'", path
        )
    if names.count("frame") > 1 or "-frame" in axes:
        raise ElastographyInputError(f"sidecar 'axes' {axes}: one 'frame' axis at most, without sign", path)
    return tuple(axes)


def _check_pairs(pairs, path: Path) -> str | tuple[tuple[int, int], ...]:
    if isinstance(pairs, str) and pairs in FRAME_PAIR_MODES:
        return pairs
    ok = (
        isinstance(pairs, list)
        and pairs
        and all(
            isinstance(p, list) and len(p) == 2 and all(isinstance(i, int) and i >= 0 for i in p) and p[0] != p[1]
            for p in pairs
        )
    )
    if not ok:
        raise ElastographyInputError(
            f"sidecar 'frame_pairs' must be one of {FRAME_PAIR_MODES} or a list of [pre, post] frame indices, "
            f"got {pairs!r}",
            path,
        )
    return tuple((int(a), int(b)) for a, b in pairs)


def read_sidecar(path: str | Path) -> RFSidecar:
    """Read and check a sidecar; every problem is an :class:`ElastographyInputError` naming the file."""
    path = Path(path)
    data = read_json_object(path, "sidecar")
    acquisition = Acquisition.from_dict(data.get("acquisition", data), source=path)
    axes = _check_axes(data["axes"], path) if "axes" in data else None
    variable = data.get("variable")
    if variable is not None and not isinstance(variable, str):
        raise ElastographyInputError(f"sidecar 'variable' must be a string, got {variable!r}", path)
    pairs = _check_pairs(data["frame_pairs"], path) if "frame_pairs" in data else "auto"
    reference = data.get("reference_dicom")
    if reference is not None and not isinstance(reference, str):
        raise ElastographyInputError(f"sidecar 'reference_dicom' must be a path string, got {reference!r}", path)
    reference = None if reference is None else path.parent / reference
    return RFSidecar(acquisition, axes, variable, pairs, path, reference)


def read_acquisition(path: str | Path) -> Acquisition:
    """The acquisition record of a JSON sidecar (at its top level or under the key ``"acquisition"``)."""
    return read_sidecar(path).acquisition


def apply_axes(array: np.ndarray, axes: tuple[str, ...], source: Path | None = None) -> np.ndarray:
    """Reorder ``array`` (dimensions named by ``axes``) to the toolkit's ``(frames, axial, lateral)``.

    Axes marked ``-axial``/``-lateral`` are flipped so that depth increases with the row index. Trailing
    singleton dimensions may be missing (MATLAB drops them) or extra (NIfTI pads to 4-D).
    """
    axes = list(axes)
    while array.ndim > len(axes) and array.shape[-1] == 1:
        array = array[..., 0]
    while array.ndim < len(axes):
        array = array[..., None]
    if array.ndim != len(axes):
        raise ElastographyInputError(f"array of shape {array.shape} does not match axes {axes}", source)
    if "frame" not in axes:
        array, axes = array[None], ["frame"] + axes
    names = [a.lstrip("-") for a in axes]
    out = np.transpose(array, [names.index("frame"), names.index("axial"), names.index("lateral")])
    flips = tuple(i for i, name in ((1, "axial"), (2, "lateral")) if f"-{name}" in axes)
    return np.flip(out, axis=flips) if flips else out
