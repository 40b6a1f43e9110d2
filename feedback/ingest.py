"""Ingestion of feedback and outcome events: idempotent, per-row validation, one transaction per batch.

Every event carries a client-supplied idempotency key, unique per workspace and event table. A replay
(a key already stored, or repeated inside the batch) is a no-op that reports the original event's id;
the same key with a different body is rejected, naming the key, and the first event stays as it was.
All rows are validated first; a bad row is rejected alone, with its index, field and reason, and the
good rows go in together in one transaction with ``INSERT ... ON CONFLICT DO NOTHING``. A variant of
another workspace is rejected as unknown. Both the client's ``event_time`` and the server's
``ingested_at`` are stored, because events arrive late and out of order.

Pass a `Session` to run inside the caller's transaction (the caller commits), or a `sessionmaker` to
let the batch commit on its own, retried when the database reports a deadlock or a busy lock.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import Table, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from feedback.bulk import insert_or_fetch_ids
from feedback.contacts import contact_hash, contact_ids_by_hash, contacts_lock, workspace_secret
from feedback.errors import DatabaseError
from feedback.events import (
    FeedbackEventIn,
    OutcomeEventIn,
    RejectedEvent,
    validate_feedback,
    validate_outcomes,
)
from feedback.models import FeedbackEvent, OutcomeEvent, VariantRow, utcnow
from feedback.privacy import scrub_text
from feedback.tenancy import existing_ids, get_workspace

__all__ = ["BatchResult", "SessionTarget", "ingest_feedback", "ingest_outcomes"]

MAX_ATTEMPTS = 5
FEEDBACK_COLUMNS = (
    "workspace_id",
    "variant_id",
    "kind",
    "edited_text",
    "rating",
    "comment",
    "actor",
    "reason_codes",
    "idempotency_key",
    "event_time",
    "ingested_at",
)
OUTCOME_COLUMNS = (
    "workspace_id",
    "variant_id",
    "contact_id",
    "kind",
    "revenue",
    "idempotency_key",
    "event_time",
    "ingested_at",
)

SessionTarget = Session | sessionmaker[Session]
R = TypeVar("R")
ValidRows = list[tuple[int, Mapping[str, Any]]]


@dataclass
class BatchResult:
    """The outcome of one batch: new ids and replayed ids by row index, the rejected rows, and the
    rows of erased contacts, which are dropped without error (a platform's redelivery is not wrong).
    """

    accepted: dict[int, int] = field(default_factory=dict)
    duplicates: dict[int, int] = field(default_factory=dict)
    rejected: list[RejectedEvent] = field(default_factory=list)
    suppressed: list[int] = field(default_factory=list)

    @property
    def ids(self) -> dict[int, int]:
        """The stored event id of every row that was not rejected, new or replayed."""
        return {**self.accepted, **self.duplicates}


def _is_transient(exc: DBAPIError) -> bool:
    code = getattr(exc.orig, "sqlstate", None)
    if code in ("40P01", "40001"):  # deadlock detected, serialization failure
        return True
    return "database is locked" in str(exc.orig)


def _run(target: SessionTarget, work: Callable[[Session], R]) -> R:
    if isinstance(target, Session):
        return work(target)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            with target() as session, session.begin():
                return work(session)
        except DBAPIError as exc:
            if attempt == MAX_ATTEMPTS or not _is_transient(exc):
                raise DatabaseError(f"could not store the batch: {exc.orig}") from exc
            time.sleep(0.05 * 2**attempt)
    raise AssertionError("unreachable")


_NOT_PAYLOAD = frozenset({"workspace_id", "idempotency_key", "ingested_at"})
_REUSED = "was already used for a different event"


def _comparable(value: Any) -> Any:
    """A stored or incoming value in one form on both databases (times in UTC, numbers as floats)."""
    if isinstance(value, dt.datetime):
        return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)
    if isinstance(value, (float, Decimal)):
        return round(float(value), 4)  # revenue is stored to 4 places
    if isinstance(value, (list, tuple)):
        return tuple(_comparable(v) for v in value)
    return value


def _stored_payloads(
    session: Session, table: Table, columns: tuple[str, ...], workspace_id: str, keys: list[str]
) -> dict[str, tuple[Any, ...]]:
    payload = [c for c in columns if c not in _NOT_PAYLOAD]
    found: dict[str, tuple[Any, ...]] = {}
    for start in range(0, len(keys), 500):
        stmt = select(table.c.idempotency_key, *(table.c[c] for c in payload)).where(
            table.c.workspace_id == workspace_id, table.c.idempotency_key.in_(keys[start : start + 500])
        )
        for key, *values in session.execute(stmt):
            found[key] = tuple(_comparable(v) for v in values)
    return found


def _store(
    session: Session,
    table: Table,
    columns: tuple[str, ...],
    indexed_rows: list[tuple[int, tuple[Any, ...]]],
    result: BatchResult,
) -> None:
    """Insert rows keyed by idempotency key and fill `result` with new and replayed ids.

    A replay must be the same event: a key sent again with a different body is rejected, naming
    the key, and the event stored first stays as it was.
    """
    position = columns.index("idempotency_key")
    payload = [i for i, c in enumerate(columns) if c not in _NOT_PAYLOAD]

    def body(row: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(_comparable(row[i]) for i in payload)

    first: dict[str, tuple[int, tuple[Any, ...]]] = {}
    unique_rows: list[tuple[Any, ...]] = []
    for index, row in indexed_rows:
        key = row[position]
        if key not in first:
            first[key] = (index, body(row))
            unique_rows.append(row)
    new, stored = insert_or_fetch_ids(
        session, table, columns, unique_rows, "idempotency_key", mostly_new=True
    )
    replayed = [k for k in first if k not in new]
    workspace_id = indexed_rows[0][1][columns.index("workspace_id")] if indexed_rows else ""
    earlier = _stored_payloads(session, table, columns, workspace_id, replayed) if replayed else {}
    for index, row in indexed_rows:
        key = row[position]
        original = earlier.get(key, first[key][1])
        if body(row) != original:
            result.rejected.append(RejectedEvent(index, "idempotency_key", f"{key!r} {_REUSED}"))
        elif key in new and first[key][0] == index:
            result.accepted[index] = new[key]
        else:
            result.duplicates[index] = new.get(key) or stored[key]


def _known_variants(
    session: Session, workspace_id: str, valid: ValidRows
) -> tuple[set[str], list[RejectedEvent]]:
    known = existing_ids(session, VariantRow, workspace_id, {row["variant_id"] for _, row in valid})
    unknown = [
        RejectedEvent(index, "variant_id", "unknown variant")
        for index, row in valid
        if row["variant_id"] not in known
    ]
    return known, unknown


def ingest_feedback(
    target: SessionTarget, workspace_id: str, events: Sequence[Mapping[str, Any] | FeedbackEventIn]
) -> BatchResult:
    """Store a batch of feedback events; free text is scrubbed of e-mail addresses and phone numbers."""
    now = utcnow()
    valid, rejected = validate_feedback(events, now)

    def work(session: Session) -> BatchResult:
        get_workspace(session, workspace_id)
        result = BatchResult(rejected=list(rejected))
        known, unknown = _known_variants(session, workspace_id, valid)
        result.rejected.extend(unknown)
        rows = [
            (
                index,
                (
                    workspace_id,
                    row["variant_id"],
                    row["kind"],
                    scrub_text(row.get("edited_text")),
                    row.get("rating"),
                    scrub_text(row.get("comment")),
                    row.get("actor"),
                    list(row.get("reason_codes") or ()),
                    row["idempotency_key"],
                    row["event_time"],
                    now,
                ),
            )
            for index, row in valid
            if row["variant_id"] in known
        ]
        _store(session, FeedbackEvent.__table__, FEEDBACK_COLUMNS, rows, result)  # type: ignore[arg-type]
        result.rejected.sort()
        return result

    return _run(target, work)


def ingest_outcomes(
    target: SessionTarget, workspace_id: str, events: Sequence[Mapping[str, Any] | OutcomeEventIn]
) -> BatchResult:
    """Store a batch of outcome events; contacts are created from the HMAC of their external ids."""
    now = utcnow()
    valid, rejected = validate_outcomes(events, now)
    # Hashed before the write transaction, so that concurrent writers overlap this work.
    secret = _run(target, lambda session: workspace_secret(session, workspace_id))
    hashes: dict[str, str] = {}
    for _, row in valid:
        if row["contact"] not in hashes:
            hashes[row["contact"]] = contact_hash(secret, row["contact"])

    def work(session: Session) -> BatchResult:
        get_workspace(session, workspace_id)
        contacts_lock(session, workspace_id, exclusive=False)
        result = BatchResult(rejected=list(rejected))
        known, unknown = _known_variants(session, workspace_id, valid)
        result.rejected.extend(unknown)
        kept = [(index, row) for index, row in valid if row["variant_id"] in known]
        contact_ids = contact_ids_by_hash(session, workspace_id, {hashes[row["contact"]] for _, row in kept})
        result.suppressed = [index for index, row in kept if hashes[row["contact"]] not in contact_ids]
        kept = [(index, row) for index, row in kept if hashes[row["contact"]] in contact_ids]
        rows = [
            (
                index,
                (
                    workspace_id,
                    row["variant_id"],
                    contact_ids[hashes[row["contact"]]],
                    row["kind"],
                    row.get("revenue"),
                    row["idempotency_key"],
                    row["event_time"],
                    now,
                ),
            )
            for index, row in kept
        ]
        _store(session, OutcomeEvent.__table__, OUTCOME_COLUMNS, rows, result)  # type: ignore[arg-type]
        result.rejected.sort()
        return result

    return _run(target, work)
