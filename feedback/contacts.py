"""Contacts: pseudonymous recipients, stored only as an HMAC-SHA256 of their external id.

The external id (an e-mail address, an ESP subscriber id, a shop's customer id) is hashed with the
workspace's own secret (kept outside the database: `feedback.contact_keys`), so the same person
hashes differently in two workspaces and the stored value cannot be reversed by hashing a list of
known addresses without the secret. E-mail addresses are
trimmed and lower-cased first, so ``Ann@Example.com`` and ``ann@example.com`` are one contact; other ids
are only trimmed (``00042`` and ``42`` stay distinct).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from feedback.bulk import chunked, insert_or_fetch_ids
from feedback.contact_keys import keyring_for
from feedback.errors import ConfigurationError, InvalidInputError
from feedback.models import Contact, ErasedContact, utcnow
from feedback.tenancy import get_workspace

CONTACT_COLUMNS = ("workspace_id", "hmac", "created_at")

__all__ = [
    "contact_hash",
    "contact_ids_by_hash",
    "contacts_lock",
    "ensure_contacts",
    "find_contact",
    "hash_external_ids",
    "normalise_external_id",
    "suppressed_hashes",
    "workspace_secret",
]


def normalise_external_id(external_id: str) -> str:
    """The canonical form of an external id: trimmed, and lower-cased when it is an e-mail address."""
    clean = external_id.strip()
    if not clean:
        raise InvalidInputError("must not be empty", field="contact")
    return clean.lower() if "@" in clean else clean


def contact_hash(secret: str, external_id: str) -> str:
    """The hex HMAC-SHA256 of the normalised external id under the workspace secret."""
    message = normalise_external_id(external_id).encode("utf-8")
    return hmac.digest(secret.encode("utf-8"), message, hashlib.sha256).hex()


def workspace_secret(session: Session, workspace_id: str) -> str:
    """The workspace's contact-hashing key, from the engine's keyring, checked against the workspace."""
    workspace = get_workspace(session, workspace_id)
    keyring = keyring_for(session.get_bind())
    if keyring.check_for(workspace.id) != workspace.contact_key_check:
        keyring.reload()  # another process may have adopted its secret since this one read the file
    if keyring.check_for(workspace.id) != workspace.contact_key_check:
        raise ConfigurationError(
            f"the contact key does not match the one workspace {workspace.name!r} was created with: "
            "point COPYLOOP_CONTACT_KEY_FILE (or COPYLOOP_CONTACT_KEY) at its key",
            field="contact_key",
        )
    return keyring.secret_for(workspace.id)


def suppressed_hashes(session: Session, workspace_id: str, hashes: Iterable[str]) -> set[str]:
    """The hashes among `hashes` of contacts erased from this workspace: nothing is stored for them again."""
    wanted = sorted(set(hashes))
    if not wanted:
        return set()
    anyone = session.scalar(
        select(ErasedContact.hmac).where(ErasedContact.workspace_id == workspace_id).limit(1)
    )
    if anyone is None:
        return set()
    found: set[str] = set()
    for chunk in chunked(wanted):
        stmt = select(ErasedContact.hmac).where(
            ErasedContact.workspace_id == workspace_id, ErasedContact.hmac.in_(chunk)
        )
        found.update(session.scalars(stmt))
    return found


def contacts_lock(session: Session, workspace_id: str, *, exclusive: bool) -> None:
    """Serialise writers of contact-tied events (shared) against erasure (exclusive), per workspace.

    Outcome events carry no foreign key to their contact, so on PostgreSQL an erasure waits for the
    batches in flight and a batch waits for the erasure in flight; either way no event is left for
    an erased contact. Transaction-scoped. SQLite needs nothing: it has one writer at a time.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    function = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
    session.execute(
        text(f"SELECT {function}(hashtextextended(:key, 0))"), {"key": f"copyloop.contacts:{workspace_id}"}
    )


def hash_external_ids(session: Session, workspace_id: str, external_ids: Iterable[str]) -> dict[str, str]:
    """``{external id: contact hash}`` under this workspace's secret."""
    secret = workspace_secret(session, workspace_id)
    return {ext: contact_hash(secret, ext) for ext in set(external_ids)}


def contact_ids_by_hash(
    session: Session, workspace_id: str, hashes: Iterable[str], *, create: bool = True
) -> dict[str, int]:
    """``{contact hash: contact id}``, inserting the contacts not stored yet when `create` is set.

    Erased contacts are never created again: their hashes are left out of the answer.
    """
    get_workspace(session, workspace_id)
    wanted = sorted(set(hashes))
    if create:
        erased = suppressed_hashes(session, workspace_id, wanted)
        wanted = [digest for digest in wanted if digest not in erased]
        now = utcnow()
        rows = [(workspace_id, digest, now) for digest in wanted]
        table = Contact.__table__
        new, stored = insert_or_fetch_ids(session, table, CONTACT_COLUMNS, rows, "hmac")  # type: ignore[arg-type]
        return {**stored, **new}
    found: dict[str, int] = {}
    for chunk in chunked(wanted):
        stmt = select(Contact.hmac, Contact.id).where(
            Contact.workspace_id == workspace_id, Contact.hmac.in_(chunk)
        )
        found.update({row[0]: row[1] for row in session.execute(stmt)})
    return found


def ensure_contacts(session: Session, workspace_id: str, external_ids: Iterable[str]) -> dict[str, int]:
    """``{external id: contact id}``, creating the contacts not stored yet (erased ones are left out)."""
    hashes = hash_external_ids(session, workspace_id, external_ids)
    ids = contact_ids_by_hash(session, workspace_id, hashes.values())
    return {ext: ids[h] for ext, h in hashes.items() if h in ids}


def find_contact(session: Session, workspace_id: str, external_id: str) -> Contact | None:
    """The contact for this external id in this workspace, if there is one."""
    digest = contact_hash(workspace_secret(session, workspace_id), external_id)
    return session.scalar(select(Contact).where(Contact.workspace_id == workspace_id, Contact.hmac == digest))
