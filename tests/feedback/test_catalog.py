"""Workspaces, brands, campaigns and stored pipeline results with their lineage."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from sqlalchemy.orm import Session, sessionmaker

from feedback.catalog import (
    create_brand,
    create_campaign,
    create_segment,
    get_or_create_segment,
    get_variant,
    latest_member_counts,
    lineage_of,
    list_brands,
    list_segments,
    save_campaign,
    segments_named,
    update_brand,
    variants_of,
)
from feedback.contacts import ensure_contacts, workspace_secret
from feedback.errors import ConflictError, InvalidInputError, NotFoundError
from feedback.models import GenerationRequestRow, SegmentMembership, VariantRow
from feedback.tenancy import create_workspace, existing_ids, get_in_workspace, get_workspace_by_name
from tests.support.feedback import make_campaign


def test_a_campaign_draft_is_stored_with_every_variant_and_its_lineage(
    factory: sessionmaker[Session],
) -> None:
    draft = make_campaign({"high-spenders": 2, "lapsed": 3}, model_id="google/gemma-3-270m-it")
    with factory() as session:
        ws = create_workspace(session, "acme")
        brand = create_brand(session, ws.id, "Acme", {"colors": ["#112233"], "voice": "warm"})
        campaign = create_campaign(session, ws.id, "Holiday", brand.id)
        request = save_campaign(
            session, ws.id, {"goal": "Holiday sale"}, draft, brand.id, campaign_id=campaign.id
        )
        session.commit()
        request_id = request.id
    with factory() as session:
        stored = get_in_workspace(session, GenerationRequestRow, ws.id, request_id)
        assert stored.status == "completed" and stored.brief == {"goal": "Holiday sale"}
        assert stored.brand_id == brand.id and stored.campaign_id == campaign.id
        assert stored.stats["candidates"] == 9 and stored.stats["goal"] == "Holiday sale"
        variants = variants_of(session, ws.id, request_id)
        assert [(v.segment_name, v.rank) for v in variants] == [
            ("high-spenders", 0),
            ("high-spenders", 1),
            ("lapsed", 0),
            ("lapsed", 1),
            ("lapsed", 2),
        ]
        original = draft.variants["lapsed"][2]
        row = variants[4]
        assert lineage_of(row) == original.lineage
        assert row.pipeline_id == "lapsed-2" and row.draft == original.draft.to_dict()
        assert row.gate_results == [dataclasses.asdict(g) for g in original.gates]
        assert row.html == "<p>hi</p>" and row.score == pytest.approx(original.score)
        assert get_variant(session, ws.id, row.id).model_id == "google/gemma-3-270m-it"


def test_rows_of_another_workspace_are_invisible(factory: sessionmaker[Session]) -> None:
    with factory() as session:
        mine = create_workspace(session, "mine")
        theirs = create_workspace(session, "theirs")
        brand = create_brand(session, theirs.id, "Theirs")
        request = save_campaign(session, theirs.id, {}, make_campaign({"all": 1}), brand.id)
        session.commit()
        (variant,) = variants_of(session, theirs.id, request.id)
        with pytest.raises(NotFoundError) as info:
            get_variant(session, mine.id, variant.id)
        assert info.value.field == "variant_id"
        with pytest.raises(NotFoundError):
            save_campaign(session, mine.id, {}, make_campaign({"all": 1}), brand.id)
        with pytest.raises(NotFoundError):
            variants_of(session, mine.id, request.id)
        assert existing_ids(session, VariantRow, mine.id, [variant.id]) == set()
        assert existing_ids(session, VariantRow, theirs.id, [variant.id, "x"]) == {variant.id}


def test_names_are_unique_within_a_workspace(factory: sessionmaker[Session]) -> None:
    with factory() as session:
        ws = create_workspace(session, " acme ")
        assert get_workspace_by_name(session, "acme").id == ws.id
        with pytest.raises(ConflictError):
            create_workspace(session, "acme")
        create_brand(session, ws.id, "Acme")
        with pytest.raises(ConflictError):
            create_brand(session, ws.id, "Acme")
        other = create_workspace(session, "other")
        create_brand(session, other.id, "Acme")
        segment = get_or_create_segment(session, ws.id, "vip", traits={"spend_tier": "high"})
        assert get_or_create_segment(session, ws.id, "vip").id == segment.id
        with pytest.raises(InvalidInputError) as info:
            create_workspace(session, "  ")
        assert info.value.field == "name"
        with pytest.raises(NotFoundError):
            get_workspace_by_name(session, "nobody")


def test_each_workspace_gets_its_own_contact_secret(factory: sessionmaker[Session]) -> None:
    with factory() as session:
        first = create_workspace(session, "one")
        second = create_workspace(session, "two")
        given = create_workspace(session, "three", contact_secret="a-long-enough-secret")
        secrets = [workspace_secret(session, ws.id) for ws in (first, second, given)]
        assert secrets[0] != secrets[1] and len(secrets[0]) == 64
        assert secrets[2] == "a-long-enough-secret"
        with pytest.raises(InvalidInputError):
            create_workspace(session, "four", contact_secret="short")


def test_a_new_segment_or_a_renamed_brand_may_not_take_a_name_in_use(factory: sessionmaker[Session]) -> None:
    with factory() as session:
        ws = create_workspace(session, "acme").id
        create_segment(session, ws, " vip ", description="loyal")
        with pytest.raises(ConflictError) as segment:
            create_segment(session, ws, "vip")
        assert segment.value.field == "name"
        acme = create_brand(session, ws, "Acme")
        create_brand(session, ws, "Zest")
        with pytest.raises(ConflictError) as brand:
            update_brand(session, acme, "Zest", {"name": "Zest"})
        assert brand.value.field == "kit.name"
        renamed = update_brand(session, acme, "Bloom", {"name": "Bloom", "voice": "warm"})
        assert (renamed.name, renamed.kit) == ("Bloom", {"name": "Bloom", "voice": "warm"})
        assert [b.name for b in list_brands(session, ws)] == ["Bloom", "Zest"]
        assert [b.name for b in list_brands(session, ws, limit=1, offset=1)] == ["Zest"]


def test_segments_list_by_name_with_the_members_of_their_latest_computation(
    factory: sessionmaker[Session],
) -> None:
    with factory() as session:
        ws = create_workspace(session, "acme").id
        other = create_workspace(session, "other").id
        lapsed = create_segment(session, ws, "lapsed")
        high = create_segment(session, ws, "high")
        create_segment(session, other, "high")
        contacts = ensure_contacts(session, ws, ["a", "b", "c"])
        first = dt.datetime(2024, 4, 1, tzinfo=dt.UTC)
        members = [
            ("v1", "a", high, first),
            ("v1", "b", high, first),
            ("v2", "c", high, first + dt.timedelta(1)),
        ]
        session.add_all(
            SegmentMembership(
                workspace_id=ws, segment_id=segment.id, contact_id=contacts[c], version=v, computed_at=at
            )
            for v, c, segment, at in members
        )
        session.flush()
        assert [s.name for s in list_segments(session, ws)] == ["high", "lapsed"]
        assert [s.name for s in list_segments(session, ws, offset=1)] == ["lapsed"]
        assert [s.id for s in segments_named(session, ws, ["lapsed", "high", "none"])] == [high.id, lapsed.id]
        assert latest_member_counts(session, ws, [high.id, lapsed.id]) == {high.id: ("v2", 1)}
        assert latest_member_counts(session, ws, []) == {}
