"""Workspaces (tenants) and the helpers that keep every query inside one of them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol, TypeVar

from sqlalchemy import Select, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from feedback.contact_keys import keyring_for
from feedback.errors import ConflictError, InvalidInputError, NotFoundError
from feedback.models import Workspace, new_id

__all__ = [
    "create_workspace",
    "existing_ids",
    "get_in_workspace",
    "get_workspace",
    "get_workspace_by_name",
    "in_workspace",
]

# SQLite caps bound parameters per statement; chunks of this size stay far below every limit.
ID_CHUNK = 500


class _Scoped(Protocol):
    workspace_id: Any
    id: Any


T = TypeVar("T", bound=_Scoped)


def create_workspace(session: Session, name: str, *, contact_secret: str | None = None) -> Workspace:
    """Create a workspace; its contacts are hashed with a key derived from the engine's contact keyring.

    A `contact_secret` of its own (to match hashes made elsewhere) is kept in the keyring's file.
    """
    clean = name.strip()
    if not 1 <= len(clean) <= 200:
        raise InvalidInputError("must be 1 to 200 characters", field="name")
    if contact_secret is not None and len(contact_secret) < 16:
        raise InvalidInputError("must be at least 16 characters", field="contact_secret")
    if session.scalar(select(Workspace.id).where(Workspace.name == clean)) is not None:
        raise ConflictError(f"a workspace named {clean!r} exists", field="name")
    keyring = keyring_for(session.get_bind())
    workspace = Workspace(id=new_id(), name=clean)
    if contact_secret is not None:
        keyring.adopt(workspace.id, contact_secret)
    workspace.contact_key_check = keyring.check_for(workspace.id)
    session.add(workspace)
    session.flush()
    return workspace


def get_workspace(session: Session, workspace_id: str) -> Workspace:
    """The workspace with this id, or NotFoundError."""
    workspace = session.get(Workspace, workspace_id)
    if workspace is None:
        raise NotFoundError(f"no workspace {workspace_id!r}", field="workspace_id")
    return workspace


def get_workspace_by_name(session: Session, name: str) -> Workspace:
    """The workspace with this name, or NotFoundError."""
    workspace = session.scalar(select(Workspace).where(Workspace.name == name.strip()))
    if workspace is None:
        raise NotFoundError(f"no workspace named {name!r}", field="name")
    return workspace


def in_workspace(model: type[T], workspace_id: str) -> Select[Any]:
    """``SELECT model`` restricted to one workspace: the start of every tenant query."""
    column: InstrumentedAttribute[str] = model.workspace_id
    return select(model).where(column == workspace_id)


def get_in_workspace(session: Session, model: type[T], workspace_id: str, row_id: Any) -> T:
    """The row of `model` with this id in this workspace; rows of other workspaces count as absent."""
    row: T | None = session.scalar(in_workspace(model, workspace_id).where(model.id == row_id))
    if row is None:
        name = getattr(model, "__tablename__", model.__name__).rstrip("s")
        raise NotFoundError(f"no {name} {row_id!r} in this workspace", field=f"{name}_id")
    return row


def existing_ids(session: Session, model: type[T], workspace_id: str, ids: Iterable[Any]) -> set[Any]:
    """Those of `ids` that name rows of `model` in this workspace."""
    wanted = sorted(set(ids))
    found: set[Any] = set()
    for start in range(0, len(wanted), ID_CHUNK):
        chunk = wanted[start : start + ID_CHUNK]
        found.update(
            session.scalars(select(model.id).where(model.workspace_id == workspace_id, model.id.in_(chunk)))
        )
    return found
