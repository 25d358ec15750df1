"""Errors the toolkit raises for bad input.

Every error that comes from a file names the file and the problem, so that a user running a batch of
cases can tell which case is wrong and why. Command-line entry points turn these into a message and a
non-zero exit status. Bad arguments (a parameter out of range, an array of the wrong shape handed over by
calling code) raise a plain ``ValueError`` instead, as MONAI does: the policy is stated in :mod:`bundle`.
"""

from __future__ import annotations

from pathlib import Path


class ElastographyInputError(ValueError):
    """Bad input: wrong shape, NaN/Inf, mismatched frames, missing metadata, corrupt file.

    Args:
        problem: what is wrong, in words a user understands.
        path: the file the problem was found in, if any.
    """

    def __init__(self, problem: str, path: str | Path | None = None):
        self.problem = problem
        self.path = None if path is None else Path(path)
        super().__init__(problem if path is None else f"{path}: {problem}")


class PacsError(ConnectionError):
    """A PACS could not be reached or refused the association (nothing was sent)."""
