"""Domain errors raised by the generation library.

Hierarchy::

    CopyloopError
    ├── InvalidInputError        bad user input; names the field and the reason
    │   └── BrandExtractionError a page that cannot give a brand kit
    ├── BrandFetchError          a brand URL that could not be fetched
    ├── ParseError               model output that is not a valid draft
    ├── GenerationError          the pipeline could not produce what was asked
    └── BackendError             a generation backend failed
        ├── BackendUnavailableError  the backend cannot be reached or loaded
        ├── GenerationTimeoutError   a request ran past its deadline
        └── QueueFullError           the batcher queue is full

Only the edges (HTTP, CLI) translate these into status codes and exit codes. `invalid_input` is
the one translation of pydantic's validation errors into a field and a reason.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from pydantic import ValidationError

__all__ = [
    "BackendError",
    "BackendUnavailableError",
    "BrandExtractionError",
    "BrandFetchError",
    "CopyloopError",
    "GenerationError",
    "GenerationTimeoutError",
    "InvalidInputError",
    "ParseError",
    "QueueFullError",
    "invalid_input",
]


class CopyloopError(Exception):
    """Base class of every error copyloop raises on purpose."""

    code = "error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        if self.field:
            return f"{self.field}: {self.message}"
        return self.message


class InvalidInputError(CopyloopError):
    """User input that cannot be used; `field` names where, the message says why."""

    code = "invalid_input"


class BrandExtractionError(InvalidInputError):
    """A page that does not yield a usable brand kit."""

    code = "brand_extraction_failed"


class BrandFetchError(CopyloopError):
    """A brand page URL that could not be fetched."""

    code = "brand_fetch_failed"


class ParseError(CopyloopError):
    """Model output that does not parse into an email draft."""

    code = "parse_error"


class GenerationError(CopyloopError):
    """The pipeline could not produce the variants that were asked for."""

    code = "generation_failed"


class BackendError(CopyloopError):
    """A generation backend failed."""

    code = "backend_error"


class BackendUnavailableError(BackendError):
    """The backend cannot be reached or its model cannot be loaded."""

    code = "backend_unavailable"


class GenerationTimeoutError(BackendError):
    """A generation request ran past its deadline."""

    code = "generation_timeout"


class QueueFullError(BackendError):
    """The micro-batching queue is full; try again later."""

    code = "queue_full"


def invalid_input(
    problems: ValidationError | Sequence[Mapping[str, Any]],
    prefix: str = "",
    *,
    fallback: str | None = None,
    sources: Collection[str] = (),
    count_others: bool = False,
) -> InvalidInputError:
    """The first of pydantic's validation problems as an InvalidInputError naming the field.

    The field is the problem's location joined by dots, under `prefix`; a first part that is one of
    `sources` (where a framework found the value: the body, the query) is left out, and `fallback`
    names the field when nothing else does. `count_others` adds how many more problems there are.
    """
    errors = problems.errors(include_url=False) if isinstance(problems, ValidationError) else problems
    if not errors:
        return InvalidInputError("is not valid", field=prefix or fallback)
    first = errors[0]
    parts = [str(part) for part in first.get("loc", ())]
    if parts and parts[0] in sources:
        parts = parts[1:]
    loc = ".".join(parts)
    field = f"{prefix}.{loc}" if prefix and loc else (prefix or loc or fallback)
    message = str(first.get("msg", "is not valid"))
    if count_others and len(errors) > 1:
        others = len(errors) - 1
        message += f" (and {others} more problem{'s' if others > 1 else ''})"
    return InvalidInputError(message, field=field or None)
