"""Datasets through a real server: point-in-time builds, manifests and Parquet or CSV downloads."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterator
from typing import Any

import httpx
import pandas as pd
import pyarrow.parquet as pq
import pytest

from feedback.manifest import MANIFEST_METADATA_KEY, DatasetManifest
from tests.support.live_server import LiveServer, Tenant, create_brand, create_generation, variant_ids

T0 = dt.datetime(2024, 12, 1, 9, 0, tzinfo=dt.UTC)


def at(hours: float) -> str:
    """T0 plus some hours, as ISO 8601."""
    return (T0 + dt.timedelta(hours=hours)).isoformat()


@pytest.fixture
def history(api: httpx.Client) -> list[str]:
    """Four variants; the first accepted at T0+1h, rejected at T0+3h; the second sent at T0+2h."""
    ids = variant_ids(create_generation(api, create_brand(api)))
    events: list[dict[str, Any]] = [
        {"idempotency_key": "f1", "variant_id": ids[0], "kind": "accept", "event_time": at(1)},
        {"idempotency_key": "f2", "variant_id": ids[0], "kind": "reject", "event_time": at(3)},
    ]
    assert api.post("/v1/feedback/batch", json={"events": events}).json()["accepted"] == 2
    send = {"idempotency_key": "s1", "variant_id": ids[1], "contact": "a@example.com", "kind": "send"}
    assert api.post("/v1/outcomes", json={"events": [{**send, "event_time": at(2)}]}).json()["accepted"] == 1
    return ids


@pytest.fixture
def analyst(server: LiveServer, tenant: Tenant) -> Iterator[httpx.Client]:
    """The tenant's analyst."""
    with server.client(tenant, role="analyst") as client:
        yield client


def test_a_dataset_joins_each_feature_as_it_was_known_at_each_spine_row(
    analyst: httpx.Client, history: list[str]
) -> None:
    rows = [
        {"variant_id": history[0], "ts": at(0)},
        {"variant_id": history[0], "ts": at(2)},
        {"variant_id": history[0], "ts": at(3)},
        {"variant_id": history[0], "ts": at(2)},
    ]
    response = analyst.post(
        "/v1/datasets",
        json={
            "spine": {"source": "rows", "rows": rows},
            "features": ["variant_acceptance_rate", "subject_length"],
        },
    )
    assert response.status_code == 201, response.text
    dataset = response.json()
    assert dataset["row_count"] == 4
    assert dataset["columns"][:2] == ["variant_id", "ts"]
    assert dataset["columns"][-2:] == ["variant_acceptance_rate", "subject_length"]
    manifest = dataset["manifest"]
    assert [(f["name"], f["version"]) for f in manifest["features"]] == [
        ("variant_acceptance_rate", 1),
        ("subject_length", 1),
    ]
    assert manifest["model_ids"] == ["fake-model"] and manifest["prompt_versions"]
    assert dataset["spine"]["source"] == "rows" and dataset["spine"]["rows"] == 4
    csv = analyst.get(dataset["links"]["csv"])
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    frame = pd.read_csv(io.StringIO(csv.text))
    # Before the accept: unknown; after it: 1.0; at the reject's exact time: 0.5; duplicates kept.
    assert frame["variant_acceptance_rate"].tolist()[1:] == [1.0, 0.5, 1.0]
    assert pd.isna(frame["variant_acceptance_rate"].iloc[0])
    assert frame["subject_length"].isna().all()  # the variant was created after T0+3h


def test_a_parquet_download_carries_the_manifest_and_matches_its_content_hash(
    analyst: httpx.Client, history: list[str]
) -> None:
    dataset = analyst.post("/v1/datasets", json={"spine": {"source": "sends"}}).json()
    assert dataset["row_count"] == 1
    response = analyst.get(dataset["links"]["parquet"])
    assert (
        response.status_code == 200 and response.headers["content-type"] == "application/vnd.apache.parquet"
    )
    table = pq.read_table(io.BytesIO(response.content))
    manifest = DatasetManifest.from_json(table.schema.metadata[MANIFEST_METADATA_KEY])
    assert manifest.content_hash == dataset["manifest"]["content_hash"]
    assert table.to_pandas()["variant_id"].tolist() == [history[1]]
    assert analyst.get(f"/v1/datasets/{dataset['id']}").json() == dataset
    assert [d["id"] for d in analyst.get("/v1/datasets").json()] == [dataset["id"]]


def test_as_of_ignores_feedback_ingested_after_it(analyst: httpx.Client, history: list[str]) -> None:
    spine = {"source": "rows", "rows": [{"variant_id": history[0], "ts": at(5)}]}
    before = dt.datetime(2000, 1, 1, tzinfo=dt.UTC).isoformat()
    dataset = analyst.post(
        "/v1/datasets", json={"spine": spine, "features": ["variant_acceptance_rate"], "as_of": before}
    ).json()
    frame = pd.read_csv(io.StringIO(analyst.get(dataset["links"]["csv"]).text))
    assert frame["variant_acceptance_rate"].isna().all()
    assert dataset["manifest"]["as_of"] is not None


def test_the_same_feature_definition_keeps_its_version(analyst: httpx.Client) -> None:
    first = analyst.get("/v1/features").json()
    again = analyst.get("/v1/features").json()
    assert first == again and {f["version"] for f in first} == {1}
    assert {f["name"] for f in first} >= {"variant_acceptance_rate", "segment_click_rate_30d"}


def test_bad_dataset_requests_name_the_field(analyst: httpx.Client) -> None:
    unknown = analyst.post("/v1/datasets", json={"features": ["nope"]})
    assert unknown.status_code == 422 and unknown.json()["error"]["field"] == "features.0"
    no_rows = analyst.post("/v1/datasets", json={"spine": {"source": "rows"}})
    assert no_rows.status_code == 422 and no_rows.json()["error"]["field"] == "spine.rows"
    naive = analyst.post(
        "/v1/datasets",
        json={"spine": {"source": "rows", "rows": [{"variant_id": "x", "ts": "2024-01-01T00:00:00"}]}},
    )
    assert naive.status_code == 422 and naive.json()["error"]["field"] == "spine.rows.0.ts"
    bad_format = analyst.get("/v1/datasets/x/download", params={"format": "xlsx"})
    assert bad_format.status_code == 422 and bad_format.json()["error"]["field"] == "format"
