"""Feedback and outcomes through a real server: idempotency, per-row rejection, CSV imports, webhooks."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import httpx
import pytest

from tests.support.live_server import BRIEF, LiveServer, create_brand, create_generation, variant_ids

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


@pytest.fixture
def variants(api: httpx.Client) -> list[str]:
    """The four variants of a fresh generation in the test's workspace."""
    return variant_ids(create_generation(api, create_brand(api)))


def feedback(variant_id: str, key: str, kind: str = "accept", **fields: Any) -> dict[str, Any]:
    """One feedback event."""
    return {
        "idempotency_key": key,
        "variant_id": variant_id,
        "kind": kind,
        "event_time": NOW.isoformat(),
        **fields,
    }


def outcome(variant_id: str, key: str, contact: str, kind: str = "send", **fields: Any) -> dict[str, Any]:
    """One outcome event."""
    event = {"idempotency_key": key, "variant_id": variant_id, "contact": contact, "kind": kind}
    return {**event, "event_time": NOW.isoformat(), **fields}


def test_one_feedback_event_is_stored_once_and_a_replay_returns_its_id(
    api: httpx.Client, variants: list[str]
) -> None:
    first = api.post(
        "/v1/feedback", json=feedback(variants[0], "k-1", "edit", edited_text="Call 555-123-4567 now")
    )
    assert first.status_code == 201 and first.json()["duplicate"] is False
    replay = api.post(
        "/v1/feedback", json=feedback(variants[0], "k-1", "edit", edited_text="Call 555-123-4567 now")
    )
    assert replay.status_code == 200 and replay.json() == {"id": first.json()["id"], "duplicate": True}
    stored = api.get(f"/v1/variants/{variants[0]}/feedback").json()
    assert stored["counts"] == {"edit": 1}
    assert stored["events"][0]["edited_text"] == "Call [phone] now"


def test_an_invalid_feedback_event_names_its_field(api: httpx.Client, variants: list[str]) -> None:
    no_text = api.post("/v1/feedback", json=feedback(variants[0], "k-2", "edit"))
    assert no_text.status_code == 422 and no_text.json()["error"]["field"] == "edited_text"
    bad_rating = api.post("/v1/feedback", json=feedback(variants[0], "k-3", "rating", rating=9))
    assert bad_rating.status_code == 422 and bad_rating.json()["error"]["field"] == "rating"
    naive = api.post(
        "/v1/feedback", json={**feedback(variants[0], "k-4"), "event_time": "2024-12-01T10:00:00"}
    )
    assert naive.status_code == 422 and naive.json()["error"]["field"] == "event_time"
    unknown = api.post("/v1/feedback", json=feedback("0" * 32, "k-5"))
    assert unknown.status_code == 404 and unknown.json()["error"]["field"] == "variant_id"


def test_a_feedback_batch_stores_good_rows_and_rejects_bad_ones_by_index(
    api: httpx.Client, variants: list[str]
) -> None:
    events = [
        feedback(variants[0], "b-1"),
        feedback(variants[1], "b-2", "rating", rating=6),
        feedback(variants[1], "b-3", "reject", reason_codes=["off_brand"]),
        feedback("f" * 32, "b-4"),
        feedback(variants[0], "b-1"),
    ]
    response = api.post("/v1/feedback/batch", json={"events": events})
    assert response.status_code == 200
    body = response.json()
    assert body["accepted"] == 2 and body["duplicates"] == 1
    assert [(r["index"], r["field"]) for r in body["rejected"]] == [(1, "rating"), (3, "variant_id")]
    assert body["ids"][0] == body["ids"][4] and body["ids"][1] is None and body["ids"][3] is None
    summary = api.get(f"/v1/variants/{variants[1]}/feedback").json()
    assert summary["counts"] == {"reject": 1} and summary["latest_decision"] == "reject"


def test_an_atomic_batch_with_a_bad_row_stores_nothing(api: httpx.Client, variants: list[str]) -> None:
    events = [feedback(variants[0], "a-1"), feedback(variants[0], "a-2", "rating")]
    response = api.post("/v1/feedback/batch", json={"events": events, "atomic": True})
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "events.1.rating"
    assert "nothing was stored" in response.json()["error"]["message"]
    assert api.get(f"/v1/variants/{variants[0]}/feedback").json()["counts"] == {}


def test_a_batch_over_the_limit_is_refused(
    server: LiveServer, api: httpx.Client, variants: list[str]
) -> None:
    limit = server.settings.max_batch_events
    events = [feedback(variants[0], f"o-{i}") for i in range(limit + 1)]
    response = api.post("/v1/feedback/batch", json={"events": events})
    assert response.status_code == 422 and response.json()["error"]["field"] == "events"
    assert api.get(f"/v1/variants/{variants[0]}/feedback").json()["counts"] == {}


