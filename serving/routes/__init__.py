"""The API's routes, one module per resource (each exports `router`), and what they share."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query

from serving.errors import ErrorOut

__all__ = ["COMMON_ERRORS", "Limit", "Offset", "errors"]

_DESCRIPTIONS = {
    401: "No API key, or an unknown or revoked one.",
    403: "The key's role does not allow this.",
    404: "No such resource in the caller's workspace.",
    409: "Clashes with what is stored, or not allowed in the current state.",
    413: "The request body is over the size limit.",
    422: "The request is not valid; `field` names where.",
    429: "Over the key's rate limit; see Retry-After.",
    500: "The server failed; the error is logged.",
    502: "The generation backend failed.",
    503: "The database or the generation backend is unavailable.",
    504: "The generation ran past its deadline.",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for these error statuses, all in the error envelope."""
    return {code: {"model": ErrorOut, "description": _DESCRIPTIONS[code]} for code in codes}


# Every authenticated route can answer these.
COMMON_ERRORS = errors(401, 403, 404, 413, 422, 429, 500, 503)

Limit = Annotated[int, Query(ge=1, le=500, description="Most items to return.")]
Offset = Annotated[int, Query(ge=0, le=1_000_000, description="Items to skip.")]
