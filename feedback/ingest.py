"""Ingestion of feedback and outcome events: idempotent, per-row validation, one transaction per batch.

Every event carries a client-supplied idempotency key, unique per workspace and event table. A replay
(a key already stored, or repeated inside the batch) is a no-op that reports the original event's id.
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
from typing import Annotated, Any, Literal, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from sqlalchemy import Table
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from feedback.bulk import insert_or_fetch_ids
from feedback.contacts import contact_hash, contact_ids_by_hash
from feedback.errors import DatabaseError
from feedback.models import FeedbackEvent, OutcomeEvent, Variant, utcnow
from feedback.privacy import scrub_text
from feedback.tenancy import existing_ids, get_workspace

__all__ = [
    "MAX_CLOCK_SKEW",
    "BatchResult",
    "FeedbackEventIn",
    "OutcomeEventIn",
    "RejectedRow",
    "SessionTarget",
    "ingest_feedback",
    "ingest_outcomes",
]

# Client clocks drift; an event further in the future than this is a unit or timezone mistake.
MAX_CLOCK_SKEW = dt.timedelta(days=1)
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

IdempotencyKey = Annotated[str, StringConstraints(pattern=r"^[\x21-\x7e]+$", min_length=1, max_length=200)]
EntityId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)]
ReasonCode = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.-]*$", max_length=64)]
SessionTarget = Session | sessionmaker[Session]


class FeedbackEventIn(BaseModel):
    """A marketer's verdict on a variant, as a client sends it."""

    model_config = ConfigDict(extra="forbid")

    idempotency_key: IdempotencyKey
    variant_id: EntityId
    kind: Literal["accept", "reject", "edit", "rating", "comment"]
    event_time: AwareDatetime
    actor: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None
    edited_text: Annotated[str, StringConstraints(min_length=1, max_length=50_000)] | None = None
    rating: int | None = Field(default=None, ge=1, le=5)
    comment: Annotated[str, StringConstraints(max_length=5_000)] | None = None
    reason_codes: list[ReasonCode] = Field(default_factory=list, max_length=20)


class OutcomeEventIn(BaseModel):
    """What happened to a variant sent to a contact, as an ESP or a client reports it."""

    model_config = ConfigDict(extra="forbid")

    idempotency_key: IdempotencyKey
    variant_id: EntityId
    contact: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=320)] = Field(
        description="The contact's external id (e-mail address or customer id); only its HMAC is stored."
    )
    kind: Literal["send", "delivery", "open", "click", "conversion", "unsubscribe", "bounce", "complaint"]
    event_time: AwareDatetime
    revenue: float | None = Field(default=None, ge=0, le=1e9, allow_inf_nan=False)


@dataclass(frozen=True, order=True)
class RejectedRow:
    """A row of a batch that was not stored: its index, the field at fault and why."""

    index: int
    field: str
    reason: str


@dataclass
class BatchResult:
    """The outcome of one batch: new ids and replayed ids by row index, and the rejected rows."""

    accepted: dict[int, int] = field(default_factory=dict)
    duplicates: dict[int, int] = field(default_factory=dict)
    rejected: list[RejectedRow] = field(default_factory=list)

    @property
    def ids(self) -> dict[int, int]:
        """The stored event id of every row that was not rejected, new or replayed."""
        return {**self.accepted, **self.duplicates}


M = TypeVar("M", bound=BaseModel)
R = TypeVar("R")


def _validate(
    model: type[M], events: Sequence[Mapping[str, Any] | M], check: Callable[[M], tuple[str, str] | None]
) -> tuple[list[tuple[int, M]], list[RejectedRow]]:
    valid: list[tuple[int, M]] = []
    rejected: list[RejectedRow] = []
    for index, event in enumerate(events):
        if isinstance(event, model):
            parsed = event
        else:
            try:
                parsed = model.model_validate(event)
            except ValidationError as exc:
                first = exc.errors(include_url=False)[0]
                where = ".".join(str(part) for part in first["loc"]) or "event"
                rejected.append(RejectedRow(index, where, first["msg"]))
                continue
        problem = check(parsed)
        if problem is not None:
            rejected.append(RejectedRow(index, *problem))
        else:
            valid.append((index, parsed))
    return valid, rejected


