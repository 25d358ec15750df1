"""Stable DICOM identifiers: a recording's content digest, its pseudonymous patient ID, and UIDs derived from them.

A PACS files instances by their UIDs: random UIDs make every re-export of the same result a new study. Here every
UID is a hash (pydicom ``generate_uid(entropy_srcs=...)``: SHA-512 of the parts under pydicom's root) of what the
object is, so that the same recording, estimator and version give the same UIDs on every run and every machine:

    study             the recording (anonymous export; with a reference B-mode the study is the reference's)
    frame of reference  the study and the recording
    series            the study, the recording, the estimator (name, software version, weights) and the kind
                      (``PM`` Parametric Maps, ``SC`` overlays)
    SOP instance      the series and the frame pair (index and the file's frame numbers)

The recording is identified by the SHA-256 of its file's bytes (with the data file of a detached ``.mhd`` header),
not by its name, which often carries an MRN or a patient's name; the digest cannot be turned back into the data.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from pydicom.uid import generate_uid

from bundle.errors import ElastographyInputError

__all__ = ["recording_digest", "file_digest", "pseudonymous_patient_id", "derived_uid", "PSEUDONYM_PREFIX"]

PSEUDONYM_PREFIX = "ANON-"
_CHUNK = 1 << 20  # bytes read at a time: a recording of several GB is hashed in constant memory
_SEPARATOR = "\x1f"  # between parts, so that ("ab", "c") and ("a", "bc") hash differently


def _update(digest, path: Path) -> None:
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
    except OSError as err:
        raise ElastographyInputError(f"cannot read the file to identify it ({err.strerror or err})", path) from None


def _detached_data_file(path: Path) -> Path | None:
    """The data file a ``.mhd`` header names (``ElementDataFile``), None when the data are inline or absent."""
    if path.suffix.lower() != ".mhd":
        return None
    with path.open("rb") as handle:
        head = handle.read(1 << 22).decode("latin-1")
    for line in head.splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "ElementDataFile":
            value = value.strip()
            return None if value.upper() == "LOCAL" or not value else path.parent / value
    return None


def file_digest(path: str | Path) -> str:
    """SHA-256 (hex) of one file's bytes, read in chunks.

    Raises:
        ElastographyInputError: the file is missing or unreadable (naming it).
    """
    path = Path(path)
    if not path.is_file():
        raise ElastographyInputError("file not found (needed to identify the recording)", path)
    digest = hashlib.sha256()
    _update(digest, path)
    return digest.hexdigest()


def recording_digest(path: str | Path) -> str:
    """SHA-256 (hex) identifying a recording by content: its file's bytes, and for a ``.mhd`` header also the bytes
    of the data file it names. Independent of the file's name and location.

    Raises:
        ElastographyInputError: the file (or the data file of a ``.mhd``) is missing or unreadable.
    """
    path = Path(path)
    if not path.is_file():
        raise ElastographyInputError("file not found (needed to identify the recording)", path)
    digest = hashlib.sha256()
    _update(digest, path)
    data = _detached_data_file(path)
    if data is not None:
        if not data.is_file():
            raise ElastographyInputError(f"MetaImage data file {data.name!r} not found", path)
        _update(digest, data)
    return digest.hexdigest()


def pseudonymous_patient_id(digest: str) -> str:
    """``ANON-`` + the first 16 hex digits of a recording's digest (what ``sha256sum`` prints for a one-file
    recording): one pseudonymous patient per recording. 16 hex digits = 64 bits: two different recordings share
    an ID with probability 2**-64 (5e-20)."""
    _check_digest(digest)
    return PSEUDONYM_PREFIX + digest[:16].lower()


def derived_uid(kind: str, *parts: object) -> str:
    """A UID that depends only on ``kind`` and ``parts`` (their ``str``): same parts, same UID.

    Raises:
        ValueError: no kind, or an empty part (a UID from missing information would collide across objects).
    """
    texts = [str(kind), *(str(p) for p in parts)]
    if not all(texts):
        raise ValueError(f"derived UID needs non-empty parts, got {texts!r}")
    return str(generate_uid(entropy_srcs=[_SEPARATOR.join(["elastography-uid-v1", *texts])]))


def _check_digest(digest: str) -> None:
    if len(digest) < 16 or any(c not in "0123456789abcdefABCDEF" for c in digest):
        raise ValueError(f"not a hex digest of at least 16 digits: {digest!r}")
