"""Errors of the HTTP layer, and the one JSON envelope every error answer uses.

Hierarchy::

    CopyloopError                  (genai.errors)
    └── ApiError                   refused by the HTTP layer itself
        ├── UnauthorizedError      no key, or a key that is unknown, revoked or malformed (401)
        ├── ForbiddenError         the key's role does not allow the route (403)
        └── RateLimitedError       the key sent more than its rate allows (429, Retry-After)

Every error answer is ``{"error": {"code", "message", "field"}}``, and so is every error event
of a generation stream: `error_envelope` builds it, `domain_error` gives a domain error's status,
envelope and headers, `error_status` maps the library's domain errors (genai, feedback) to status
codes, and `install_error_handlers` puts the translation on an app. A request that does not
validate is translated by `genai.errors.invalid_input`, as the libraries translate theirs. A body
over the size limit is refused by `serving.limits` (413). A database that cannot be reached, is
locked past its busy timeout or has no free connection answers 503 (``database_unavailable``, with
Retry-After); the driver's text, which names hosts and ports, goes to the log only.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import DataError as SQLDataError
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from feedback.errors import ConflictError, DatabaseError, FeedbackError, NotFoundError, StateError
from genai.errors import (
    BackendError,
    BackendUnavailableError,
    BrandFetchError,
    CopyloopError,
    GenerationError,
    GenerationTimeoutError,
    InvalidInputError,
    ParseError,
    QueueFullError,
    invalid_input,
)

__all__ = [
    "ApiError",
    "ErrorBody",
    "ErrorOut",
    "ForbiddenError",
    "RateLimitedError",
    "UnauthorizedError",
    "domain_error",
    "domain_error_response",
    "error_envelope",
    "error_response",
    "error_status",
    "install_error_handlers",
]

log = logging.getLogger("copyloop.api")

# Seconds a client should wait before retrying when the generation queue is full.
QUEUE_FULL_RETRY_S = 5
# Seconds a client should wait before retrying when the database is unavailable.
DATABASE_RETRY_S = 5
# What the driver raises when the database cannot serve a request at all: not reachable, the
# connection dropped, locked past the busy timeout, or no free connection in the pool.
_DATABASE_UNAVAILABLE = (OperationalError, InterfaceError, DisconnectionError, PoolTimeoutError)
_DATABASE_UNAVAILABLE_MESSAGE = "the database is unavailable; try again shortly"


class ErrorBody(BaseModel):
    """What went wrong: a stable code, a message for people and the field at fault, if any."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(examples=["invalid_input"])
    message: str = Field(examples=["must be 1 to 8"])
    field: str | None = Field(default=None, examples=["brief.variants_per_segment"])


class ErrorOut(BaseModel):
    """The envelope of every error answer."""

    model_config = ConfigDict(extra="forbid")

    error: ErrorBody


class ApiError(CopyloopError):
    """A request refused by the HTTP layer itself."""

    code = "api_error"
    status = 400


class UnauthorizedError(ApiError):
    """No API key, or one that is unknown, revoked or malformed."""

    code = "unauthorized"
    status = 401


class ForbiddenError(ApiError):
    """The key's role does not allow this route."""

    code = "forbidden"
    status = 403


