"""MetaImage (``.mha`` / ``.mhd`` + ``.raw``) and PLUS sequence files, read and written without ITK.

PLUS (the Public software Library for UltraSound) records a scanner's frames as a MetaImage sequence: one
3-D image ``DimSize = columns rows frames`` plus per-frame fields ``Seq_Frame0000_Timestamp``,
``Seq_Frame0000_ImageStatus`` and the image's orientation ``UltrasoundImageOrientation`` (two or three letters:
the first for the column axis, the second for the row axis; ``M``/``U`` = towards the marked / unmarked side of
the probe, ``F``/``N`` = far from / near the probe).

The array is returned in NumPy order, the reverse of ``DimSize``: ``(frames, rows, columns)``.
"""

from __future__ import annotations

import re
import zlib
from pathlib import Path

import numpy as np

from bundle.errors import ElastographyInputError
from bundle.io.atomic import atomic_path

__all__ = ["MetaImage", "read_metaimage", "write_metaimage", "orientation_axes", "ELEMENT_TYPES"]

#: MetaIO element type -> NumPy dtype (little-endian; byte order is applied from the header)
ELEMENT_TYPES = {
    "MET_CHAR": "i1",
    "MET_UCHAR": "u1",
    "MET_SHORT": "i2",
    "MET_USHORT": "u2",
    "MET_INT": "i4",
    "MET_UINT": "u4",
    "MET_LONG": "i4",
    "MET_ULONG": "u4",
    "MET_LONG_LONG": "i8",
    "MET_ULONG_LONG": "u8",
    "MET_FLOAT": "f4",
    "MET_DOUBLE": "f8",
}
_DTYPE_TO_ELEMENT = {"i1": "MET_CHAR", "u1": "MET_UCHAR", "i2": "MET_SHORT", "u2": "MET_USHORT", "i4": "MET_INT",
                     "u4": "MET_UINT", "i8": "MET_LONG_LONG", "u8": "MET_ULONG_LONG", "f4": "MET_FLOAT",
                     "f8": "MET_DOUBLE"}  # fmt: skip
_FRAME_FIELD = re.compile(r"^Seq_Frame(\d+)_(\w+)$")
#: the largest header we parse; a larger "header" is a binary file with the wrong extension
_MAX_HEADER_BYTES = 1 << 26  # 64 MiB: PLUS writes a few lines per frame, tracked sequences have many


class MetaImage:
    """A parsed MetaImage: ``array`` in NumPy order, the header fields and the per-frame fields of PLUS.

    Attributes:
        array: ``(..., rows, columns)`` in the file's element type.
        header: header fields in file order (values as strings).
        frame_fields: ``{frame index: {field: value}}`` from ``Seq_FrameNNNN_<field>`` lines.
    """

    def __init__(self, array: np.ndarray, header: dict[str, str], frame_fields: dict[int, dict[str, str]]):
        self.array = array
        self.header = header
        self.frame_fields = frame_fields

    @property
    def timestamps_s(self) -> np.ndarray | None:
        """Per-frame ``Timestamp`` values (s) when every frame has one, else None."""
        n = self.array.shape[0] if self.array.ndim == 3 else 1
        values = [self.frame_fields.get(k, {}).get("Timestamp") for k in range(n)]
        if any(v is None for v in values):
            return None
        return np.array([float(v) for v in values])

    @property
    def invalid_frames(self) -> list[int]:
        """Frames whose ``ImageStatus`` is not ``OK`` (PLUS marks frames it could not acquire)."""
        return sorted(k for k, f in self.frame_fields.items() if f.get("ImageStatus", "OK").upper() != "OK")


