"""A workspace's catalogue: brands, segments, campaigns, generation requests and their variants."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from feedback.errors import ConflictError, InvalidInputError
from feedback.models import Brand, Campaign, GenerationRequestRow, SegmentMembership, SegmentRow, VariantRow
from feedback.tenancy import get_in_workspace, get_workspace, in_workspace
from genai.brand import BrandKit
from genai.campaign import CampaignDraft, Lineage, Variant
from genai.draft import EmailDraft
from genai.render import render_html, render_text

__all__ = [
    "create_brand",
    "create_campaign",
    "create_segment",
    "get_or_create_segment",
    "get_variant",
    "latest_member_counts",
    "lineage_of",
    "list_brands",
    "list_generation_requests",
    "list_segments",
    "rendered_variant",
    "save_campaign",
    "segment_names",
    "segments_named",
    "update_brand",
    "variants_of",
]

LINEAGE_FIELDS = tuple(f.name for f in dataclasses.fields(Lineage))


def _name(value: str, limit: int) -> str:
    clean = value.strip()
    if not 1 <= len(clean) <= limit:
        raise InvalidInputError(f"must be 1 to {limit} characters", field="name")
    return clean


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _to_json(data: Mapping[str, Any] | BaseModel, field: str) -> dict[str, Any]:
    """A plain JSON dict; dates become ISO strings, so what is stored is what is read back."""
    if isinstance(data, BaseModel):
        return data.model_dump(mode="json")
    try:
        loaded: dict[str, Any] = json.loads(json.dumps(dict(data), default=_json_default))
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"not JSON serialisable: {exc}", field=field) from exc
    return loaded


def create_brand(
    session: Session, workspace_id: str, name: str, kit: Mapping[str, Any] | None = None
) -> Brand:
    """Create a brand with its kit (any JSON object) in the workspace."""
    get_workspace(session, workspace_id)
    clean = _name(name, 200)
    if session.scalar(in_workspace(Brand, workspace_id).where(Brand.name == clean)) is not None:
        raise ConflictError(f"a brand named {clean!r} exists", field="name")
    brand = Brand(workspace_id=workspace_id, name=clean, kit=_to_json(kit or {}, "kit"))
    session.add(brand)
    session.flush()
    return brand


def list_brands(
    session: Session, workspace_id: str, *, limit: int | None = None, offset: int = 0
) -> list[Brand]:
    """The workspace's brands, by name."""
    stmt = in_workspace(Brand, workspace_id).order_by(Brand.name).limit(limit).offset(offset)
    return list(session.scalars(stmt))


def update_brand(session: Session, brand: Brand, name: str, kit: Mapping[str, Any]) -> Brand:
    """Give a brand a new kit and name; another brand of the workspace with that name is a ConflictError."""
    if name != brand.name:
        taken = session.scalar(
            select(Brand.id).where(Brand.workspace_id == brand.workspace_id, Brand.name == name)
        )
        if taken is not None:
            raise ConflictError(f"a brand named {name!r} exists", field="kit.name")
        brand.name = name
    brand.kit = dict(kit)
    session.flush()
    return brand


def create_campaign(session: Session, workspace_id: str, name: str, brand_id: str | None = None) -> Campaign:
    """Create a campaign, optionally for one of the workspace's brands."""
    get_workspace(session, workspace_id)
    if brand_id is not None:
        get_in_workspace(session, Brand, workspace_id, brand_id)
    campaign = Campaign(workspace_id=workspace_id, name=_name(name, 200), brand_id=brand_id)
    session.add(campaign)
    session.flush()
    return campaign


def get_or_create_segment(
    session: Session,
    workspace_id: str,
    name: str,
    *,
    description: str = "",
    traits: Mapping[str, Any] | None = None,
) -> SegmentRow:
    """The segment with this name in the workspace, created (with description and traits) if absent."""
    get_workspace(session, workspace_id)
    clean = _name(name, 80)
    segment: SegmentRow | None = session.scalar(
        in_workspace(SegmentRow, workspace_id).where(SegmentRow.name == clean)
    )
    if segment is None:
        segment = SegmentRow(
            workspace_id=workspace_id,
            name=clean,
            description=description,
            traits=_to_json(traits or {}, "traits"),
        )
        session.add(segment)
        session.flush()
    return segment


def create_segment(
    session: Session,
    workspace_id: str,
    name: str,
    *,
    description: str = "",
    traits: Mapping[str, Any] | None = None,
) -> SegmentRow:
    """Create a segment whose name is new in the workspace; an existing name is a ConflictError."""
    clean = name.strip()
    if session.scalar(in_workspace(SegmentRow, workspace_id).where(SegmentRow.name == clean)) is not None:
        raise ConflictError(f"a segment named {clean!r} exists", field="name")
    return get_or_create_segment(session, workspace_id, clean, description=description, traits=traits)


def list_segments(
    session: Session, workspace_id: str, *, limit: int | None = None, offset: int = 0
) -> list[SegmentRow]:
    """The workspace's segments, by name."""
    stmt = in_workspace(SegmentRow, workspace_id).order_by(SegmentRow.name).limit(limit).offset(offset)
    return list(session.scalars(stmt))


def segments_named(session: Session, workspace_id: str, names: Iterable[str]) -> list[SegmentRow]:
    """The workspace's segments with these names, by name."""
    stmt = (
        in_workspace(SegmentRow, workspace_id)
        .where(SegmentRow.name.in_(list(names)))
        .order_by(SegmentRow.name)
    )
    return list(session.scalars(stmt))


