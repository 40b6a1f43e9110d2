"""Event ingestion: idempotency, per-row rejection, tenancy, bulk paths and concurrent writers."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import random

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from feedback import bulk
from feedback.db import default_key_file
from feedback.errors import NotFoundError
from feedback.events import FeedbackEventIn, RejectedEvent
from feedback.ingest import ingest_feedback, ingest_outcomes
from feedback.models import Contact, FeedbackEvent, OutcomeEvent
from tests.support.feedback import seed_workspace
from tests.support.payloads import feedback_event, ingest_worker, outcome_event

Workspace = tuple[str, list[str]]


def _count(factory: sessionmaker[Session], model: type[FeedbackEvent] | type[OutcomeEvent]) -> int:
    with factory() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_feedback_events_are_stored_with_event_time_and_ingest_time(
    factory: sessionmaker[Session], workspace: Workspace
) -> None:
    ws_id, variants = workspace
    before = dt.datetime.now(dt.UTC)
    events = [
        feedback_event("a", variants[0], "accept", actor="ann", reason_codes=["on_brand"]),
        feedback_event("b", variants[1], "rating", rating=4, event_time="2024-04-30T23:00:00-02:00"),
        feedback_event("c", variants[2], "edit", edited_text="Shorter subject"),
    ]
    result = ingest_feedback(factory, ws_id, events)
    assert result.rejected == [] and result.duplicates == {}
    assert sorted(result.accepted) == [0, 1, 2]
    with factory() as session:
        rating = session.get(FeedbackEvent, result.accepted[1])
        assert rating is not None
        assert rating.rating == 4 and rating.variant_id == variants[1]
        assert rating.event_time == dt.datetime(2024, 5, 1, 1, 0, tzinfo=dt.UTC)
        assert rating.ingested_at >= before
        accept = session.get(FeedbackEvent, result.accepted[0])
        assert accept is not None and accept.reason_codes == ["on_brand"] and accept.actor == "ann"


def test_a_replayed_event_is_a_no_op_that_returns_the_original_id(
    factory: sessionmaker[Session], workspace: Workspace
) -> None:
    ws_id, variants = workspace
    first = ingest_outcomes(factory, ws_id, [outcome_event("k1", variants[0], "ann@example.com")])
    again = ingest_outcomes(
        factory,
        ws_id,
        [
            outcome_event("k1", variants[0], "ann@example.com"),
            outcome_event("k2", variants[0], "bo@example.com"),
        ],
    )
    assert again.duplicates == {0: first.accepted[0]}
    assert list(again.accepted) == [1]
    assert again.ids[0] == first.accepted[0]
    assert _count(factory, OutcomeEvent) == 2


def test_a_key_repeated_inside_one_batch_is_stored_once(
    factory: sessionmaker[Session], workspace: Workspace
) -> None:
    ws_id, variants = workspace
    result = ingest_feedback(
        factory,
        ws_id,
        [
            feedback_event("same", variants[0]),
            feedback_event("same", variants[0]),
            feedback_event("same", variants[1]),
        ],
    )
    assert list(result.accepted) == [0]
    assert result.duplicates == {1: result.accepted[0]}
    # the key under another variant is another event: refused, not counted as a replay
    assert [(r.index, r.field) for r in result.rejected] == [(2, "idempotency_key")]
    assert _count(factory, FeedbackEvent) == 1


BAD_FEEDBACK: list[tuple[dict[str, object], str, str]] = [
    ({"kind": "love"}, "kind", "Input should be"),
    ({"rating": 6, "kind": "rating"}, "rating", "less than or equal to 5"),
    ({"kind": "rating"}, "rating", "is required for a rating"),
    ({"kind": "edit"}, "edited_text", "is required for an edit"),
    ({"rating": 3}, "rating", "is only allowed on a rating"),
    ({"kind": "comment", "comment": "  "}, "comment", "is required for a comment"),
    ({"event_time": "2024-05-01T10:00:00"}, "event_time", "timezone"),
    ({"event_time": "2999-01-01T00:00:00Z"}, "event_time", "in the future"),
    ({"colour": "red"}, "colour", "Extra inputs are not permitted"),
    ({"idempotency_key": ""}, "idempotency_key", "at least 1 character"),
    ({"reason_codes": ["Not A Code"]}, "reason_codes.0", "should match pattern"),
]


def test_each_bad_feedback_row_is_rejected_alone_with_its_index_field_and_reason(
    factory: sessionmaker[Session], workspace: Workspace
) -> None:
    ws_id, variants = workspace
    events: list[dict[str, object]] = []
    for number, (bad, _, _) in enumerate(BAD_FEEDBACK):
        events.append(feedback_event(f"good-{number}", variants[number % 3]))
        events.append({**feedback_event(f"bad-{number}", variants[0]), **bad})
    result = ingest_feedback(factory, ws_id, events)
    assert sorted(result.accepted) == list(range(0, len(events), 2))
    assert [(r.index, r.field) for r in result.rejected] == [
        (2 * number + 1, field) for number, (_, field, _) in enumerate(BAD_FEEDBACK)
    ]
    for rejected, (_, _, reason) in zip(result.rejected, BAD_FEEDBACK, strict=True):
        assert reason in rejected.reason
    assert _count(factory, FeedbackEvent) == len(BAD_FEEDBACK)


def test_bad_outcome_rows_are_rejected_while_the_good_ones_land(
    factory: sessionmaker[Session], workspace: Workspace
) -> None:
    ws_id, variants = workspace
    events: list[object] = [
        outcome_event("ok", variants[0], "ann@example.com", "conversion", revenue=12.5),
        outcome_event("rev", variants[0], "ann@example.com", "open", revenue=3),
        outcome_event("neg", variants[0], "ann@example.com", "conversion", revenue=-1),
        outcome_event("who", variants[0], "   "),
        "not an object",
        outcome_event("var", "0" * 32, "ann@example.com"),
    ]
    result = ingest_outcomes(factory, ws_id, events)  # type: ignore[arg-type]
    assert list(result.accepted) == [0]
    assert [(r.index, r.field) for r in result.rejected] == [
        (1, "revenue"),
        (2, "revenue"),
        (3, "contact"),
        (4, "event"),
        (5, "variant_id"),
    ]
    with factory() as session:
        stored = session.scalars(select(OutcomeEvent)).one()
        assert stored.revenue == pytest.approx(12.5) and stored.kind == "conversion"


def test_a_variant_of_another_workspace_is_rejected_as_unknown(factory: sessionmaker[Session]) -> None:
    with factory() as session:
        other_ws, other_variants = seed_workspace(session, "other")
        ws_id, variants = seed_workspace(session, "mine")
    result = ingest_feedback(
        factory, ws_id, [feedback_event("x", other_variants[0]), feedback_event("y", variants[0])]
    )
    assert result.rejected == [RejectedEvent(0, "variant_id", "unknown variant")]
    outcomes = ingest_outcomes(factory, ws_id, [outcome_event("x", other_variants[0], "ann@example.com")])
    assert outcomes.rejected == [RejectedEvent(0, "variant_id", "unknown variant")]
    with factory() as session:
        assert session.scalars(select(FeedbackEvent.variant_id)).all() == [variants[0]]
        assert session.scalar(select(func.count()).select_from(Contact)) == 0
        # The same key in another workspace is a different event.
    result = ingest_feedback(factory, other_ws, [feedback_event("y", other_variants[0])])
    assert list(result.accepted) == [0]


def test_an_unknown_workspace_is_refused(factory: sessionmaker[Session], workspace: Workspace) -> None:
    _, variants = workspace
    with pytest.raises(NotFoundError) as info:
        ingest_feedback(factory, "f" * 32, [feedback_event("x", variants[0])])
    assert info.value.field == "workspace_id"


def test_free_text_is_scrubbed_before_it_is_stored(
    factory: sessionmaker[Session], workspace: Workspace
) -> None:
    ws_id, variants = workspace
    events = [
        feedback_event(
            "c", variants[0], "comment", comment="Ask jo.doe@shop.example or call +1 (555) 123-4567"
        ),
        feedback_event(
            "e", variants[0], "edit", edited_text="Reply to sales@acme.io, 020 7946 0958, 20% off in 2024"
        ),
    ]
    result = ingest_feedback(factory, ws_id, events)
    with factory() as session:
        comment = session.get(FeedbackEvent, result.accepted[0])
        edit = session.get(FeedbackEvent, result.accepted[1])
        assert comment is not None and edit is not None
        assert comment.comment == "Ask [email] or call [phone]"
        assert edit.edited_text == "Reply to [email], [phone], 20% off in 2024"


def test_contacts_are_stored_as_hashes_never_as_email_addresses(
    factory: sessionmaker[Session], workspace: Workspace
) -> None:
    ws_id, variants = workspace
    events = [
        outcome_event("1", variants[0], "Ann.Lee@Example.com", "send"),
        outcome_event("2", variants[0], "ann.lee@example.com ", "open"),
        outcome_event("3", variants[0], "bo@example.com", "send"),
    ]
    result = ingest_outcomes(factory, ws_id, events)
    assert len(result.accepted) == 3
    with factory() as session:
        hashes = session.scalars(select(Contact.hmac)).all()
        assert len(hashes) == 2 and all(len(h) == 64 for h in hashes)
        contact_ids = session.scalars(select(OutcomeEvent.contact_id).order_by(OutcomeEvent.id)).all()
        assert contact_ids[0] == contact_ids[1] != contact_ids[2]
        dump = " ".join(str(row) for row in session.execute(text("SELECT * FROM contacts")).all())
        assert "example.com" not in dump


def test_a_caller_session_keeps_control_of_the_transaction(
    factory: sessionmaker[Session], workspace: Workspace
) -> None:
    ws_id, variants = workspace
    with factory() as session:
        result = ingest_feedback(session, ws_id, [feedback_event("a", variants[0])])
        assert list(result.accepted) == [0]
        session.rollback()
    assert _count(factory, FeedbackEvent) == 0
    with factory() as session:
        ingest_feedback(session, ws_id, [feedback_event("a", variants[0])])
        ingest_feedback(session, ws_id, [FeedbackEventIn.model_validate(feedback_event("b", variants[1]))])
        session.commit()
    assert _count(factory, FeedbackEvent) == 2


def test_a_large_batch_with_replays_stores_every_event_once_on_every_bulk_path(
    factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A low threshold sends PostgreSQL down the COPY path; a high one keeps multi-row INSERTs.
    for copy_threshold in (50, 1_000_000):
        monkeypatch.setattr(bulk, "COPY_THRESHOLD", copy_threshold)
        with factory() as session:
            ws_id, variants = seed_workspace(session, f"bulk-{copy_threshold}")
        first = [outcome_event(f"k{i}", variants[i % 3], f"u{i % 50}@example.com") for i in range(0, 600, 2)]
        ingest_outcomes(factory, ws_id, first)
        batch = [outcome_event(f"k{i}", variants[i % 3], f"u{i % 50}@example.com") for i in range(600)]
        random.Random(7).shuffle(batch)
        batch.append(outcome_event("conv", variants[0], "u1@example.com", "conversion", revenue=9.99))
        result = ingest_outcomes(factory, ws_id, batch)
        assert len(result.accepted) == 301 and len(result.duplicates) == 300 and not result.rejected
        assert len(set(result.ids.values())) == 601
        with factory() as session:
            stored = dict(
                session.execute(
                    select(OutcomeEvent.idempotency_key, OutcomeEvent.id).where(
                        OutcomeEvent.workspace_id == ws_id
                    )
                ).all()
            )
            assert {batch[i]["idempotency_key"]: event_id for i, event_id in result.ids.items()} == stored
            conversion = session.scalars(
                select(OutcomeEvent).where(
                    OutcomeEvent.workspace_id == ws_id, OutcomeEvent.idempotency_key == "conv"
                )
            ).one()
            assert conversion.revenue == pytest.approx(9.99)
            assert conversion.event_time == dt.datetime(2024, 5, 1, 10, tzinfo=dt.UTC)
    assert _count(factory, OutcomeEvent) == 2 * 601


@pytest.mark.parametrize("copy_threshold", [None, 10], ids=["insert", "copy"])
def test_concurrent_processes_with_overlapping_batches_store_each_event_exactly_once(
    db_url: str, factory: sessionmaker[Session], workspace: Workspace, copy_threshold: int | None
) -> None:
    ws_id, variants = workspace
    context = multiprocessing.get_context("spawn")
    workers_count = 3
    start, results = context.Barrier(workers_count + 1), context.Queue()
    workers = []
    for worker in range(workers_count):
        keys = list(range(worker * 60, worker * 60 + 160))  # each overlaps its neighbours
        random.Random(worker).shuffle(keys)
        process = context.Process(
            target=ingest_worker,
            args=(db_url, ws_id, variants, keys, start, results, copy_threshold, default_key_file(db_url)),
        )
        process.start()
        workers.append(process)
    start.wait(120)
    outputs = [results.get(timeout=120) for _ in workers]
    for process in workers:
        process.join(30)
        assert process.exitcode == 0
    distinct_keys = (workers_count - 1) * 60 + 160
    assert _count(factory, OutcomeEvent) == distinct_keys
    assert _count(factory, FeedbackEvent) == distinct_keys
    assert sum(accepted for accepted, _ in outputs) == 2 * distinct_keys
    with factory() as session:
        stored = dict(session.execute(select(OutcomeEvent.idempotency_key, OutcomeEvent.id)).all())
        stored.update(session.execute(select(FeedbackEvent.idempotency_key, FeedbackEvent.id)).all())
        assert session.scalar(select(func.count()).select_from(Contact)) == 17
    for _, seen in outputs:
        assert all(stored[key] == event_id for key, event_id in seen.items())


def test_keys_stored_by_a_concurrent_writer_after_the_lookup_are_reported_as_replays(
    db_url: str, factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("the direct COPY path is PostgreSQL's")
    monkeypatch.setattr(bulk, "COPY_THRESHOLD", 10)
    with factory() as session:
        ws_id, variants = seed_workspace(session, "race")
    first = [outcome_event(f"k{i}", variants[0], f"u{i}@example.com") for i in range(0, 40, 2)]
    before = ingest_outcomes(factory, ws_id, first)
    original = {first[i]["idempotency_key"]: event_id for i, event_id in before.accepted.items()}
    # The lookup misses what "another writer" stored: the direct COPY hits the unique index, rolls
    # back to its savepoint and the batch goes through the conflict-safe path instead.
    monkeypatch.setattr(bulk, "_pg_stored_ids", lambda *args: {})
    batch = [outcome_event(f"k{i}", variants[0], f"u{i}@example.com") for i in range(40)]
    result = ingest_outcomes(factory, ws_id, batch)
    assert len(result.accepted) == 20 and len(result.duplicates) == 20 and not result.rejected
    for index, event_id in result.duplicates.items():
        assert original[batch[index]["idempotency_key"]] == event_id
    with factory() as session:
        stored = dict(session.execute(select(OutcomeEvent.idempotency_key, OutcomeEvent.id)).all())
    assert {batch[i]["idempotency_key"]: event_id for i, event_id in result.ids.items()} == stored


@pytest.mark.parametrize(
    ("event", "field", "reason"),
    [
        (
            outcome_event("t1", "{v}", "ann@example.com", "conversion", revenue=True),
            "revenue",
            "not true or false",
        ),
        (
            outcome_event("t2", "{v}", "ann@example.com", "conversion", revenue=float("inf")),
            "revenue",
            "less than or equal",
        ),
        (outcome_event("t3", "{v}", "ann@example.com", event_time=-86400), "event_time", "before 1970"),
        (
            outcome_event("t4", "{v}", "ann@example.com", event_time="1969-07-20T20:17:00Z"),
            "event_time",
            "1970",
        ),
    ],
)
def test_both_databases_refuse_the_same_bad_outcome_naming_its_field_and_keep_the_rest(
    factory: sessionmaker[Session], workspace: Workspace, event: dict[str, object], field: str, reason: str
) -> None:
    ws_id, variants = workspace
    bad = {**event, "variant_id": variants[0]}
    good = outcome_event("fine", variants[0], "bo@example.com", "conversion", revenue=12.5)
    result = ingest_outcomes(factory, ws_id, [bad, good])
    [rejected] = result.rejected
    assert (rejected.index, rejected.field) == (0, field) and reason in rejected.reason
    assert list(result.accepted) == [1]
    assert _count(factory, OutcomeEvent) == 1


def test_a_boolean_rating_is_refused_naming_the_field(
    factory: sessionmaker[Session], workspace: Workspace
) -> None:
    ws_id, variants = workspace
    result = ingest_feedback(factory, ws_id, [feedback_event("r1", variants[0], "rating", rating=True)])
    assert [(r.field, r.reason) for r in result.rejected] == [
        ("rating", "must be a number, not true or false")
    ]
    assert _count(factory, FeedbackEvent) == 0


def test_a_key_sent_again_with_a_different_body_is_refused_naming_it_and_the_first_event_stays(
    factory: sessionmaker[Session], workspace: Workspace
) -> None:
    ws_id, variants = workspace
    sale = outcome_event("order-7", variants[0], "ann@example.com", "conversion", revenue=12.34567)
    first = ingest_outcomes(factory, ws_id, [sale])
    # the same event again, its time written in another zone, is a replay
    same = {**sale, "event_time": "2024-05-01T12:00:00+02:00"}
    changed = {**sale, "revenue": 99.0}
    again = ingest_outcomes(factory, ws_id, [same, changed])
    assert again.duplicates == {0: first.accepted[0]} and again.accepted == {}
    assert [(r.index, r.field, r.reason) for r in again.rejected] == [
        (1, "idempotency_key", "'order-7' was already used for a different event")
    ]
    # inside one batch too: the first body is stored, a second body under its key is refused
    batch = ingest_feedback(
        factory,
        ws_id,
        [feedback_event("v-1", variants[1], "accept"), feedback_event("v-1", variants[1], "reject")],
    )
    assert list(batch.accepted) == [0] and [r.index for r in batch.rejected] == [1]
    with factory() as session:
        stored = session.get(OutcomeEvent, first.accepted[0])
        assert stored is not None and stored.revenue == pytest.approx(12.3457, abs=1e-4)
        assert session.get(FeedbackEvent, batch.accepted[0]).kind == "accept"  # type: ignore[union-attr]