def _parse_header(blob: bytes, path: Path) -> tuple[dict[str, str], dict[int, dict[str, str]], int]:
    """Header lines up to and including ``ElementDataFile``; returns fields, frame fields, header length."""
    header: dict[str, str] = {}
    frames: dict[int, dict[str, str]] = {}
    offset = 0
    while True:
        end = blob.find(b"\n", offset)
        if end < 0:
            limit = f" within the first {_MAX_HEADER_BYTES >> 20} MiB" if len(blob) >= _MAX_HEADER_BYTES else ""
            raise ElastographyInputError(f"MetaImage header has no ElementDataFile line{limit}", path)
        line = blob[offset:end].decode("latin-1").strip()
        offset = end + 1
        if not line:
            continue
        if "=" not in line:
            raise ElastographyInputError(f"MetaImage header line is not 'Key = Value': {line[:60]!r}", path)
        key, value = (part.strip() for part in line.split("=", 1))
        match = _FRAME_FIELD.match(key)
        if match:
            frames.setdefault(int(match.group(1)), {})[match.group(2)] = value
        else:
            header[key] = value
        if key == "ElementDataFile":
            return header, frames, offset


def _ints(header: dict[str, str], key: str, path: Path) -> list[int]:
    try:
        return [int(v) for v in header[key].split()]
    except KeyError:
        raise ElastographyInputError(f"MetaImage header lacks {key}", path) from None
    except ValueError:
        raise ElastographyInputError(f"MetaImage {key} is not a list of integers: {header[key]!r}", path) from None


def _int_field(header: dict[str, str], key: str, default: int, path: Path) -> int:
    try:
        return int(header.get(key, default))
    except ValueError:
        raise ElastographyInputError(f"MetaImage {key} is not an integer: {header[key]!r}", path) from None


def _inflate(raw: bytes, path: Path) -> bytes:
    """zlib data -> bytes; bytes after the end of the stream are a size mismatch, not something to ignore."""
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(raw) + inflater.flush()
    except zlib.error as err:
        raise ElastographyInputError(f"compressed MetaImage data is corrupt ({err})", path) from None
    if not inflater.eof:
        raise ElastographyInputError("compressed MetaImage data truncated (the zlib stream does not end)", path)
    if inflater.unused_data:
        raise ElastographyInputError(
            f"MetaImage header/data size mismatch: {len(inflater.unused_data)} bytes after the compressed data", path
        )
    return out


def _is_true(header: dict[str, str], key: str) -> bool:
    return header.get(key, "False").strip().lower() in ("true", "1", "yes")


def read_metaimage(path: str | Path) -> MetaImage:
    """Read a ``.mha`` (data inline) or ``.mhd`` (data in the file ``ElementDataFile`` names) image.

    Raises:
        ElastographyInputError: missing or unreadable header fields, an unknown element type, multi-channel
            elements, a data file that is missing, truncated or longer than the header says.
    """
    path = Path(path)
    if not path.is_file():
        raise ElastographyInputError("file not found", path)
    with path.open("rb") as handle:
        head = handle.read(_MAX_HEADER_BYTES)
    header, frame_fields, header_end = _parse_header(head, path)
    dims = _ints(header, "DimSize", path)
    ndims = _int_field(header, "NDims", len(dims), path)
    if ndims != len(dims) or not all(d > 0 for d in dims):
        raise ElastographyInputError(f"MetaImage NDims {ndims} and DimSize {dims} disagree", path)
    element = header.get("ElementType", "")
    if element not in ELEMENT_TYPES:
        raise ElastographyInputError(
            f"unknown MetaImage element type {element!r} (known: {', '.join(ELEMENT_TYPES)})", path
        )
    if _int_field(header, "ElementNumberOfChannels", 1, path) != 1:
        raise ElastographyInputError("MetaImage has several channels per element; RF must have one", path)
    msb = _is_true(header, "BinaryDataByteOrderMSB") or _is_true(header, "ElementByteOrderMSB")
    dtype = np.dtype(ELEMENT_TYPES[element]).newbyteorder(">" if msb else "<")
    expected = int(np.prod(dims)) * dtype.itemsize

    data_file = header["ElementDataFile"]
    if data_file.upper() == "LOCAL":
        data_path, skip = path, header_end
    elif data_file.upper().startswith("LIST") or "%" in data_file:
        raise ElastographyInputError(f"MetaImage data split over several files ({data_file!r}) is not supported", path)
    else:
        data_path, skip = path.parent / data_file, 0
        if not data_path.is_file():
            raise ElastographyInputError(f"MetaImage data file {data_file!r} not found", path)
    raw = data_path.read_bytes()[skip:]
    header_size = _int_field(header, "HeaderSize", 0, path)  # bytes before the (possibly compressed) data
    compressed = _is_true(header, "CompressedData")
    if header_size == -1 and not compressed:  # MetaIO: the data are the last bytes of the file
        raw = raw[-expected:] if len(raw) >= expected else raw
    elif header_size > 0:
        raw = raw[header_size:]
    if compressed:
        raw = _inflate(raw, data_path)
    if len(raw) < expected:
        raise ElastographyInputError(
            f"MetaImage data truncated: DimSize {dims} x {element} needs {expected} bytes, found {len(raw)}", data_path
        )
    if len(raw) > expected:
        raise ElastographyInputError(
            f"MetaImage header/data size mismatch: DimSize {dims} x {element} needs {expected} bytes, the data has "
            f"{len(raw)}",
            data_path,
        )
    array = np.frombuffer(raw, dtype=dtype).reshape(dims[::-1]).astype(dtype.newbyteorder("="))
    return MetaImage(array, header, frame_fields)


