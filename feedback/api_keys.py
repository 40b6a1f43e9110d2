"""API keys: a public prefix that names the key and a secret stored only as its SHA-256.

A key reads ``cl_<prefix>_<secret>``. The prefix (12 hex characters) is the row's id and may be
shown, logged and used to revoke the key; the secret (32 random bytes) is printed once when the
key is created and never stored. Secrets have 256 bits of entropy, so a plain SHA-256 is as good
as a slow password hash here and costs microseconds per request.

Keys are rows of `feedback.models.ApiKey`; the API reads the token from the ``Authorization`` header
and asks `authenticate` who it belongs to.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Literal, get_args

from sqlalchemy import select
from sqlalchemy.orm import Session

from feedback.errors import InvalidInputError, NotFoundError
from feedback.models import ApiKey, utcnow
from feedback.tenancy import get_workspace

__all__ = [
    "KEY_PREFIX",
    "ROLES",
    "IssuedKey",
    "Role",
    "authenticate",
    "create_key",
    "list_keys",
    "parse_token",
    "revoke_key",
]

Role = Literal["marketer", "analyst", "admin"]
ROLES: tuple[str, ...] = get_args(Role)
KEY_PREFIX = "cl"
_PREFIX_HEX = 12


@dataclass(frozen=True)
class IssuedKey:
    """A key just created: `token` is the only copy of the secret, shown once."""

    id: str
    token: str
    workspace_id: str
    role: str
    name: str
    created_at: dt.datetime


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise InvalidInputError(f"must be one of {', '.join(ROLES)}, got {role!r}", field="role")
    return role


def create_key(session: Session, workspace_id: str, role: str, name: str = "") -> IssuedKey:
    """Create a key for the workspace with this role; the returned token is the only copy."""
    get_workspace(session, workspace_id)
    _check_role(role)
    label = name.strip()
    if len(label) > 200:
        raise InvalidInputError("must be at most 200 characters", field="name")
    key_id = secrets.token_hex(_PREFIX_HEX // 2)
    secret = secrets.token_urlsafe(32)
    row = ApiKey(
        id=key_id,
        workspace_id=workspace_id,
        role=role,
        name=label,
        secret_sha256=_digest(secret),
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    token = f"{KEY_PREFIX}_{key_id}_{secret}"
    return IssuedKey(key_id, token, workspace_id, role, label, row.created_at)


def parse_token(token: str) -> tuple[str, str] | None:
    """``(prefix, secret)`` of a well-formed key, or None."""
    head, _, rest = token.strip().partition("_")
    key_id, _, secret = rest.partition("_")
    if head != KEY_PREFIX or len(key_id) != _PREFIX_HEX or not secret:
        return None
    if any(ch not in "0123456789abcdef" for ch in key_id):
        return None
    return key_id, secret


def authenticate(session: Session, token: str) -> ApiKey | None:
    """The live key this token belongs to, or None (unknown, revoked or a wrong secret)."""
    parsed = parse_token(token)
    if parsed is None:
        return None
    key_id, secret = parsed
    row = session.get(ApiKey, key_id)
    if row is None or row.revoked_at is not None:
        return None
    if not hmac.compare_digest(row.secret_sha256, _digest(secret)):
        return None
    return row


def list_keys(session: Session, workspace_id: str) -> list[ApiKey]:
    """The workspace's keys, newest first, revoked ones included."""
    stmt = select(ApiKey).where(ApiKey.workspace_id == workspace_id).order_by(ApiKey.created_at.desc())
    return list(session.scalars(stmt))


def revoke_key(session: Session, workspace_id: str, key_id: str) -> ApiKey:
    """Revoke one of the workspace's keys; revoking twice keeps the first time."""
    row = session.get(ApiKey, key_id)
    if row is None or row.workspace_id != workspace_id:
        raise NotFoundError(f"no API key {key_id!r} in this workspace", field="key_id")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.flush()
    return row
