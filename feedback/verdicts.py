"""A variant's verdicts from the store: counts by kind, mean rating, latest decision, newest events."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from feedback.models import FeedbackEvent, VariantRow
from feedback.tenancy import get_in_workspace, in_workspace

__all__ = ["VariantVerdicts", "variant_verdicts"]


@dataclass(frozen=True)
class VariantVerdicts:
    """The feedback on one variant: counts by kind, mean rating, latest accept or reject, newest events."""

    variant_id: str
    counts: dict[str, int]
    mean_rating: float | None
    latest_decision: str | None
    events: list[FeedbackEvent]


def variant_verdicts(session: Session, workspace_id: str, variant_id: str, *, limit: int) -> VariantVerdicts:
    """The feedback on one of the workspace's variants with its `limit` newest events, or NotFoundError."""
    get_in_workspace(session, VariantRow, workspace_id, variant_id)
    mine = (FeedbackEvent.workspace_id == workspace_id, FeedbackEvent.variant_id == variant_id)
    counts = {
        kind: int(n)
        for kind, n in session.execute(
            select(FeedbackEvent.kind, func.count()).where(*mine).group_by(FeedbackEvent.kind)
        )
    }
    mean = session.scalar(select(func.avg(FeedbackEvent.rating)).where(*mine, FeedbackEvent.kind == "rating"))
    newest = (FeedbackEvent.event_time.desc(), FeedbackEvent.ingested_at.desc(), FeedbackEvent.id.desc())
    decision = session.scalar(
        select(FeedbackEvent.kind)
        .where(*mine, FeedbackEvent.kind.in_(("accept", "reject")))
        .order_by(*newest)
        .limit(1)
    )
    events = session.scalars(
        in_workspace(FeedbackEvent, workspace_id)
        .where(FeedbackEvent.variant_id == variant_id)
        .order_by(*newest)
        .limit(limit)
    )
    return VariantVerdicts(
        variant_id=variant_id,
        counts=counts,
        mean_rating=None if mean is None else float(mean),
        latest_decision=decision,
        events=list(events),
    )