def test_outcome_batches_are_idempotent_and_never_store_an_address(
    server: LiveServer, api: httpx.Client, variants: list[str]
) -> None:
    events = [
        outcome(variants[0], "o-1", "Ann@Example.com"),
        outcome(variants[0], "o-2", "ann@example.com", "conversion", revenue=42.5),
        outcome(variants[0], "o-3", "bob@example.com", "open", revenue=3.0),
    ]
    response = api.post("/v1/outcomes", json={"events": events})
    body = response.json()
    assert response.status_code == 200 and body["accepted"] == 2
    assert body["rejected"] == [{"index": 2, "field": "revenue", "reason": "is only allowed on a conversion"}]
    again = api.post("/v1/outcomes", json={"events": events[:2]}).json()
    assert again["accepted"] == 0 and again["duplicates"] == 2 and again["ids"] == body["ids"][:2]
    metrics = httpx.get(f"{server.base_url}/metrics").text
    assert 'copyloop_outcome_events_total{result="duplicate"}' in metrics


def test_a_csv_export_imports_with_a_mapping_and_reports_bad_lines(
    api: httpx.Client, variants: list[str]
) -> None:
    csv = (
        "Email,Variant,Event,Time,Revenue\n"
        f"ann@example.com,{variants[0]},delivered,2024-12-01T10:00:00Z,\n"
        f"ann@example.com,{variants[0]},Purchase,2024-12-01T11:00:00Z,$19.90\n"
        f"bob@example.com,{variants[0]},teleported,2024-12-01T11:00:00Z,\n"
        f"cy@example.com,{variants[0]},opened,yesterday,\n"
    )
    mapping = (
        '{"Email": "contact", "Variant": "variant_id", "Event": "kind", "Time": "event_time", '
        '"Revenue": "revenue"}'
    )
    response = api.post("/v1/outcomes/import", files={"file": ("export.csv", csv)}, data={"mapping": mapping})
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["rows"] == 4 and report["accepted"] == 2
    assert [(r["line"], r["column"]) for r in report["rejected"]] == [(4, "Event"), (5, "Time")]
    again = api.post(
        "/v1/outcomes/import", files={"file": ("export.csv", csv)}, data={"mapping": mapping}
    ).json()
    assert again["accepted"] == 0 and again["duplicates"] == 2
    bad = api.post("/v1/outcomes/import", files={"file": ("export.csv", csv)}, data={"mapping": "{not json"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "mapping"


def test_a_csv_cell_over_the_field_limit_is_refused_naming_line_and_column(
    api: httpx.Client, variants: list[str]
) -> None:
    csv = f"Email,Variant,Event,Time\n{'x' * 200_000}@example.com,{variants[0]},open,2024-05-01T09:00:00Z\n"
    mapping = '{"Email": "contact", "Variant": "variant_id", "Event": "kind", "Time": "event_time"}'
    response = api.post("/v1/outcomes/import", files={"file": ("export.csv", csv)}, data={"mapping": mapping})
    assert response.status_code == 422
    assert response.json()["error"] == {
        "code": "invalid_input",
        "message": "line 2, column 'Email': a cell is longer than 131,072 characters",
        "field": "source",
    }


def test_a_sendgrid_style_webhook_is_stored_once_even_when_redelivered(
    api: httpx.Client, variants: list[str]
) -> None:
    payload = [
        {
            "email": "ann@example.com",
            "timestamp": 1733045400,
            "event": "processed",
            "sg_event_id": "e1",
            "custom_args": {"variant_id": variants[0]},
        },
        {
            "email": "ann@example.com",
            "timestamp": 1733045500,
            "event": "open",
            "sg_event_id": "e2",
            "variant_id": variants[0],
        },
        {"email": "ann@example.com", "timestamp": 1733045600, "event": "deferred", "variant_id": variants[0]},
        {"email": "ann@example.com", "timestamp": "soon", "event": "click", "variant_id": variants[0]},
        {"email": "ann@example.com", "timestamp": 1733045700, "event": "click", "variant_id": variants[0]},
    ]
    response = api.post("/v1/outcomes/webhook", json=payload)
    assert response.status_code == 200
    assert response.json() == {
        "received": 5,
        "accepted": 3,
        "duplicates": 0,
        "ignored": 1,
        "rejected": [
            {
                "index": 3,
                "field": "timestamp",
                "reason": "must be Unix seconds or an ISO 8601 time, in 1970 or later",
            }
        ],
        "suppressed": 0,
    }
    again = api.post("/v1/outcomes/webhook", json=payload).json()
    assert again["accepted"] == 0 and again["duplicates"] == 3


def test_an_erased_contact_stays_erased_when_the_platform_redelivers_its_events(
    api: httpx.Client, variants: list[str], server: LiveServer
) -> None:
    payload = [
        {
            "email": who,
            "timestamp": 1733045500,
            "event": "open",
            "sg_event_id": f"e-{who}",
            "variant_id": variants[0],
        }
        for who in ("ann@example.com", "bob@example.com")
    ]
    assert api.post("/v1/outcomes/webhook", json=payload).json()["accepted"] == 2
    verdict = feedback(variants[0], "v-1", "comment", comment="Ann asked us to stop", actor="Ann@Example.com")
    assert api.post("/v1/feedback", json=verdict).status_code == 201
    erased = api.post("/v1/contacts/erase", json={"contact": "ANN@example.com"})
    assert erased.status_code == 200
    body = erased.json()
    assert (body["found"], body["outcome_events"], body["contacts"], body["feedback_scrubbed"]) == (
        True,
        1,
        1,
        1,
    )
    assert body["suppressed"] is True
    assert body["wal_truncated"] is server.settings.resolved_database_url().startswith("sqlite")
    again = api.post("/v1/outcomes/webhook", json=payload).json()
    assert (again["accepted"], again["duplicates"], again["suppressed"]) == (0, 1, 1)
    batch = api.post(
        "/v1/outcomes", json={"events": [outcome(variants[1], "late", "ann@example.com", "click")]}
    )
    assert batch.json()["accepted"] == 0 and batch.json()["suppressed"] == 1
    stored = api.get(f"/v1/variants/{variants[0]}/feedback").json()["events"]
    assert [event["actor"] for event in stored] == [None]


def test_text_with_a_nul_character_is_refused_row_by_row_naming_the_field(
    api: httpx.Client, variants: list[str]
) -> None:
    single = api.post("/v1/feedback", json=feedback(variants[0], "n-1", "comment", comment="bad\x00byte"))
    assert single.status_code == 422 and single.json()["error"]["field"] == "comment"
    events = [feedback(variants[0], "n-2", "comment", comment="a\x00b"), feedback(variants[0], "n-3")]
    batch = api.post("/v1/feedback/batch", json={"events": events}).json()
    assert batch["accepted"] == 1
    assert batch["rejected"] == [
        {"index": 0, "field": "comment", "reason": "must not contain NUL characters"}
    ]
    brand = api.post("/v1/brands", json={"kit": {"name": "Nul\x00Co"}})
    assert brand.status_code == 422 and brand.json()["error"]["field"] == "kit.name"


SURROGATE = "must be Unicode text: it holds a lone surrogate (a \\ud800 to \\udfff escape without its pair)"


def _escaped(value: Any) -> bytes:
    # json.dumps writes a lone surrogate as the escape "\\ud800", as a careless client would send it.
    return json.dumps(value).encode("ascii")


def test_text_with_a_lone_surrogate_is_refused_naming_the_field(
    api: httpx.Client, variants: list[str]
) -> None:
    headers = {"content-type": "application/json"}
    single = api.post(
        "/v1/feedback",
        content=_escaped(feedback(variants[0], "s-1", "comment", comment="a\ud800")),
        headers=headers,
    )
    assert single.status_code == 422
    assert single.json()["error"] == {"code": "invalid_input", "message": SURROGATE, "field": "comment"}
    events = [
        outcome(variants[0], "s-2", "c\udc00@example.com", "open"),
        outcome(variants[0], "s-3", "d@example.com"),
    ]
    batch = api.post("/v1/outcomes", content=_escaped({"events": events}), headers=headers)
    assert batch.status_code == 200 and batch.json()["accepted"] == 1
    assert batch.json()["rejected"] == [{"index": 0, "field": "contact", "reason": SURROGATE}]
    # A webhook reports the bad event by index, as it does every bad event (platforms retry refusals).
    hook = [
        {"event": "op\ud800en", "email": "e@example.com", "timestamp": 1733045400, "variant_id": variants[0]}
    ]
    delivery = api.post("/v1/outcomes/webhook", content=_escaped(hook), headers=headers)
    assert delivery.status_code == 200
    assert delivery.json()["rejected"] == [{"index": 0, "field": "event", "reason": SURROGATE}]
    brief = {"brand_id": "x", "brief": {**BRIEF, "goal": "Holiday \ud800 sale"}}
    generation = api.post("/v1/generations", content=_escaped(brief), headers=headers)
    assert generation.status_code == 422 and generation.json()["error"]["field"] == "brief.goal"
    # A key with a lone surrogate is named in a form the answer can carry.
    segment = api.post("/v1/segments", content=_escaped({"name": "s", "tra\udfffits": {}}), headers=headers)
    assert segment.status_code == 422 and segment.json()["error"]["field"] == "tra\\udfffits"
    mapping = {"Email\ud800": "contact"}
    csv_import = api.post(
        "/v1/outcomes/import",
        files={"file": ("export.csv", b"Email,Variant,Event,Time\n")},
        data={"mapping": json.dumps(mapping)},
    )
    assert csv_import.status_code == 422 and csv_import.json()["error"]["field"] == "mapping.Email\\ud800"
    assert api.get(f"/v1/variants/{variants[0]}/feedback").json()["counts"] == {}


def test_events_dated_before_1970_are_rejected(api: httpx.Client, variants: list[str]) -> None:
    old = {**feedback(variants[0], "old-1"), "event_time": "0582-06-22T01:29:24Z"}
    single = api.post("/v1/feedback", json=old)
    assert single.status_code == 422 and single.json()["error"] == {
        "code": "invalid_input",
        "message": "must be in 1970 or later",
        "field": "event_time",
    }
    row = {**outcome(variants[0], "old-2", "a@b.example"), "event_time": old["event_time"]}
    batch = api.post("/v1/outcomes", json={"events": [row]})
    assert batch.json()["rejected"] == [
        {"index": 0, "field": "event_time", "reason": "must be in 1970 or later"}
    ]
