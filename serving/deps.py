"""Typed dependencies of the routes: the runtime, a database session, the caller and its role.

Routes declare what they need with these annotations (``session: SessionDep``, ``key: Marketer``)
and stay thin. A session is opened per request; routes wrap their work in ``session.begin()`` so
every multi-row write is one transaction.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from feedback.batches import find_unstorable
from genai.errors import InvalidInputError
from serving.auth import ADMIN, DATA, READ, WRITE, Principal, check_role, resolve_principal
from serving.errors import RateLimitedError, UnauthorizedError
from serving.runtime import Runtime

__all__ = [
    "Admin",
    "Analyst",
    "CurrentKey",
    "CurrentWorkspace",
    "Marketer",
    "Reader",
    "RuntimeDep",
    "SessionDep",
    "get_runtime",
    "get_session",
    "refuse_nul",
]


def get_runtime(request: Request) -> Runtime:
    """The app's runtime, built by the lifespan."""
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def get_session(runtime: RuntimeDep) -> Iterator[Session]:
    """A database session for this request, closed (and rolled back if still open) afterwards."""
    with runtime.sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="An API key from `copyloop keys create`: `Authorization: Bearer cl_...`.",
)


def current_key(
    request: Request,
    runtime: RuntimeDep,
    _: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)] = None,
) -> Principal:
    """The authenticated caller, within its rate limit.

    Failed attempts count against the client's address: past `auth_failure_burst` of them it gets
    429 with Retry-After, without its key being looked up, until it is back under the limit.
    """
    address = request.client.host if request.client else "unknown"
    blocked = runtime.auth_failures.waiting(address)
    if blocked > 0:
        raise RateLimitedError("too many failed API-key attempts from this address", retry_after=blocked)
    try:
        principal = resolve_principal(
            request.headers.get("authorization"), runtime.key_cache, runtime.sessions
        )
    except UnauthorizedError:
        if request.headers.get("authorization"):  # a guess, not a client that forgot its key
            runtime.auth_failures.check(address)
        raise
    wait = runtime.rate_limiter.check(principal.key_id)
    if wait > 0:
        raise RateLimitedError(
            f"over the rate limit of {runtime.settings.rate_limit_per_s:g} requests per second",
            retry_after=wait,
        )
    return principal


CurrentKey = Annotated[Principal, Depends(current_key)]


async def current_workspace(key: CurrentKey) -> str:
    """The caller's workspace id."""
    return key.workspace_id


CurrentWorkspace = Annotated[str, Depends(current_workspace)]


async def refuse_nul(request: Request) -> None:
    """Refuse a JSON body holding text no database can store, naming the field.

    That is a NUL character (PostgreSQL cannot store one) or a lone surrogate (a ``"\\ud800"``
    escape, which is not Unicode text).

    Batches (``events``) and webhook arrays are checked row by row when they are ingested
    (`feedback.batches`, `feedback.webhooks`), so that one bad row does not refuse the others.
    """
    if request.method not in ("POST", "PUT", "PATCH") or "json" not in request.headers.get(
        "content-type", ""
    ):
        return
    try:
        body = await request.json()  # parsed once already; Starlette keeps it
    except ValueError:
        return  # not JSON: the route's own validation answers
    if isinstance(body, dict):
        problem = find_unstorable({k: v for k, v in body.items() if k != "events"})
        if problem:
            raise InvalidInputError(problem[1], field=problem[0])


def _role(allowed: tuple[str, ...]) -> Callable[[Principal, Request], Awaitable[Principal]]:
    # Async, so a role check costs no trip through the thread pool.
    async def dependency(key: CurrentKey, request: Request) -> Principal:
        check_role(key, allowed)
        await refuse_nul(request)
        return key

    return dependency


Reader = Annotated[Principal, Depends(_role(READ))]
Marketer = Annotated[Principal, Depends(_role(WRITE))]
Analyst = Annotated[Principal, Depends(_role(DATA))]
Admin = Annotated[Principal, Depends(_role(ADMIN))]
