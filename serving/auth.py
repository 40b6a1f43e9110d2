"""Who is calling: the API key in the ``Authorization`` header, its workspace and its role.

Keys travel as ``Authorization: Bearer cl_...``, or as the password of HTTP Basic auth (for
e-mail platforms whose webhooks only take ``https://user:key@host/...`` URLs). Verified keys are
remembered for a few seconds so that a burst of requests costs one database lookup; revoking a
key forgets it in this process at once, and in other processes within that time.

Roles: a marketer works with brands, segments, generations, feedback, outcomes and experiments;
an analyst reads everything in the workspace and builds datasets; an admin may do all of that and
also manages keys and erases contacts.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from feedback.api_keys import authenticate
from serving.errors import ForbiddenError, UnauthorizedError

__all__ = [
    "ADMIN",
    "DATA",
    "READ",
    "WRITE",
    "KeyCache",
    "Principal",
    "check_role",
    "resolve_principal",
    "token_from_header",
]

READ = ("marketer", "analyst", "admin")
WRITE = ("marketer", "admin")
DATA = ("analyst", "admin")
ADMIN = ("admin",)


@dataclass(frozen=True)
class Principal:
    """The caller: its key's public id, its workspace and its role."""

    key_id: str
    workspace_id: str
    role: str


def token_from_header(authorization: str | None) -> str | None:
    """The API key in a Bearer or Basic ``Authorization`` header, or None."""
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer":
        return value or None
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        user, _, password = decoded.partition(":")
        return password or user or None
    return None


class KeyCache:
    """Verified keys for `ttl_s` seconds, by the SHA-256 of the whole token."""

    def __init__(self, ttl_s: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self._clock = clock
        self._entries: dict[str, tuple[Principal, float]] = {}
        self._lock = threading.Lock()

    def get(self, token: str) -> Principal | None:
        """The cached principal of this token, if still fresh."""
        digest = hashlib.sha256(token.encode("utf-8")).hexdigest()
        with self._lock:
            entry = self._entries.get(digest)
            if entry is None or entry[1] < self._clock():
                return None
            return entry[0]

    def put(self, token: str, principal: Principal) -> None:
        """Remember a verified token."""
        digest = hashlib.sha256(token.encode("utf-8")).hexdigest()
        with self._lock:
            if len(self._entries) > 10_000:
                self._entries.clear()
            self._entries[digest] = (principal, self._clock() + self.ttl_s)

    def forget(self, key_id: str) -> None:
        """Drop every cached token of this key (after it is revoked)."""
        with self._lock:
            for digest in [d for d, (p, _) in self._entries.items() if p.key_id == key_id]:
                del self._entries[digest]


def resolve_principal(
    authorization: str | None, cache: KeyCache, session: Callable[[], Session]
) -> Principal:
    """The caller of a request, or UnauthorizedError."""
    token = token_from_header(authorization)
    if token is None:
        raise UnauthorizedError("send an API key as 'Authorization: Bearer <key>'", field="authorization")
    cached = cache.get(token)
    if cached is not None:
        return cached
    with session() as db:
        row = authenticate(db, token)
        if row is None:
            raise UnauthorizedError("the API key is unknown or revoked", field="authorization")
        principal = Principal(row.id, row.workspace_id, row.role)
    cache.put(token, principal)
    return principal


def check_role(principal: Principal, allowed: tuple[str, ...]) -> Principal:
    """The principal, if its role is one of `allowed`; else ForbiddenError."""
    if principal.role not in allowed:
        raise ForbiddenError(
            f"a {principal.role} key cannot do this; it needs one of: {', '.join(allowed)}", field="role"
        )
    return principal
