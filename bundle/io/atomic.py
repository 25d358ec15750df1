"""Write files so that a crash or an error never leaves a half-written output behind.

Data goes to a temporary name in the destination folder first and is renamed into place only once it is
complete (``os.replace`` is atomic on one file system). Existing outputs are never overwritten unless the
caller says so.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from bundle.errors import ElastographyInputError

__all__ = ["atomic_path", "atomic_directory", "atomic_write_text", "atomic_write_with"]


@contextmanager
def atomic_path(destination: str | Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``destination``; rename it to ``destination`` on success.

    The temporary file keeps the destination's suffixes (``.nii.gz`` stays ``.nii.gz``) so that writers
    that pick a format from the name still work. On any exception the temporary file is removed and the
    destination is untouched.
    """
    destination = Path(destination)
    if destination.exists() and not overwrite:
        raise ElastographyInputError("output exists already; refusing to overwrite it", destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    suffix = "".join(destination.suffixes)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{destination.name}.", suffix=f".part{suffix}", dir=destination.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; outputs should get the usual permissions
    try:
        yield tmp
        os.replace(tmp, destination)
    finally:
        if tmp.exists():
            tmp.unlink()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(destination: str | Path, text: str, overwrite: bool = False) -> Path:
    """Write ``text`` to ``destination`` atomically."""
    with atomic_path(destination, overwrite=overwrite) as tmp:
        tmp.write_text(text)
    return Path(destination)


def atomic_write_with(destination: str | Path, writer: Callable[[Path], None], overwrite: bool = False) -> Path:
    """Call ``writer(tmp_path)`` and move the result to ``destination`` atomically."""
    with atomic_path(destination, overwrite=overwrite) as tmp:
        writer(tmp)
    return Path(destination)


@contextmanager
def atomic_directory(destination: str | Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield an empty staging folder beside ``destination``; move it into place when the block succeeds.

    ``destination`` must not exist or be empty unless ``overwrite``; with ``overwrite`` the old folder is
    removed only after the new one is complete. On any exception the staging folder is removed and
    ``destination`` is untouched.
    """
    destination = Path(destination)
    if destination.exists() and not destination.is_dir():
        raise ElastographyInputError("output path exists and is not a folder", destination)
    if destination.exists() and any(destination.iterdir()) and not overwrite:
        raise ElastographyInputError("output folder exists and is not empty (use overwrite)", destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{destination.name}.partial-", dir=destination.parent))
    try:
        yield staging
        # mkdtemp makes 0700 folders: what is published gets the umask's permissions, like any folder the process
        # makes, else every other user of the machine gets "Permission denied"
        os.chmod(staging, 0o777 & ~_umask())
        if destination.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{destination.name}.old-", dir=destination.parent))
            os.replace(destination, old / "previous")
            os.replace(staging, destination)
            shutil.rmtree(old)
        else:
            os.replace(staging, destination)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
