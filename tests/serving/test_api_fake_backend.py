"""`COPYLOOP_BACKEND=fake`: the API, with the backend built from settings, generates valid drafts."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from feedback.api_keys import create_key
from feedback.db import make_engine, session_factory, upgrade
from feedback.tenancy import create_workspace
from genai.embed import HashingEmbedder
from genai.tuning.adapters import ADAPTERS_DIR, DEFAULT_ADAPTER, load_adapter
from serving.app import create_app
from tests.support.live_server import api_settings
from tests.support.paths import REPO

SAMPLE = REPO / "genai" / "samples" / "wick-and-willow.html"
BRIEF = {
    "goal": "Holiday sale on hand-poured candles",
    "offer": "20% off all candles",
    "cta_url": "https://wickandwillow.example/collections/holiday",
    "variants_per_segment": 2,
    "segments": [
        {"name": "high-spenders", "description": "loyal customers who order often"},
        {"name": "new-customers", "description": "people who placed a first order"},
    ],
    "constraints": ["Mention that every candle is hand-poured in small batches."],
}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The API with the fake backend loaded from its settings, and a marketer's key."""
    data = tmp_path_factory.mktemp("data")
    database_url = f"sqlite:///{data / 'copyloop.db'}"
    engine = make_engine(database_url)
    upgrade(engine)
    with session_factory(engine)() as session, session.begin():
        token = create_key(session, create_workspace(session, "acme").id, "marketer").token
    engine.dispose()
    app = create_app(api_settings(database_url, data), embedder=HashingEmbedder())
    with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as test_client:
        deadline = time.monotonic() + 30
        while test_client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, test_client.get("/readyz").json()
            time.sleep(0.05)
        yield test_client


@pytest.fixture(scope="module")
def brand_id(client: TestClient) -> str:
    with SAMPLE.open("rb") as page:
        answer = client.post("/v1/brands/from-html", files={"file": page})
    assert answer.status_code == 201, answer.text
    brand: str = answer.json()["id"]
    return brand


def test_a_generation_on_the_fake_backend_stores_clean_variants_for_every_segment(
    client: TestClient, brand_id: str
) -> None:
    answer = client.post(
        "/v1/generations", json={"brand_id": brand_id, "brief": BRIEF, "options": {"seed": 5}}
    )
    assert answer.status_code == 201, answer.text
    generation = answer.json()
    assert {seg: len(vs) for seg, vs in generation["variants"].items()} == {
        "high-spenders": 2,
        "new-customers": 2,
    }
    for variant in (v for vs in generation["variants"].values() for v in vs):
        assert [g["gate_id"] for g in variant["gates"] if not g["passed"]] == []
        draft = variant["draft"]
        assert "20% off all candles" in " ".join(draft["body"])
        assert draft["cta_url"] == BRIEF["cta_url"]
        assert variant["lineage"]["backend"] == "fake"
    assert generation["stats"]["shortfall"] == {}


def test_a_generation_names_its_adapter_and_each_variant_records_it(
    client: TestClient, brand_id: str
) -> None:
    adapters = Path(client.app.state.runtime.settings.adapters_dir)  # type: ignore[attr-defined]
    shutil.copytree(ADAPTERS_DIR / DEFAULT_ADAPTER, adapters / "wick-v1")
    body = {"brand_id": brand_id, "brief": {**BRIEF, "segments": BRIEF["segments"][:1]}, "adapter": "wick-v1"}
    answer = client.post("/v1/generations", json=body)
    assert answer.status_code == 201, answer.text
    lineages = [v["lineage"] for vs in answer.json()["variants"].values() for v in vs]
    assert lineages and {(x["adapter"], x["adapter_sha256"]) for x in lineages} == {
        ("wick-v1", load_adapter(adapters / "wick-v1").sha256)
    }
    stored = client.get(f"/v1/generations/{answer.json()['id']}").json()
    assert {v["lineage"]["adapter"] for vs in stored["variants"].values() for v in vs} == {"wick-v1"}
    missing = client.post("/v1/generations", json={**body, "adapter": "wick-v9"})
    assert missing.status_code == 422
    assert missing.json()["error"]["field"] == "adapter" and "wick-v9" in missing.json()["error"]["message"]
    outside = client.post("/v1/generations", json={**body, "adapter": "../wick-v1"})
    assert outside.status_code == 422


def test_the_same_seed_writes_the_same_drafts(client: TestClient, brand_id: str) -> None:
    body = {"brand_id": brand_id, "brief": BRIEF, "options": {"seed": 9}}
    drafts = [
        [
            v["draft"]
            for vs in client.post("/v1/generations", json=body).json()["variants"].values()
            for v in vs
        ]
        for _ in range(2)
    ]
    assert drafts[0] == drafts[1]


def test_the_event_stream_carries_each_variant_then_the_stored_generation(
    client: TestClient, brand_id: str
) -> None:
    body = {"brand_id": brand_id, "brief": {**BRIEF, "segments": BRIEF["segments"][:1]}}
    with client.stream(
        "POST", "/v1/generations", json=body, headers={"Accept": "text/event-stream"}
    ) as stream:
        assert stream.status_code == 200
        text = "".join(stream.iter_text())
    events = [
        (block.split("\n")[0].removeprefix("event: "), block.split("\n", 1)[1].removeprefix("data: "))
        for block in text.strip().split("\n\n")
        if block.startswith("event: ")
    ]
    names = [name for name, _ in events]
    assert names[0] == "started" and names[-1] == "done" and names.count("variant") == 2
    assert "error" not in names
    done = json.loads(events[-1][1])
    assert len(done["variants"]["high-spenders"]) == 2
