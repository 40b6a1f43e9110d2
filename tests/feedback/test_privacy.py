"""Scrubbing contact details from free text, pseudonymous contacts and the right to erasure."""

from __future__ import annotations

import hashlib
import hmac
import threading

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from feedback.contacts import contact_hash, ensure_contacts, find_contact, normalise_external_id
from feedback.errors import InvalidInputError
from feedback.ingest import ingest_outcomes
from feedback.models import Assignment, Contact, Experiment, ExperimentArm, OutcomeEvent, SegmentMembership
from feedback.privacy import erase_contact, scrub_text
from feedback.rfm import compute_rfm, store_rfm_segments
from tests.support.feedback import ORDERS, seed_workspace
from tests.support.payloads import outcome_event


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mail ann.lee+promo@shop.example.co.uk now", "mail [email] now"),
        ("call +1 (555) 123-4567 today", "call [phone] today"),
        ("call 555-123-4567 or 555.123.4567", "call [phone] or [phone]"),
        ("ring +44 20 7946 0958", "ring [phone]"),
        ("ring 020 7946 0958.", "ring [phone]."),
        ("mobile +33612345678", "mobile [phone]"),
        ("mobile 0612345678", "mobile [phone]"),
        ("local 555-1234", "local [phone]"),
    ],
)
def test_scrub_replaces_email_addresses_and_phone_numbers(text: str, expected: str) -> None:
    assert scrub_text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Sale ends 2024-12-31 or 31.12.2024 or 12/31/2024",
        "Save 20% on orders over $1,299.99 until 10:30",
        "Season 2024-2025, version 1.2.3, pi is 3.14159265",
        "Order #12345 ships in 3 days",
        "Use *|EMAIL|* and *|FNAME|* merge tags",
    ],
)
def test_scrub_leaves_dates_prices_and_merge_tags_alone(text: str) -> None:
    assert scrub_text(text) == text


def test_scrub_keeps_none() -> None:
    assert scrub_text(None) is None


def test_external_ids_are_normalised_and_hashed_with_the_workspace_secret() -> None:
    assert normalise_external_id("  Ann@Example.COM ") == "ann@example.com"
    assert normalise_external_id(" 00042 ") == "00042"
    expected = hmac.new(b"secret-one", b"ann@example.com", hashlib.sha256).hexdigest()
    assert contact_hash("secret-one", "ANN@example.com") == expected
    assert contact_hash("secret-two", "ann@example.com") != expected
    with pytest.raises(InvalidInputError):
        normalise_external_id("   ")


def test_erasing_a_contact_removes_every_row_tied_to_it(factory: sessionmaker[Session]) -> None:
    with factory() as session:
        ws_id, variants = seed_workspace(session)
    events = [
        outcome_event(f"{who}-{n}", variants[0], f"{who}@example.com") for who in ("a", "b") for n in range(3)
    ]
    ingest_outcomes(factory, ws_id, events)
    with factory() as session:
        store_rfm_segments(session, ws_id, compute_rfm(ORDERS), "v1")
        experiment = Experiment(workspace_id=ws_id, name="subject test", primary_metric="open")
        session.add(experiment)
        session.flush()
        arm = ExperimentArm(
            workspace_id=ws_id, experiment_id=experiment.id, variant_id=variants[0], is_control=True
        )
        session.add(arm)
        session.flush()
        contacts = ensure_contacts(session, ws_id, ["a@example.com", "b@example.com"])
        for contact_id in contacts.values():
            session.add(
                Assignment(
                    workspace_id=ws_id, experiment_id=experiment.id, contact_id=contact_id, arm_id=arm.id
                )
            )
        session.commit()
        # Customer "a" of the orders shares nothing with "a@example.com": two different contacts.
        report = erase_contact(session, ws_id, "A@Example.com")
        session.commit()
        assert report.found and (report.outcome_events, report.assignments, report.contacts) == (3, 1, 1)
        assert report.segment_memberships == 0
        orders_report = erase_contact(session, ws_id, "a")
        session.commit()
        assert orders_report.segment_memberships == 1 and orders_report.total == 2
    with factory() as session:
        assert find_contact(session, ws_id, "a@example.com") is None
        assert find_contact(session, ws_id, "b@example.com") is not None
        remaining = set(session.scalars(select(OutcomeEvent.contact_id)))
        assert remaining == {contacts["b@example.com"]}
        assert session.scalar(select(func.count()).select_from(Assignment)) == 1
        assert (
            session.scalar(select(func.count()).select_from(SegmentMembership))
            == len(compute_rfm(ORDERS)) - 1
        )
        assert session.scalar(select(func.count()).select_from(Contact)) == 1 + len(compute_rfm(ORDERS)) - 1
        assert erase_contact(session, ws_id, "a@example.com").found is False


def test_erasure_only_touches_the_given_workspace(factory: sessionmaker[Session]) -> None:
    with factory() as session:
        one, variants_one = seed_workspace(session, "one")
        two, variants_two = seed_workspace(session, "two")
    ingest_outcomes(factory, one, [outcome_event("x", variants_one[0], "ann@example.com")])
    ingest_outcomes(factory, two, [outcome_event("x", variants_two[0], "ann@example.com")])
    with factory() as session:
        assert erase_contact(session, one, "ann@example.com").total == 2
        session.commit()
        assert find_contact(session, two, "ann@example.com") is not None
        assert session.scalar(select(func.count()).select_from(OutcomeEvent)) == 1


def test_an_erasure_waits_for_a_batch_in_flight_and_leaves_none_of_its_events(
    db_url: str, factory: sessionmaker[Session]
) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite has one writer at a time; PostgreSQL serialises the two with a lock")
    with factory() as session:
        ws_id, variants = seed_workspace(session)
    ingest_outcomes(factory, ws_id, [outcome_event("old", variants[0], "ann@example.com")])
    erased = threading.Event()

    def erase() -> None:
        with factory() as other:
            erase_contact(other, ws_id, "ann@example.com")
            other.commit()
        erased.set()

    with factory() as batch:
        # The batch has looked the contact up and written its event, but not committed yet.
        ingest_outcomes(batch, ws_id, [outcome_event("new", variants[0], "ann@example.com")])
        eraser = threading.Thread(target=erase)
        eraser.start()
        assert not erased.wait(1.0), "the erasure must wait for the batch in flight"
        batch.commit()
    eraser.join(30)
    assert erased.is_set()
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(OutcomeEvent)) == 0
        assert find_contact(session, ws_id, "ann@example.com") is None
