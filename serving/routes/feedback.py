"""Feedback: a marketer's verdicts on variants, one at a time or in batches, with idempotency keys."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from feedback.errors import InvalidInputError, NotFoundError
from feedback.events import FeedbackEventIn, OutcomeEventIn, RejectedRow
from feedback.ingest import BatchResult, ingest_feedback, ingest_outcomes
from feedback.models import FeedbackEvent, Variant
from feedback.tenancy import get_in_workspace, in_workspace
from serving.deps import Marketer, Reader, RuntimeDep, SessionDep
from serving.limits import find_nul
from serving.routes import COMMON_ERRORS
from serving.schemas import (
    BatchOut,
    EventBatchIn,
    FeedbackOut,
    RejectedRowOut,
    StoredEventOut,
    VariantFeedbackOut,
)

__all__ = ["EARLIEST_EVENT", "batch_out", "ingest_batch", "ingest_one", "router"]

router = APIRouter(prefix="/v1", tags=["feedback"], responses=COMMON_ERRORS)


class _Rejected(Exception):
    """Rolls an all-or-nothing batch back."""

    def __init__(self, result: BatchResult) -> None:
        super().__init__("batch rejected")
        self.result = result


# No e-mail event predates this; older times are unit mistakes, and datasets cannot hold the oldest.
EARLIEST_EVENT = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_TOO_EARLY = "must be in 1970 or later"


def _too_early(value: Any) -> bool:
    """Whether an event time (parsed, or as ISO 8601 text) is before `EARLIEST_EVENT`."""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return False  # the store's own validation names the problem
    if isinstance(value, dt.datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
        return aware < EARLIEST_EVENT
    return False


def _prescreen(events: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[int], list[RejectedRow]]:
    """The rows the store can take, their indexes in the batch, and the others as rejected rows.

    Refused here: text with NUL characters (PostgreSQL cannot store it) and event times before 1970.
    """
    kept: list[dict[str, Any]] = []
    positions: list[int] = []
    refused: list[RejectedRow] = []
    for index, event in enumerate(events):
        where = find_nul(event)
        if where is not None:
            refused.append(RejectedRow(index, where, "must not contain NUL characters"))
        elif isinstance(event, dict) and _too_early(event.get("event_time")):
            refused.append(RejectedRow(index, "event_time", _TOO_EARLY))
        else:
            kept.append(event)
            positions.append(index)
    return kept, positions, refused


def _reindexed(result: BatchResult, positions: list[int], refused: list[RejectedRow]) -> BatchResult:
    """A result over the kept rows, with indexes of the whole batch again."""
    return BatchResult(
        accepted={positions[i]: v for i, v in result.accepted.items()},
        duplicates={positions[i]: v for i, v in result.duplicates.items()},
        rejected=sorted(
            [*refused, *(RejectedRow(positions[r.index], r.field, r.reason) for r in result.rejected)]
        ),
    )


def ingest_batch(
    sessions: sessionmaker[Session],
    kind: str,
    workspace_id: str,
    events: list[dict[str, Any]],
    *,
    atomic: bool,
    limit: int,
) -> BatchResult:
    """Store a feedback or outcome batch; with `atomic`, a rejected row stores nothing."""
    if len(events) > limit:
        raise InvalidInputError(f"has {len(events):,} events; at most {limit:,} per batch", field="events")
    ingest = ingest_feedback if kind == "feedback" else ingest_outcomes
    kept, positions, refused = _prescreen(events)
    if not atomic:
        return _reindexed(ingest(sessions, workspace_id, kept), positions, refused)
    try:
        with sessions() as session, session.begin():
            result = _reindexed(ingest(session, workspace_id, kept), positions, refused)
            if result.rejected:
                raise _Rejected(result)
            return result
    except _Rejected as rejected:
        first = rejected.result.rejected[0]
        more = len(rejected.result.rejected) - 1
        tail = f" (and {more} more rejected row{'s' if more > 1 else ''})" if more else ""
        raise InvalidInputError(
            f"{first.reason}{tail}; nothing was stored", field=f"events.{first.index}.{first.field}"
        ) from None


def batch_out(result: BatchResult, size: int) -> BatchOut:
    """A batch result with the stored id of every row by index."""
    ids = result.ids
    return BatchOut(
        accepted=len(result.accepted),
        duplicates=len(result.duplicates),
        rejected=[RejectedRowOut(index=r.index, field=r.field, reason=r.reason) for r in result.rejected],
        ids=[ids.get(i) for i in range(size)],
    )


def ingest_one(
    sessions: sessionmaker[Session], workspace_id: str, event: FeedbackEventIn | OutcomeEventIn
) -> tuple[BatchResult, StoredEventOut]:
    """Store one event; a rejected event raises the error that names its field."""
    where = find_nul(event.model_dump(mode="json"))
    if where is not None:
        raise InvalidInputError("must not contain NUL characters", field=where)
    if _too_early(event.event_time):
        raise InvalidInputError(_TOO_EARLY, field="event_time")
    if isinstance(event, FeedbackEventIn):
        result = ingest_feedback(sessions, workspace_id, [event])
    else:
        result = ingest_outcomes(sessions, workspace_id, [event])
    if result.rejected:
        problem = result.rejected[0]
        if problem.field == "variant_id":
            raise NotFoundError(f"no variant {event.variant_id!r} in this workspace", field="variant_id")
        raise InvalidInputError(problem.reason, field=problem.field)
    return result, StoredEventOut(id=result.ids[0], duplicate=0 in result.duplicates)


@router.post(
    "/feedback",
    status_code=201,
    responses={200: {"model": StoredEventOut, "description": "A replay: the original event's id."}},
)
def create_feedback(
    body: FeedbackEventIn, response: Response, key: Marketer, runtime: RuntimeDep
) -> StoredEventOut:
    """Record one verdict on a variant: accept, reject, edit (with the edited text), rating or comment.

    A replayed idempotency key stores nothing and answers 200 with the original event's id.
    """
    result, out = ingest_one(runtime.sessions, key.workspace_id, body)
    runtime.metrics.count_events(
        runtime.metrics.feedback_events, len(result.accepted), len(result.duplicates), 0
    )
    if out.duplicate:
        response.status_code = 200
    return out


@router.post("/feedback/batch")
def create_feedback_batch(body: EventBatchIn, key: Marketer, runtime: RuntimeDep) -> BatchOut:
    """Record a batch of feedback events in one transaction; bad rows are rejected with their index."""
    result = ingest_batch(
        runtime.sessions,
        "feedback",
        key.workspace_id,
        body.events,
        atomic=body.atomic,
        limit=runtime.settings.max_batch_events,
    )
    metrics = runtime.metrics
    metrics.count_events(
        metrics.feedback_events, len(result.accepted), len(result.duplicates), len(result.rejected)
    )
    return batch_out(result, len(body.events))


def _feedback_out(event: FeedbackEvent) -> FeedbackOut:
    return FeedbackOut(
        id=event.id,
        variant_id=event.variant_id,
        kind=event.kind,
        edited_text=event.edited_text,
        rating=event.rating,
        comment=event.comment,
        actor=event.actor,
        reason_codes=list(event.reason_codes),
        event_time=event.event_time,
        ingested_at=event.ingested_at,
    )


@router.get("/variants/{variant_id}/feedback", tags=["variants"])
def get_variant_feedback(
    variant_id: str,
    key: Reader,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=1000, description="Most events to return, newest first.")] = 100,
) -> VariantFeedbackOut:
    """A variant's feedback: counts by kind, mean rating, latest decision and the newest events."""
    with session.begin():
        get_in_workspace(session, Variant, key.workspace_id, variant_id)
        mine = (FeedbackEvent.workspace_id == key.workspace_id, FeedbackEvent.variant_id == variant_id)
        counts = {
            kind: int(n)
            for kind, n in session.execute(
                select(FeedbackEvent.kind, func.count()).where(*mine).group_by(FeedbackEvent.kind)
            )
        }
        mean = session.scalar(
            select(func.avg(FeedbackEvent.rating)).where(*mine, FeedbackEvent.kind == "rating")
        )
        newest = (FeedbackEvent.event_time.desc(), FeedbackEvent.ingested_at.desc(), FeedbackEvent.id.desc())
        decision = session.scalar(
            select(FeedbackEvent.kind)
            .where(*mine, FeedbackEvent.kind.in_(("accept", "reject")))
            .order_by(*newest)
            .limit(1)
        )
        events = session.scalars(
            in_workspace(FeedbackEvent, key.workspace_id)
            .where(FeedbackEvent.variant_id == variant_id)
            .order_by(*newest)
            .limit(limit)
        )
        return VariantFeedbackOut(
            variant_id=variant_id,
            counts=counts,
            mean_rating=None if mean is None else round(float(mean), 4),
            latest_decision=decision,
            events=[_feedback_out(e) for e in events],
        )
