"""Event batches: the size cap, rows the store cannot take, all-or-nothing batches and single events."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from feedback.batches import find_unstorable, ingest_batch, ingest_event
from feedback.errors import InvalidInputError, NotFoundError
from feedback.events import FeedbackEventIn, RejectedEvent
from feedback.models import FeedbackEvent
from tests.support.payloads import feedback_event

Workspace = tuple[str, list[str]]


def stored_feedback(factory: sessionmaker[Session]) -> int:
    with factory() as session:
        return int(session.scalar(select(func.count()).select_from(FeedbackEvent)) or 0)


NUL = "must not contain NUL characters"
SURROGATE = "must be Unicode text: it holds a lone surrogate (a \\ud800 to \\udfff escape without its pair)"


def test_find_unstorable_names_the_path_of_the_first_string_holding_a_nul_or_a_lone_surrogate() -> None:
    assert find_unstorable({"a": "fine", "b": ["ok", {"c": "bad\x00"}]}) == ("b.1.c", NUL)
    assert find_unstorable({"ke\x00y": 1}) == ("ke\x00y", NUL)
    assert find_unstorable("\x00") == ("body", NUL)
    assert find_unstorable({"a": ["x", 1, None]}) is None
    assert find_unstorable({"a": {"b": "x\ud800y"}}) == ("a.b", SURROGATE)
    # The path names a key with a lone surrogate in a form that can be encoded.
    assert find_unstorable({"k\udfff": "v"}) == ("k\\udfff", SURROGATE)
    # A pair that makes one character is text like any other.
    assert find_unstorable({"a": "\U0001f56f candles", "b": json.loads('"\\ud83d\\udd6f"')}) is None


def test_a_batch_refuses_nul_text_and_times_before_1970_row_by_row(
    factory: sessionmaker[Session], workspace: Workspace
) -> None:
    ws, variants = workspace
    events = [
        feedback_event("k0", variants[0]),
        feedback_event("k1", variants[0], kind="comment", comment="a\x00b"),
        feedback_event("k2", variants[1], event_time="1969-12-31T23:59:59Z"),
        feedback_event("k3", variants[1], kind="reject"),
    ]
    result = ingest_batch(factory, "feedback", ws, events, atomic=False, limit=10)
    assert sorted(result.accepted) == [0, 3]
    assert result.rejected == [
        RejectedEvent(1, "comment", "must not contain NUL characters"),
        RejectedEvent(2, "event_time", "must be in 1970 or later"),
    ]
    assert stored_feedback(factory) == 2


def test_an_atomic_batch_with_a_bad_row_stores_nothing_and_names_it(
    factory: sessionmaker[Session], workspace: Workspace
) -> None:
    ws, variants = workspace
    events = [feedback_event("k0", variants[0]), feedback_event("k1", "no-such-variant")]
    with pytest.raises(InvalidInputError) as info:
        ingest_batch(factory, "feedback", ws, events, atomic=True, limit=10)
    assert info.value.field == "events.1.variant_id"
    assert "nothing was stored" in info.value.message
    assert stored_feedback(factory) == 0


def test_a_batch_over_the_cap_is_refused_whole(factory: sessionmaker[Session], workspace: Workspace) -> None:
    ws, variants = workspace
    events = [feedback_event(f"k{i}", variants[0]) for i in range(3)]
    with pytest.raises(InvalidInputError) as info:
        ingest_batch(factory, "feedback", ws, events, atomic=False, limit=2)
    assert info.value.field == "events" and "at most 2 per batch" in info.value.message
    assert stored_feedback(factory) == 0


def test_a_single_event_is_refused_with_the_error_that_names_its_field(
    factory: sessionmaker[Session], workspace: Workspace
) -> None:
    ws, variants = workspace
    with pytest.raises(InvalidInputError) as nul:
        ingest_event(factory, ws, FeedbackEventIn(**feedback_event("k0", variants[0], actor="a\x00")))
    assert nul.value.field == "actor"
    with pytest.raises(NotFoundError) as unknown:
        ingest_event(factory, ws, FeedbackEventIn(**feedback_event("k1", "nope")))
    assert unknown.value.field == "variant_id"
    first = ingest_event(factory, ws, FeedbackEventIn(**feedback_event("k2", variants[0])))
    again = ingest_event(factory, ws, FeedbackEventIn(**feedback_event("k2", variants[0])))
    assert 0 in first.accepted and again.duplicates == {0: first.accepted[0]}
