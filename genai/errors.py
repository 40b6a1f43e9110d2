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

Only the edges (HTTP, CLI) translate these into status codes and exit codes.
"""

from __future__ import annotations

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