def orientation_axes(orientation: str | None, ndim: int) -> list[str] | None:
    """Axis names in NumPy order for a PLUS ``UltrasoundImageOrientation`` code (None if absent or unknown).

    ``MF`` (columns towards the marked side, rows away from the probe) -> ``[frame,] axial, lateral``;
    ``FM`` -> ``[frame,] lateral, axial``; ``N`` flips the axial axis, ``U`` the lateral one (``-`` prefix).
    """
    if not orientation or len(orientation) < 2:
        return None
    names = {"M": "lateral", "U": "-lateral", "F": "axial", "N": "-axial"}
    column, row = orientation[0].upper(), orientation[1].upper()
    if column not in names or row not in names or names[column].lstrip("-") == names[row].lstrip("-"):
        return None
    axes = [names[row], names[column]]
    return (["frame"] + axes) if ndim == 3 else axes


def write_metaimage(
    path: str | Path,
    array: np.ndarray,
    fields: dict[str, str] | None = None,
    frame_fields: dict[int, dict[str, str]] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write ``array`` (NumPy order: ``[frames,] rows, columns``) as ``.mha`` (inline) or ``.mhd`` + ``.raw``.

    ``fields`` are extra header lines (e.g. ``UltrasoundImageOrientation``); ``frame_fields`` become
    ``Seq_FrameNNNN_<field>`` lines, as PLUS writes them. Both files are written atomically.
    """
    path = Path(path)
    array = np.ascontiguousarray(array)
    code = array.dtype.str[1:]
    if code not in _DTYPE_TO_ELEMENT:
        raise ElastographyInputError(f"cannot write dtype {array.dtype} as MetaImage", path)
    lines = [
        "ObjectType = Image",
        f"NDims = {array.ndim}",
        "BinaryData = True",
        f"BinaryDataByteOrderMSB = {'True' if array.dtype.byteorder == '>' else 'False'}",
        "CompressedData = False",
        f"DimSize = {' '.join(str(d) for d in array.shape[::-1])}",
        f"ElementType = {_DTYPE_TO_ELEMENT[code]}",
    ]
    lines += [f"{k} = {v}" for k, v in (fields or {}).items()]
    for index in sorted(frame_fields or {}):
        lines += [f"Seq_Frame{index:04d}_{k} = {v}" for k, v in frame_fields[index].items()]
    inline = path.suffix.lower() == ".mha"
    raw_path = path.with_suffix(".raw")
    lines.append(f"ElementDataFile = {'LOCAL' if inline else raw_path.name}")
    header = ("\n".join(lines) + "\n").encode("latin-1")
    if not inline:
        with atomic_path(raw_path, overwrite=overwrite) as tmp:
            Path(tmp).write_bytes(array.tobytes())
    with atomic_path(path, overwrite=overwrite) as tmp:
        Path(tmp).write_bytes(header + (array.tobytes() if inline else b""))
    return path
