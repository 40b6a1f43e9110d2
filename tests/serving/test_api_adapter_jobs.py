"""Training a brand's adapter through the API: a job in its own process, then a name to generate with."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from tests.support.live_server import (
    BRIEF,
    LiveServer,
    api_settings,
    create_brand,
    create_generation,
    variant_ids,
)
from tests.support.tiny_model import tiny_model_dir


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The fake backend (it switches adapters as the embedded one does); jobs train the tiny model."""
    folder = tmp_path_factory.mktemp("adapter-jobs")
    tiny = tiny_model_dir(tmp_path_factory)
    settings = api_settings(f"sqlite:///{folder / 'api.db'}", folder / "data", model=str(tiny))
    live = LiveServer(settings, inject_backend=False)
    live.start()
    try:
        yield live
    finally:
        live.stop()


def test_a_brand_adapter_trains_in_a_job_and_generations_can_name_it(server: LiveServer) -> None:
    tenant = server.tenant()
    with server.client(tenant) as api:
        brand = create_brand(api)
        too_few = api.post("/v1/adapters", json={"brand_id": brand})
        assert too_few.status_code == 422 and too_few.json()["error"]["field"] == "brand_id"
        ids = [vid for _ in range(3) for vid in variant_ids(create_generation(api, brand))]
        at = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)).isoformat()
        events = [{"idempotency_key": v, "variant_id": v, "kind": "accept", "event_time": at} for v in ids]
        assert api.post("/v1/feedback/batch", json={"events": events}).json()["accepted"] == len(ids)
        started = api.post("/v1/adapters", json={"brand_id": brand, "max_steps": 2})
        assert started.status_code == 202, started.text
        job = started.json()
        assert job["status"] == "training" and job["name"] == "lumen-candles-v1"
        busy = api.post("/v1/adapters", json={"brand_id": brand, "max_steps": 2})
        assert busy.status_code == 409 and busy.json()["error"]["field"] == "brand_id"
        assert server.app.state.runtime.adapter_jobs.wait(job["name"], 600)
        done = api.get(f"/v1/adapters/{job['name']}/job").json()
        assert done["status"] == "ready" and done["exit_code"] == 0, done["log_tail"]
        listed = {a["name"]: a for a in api.get("/v1/adapters").json()}
        assert listed[job["name"]]["origin"] == "trained here" and listed[job["name"]]["brand_id"] == brand
        assert listed[job["name"]]["steps"] == 2 and listed[job["name"]]["train_pairs"] > 0
        body = {"brand_id": brand, "brief": BRIEF, "adapter": job["name"]}
        generation = api.post("/v1/generations", json=body)
        assert generation.status_code == 201, generation.text
        used = {v["lineage"]["adapter"] for vs in generation.json()["variants"].values() for v in vs}
        assert used == {job["name"]}
    with server.client(server.tenant()) as stranger:
        assert stranger.get(f"/v1/adapters/{job['name']}/job").status_code == 404


def test_a_job_that_does_not_exist_is_not_found(server: LiveServer) -> None:
    with server.client(server.tenant()) as api:
        assert api.get("/v1/adapters/nope-v1/job").status_code == 404
        assert api.get("/v1/adapters/..%2F..%2Fdata/job").status_code == 404
