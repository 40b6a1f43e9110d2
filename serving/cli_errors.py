"""How every `copyloop` command reports a domain error: its message on stderr, and exit status 2.

Exit status 1 is left to `copyloop monitor run`, for a report test that failed.
"""

from __future__ import annotations

import sys
from typing import NoReturn

import click

from genai.errors import CopyloopError

__all__ = ["EXIT_ERROR", "fail"]

EXIT_ERROR = 2


def fail(exc: CopyloopError) -> NoReturn:
    """Print `exc` (its field and message) in red on stderr and exit with status 2."""
    click.secho(f"error: {exc}", fg="red", err=True)
    sys.exit(EXIT_ERROR)
