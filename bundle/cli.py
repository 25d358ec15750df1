"""Shared behaviour of the command-line entry points in ``scripts/``: bad input -> message + exit 2."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from bundle.errors import ElastographyInputError, PacsError

__all__ = ["concise_errors", "flag", "run_main", "toolkit_error"]

_TRUE, _FALSE = {"true", "yes", "on", "1"}, {"false", "no", "off", "0"}


def flag(value: object, name: str) -> bool:
    """A config switch as a bool. ``python -m monai.bundle run`` (fire) passes ``--resume false`` on as the
    *string* ``"false"``, which Python reads as true; the configs route every switch through this instead.

    Accepts bools, 0/1, and the strings true/false, yes/no, on/off, 1/0 (any case); anything else is a
    ``ValueError`` naming the switch.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError(f"{name} must be true or false, got {value!r}")


def toolkit_error(err: BaseException) -> ElastographyInputError | PacsError | None:
    """The toolkit's own error behind ``err`` (itself, or a cause or context of it), or None.

    MONAI's config parser wraps errors of expressions and components in RuntimeError, sometimes twice.
    """
    cause: BaseException | None = err
    while cause is not None and not isinstance(cause, (ElastographyInputError, PacsError)):
        cause = cause.__cause__ or cause.__context__
    return cause


def concise_errors() -> None:
    """Make ``python -m monai.bundle run`` report bad input as one line ``error: <file>: <problem>`` (exit
    status 1) instead of a long traceback through MONAI's config parser; other errors keep their traceback.

    The configs call this first in ``initialize``; the scripts use :func:`run_main` instead.
    """
    previous = sys.excepthook
    if getattr(previous, "_elastography", False):
        return

    def hook(kind, value, traceback):
        cause = toolkit_error(value)
        if cause is None:
            previous(kind, value, traceback)
        else:
            print(f"error: {cause}", file=sys.stderr)

    hook._elastography = True
    sys.excepthook = hook


def run_main(main: Callable[[list[str] | None], int | None], argv: list[str] | None = None) -> int:
    """Run ``main(argv)``; bad input -> one clear line on stderr and status 2; an unreachable or refusing PACS
    -> status 3."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(main(argv) or 0)
    except ElastographyInputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except RuntimeError as err:
        cause = toolkit_error(err)
        if cause is None:
            raise
        print(f"error: {cause}", file=sys.stderr)
        return 2 if isinstance(cause, ElastographyInputError) else 3
    except PacsError as err:
        print(f"error: {err}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print("interrupted; outputs completed so far are kept, the one in progress is not", file=sys.stderr)
        return 130