class RateLimitedError(ApiError):
    """The key sent more requests than its rate limit allows; retry after `retry_after` seconds."""

    code = "rate_limited"
    status = 429

    def __init__(self, message: str, *, retry_after: float, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.retry_after = retry_after


# Most specific first: the first class that matches decides.
_STATUS: tuple[tuple[type[CopyloopError], int], ...] = (
    (NotFoundError, 404),
    (ConflictError, 409),
    (StateError, 409),
    (DatabaseError, 503),
    (FeedbackError, 500),
    (BrandFetchError, 422),
    (InvalidInputError, 422),
    (GenerationTimeoutError, 504),
    (QueueFullError, 503),
    (BackendUnavailableError, 503),
    (BackendError, 502),
    (GenerationError, 502),
    (ParseError, 502),
)


def error_status(exc: CopyloopError) -> int:
    """The HTTP status of a domain error."""
    if isinstance(exc, ApiError):
        return exc.status
    for cls, status in _STATUS:
        if isinstance(exc, cls):
            return status
    return 500


def _encodable(text: str) -> str:
    # A message may quote the client's input, and a lone surrogate in it cannot be encoded as UTF-8:
    # written as an escape, the answer still goes out.
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def error_envelope(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    """The JSON body of every error answer and error event."""
    return {
        "error": {
            "code": code,
            "message": _encodable(message),
            "field": None if field is None else _encodable(field),
        }
    }


def error_response(
    status: int, code: str, message: str, field: str | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    """An error answer in the envelope."""
    return JSONResponse(error_envelope(code, message, field), status_code=status, headers=headers)


def _headers(exc: CopyloopError, status: int) -> dict[str, str] | None:
    if isinstance(exc, RateLimitedError):
        return {"Retry-After": str(max(1, math.ceil(exc.retry_after)))}
    if isinstance(exc, QueueFullError):
        return {"Retry-After": str(QUEUE_FULL_RETRY_S)}
    if status == 401:
        return {"WWW-Authenticate": 'Bearer realm="copyloop"'}
    return None


_UNSTORABLE = "holds a value the database cannot store (a NUL character, or a number out of range)"


def domain_error(exc: CopyloopError) -> tuple[int, dict[str, Any], dict[str, str] | None]:
    """A domain or API error's status, envelope and headers."""
    if isinstance(exc, DatabaseError) and isinstance(exc.__cause__, SQLDataError):
        # The store wraps every failed write; a value the database refused is the client's to fix.
        return 422, error_envelope("invalid_input", f"the request {_UNSTORABLE}", exc.field), None
    status = error_status(exc)
    if status >= 500:
        log.warning("%s answered %d: %s", type(exc).__name__, status, exc)
    return status, error_envelope(exc.code, exc.message, exc.field), _headers(exc, status)


def domain_error_response(exc: CopyloopError) -> JSONResponse:
    """The answer for a domain or API error."""
    status, body, headers = domain_error(exc)
    return JSONResponse(body, status_code=status, headers=headers)


# FastAPI prefixes a location with where the value came from; the field is what follows.
_SOURCES = ("body", "query", "path", "header", "cookie", "form", "file")


def _on_domain_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, CopyloopError)
    return domain_error_response(exc)


def _on_validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    if not errors:
        return error_response(422, "invalid_input", "the request is not valid")
    problem = invalid_input(errors, sources=_SOURCES, count_others=True)
    return error_response(422, problem.code, problem.message, problem.field)


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    429: "rate_limited",
}


def _on_http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400:
        # Only the framework answers 400, for a body it cannot read at all (bytes that are not UTF-8,
        # broken multipart); to the client that is invalid input like any other.
        detail = exc.detail if isinstance(exc.detail, str) else "the body cannot be read"
        return error_response(422, "invalid_input", f"the body cannot be read: {detail}", "body")
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    message = exc.detail if isinstance(exc.detail, str) else "the request failed"
    if exc.status_code == 404 and message == "Not Found":
        message = "no such route"
    headers = dict(exc.headers) if exc.headers else None
    field = "body" if exc.status_code == 413 else None
    return error_response(exc.status_code, code, message, field, headers)


def _on_data_error(_: Request, exc: Exception) -> JSONResponse:
    return error_response(422, "invalid_input", f"the request {_UNSTORABLE}")


def _on_database_unavailable(_: Request, exc: Exception) -> JSONResponse:
    log.warning("the database is unavailable: %s: %s", type(exc).__name__, exc)
    return error_response(
        503,
        "database_unavailable",
        _DATABASE_UNAVAILABLE_MESSAGE,
        headers={"Retry-After": str(DATABASE_RETRY_S)},
    )


def _on_unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.error("unexpected error", exc_info=exc)
    return error_response(500, "internal_error", "the server failed to answer; the error is logged")


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error on `app` in the envelope."""
    app.add_exception_handler(CopyloopError, _on_domain_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(SQLDataError, _on_data_error)
    for unavailable in _DATABASE_UNAVAILABLE:
        app.add_exception_handler(unavailable, _on_database_unavailable)
    app.add_exception_handler(Exception, _on_unexpected)
