"""A brand's approved drafts: what its marketers accepted or edited, for training its own adapter.

A variant counts by its latest accept, edit or reject (the latest of those verdicts, as in the
other learning data): accepted, it is a target as it was written; edited, the marketer's text is
the target; rejected, it is left out. Point in time: with `as_of`, only verdicts that happened and
had arrived by then count, so an adapter can be retrained exactly as it was.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from feedback.models import Brand, FeedbackEvent, GenerationRequestRow, VariantRow
from feedback.tenancy import get_in_workspace

__all__ = ["ApprovedDraft", "approved_drafts"]

_VERDICTS = ("accept", "edit", "reject")


@dataclass(frozen=True)
class ApprovedDraft:
    """A variant a marketer accepted (or edited), with the brief and segment it was written for."""

    variant_id: str
    request_id: str
    brief: dict[str, Any]
    segment: str
    draft: dict[str, Any]
    verdict: str  # "accept" or "edit"
    edited_text: str | None


def approved_drafts(
    session: Session, workspace_id: str, brand_id: str, *, as_of: dt.datetime | None = None
) -> tuple[dict[str, Any], list[ApprovedDraft]]:
    """The brand's kit and its variants whose latest verdict (known at `as_of`) is accept or edit."""
    brand = get_in_workspace(session, Brand, workspace_id, brand_id)
    stmt = (
        select(FeedbackEvent.variant_id, FeedbackEvent.kind, FeedbackEvent.edited_text)
        .join(
            VariantRow,
            (VariantRow.id == FeedbackEvent.variant_id) & (VariantRow.workspace_id == workspace_id),
        )
        .join(GenerationRequestRow, GenerationRequestRow.id == VariantRow.generation_request_id)
        .where(
            FeedbackEvent.workspace_id == workspace_id,
            FeedbackEvent.kind.in_(_VERDICTS),
            GenerationRequestRow.brand_id == brand_id,
        )
        .order_by(FeedbackEvent.event_time, FeedbackEvent.id)
    )
    if as_of is not None:
        stmt = stmt.where(FeedbackEvent.event_time <= as_of, FeedbackEvent.ingested_at <= as_of)
    latest: dict[str, tuple[str, str | None]] = {}
    for variant_id, kind, edited in session.execute(stmt):
        latest[variant_id] = (kind, edited)
    wanted = [vid for vid, (kind, _) in latest.items() if kind != "reject"]
    if not wanted:
        return dict(brand.kit), []
    rows = session.execute(
        select(VariantRow, GenerationRequestRow.brief)
        .join(GenerationRequestRow, GenerationRequestRow.id == VariantRow.generation_request_id)
        .where(VariantRow.workspace_id == workspace_id, VariantRow.id.in_(wanted))
        .order_by(VariantRow.generation_request_id, VariantRow.segment_name, VariantRow.rank)
    )
    found = []
    for variant, brief in rows:
        kind, edited = latest[variant.id]
        found.append(
            ApprovedDraft(
                variant_id=variant.id,
                request_id=variant.generation_request_id,
                brief=dict(brief),
                segment=variant.segment_name,
                draft=dict(variant.draft),
                verdict=kind,
                edited_text=edited if kind == "edit" else None,
            )
        )
    return dict(brand.kit), found
