"""Erasure that stays erased: suppression on every ingestion path, verdicts scrubbed, ids never reused."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from feedback.batches import ingest_batch
from feedback.contacts import contact_hash, ensure_contacts, find_contact, workspace_secret
from feedback.csv_import import import_outcomes_csv
from feedback.db import truncate_wal
from feedback.errors import StateError
from feedback.experiment_store import assign_contact, create_experiment
from feedback.ingest import ingest_outcomes
from feedback.models import Contact, ErasedContact, FeedbackEvent, OutcomeEvent, SegmentMembership
from feedback.privacy import ERASED_TOKEN, erase_contact
from feedback.rfm import compute_rfm, store_rfm_segments
from feedback.webhooks import ingest_webhook
from tests.support.feedback import ORDERS
from tests.support.payloads import feedback_event, outcome_event


def _erase(factory: sessionmaker[Session], workspace_id: str, contact: str) -> None:
    with factory() as session, session.begin():
        erase_contact(session, workspace_id, contact)


def _count(session: Session, model: type) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_a_replayed_batch_after_an_erasure_stores_nothing_for_the_erased_contact(
    factory: sessionmaker[Session], workspace: tuple[str, list[str]]
) -> None:
    ws_id, variants = workspace
    batch = [
        outcome_event(f"k{n}", variants[0], who) for n, who in enumerate(["ann@a.example", "bob@a.example"])
    ]
    ingest_outcomes(factory, ws_id, batch)
    _erase(factory, ws_id, "Ann@A.example")
    replay = ingest_outcomes(factory, ws_id, batch)
    assert replay.suppressed == [0]
    assert list(replay.duplicates) == [1] and not replay.accepted and not replay.rejected
    later = ingest_outcomes(factory, ws_id, [outcome_event("new", variants[1], "ann@a.example", "click")])
    assert later.suppressed == [0] and not later.accepted
    with factory() as session:
        assert find_contact(session, ws_id, "ann@a.example") is None
        assert _count(session, OutcomeEvent) == 1
        assert _count(session, Contact) == 1


def test_an_erasure_before_any_event_still_suppresses_the_contact(
    factory: sessionmaker[Session], workspace: tuple[str, list[str]]
) -> None:
    ws_id, variants = workspace
    with factory() as session, session.begin():
        report = erase_contact(session, ws_id, "late@a.example")
    assert report.found is False and report.suppressed
    result = ingest_outcomes(factory, ws_id, [outcome_event("q", variants[0], "late@a.example", "send")])
    assert result.suppressed == [0]
    with factory() as session:
        secret = workspace_secret(session, ws_id)
        stored = session.scalars(select(ErasedContact.hmac)).all()
        assert stored == [contact_hash(secret, "late@a.example")]
        assert _count(session, Contact) == 0


def test_webhook_redeliveries_and_csv_imports_honour_the_suppression(
    factory: sessionmaker[Session], workspace: tuple[str, list[str]]
) -> None:
    ws_id, variants = workspace
    items = [
        {"email": who, "event": "open", "timestamp": 1_714_557_600, "variant_id": variants[0]}
        for who in ("ann@a.example", "bob@a.example")
    ]
    first = ingest_webhook(factory, ws_id, items, limit=10)
    assert first.accepted == 2
    _erase(factory, ws_id, "ann@a.example")
    again = ingest_webhook(factory, ws_id, items, limit=10)
    assert (again.accepted, again.duplicates, again.suppressed) == (0, 1, 1)
    csv_text = f"contact,variant,event,time\nann@a.example,{variants[0]},click,2024-05-01T10:00:00Z\n"
    columns = {"contact": "contact", "variant": "variant_id", "event": "kind", "time": "event_time"}
    report = import_outcomes_csv(factory, ws_id, io.StringIO(csv_text), columns)
    assert (report.accepted, report.suppressed, report.rejected) == (0, 1, [])
    with factory() as session:
        assert find_contact(session, ws_id, "ann@a.example") is None


def test_an_erased_customer_is_neither_segmented_nor_assigned_again(
    factory: sessionmaker[Session], workspace: tuple[str, list[str]]
) -> None:
    ws_id, variants = workspace
    rfm = compute_rfm(ORDERS)
    erased = str(rfm.index[0])
    _erase(factory, ws_id, erased)
    accepts = [feedback_event(f"a{n}", variant) for n, variant in enumerate(variants[:2])]
    ingest_batch(factory, "feedback", ws_id, accepts, atomic=True, limit=10)
    with factory() as session, session.begin():
        report = store_rfm_segments(session, ws_id, rfm, "v1")
    assert report.contacts == len(rfm) - 1
    assert sum(report.members.values()) == len(rfm) - 1
    with factory() as session, session.begin():
        assert _count(session, SegmentMembership) == len(rfm) - 1
        assert find_contact(session, ws_id, erased) is None
        experiment = create_experiment(
            session,
            ws_id,
            name="subjects",
            variant_ids=variants[:2],
            weights=None,
            segment_id=None,
            primary_metric="click",
            guardrail_metrics=[],
            mode="fixed",
            start=True,
        )
        assert assign_contact(session, experiment, "kept@a.example").new
        with pytest.raises(StateError) as caught:
            assign_contact(session, experiment, erased)
        assert caught.value.field == "contact"


def test_erasure_scrubs_the_contact_from_verdicts_actor_and_free_text(
    factory: sessionmaker[Session], workspace: tuple[str, list[str]]
) -> None:
    ws_id, variants = workspace
    rows = [
        feedback_event("f1", variants[0], actor="Ann@A.example"),
        feedback_event(
            "f2", variants[0], "comment", comment="Customer C-42 asked; C-420 and 42 candles are fine"
        ),
        feedback_event(
            "f3", variants[1], "edit", edited_text="Dear C-42, thanks!", actor="maya@shop.example"
        ),
    ]
    ingest_batch(factory, "feedback", ws_id, rows, atomic=True, limit=100)
    with factory() as session, session.begin():
        first = erase_contact(session, ws_id, "ann@a.example")
        second = erase_contact(session, ws_id, "C-42")
    assert (first.feedback_scrubbed, second.feedback_scrubbed) == (1, 2)
    with factory() as session:
        stored = {e.idempotency_key: e for e in session.scalars(select(FeedbackEvent))}
    assert stored["f1"].actor is None
    assert stored["f2"].comment == f"Customer {ERASED_TOKEN} asked; C-420 and 42 candles are fine"
    assert stored["f3"].edited_text == f"Dear {ERASED_TOKEN}, thanks!"
    assert stored["f3"].actor == "maya@shop.example"


def test_ids_outside_ascii_are_scrubbed_on_both_databases(
    factory: sessionmaker[Session], workspace: tuple[str, list[str]]
) -> None:
    ws_id, variants = workspace
    rows = [
        feedback_event("u1", variants[0], actor="ÖMER@SHOP.EXAMPLE"),
        feedback_event("u2", variants[0], "comment", comment="Spoke with JÜRGEN-7 today"),
    ]
    ingest_batch(factory, "feedback", ws_id, rows, atomic=True, limit=10)
    with factory() as session, session.begin():
        assert erase_contact(session, ws_id, "ömer@shop.example").feedback_scrubbed == 1
        assert erase_contact(session, ws_id, "JÜRGEN-7").feedback_scrubbed == 1
    with factory() as session:
        stored = {e.idempotency_key: e for e in session.scalars(select(FeedbackEvent))}
    assert stored["u1"].actor is None and stored["u2"].comment == f"Spoke with {ERASED_TOKEN} today"


def test_ids_are_never_handed_out_again_after_an_erasure(
    factory: sessionmaker[Session], workspace: tuple[str, list[str]]
) -> None:
    ws_id, variants = workspace
    first = ingest_outcomes(factory, ws_id, [outcome_event("a", variants[0], "ann@a.example")])
    with factory() as session:
        ann = ensure_contacts(session, ws_id, ["ann@a.example"])["ann@a.example"]
        session.commit()
    _erase(factory, ws_id, "ann@a.example")
    second = ingest_outcomes(factory, ws_id, [outcome_event("b", variants[0], "bob@a.example")])
    with factory() as session:
        bob = find_contact(session, ws_id, "bob@a.example")
        assert bob is not None and bob.id > ann
    assert second.accepted[0] > first.accepted[0]
    # The bulk path reports the ids it really stored, past the erased ones.
    with factory() as session:
        assert (
            session.scalar(select(OutcomeEvent.id).where(OutcomeEvent.idempotency_key == "b"))
            == second.accepted[0]
        )


def test_an_erasure_on_sqlite_leaves_the_erased_text_in_neither_the_database_nor_its_log(
    engine: Engine, factory: sessionmaker[Session], workspace: tuple[str, list[str]], db_url: str
) -> None:
    if not db_url.startswith("sqlite"):
        assert truncate_wal(engine) is False
        return
    ws_id, variants = workspace
    marker = "CUST-7f3a9c2e1b"
    ingest_batch(
        factory,
        "feedback",
        ws_id,
        [feedback_event("f", variants[0], "comment", comment=f"ask {marker}")],
        atomic=True,
        limit=10,
    )
    with factory() as session, session.begin():
        erase_contact(session, ws_id, marker)
    assert truncate_wal(engine) is True
    database = Path(engine.url.database or "")
    wal = database.with_name(database.name + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0
    assert marker.encode() not in database.read_bytes()
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA secure_delete").scalar() == 1
