"""E-mail platform webhooks: items mapped to outcome events, stored idempotently, bad ones reported."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session, sessionmaker

from feedback.errors import InvalidInputError
from feedback.events import RejectedEvent
from feedback.webhooks import ingest_webhook, map_webhook_events

Workspace = tuple[str, list[str]]
SECRET = "s" * 32


def test_platform_events_map_to_outcomes_and_unknown_shapes_are_rejected_by_index() -> None:
    items = [
        {"event": "open", "email": "ann@example.com", "timestamp": 1733045400, "sg_event_id": "e1",
         "custom_args": {"variant_id": "v1"}},
        {"event": "deferred", "email": "ann@example.com", "timestamp": 1733045400, "variant_id": "v1"},
        "not an object",
        {"event": "open", "email": "ann@example.com", "timestamp": 1733045400},
        {"event": "conversion", "recipient": "bob@example.com", "ts": "2024-12-01T10:00:00Z",
         "variant_id": "v2", "amount": "12.5"},
        {"event": "open", "email": "a\x00", "timestamp": 1733045400, "variant_id": "v1"},
    ]  # fmt: skip
    batch = map_webhook_events(items, SECRET)
    assert batch.sources == [0, 4] and batch.ignored == 1
    assert [e["kind"] for e in batch.events] == ["open", "conversion"]
    assert batch.events[0]["idempotency_key"] == "webhook:e1"
    assert batch.events[1]["revenue"] == 12.5 and batch.events[1]["idempotency_key"].startswith("webhook:")
    assert batch.rejected == [
        RejectedEvent(2, "event", "must be an object"),
        RejectedEvent(3, "variant_id", "is missing (top level or in custom_args)"),
        RejectedEvent(5, "email", "must not contain NUL characters"),
    ]


def test_a_redelivered_webhook_stores_nothing_new_and_reports_unknown_variants(
    factory: sessionmaker[Session], workspace: Workspace
) -> None:
    ws, variants = workspace
    items = [
        {
            "event": "delivered",
            "email": "ann@example.com",
            "timestamp": 1733045400,
            "variant_id": variants[0],
        },
        {"event": "dropped", "email": "ann@example.com", "timestamp": 1733045400, "variant_id": variants[0]},
        {"event": "click", "email": "ann@example.com", "timestamp": 1733045401, "variant_id": "nope"},
    ]
    first = ingest_webhook(factory, ws, items, limit=10)
    assert (first.received, first.accepted, first.duplicates, first.ignored) == (3, 1, 0, 1)
    assert [(r.index, r.field) for r in first.rejected] == [(2, "variant_id")]
    again = ingest_webhook(factory, ws, items, limit=10)
    assert (again.accepted, again.duplicates) == (0, 1)


def test_a_delivery_over_the_cap_is_refused(factory: sessionmaker[Session], workspace: Workspace) -> None:
    ws, _ = workspace
    with pytest.raises(InvalidInputError) as info:
        ingest_webhook(factory, ws, [{}, {}, {}], limit=2)
    assert info.value.field == "body" and "at most 2 per delivery" in info.value.message
