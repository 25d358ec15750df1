"""Shared behaviour of the command-line entry points in ``scripts/``: bad input -> message + exit 2."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from bundle.errors import ElastographyInputError, PacsError

__all__ = ["run_main"]


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
        # MONAI's config parser wraps errors of expressions in RuntimeError: report the toolkit's own cleanly
        cause = err
        while cause is not None and not isinstance(cause, (ElastographyInputError, PacsError)):
            cause = cause.__cause__ or cause.__context__
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
