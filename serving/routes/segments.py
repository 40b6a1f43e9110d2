"""Segments: create one, compute RFM tiers from an uploaded orders file, list with member counts."""

from __future__ import annotations

import datetime as dt
import io
from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, UploadFile
from sqlalchemy.orm import Session

from feedback import catalog
from feedback.errors import InvalidInputError
from feedback.models import SegmentRow
from feedback.rfm import DEFAULT_LAPSED_AFTER_DAYS, compute_rfm, import_orders_csv, store_rfm_segments
from feedback.tenancy import get_in_workspace
from serving.deps import Marketer, Reader, SessionDep
from serving.routes import COMMON_ERRORS, Limit, Offset, errors
from serving.schemas import RfmReportOut, SegmentCreate, SegmentOut

__all__ = ["router"]

router = APIRouter(prefix="/v1/segments", tags=["segments"], responses=COMMON_ERRORS)


def segments_out(session: Session, workspace_id: str, segments: list[SegmentRow]) -> list[SegmentOut]:
    """Segments with the member count of their latest computation."""
    counts = catalog.latest_member_counts(session, workspace_id, [s.id for s in segments])
    out = []
    for segment in segments:
        version, members = counts.get(segment.id, (None, 0))
        out.append(
            SegmentOut(
                id=segment.id,
                name=segment.name,
                description=segment.description,
                traits=segment.traits,
                members=members,
                version=version,
                created_at=segment.created_at,
            )
        )
    return out


@router.post("", status_code=201, responses=errors(409))
def create_segment(body: SegmentCreate, key: Marketer, session: SessionDep) -> SegmentOut:
    """Create a segment; its name must be new in the workspace."""
    with session.begin():
        segment = catalog.create_segment(
            session,
            key.workspace_id,
            body.name,
            description=body.description,
            traits=body.traits.model_dump(mode="json"),
        )
        return segments_out(session, key.workspace_id, [segment])[0]


@router.post("/rfm", status_code=201, responses=errors(409))
def compute_rfm_segments(
    key: Marketer,
    session: SessionDep,
    file: Annotated[UploadFile, File(description="Orders: customer id, date and amount per line.")],
    version: Annotated[str, Form(min_length=1, max_length=100, description="Names this computation.")],
    as_of: Annotated[
        dt.date | None, Form(description="Score as of this day; the last order's if unset.")
    ] = None,
    lapsed_after_days: Annotated[int, Form(ge=1, le=36_500)] = DEFAULT_LAPSED_AFTER_DAYS,
    customer_column: Annotated[str, Form(min_length=1, max_length=200)] = "customer_id",
    date_column: Annotated[str, Form(min_length=1, max_length=200)] = "date",
    amount_column: Annotated[str, Form(min_length=1, max_length=200)] = "amount",
    date_format: Annotated[str | None, Form(max_length=100)] = None,
    file_format: Annotated[Literal["auto", "csv", "cdnow"], Form()] = "auto",
) -> RfmReportOut:
    """Compute recency / frequency / monetary tiers from an orders file and store them as segments."""
    roles = {"customer_column": customer_column, "date_column": date_column, "amount_column": amount_column}
    for field, column in roles.items():
        if list(roles.values()).count(column) > 1:
            raise InvalidInputError(
                f"{column!r} is named for two roles; each needs its own column", field=field
            )
    try:
        text = file.file.read().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInputError("is not UTF-8 text", field="file") from None
    if not text.strip():
        raise InvalidInputError("is empty", field="file")
    try:
        orders = import_orders_csv(
            io.StringIO(text),
            customer_column=customer_column,
            date_column=date_column,
            amount_column=amount_column,
            date_format=date_format or None,
            file_format=file_format,
        )
    except (ValueError, IndexError) as exc:
        # pandas raises these for files it cannot read at all (no columns, ragged lines).
        raise InvalidInputError(f"not a readable orders file: {exc}", field="file") from None
    rfm = compute_rfm(orders, as_of, lapsed_after_days=lapsed_after_days)
    with session.begin():
        report = store_rfm_segments(session, key.workspace_id, rfm, version)
        segments = catalog.segments_named(session, key.workspace_id, report.members)
        return RfmReportOut(
            version=report.version,
            as_of=str(rfm.attrs.get("as_of", "")),
            orders=len(orders),
            contacts=report.contacts,
            members=dict(report.members),
            segments=segments_out(session, key.workspace_id, segments),
        )


@router.get("")
def list_segments(
    key: Reader, session: SessionDep, limit: Limit = 100, offset: Offset = 0
) -> list[SegmentOut]:
    """The workspace's segments with their member counts, by name."""
    with session.begin():
        segments = catalog.list_segments(session, key.workspace_id, limit=limit, offset=offset)
        return segments_out(session, key.workspace_id, segments)


@router.get("/{segment_id}")
def get_segment(segment_id: str, key: Reader, session: SessionDep) -> SegmentOut:
    """One segment with its member count."""
    with session.begin():
        segment = get_in_workspace(session, SegmentRow, key.workspace_id, segment_id)
        return segments_out(session, key.workspace_id, [segment])[0]
