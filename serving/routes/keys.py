"""Keys and administration: who am I, API keys of the workspace, and erasing a contact."""

from __future__ import annotations

from fastapi import APIRouter

from feedback.api_keys import create_key, list_keys, revoke_key
from feedback.db import truncate_wal
from feedback.models import ApiKey
from feedback.privacy import erase_contact
from feedback.tenancy import get_workspace
from serving.deps import Admin, CurrentKey, RuntimeDep, SessionDep
from serving.routes import COMMON_ERRORS
from serving.schemas import EraseIn, ErasureOut, IssuedKeyOut, KeyCreate, KeyOut, MeOut

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["admin"], responses=COMMON_ERRORS)


def _key_out(row: ApiKey) -> KeyOut:
    return KeyOut(
        id=row.id, role=row.role, name=row.name, created_at=row.created_at, revoked_at=row.revoked_at
    )


@router.get("/me")
def whoami(key: CurrentKey, session: SessionDep) -> MeOut:
    """The caller's workspace, key and role."""
    with session.begin():
        workspace = get_workspace(session, key.workspace_id)
        return MeOut(
            workspace_id=workspace.id, workspace_name=workspace.name, key_id=key.key_id, role=key.role
        )


@router.post("/keys", status_code=201)
def create_api_key(body: KeyCreate, key: Admin, session: SessionDep) -> IssuedKeyOut:
    """Create an API key in the caller's workspace; the answer holds the only copy of the secret."""
    with session.begin():
        issued = create_key(session, key.workspace_id, body.role, body.name)
    return IssuedKeyOut(
        id=issued.id,
        role=issued.role,
        name=issued.name,
        created_at=issued.created_at,
        revoked_at=None,
        key=issued.token,
    )


@router.get("/keys")
def list_api_keys(key: Admin, session: SessionDep) -> list[KeyOut]:
    """The workspace's API keys (never their secrets), newest first."""
    with session.begin():
        return [_key_out(row) for row in list_keys(session, key.workspace_id)]


@router.delete("/keys/{key_id}")
def revoke_api_key(key_id: str, key: Admin, session: SessionDep, runtime: RuntimeDep) -> KeyOut:
    """Revoke an API key: it stops working at once."""
    with session.begin():
        row = revoke_key(session, key.workspace_id, key_id)
    runtime.key_cache.forget(key_id)
    return _key_out(row)


@router.post("/contacts/erase")
def erase(body: EraseIn, key: Admin, session: SessionDep) -> ErasureOut:
    """Delete a contact and every row tied to it (right to erasure); an unknown contact is a no-op."""
    with session.begin():
        report = erase_contact(session, key.workspace_id, body.contact)
    wal_truncated = truncate_wal(session.get_bind())  # type: ignore[arg-type]
    return ErasureOut(
        found=report.found,
        outcome_events=report.outcome_events,
        assignments=report.assignments,
        segment_memberships=report.segment_memberships,
        contacts=report.contacts,
        feedback_scrubbed=report.feedback_scrubbed,
        suppressed=report.suppressed,
        wal_truncated=wal_truncated,
    )
