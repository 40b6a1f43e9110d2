"""A brand's approved drafts: latest verdict per variant, this brand only, point in time."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session, sessionmaker

from feedback.approved import approved_drafts
from feedback.catalog import create_brand, save_campaign, variants_of
from feedback.ingest import ingest_feedback
from feedback.models import utcnow
from feedback.tenancy import create_workspace
from tests.support.feedback import make_campaign

BRIEF = {
    "goal": "Spring sale",
    "offer": "15% off",
    "cta_url": "https://example.com/sale",
    "segments": [{"name": "loyal", "description": "order often"}],
}


def test_the_latest_accept_or_edit_of_this_brand_counts_as_known_at_the_time(
    factory: sessionmaker[Session],
) -> None:
    with factory() as session, session.begin():
        ws = create_workspace(session, "acme").id
        brand = create_brand(session, ws, "Lumen", {"voice": ["warm"]}).id
        other = create_brand(session, ws, "Other", {}).id
        mine = save_campaign(session, ws, BRIEF, make_campaign({"loyal": 3}), brand)
        theirs = save_campaign(session, ws, BRIEF, make_campaign({"loyal": 1}), other)
        first, second, third = (v.id for v in variants_of(session, ws, mine.id))
        (foreign,) = (v.id for v in variants_of(session, ws, theirs.id))
    t0 = dt.datetime(2026, 3, 1, 9, tzinfo=dt.UTC)
    hour = dt.timedelta(hours=1)
    events = [
        {"variant_id": first, "kind": "accept", "idempotency_key": "a", "event_time": t0},
        {"variant_id": second, "kind": "accept", "idempotency_key": "b", "event_time": t0},
        {"variant_id": second, "kind": "reject", "idempotency_key": "c", "event_time": t0 + hour},
        {"variant_id": third, "kind": "reject", "idempotency_key": "d", "event_time": t0},
        {
            "variant_id": third,
            "kind": "edit",
            "edited_text": "New subject\nNew preheader\nNew headline\nOne paragraph.\nShop now",
            "idempotency_key": "e",
            "event_time": t0 + 2 * hour,
        },
        {
            "variant_id": third,
            "kind": "comment",
            "comment": "better",
            "idempotency_key": "f",
            "event_time": t0,
        },
        {"variant_id": foreign, "kind": "accept", "idempotency_key": "g", "event_time": t0},
    ]
    early = [e for e in events if e["idempotency_key"] in {"a", "b", "d", "g"}]
    assert not ingest_feedback(factory, ws, early).rejected
    between = utcnow()
    assert not ingest_feedback(factory, ws, [e for e in events if e not in early]).rejected
    with factory() as session:
        kit, drafts = approved_drafts(session, ws, brand)
        assert kit == {"voice": ["warm"]}
        assert {(d.variant_id, d.verdict) for d in drafts} == {(first, "accept"), (third, "edit")}
        edited = next(d for d in drafts if d.variant_id == third)
        assert edited.edited_text is not None and edited.edited_text.startswith("New subject")
        assert edited.brief["goal"] == "Spring sale" and edited.segment == "loyal"
        assert edited.draft["subject"].startswith("Subject")
        # as known between the two batches: the second still accepted, the third still rejected
        _, earlier = approved_drafts(session, ws, brand, as_of=between)
        assert {(d.variant_id, d.verdict) for d in earlier} == {(first, "accept"), (second, "accept")}
        # and before any verdict had arrived, nothing
        assert approved_drafts(session, ws, brand, as_of=t0 + hour)[1] == []
