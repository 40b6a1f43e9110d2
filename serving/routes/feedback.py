"""Feedback: a marketer's verdicts on variants, one at a time or in batches, with idempotency keys."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from feedback.batches import ingest_batch, ingest_event
from feedback.events import FeedbackEventIn
from feedback.ingest import BatchResult
from feedback.models import FeedbackEvent
from feedback.verdicts import variant_verdicts
from serving.deps import Marketer, Reader, RuntimeDep, SessionDep
from serving.routes import COMMON_ERRORS
from serving.schemas import (
    BatchOut,
    EventBatchIn,
    FeedbackOut,
    RejectedRowOut,
    StoredEventOut,
    VariantFeedbackOut,
)

__all__ = ["batch_out", "router"]

router = APIRouter(prefix="/v1", tags=["feedback"], responses=COMMON_ERRORS)


def batch_out(result: BatchResult, size: int) -> BatchOut:
    """A batch result with the stored id of every row by index."""
    ids = result.ids
    return BatchOut(
        accepted=len(result.accepted),
        duplicates=len(result.duplicates),
        rejected=[RejectedRowOut(index=r.index, field=r.field, reason=r.reason) for r in result.rejected],
        ids=[ids.get(i) for i in range(size)],
        suppressed=len(result.suppressed),
    )


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
    result = ingest_event(runtime.sessions, key.workspace_id, body)
    out = StoredEventOut(id=result.ids[0], duplicate=0 in result.duplicates)
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
        verdicts = variant_verdicts(session, key.workspace_id, variant_id, limit=limit)
        mean = verdicts.mean_rating
        return VariantFeedbackOut(
            variant_id=verdicts.variant_id,
            counts=verdicts.counts,
            mean_rating=None if mean is None else round(mean, 4),
            latest_decision=verdicts.latest_decision,
            events=[_feedback_out(e) for e in verdicts.events],
        )