def latest_member_counts(
    session: Session, workspace_id: str, segment_ids: Sequence[str]
) -> dict[str, tuple[str, int]]:
    """``{segment id: (latest version, members under it)}`` for those segments that have memberships.

    The latest version is the one computed last; versions computed at the same moment are ordered
    by name.
    """
    if not segment_ids:
        return {}
    stmt = (
        select(
            SegmentMembership.segment_id,
            SegmentMembership.version,
            func.count(),
            func.max(SegmentMembership.computed_at),
        )
        .where(SegmentMembership.workspace_id == workspace_id, SegmentMembership.segment_id.in_(segment_ids))
        .group_by(SegmentMembership.segment_id, SegmentMembership.version)
    )
    latest: dict[str, tuple[str, int, dt.datetime]] = {}
    for segment_id, version, count, computed_at in session.execute(stmt):
        known = latest.get(segment_id)
        if known is None or (computed_at, version) > (known[2], known[0]):
            latest[segment_id] = (version, int(count), computed_at)
    return {k: (v[0], v[1]) for k, v in latest.items()}


def _variant_row(workspace_id: str, request_id: str, variant: Variant) -> VariantRow:
    lineage = dataclasses.asdict(variant.lineage)
    return VariantRow(
        workspace_id=workspace_id,
        generation_request_id=request_id,
        pipeline_id=variant.id,
        segment_name=variant.segment,
        rank=variant.rank,
        draft=variant.draft.to_dict(),
        score=float(variant.score),
        reasons=list(variant.reasons),
        gate_results=[dataclasses.asdict(gate) for gate in variant.gates],
        html=variant.html or None,
        text=variant.text or None,
        **{name: lineage[name] for name in LINEAGE_FIELDS},
    )


def save_campaign(
    session: Session,
    workspace_id: str,
    brief: Mapping[str, Any] | BaseModel,
    campaign: CampaignDraft,
    brand_id: str | None,
    *,
    campaign_id: str | None = None,
) -> GenerationRequestRow:
    """Store a pipeline result: one completed generation request and every variant with its lineage."""
    get_workspace(session, workspace_id)
    if brand_id is not None:
        get_in_workspace(session, Brand, workspace_id, brand_id)
    if campaign_id is not None:
        get_in_workspace(session, Campaign, workspace_id, campaign_id)
    stats = _to_json({"goal": campaign.goal, "brand": campaign.brand, **campaign.stats.to_dict()}, "campaign")
    stats["rejected"] = {segment: len(items) for segment, items in campaign.rejected.items()}
    request = GenerationRequestRow(
        workspace_id=workspace_id,
        brand_id=brand_id,
        campaign_id=campaign_id,
        brief=_to_json(brief, "brief"),
        status="completed",
        stats=stats,
    )
    session.add(request)
    session.flush()
    session.add_all(
        _variant_row(workspace_id, request.id, variant)
        for variants in campaign.variants.values()
        for variant in variants
    )
    session.flush()
    return request


def variants_of(session: Session, workspace_id: str, generation_request_id: str) -> list[VariantRow]:
    """The variants of one generation request, by segment then rank."""
    get_in_workspace(session, GenerationRequestRow, workspace_id, generation_request_id)
    stmt = (
        in_workspace(VariantRow, workspace_id)
        .where(VariantRow.generation_request_id == generation_request_id)
        .order_by(VariantRow.segment_name, VariantRow.rank)
    )
    return list(session.scalars(stmt))


def list_generation_requests(
    session: Session, workspace_id: str, limit: int, offset: int
) -> list[tuple[GenerationRequestRow, int]]:
    """The workspace's generation requests, newest first, each with its number of variants."""
    stmt = (
        in_workspace(GenerationRequestRow, workspace_id)
        .order_by(GenerationRequestRow.created_at.desc(), GenerationRequestRow.id)
        .limit(limit)
        .offset(offset)
    )
    rows = list(session.scalars(stmt))
    counts: dict[str, int] = {}
    if rows:
        count_stmt = (
            select(VariantRow.generation_request_id, func.count())
            .where(VariantRow.generation_request_id.in_([r.id for r in rows]))
            .group_by(VariantRow.generation_request_id)
        )
        counts = {rid: int(count) for rid, count in session.execute(count_stmt)}
    return [(row, counts.get(row.id, 0)) for row in rows]


def rendered_variant(session: Session, workspace_id: str, variant_id: str, kind: str) -> str:
    """A stored variant's e-mail as `kind` ("html" or "text"), rendered again if it was stored without."""
    variant = get_in_workspace(session, VariantRow, workspace_id, variant_id)
    stored = variant.html if kind == "html" else variant.text
    if stored:
        return stored
    request = get_in_workspace(session, GenerationRequestRow, workspace_id, variant.generation_request_id)
    kit = BrandKit(name="")
    if request.brand_id is not None:
        kit = BrandKit.from_dict(get_in_workspace(session, Brand, workspace_id, request.brand_id).kit)
    draft = EmailDraft.from_dict(variant.draft)
    if kind == "html":
        return render_html(draft, kit, lang=str(request.brief.get("language", "en")))
    return render_text(draft, kit)


def get_variant(session: Session, workspace_id: str, variant_id: str) -> VariantRow:
    """One variant of the workspace, or NotFoundError."""
    return get_in_workspace(session, VariantRow, workspace_id, variant_id)


def lineage_of(variant: VariantRow) -> Lineage:
    """The stored variant's lineage as the pipeline's own dataclass."""
    return Lineage(**{name: getattr(variant, name) for name in LINEAGE_FIELDS})


def segment_names(session: Session, workspace_id: str) -> list[str]:
    """Names of the workspace's segments, sorted."""
    return list(
        session.scalars(
            select(SegmentRow.name).where(SegmentRow.workspace_id == workspace_id).order_by(SegmentRow.name)
        )
    )
