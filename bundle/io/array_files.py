"""Named arrays from NumPy (``.npy``, ``.npz``) and MATLAB (``.mat`` v5 via SciPy, v7.3 = HDF5 via h5py) files.

A container holds several arrays; the RF is the one the sidecar names (``"variable"``, dotted for a MATLAB
struct field: ``"acq.rf"``) or, when the sidecar names none, the only numeric array with two or three dimensions.
MATLAB arrays come back in MATLAB's dimension order (what ``size(x)`` shows), whichever version wrote them:
v7.3 files store them reversed, so they are transposed here. Nothing is unpickled (``allow_pickle=False``).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from bundle.errors import ElastographyInputError

__all__ = ["read_numpy", "read_matlab", "choose_array"]


def choose_array(arrays: dict[str, np.ndarray], variable: str | None, path: Path) -> np.ndarray:
    """The array named ``variable``, or the single 2-D/3-D numeric array when ``variable`` is None."""
    if variable is not None:
        if variable not in arrays:
            raise ElastographyInputError(
                f"variable {variable!r} not found (the file holds: {', '.join(sorted(arrays)) or 'nothing'})", path
            )
        return arrays[variable]
    candidates = {k: v for k, v in arrays.items() if v.ndim in (2, 3) and v.dtype.kind in "fiuc" and min(v.shape) > 1}
    if len(candidates) != 1:
        names = ", ".join(f"{k} {v.shape}" for k, v in sorted(candidates.items())) or "none"
        raise ElastographyInputError(
            f"cannot tell which array is the RF (2-D/3-D numeric arrays: {names}); name it in the sidecar's 'variable'",
            path,
        )
    return next(iter(candidates.values()))


def read_numpy(path: str | Path, variable: str | None = None) -> np.ndarray:
    """RF array of a ``.npy`` file or of a ``.npz`` archive (see :func:`choose_array`)."""
    path = Path(path)
    if not path.is_file():
        raise ElastographyInputError("file not found", path)
    try:
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.ndarray):
            if variable not in (None, "", path.stem):
                raise ElastographyInputError(f"a .npy file holds one array; sidecar names {variable!r}", path)
            return loaded
        with loaded:
            arrays = {name: loaded[name] for name in loaded.files}
    except ElastographyInputError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
        raise ElastographyInputError(f"cannot read NumPy file ({type(err).__name__}: {err})", path) from None
    return choose_array(arrays, variable, path)


def _matlab_v5(path: Path) -> dict[str, np.ndarray]:
    from scipy.io import loadmat
    from scipy.io.matlab import mat_struct

    data = loadmat(path, squeeze_me=False, struct_as_record=False, mat_dtype=False)
    arrays: dict[str, np.ndarray] = {}

    def walk(prefix: str, value) -> None:
        if isinstance(value, mat_struct):
            for field in value._fieldnames:
                walk(f"{prefix}.{field}", getattr(value, field))
        elif isinstance(value, np.ndarray) and value.dtype == object and value.size == 1:
            walk(prefix, value.flat[0])
        elif isinstance(value, np.ndarray) and value.dtype.kind in "fiucb":
            arrays[prefix] = value

    for name, value in data.items():
        if not name.startswith("__"):
            walk(name, value)
    return arrays


def _matlab_v73(path: Path) -> dict[str, np.ndarray]:
    import h5py

    arrays: dict[str, np.ndarray] = {}
    with h5py.File(path, "r") as handle:

        def visit(name: str, node) -> None:
            kind = node.attrs.get("MATLAB_class", b"double") if isinstance(node, h5py.Dataset) else b""
            kind = kind.decode() if isinstance(kind, bytes) else str(kind)
            if isinstance(node, h5py.Dataset) and not name.startswith("#") and kind not in ("char", "logical"):
                value = node[()]
                if isinstance(value, np.ndarray) and value.dtype.names and {"real", "imag"} <= set(value.dtype.names):
                    value = value["real"] + 1j * value["imag"]
                if isinstance(value, np.ndarray) and value.dtype.kind in "fiuc":
                    arrays[name.replace("/", ".")] = value.T  # HDF5 stores MATLAB's column-major array reversed

        handle.visititems(visit)
    return arrays


def read_matlab(path: str | Path, variable: str | None = None) -> np.ndarray:
    """RF array of a MATLAB file, v5 (``save``) or v7.3 (``save -v7.3``), in MATLAB's dimension order."""
    path = Path(path)
    if not path.is_file():
        raise ElastographyInputError("file not found", path)
    with path.open("rb") as handle:
        head = handle.read(520)
    signature = b"\x89HDF\r\n\x1a\n"
    try:
        # v7.3 files are HDF5 with a 512-byte user block (signature at byte 512); other writers may omit it
        is_hdf5 = head[512:520] == signature or head[:8] == signature
        arrays = _matlab_v73(path) if is_hdf5 else _matlab_v5(path)
    except Exception as err:  # scipy and h5py raise many types for truncated or foreign files
        raise ElastographyInputError(f"cannot read MATLAB file ({type(err).__name__}: {err})", path) from None
    array = choose_array(arrays, variable, path)
    if np.iscomplexobj(array):
        raise ElastographyInputError("RF must be real; this array is complex (IQ data?)", path)
    return array