def _too_late(event_time: dt.datetime, now: dt.datetime) -> tuple[str, str] | None:
    if event_time - now > MAX_CLOCK_SKEW:
        return ("event_time", "is more than a day in the future")
    return None


def _check_feedback(event: FeedbackEventIn, now: dt.datetime) -> tuple[str, str] | None:
    if event.kind == "edit" and event.edited_text is None:
        return ("edited_text", "is required for an edit")
    if event.kind != "edit" and event.edited_text is not None:
        return ("edited_text", "is only allowed on an edit")
    if event.kind == "rating" and event.rating is None:
        return ("rating", "is required for a rating")
    if event.kind != "rating" and event.rating is not None:
        return ("rating", "is only allowed on a rating")
    if event.kind == "comment" and not (event.comment or "").strip():
        return ("comment", "is required for a comment")
    return _too_late(event.event_time, now)


def _check_outcome(event: OutcomeEventIn, now: dt.datetime) -> tuple[str, str] | None:
    if event.revenue is not None and event.kind != "conversion":
        return ("revenue", "is only allowed on a conversion")
    return _too_late(event.event_time, now)


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


def _store(
    session: Session,
    table: Table,
    columns: tuple[str, ...],
    indexed_rows: list[tuple[int, tuple[Any, ...]]],
    result: BatchResult,
) -> None:
    """Insert rows keyed by idempotency key and fill `result` with new and replayed ids."""
    position = columns.index("idempotency_key")
    first_index: dict[str, int] = {}
    unique_rows: list[tuple[Any, ...]] = []
    for index, row in indexed_rows:
        key = row[position]
        if key not in first_index:
            first_index[key] = index
            unique_rows.append(row)
    new, stored = insert_or_fetch_ids(session, table, columns, unique_rows, "idempotency_key")
    for index, row in indexed_rows:
        key = row[position]
        if key in new and first_index[key] == index:
            result.accepted[index] = new[key]
        else:
            result.duplicates[index] = new.get(key) or stored[key]


def _known_variants(
    session: Session, workspace_id: str, valid: Sequence[tuple[int, FeedbackEventIn | OutcomeEventIn]]
) -> tuple[set[str], list[RejectedRow]]:
    known = existing_ids(session, Variant, workspace_id, {event.variant_id for _, event in valid})
    unknown = [
        RejectedRow(index, "variant_id", "unknown variant")
        for index, event in valid
        if event.variant_id not in known
    ]
    return known, unknown


def ingest_feedback(
    target: SessionTarget, workspace_id: str, events: Sequence[Mapping[str, Any] | FeedbackEventIn]
) -> BatchResult:
    """Store a batch of feedback events; free text is scrubbed of e-mail addresses and phone numbers."""
    now = utcnow()
    valid, rejected = _validate(FeedbackEventIn, events, lambda event: _check_feedback(event, now))

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
                    event.variant_id,
                    event.kind,
                    scrub_text(event.edited_text),
                    event.rating,
                    scrub_text(event.comment),
                    event.actor,
                    list(event.reason_codes),
                    event.idempotency_key,
                    event.event_time,
                    now,
                ),
            )
            for index, event in valid
            if event.variant_id in known
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
    valid, rejected = _validate(OutcomeEventIn, events, lambda event: _check_outcome(event, now))

    def work(session: Session) -> BatchResult:
        secret = get_workspace(session, workspace_id).contact_secret
        result = BatchResult(rejected=list(rejected))
        known, unknown = _known_variants(session, workspace_id, valid)
        result.rejected.extend(unknown)
        kept = [(index, event) for index, event in valid if event.variant_id in known]
        hashes: dict[str, str] = {}
        for _, event in kept:
            if event.contact not in hashes:
                hashes[event.contact] = contact_hash(secret, event.contact)
        contact_ids = contact_ids_by_hash(session, workspace_id, hashes.values())
        rows = [
            (
                index,
                (
                    workspace_id,
                    event.variant_id,
                    contact_ids[hashes[event.contact]],
                    event.kind,
                    event.revenue,
                    event.idempotency_key,
                    event.event_time,
                    now,
                ),
            )
            for index, event in kept
        ]
        _store(session, OutcomeEvent.__table__, OUTCOME_COLUMNS, rows, result)  # type: ignore[arg-type]
        result.rejected.sort()
        return result

    return _run(target, work)
