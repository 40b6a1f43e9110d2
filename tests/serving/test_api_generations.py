"""Generations through a real server: stored drafts, streaming, concurrency, and backend failures."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from typing import Any

import httpx

from genai.errors import BackendUnavailableError
from tests.support.live_server import BRIEF, LiveServer, Responder, Tenant, create_brand, create_generation


def read_events(response: httpx.Response) -> list[tuple[str, Any]]:
    """The server-sent events of a streamed answer, as (event, data) pairs."""
    events: list[tuple[str, Any]] = []
    name = None
    for line in response.iter_lines():
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: ") and name is not None:
            events.append((name, json.loads(line.removeprefix("data: "))))
            name = None
    return events


def test_a_generation_returns_ranked_gated_variants_per_segment_with_lineage(api: httpx.Client) -> None:
    brand_id = create_brand(api)
    response = api.post(
        "/v1/generations",
        json={"brand_id": brand_id, "brief": BRIEF, "campaign_name": "Holiday", "options": {"seed": 11}},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "completed" and body["brand_id"] == brand_id and body["campaign_id"]
    assert list(body["variants"]) == ["loyal", "new"]
    for segment, variants in body["variants"].items():
        assert [v["rank"] for v in variants] == [1, 2]
        assert [v["score"] for v in variants] == sorted((v["score"] for v in variants), reverse=True)
        for v in variants:
            assert v["segment"] == segment and v["generation_id"] == body["id"]
            assert v["gates"] and all(g["passed"] or g["severity"] == "warn" for g in v["gates"])
            assert v["lineage"]["backend"] == "fake" and v["lineage"]["model_id"] == "fake-model"
            assert v["lineage"]["prompt_name"] == "email_variant" and v["lineage"]["seed"] is not None
            assert v["draft"]["cta_url"] == BRIEF["cta_url"]
    stored = api.get(f"/v1/generations/{body['id']}")
    assert stored.status_code == 200 and stored.json() == body
    listed = api.get("/v1/generations").json()
    assert [(g["id"], g["variant_count"], g["goal"]) for g in listed] == [(body["id"], 4, BRIEF["goal"])]


def test_the_same_seed_reproduces_the_same_sampling_seeds(api: httpx.Client) -> None:
    brand_id = create_brand(api)
    runs = [
        api.post(
            "/v1/generations", json={"brand_id": brand_id, "brief": BRIEF, "options": {"seed": 5}}
        ).json()
        for _ in range(2)
    ]
    seeds = [[v["lineage"]["seed"] for vs in run["variants"].values() for v in vs] for run in runs]
    assert seeds[0] == seeds[1]


def test_a_variant_reads_as_json_html_and_text(api: httpx.Client) -> None:
    generation = create_generation(api, create_brand(api))
    variant = generation["variants"]["loyal"][0]
    as_json = api.get(f"/v1/variants/{variant['id']}")
    assert as_json.status_code == 200 and as_json.json() == variant
    html = api.get(variant["links"]["html"])
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    assert variant["draft"]["headline"] in html.text and BRIEF["cta_url"] in html.text
    assert html.headers["content-security-policy"] == "sandbox"
    text = api.get(variant["links"]["text"])
    assert text.headers["content-type"].startswith("text/plain")
    assert variant["draft"]["cta_label"] in text.text and "<" not in text.text.split("\n")[0]


def test_more_than_eight_variants_per_segment_is_refused_naming_the_field(api: httpx.Client) -> None:
    response = api.post(
        "/v1/generations", json={"brand_id": create_brand(api), "brief": {**BRIEF, "variants_per_segment": 9}}
    )
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "brief.variants_per_segment"
    assert api.get("/v1/generations").json() == []


def test_a_brand_of_another_workspace_is_not_found(server: LiveServer, api: httpx.Client) -> None:
    with server.client(server.tenant()) as other:
        foreign = create_brand(other)
    response = api.post("/v1/generations", json={"brand_id": foreign, "brief": BRIEF})
    assert response.status_code == 404 and response.json()["error"]["field"] == "brand_id"


def test_streaming_sends_progress_then_each_variant_then_the_stored_generation(api: httpx.Client) -> None:
    brand_id = create_brand(api)
    with api.stream(
        "POST",
        "/v1/generations",
        json={"brand_id": brand_id, "brief": BRIEF},
        headers={"Accept": "text/event-stream"},
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = read_events(response)
    names = [name for name, _ in events]
    assert names[0] == "started" and names[-1] == "done"
    assert names.count("variant") == 4 and "progress" in names
    assert names.index("progress") < names.index("variant")
    done = events[-1][1]
    stored = {(v["segment"], v["pipeline_id"]) for vs in done["variants"].values() for v in vs}
    streamed = {(data["segment"], data["pipeline_id"]) for name, data in events if name == "variant"}
    assert streamed == stored
    assert api.get(f"/v1/generations/{done['id']}").json() == done


def test_a_finished_segment_streams_its_variants_before_a_slow_one_is_done(
    api: httpx.Client, responder: Responder
) -> None:
    brand_id = create_brand(api)
    responder.delay, responder.slow_segment = 0.4, "new"
    arrivals: list[tuple[str, str, float]] = []
    with api.stream(
        "POST",
        "/v1/generations",
        json={"brand_id": brand_id, "brief": BRIEF},
        headers={"Accept": "text/event-stream"},
    ) as response:
        name = None
        for line in response.iter_lines():
            if line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: ") and name in ("variant", "done"):
                segment = json.loads(line.removeprefix("data: ")).get("segment", "")
                arrivals.append((name, segment, time.monotonic()))
    loyal = [t for name, segment, t in arrivals if name == "variant" and segment == "loyal"]
    slow = [t for name, segment, t in arrivals if name == "variant" and segment == "new"]
    assert len(loyal) == 2 and len(slow) == 2
    # The slow segment needs three candidates at 0.4 s each; the fast one is out well before.
    assert max(loyal) < min(slow) - 0.5


def test_feedback_keeps_answering_while_a_slow_generation_runs(
    server: LiveServer, api: httpx.Client, tenant: Tenant, responder: Responder
) -> None:
    generation = create_generation(api, create_brand(api))
    variant_id = generation["variants"]["loyal"][0]["id"]
    responder.delay = 0.7  # three candidates per segment, segments side by side: about 2 s of "model" time
    result: dict[str, Any] = {}

    def generate() -> None:
        with server.client(tenant, role="marketer", timeout=60) as client:
            started = time.monotonic()
            response = client.post(
                "/v1/generations", json={"brand_id": generation["brand_id"], "brief": BRIEF}
            )
            result["status"], result["seconds"] = response.status_code, time.monotonic() - started

    worker = threading.Thread(target=generate)
    worker.start()
    time.sleep(0.3)
    latencies = []
    with server.client(tenant, role="marketer") as client:
        for i in range(10):
            started = time.monotonic()
            response = client.post(
                "/v1/feedback",
                json={
                    "idempotency_key": f"during-{i}",
                    "variant_id": variant_id,
                    "kind": "rating",
                    "rating": 4,
                    "event_time": dt.datetime.now(dt.UTC).isoformat(),
                },
            )
            latencies.append(time.monotonic() - started)
            assert response.status_code == 201, response.text
    still_running = worker.is_alive()
    worker.join(timeout=60)
    assert result["status"] == 201 and result["seconds"] > 1.8
    assert still_running, "the generation finished before the feedback calls: the test proves nothing"
    assert max(latencies) < 0.5


def test_a_backend_that_is_down_answers_503_with_a_clear_message(
    api: httpx.Client, responder: Responder
) -> None:
    brand_id = create_brand(api)
    responder.error = BackendUnavailableError("cannot reach the vLLM server at http://gpu:8000/v1")
    response = api.post("/v1/generations", json={"brand_id": brand_id, "brief": BRIEF})
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "backend_unavailable" and "cannot reach the vLLM server" in error["message"]
    assert api.get("/v1/generations").json() == []


def test_a_streamed_generation_reports_a_failure_as_an_error_event(
    api: httpx.Client, responder: Responder
) -> None:
    brand_id = create_brand(api)
    responder.error = BackendUnavailableError("the model is not loaded")
    with api.stream(
        "POST",
        "/v1/generations",
        json={"brand_id": brand_id, "brief": BRIEF},
        headers={"Accept": "text/event-stream"},
    ) as response:
        events = read_events(response)
    assert events[-1][0] == "error"
    assert events[-1][1]["status"] == 503 and events[-1][1]["error"]["code"] == "backend_unavailable"
    assert api.get("/v1/generations").json() == []


def test_generation_metrics_count_tokens_and_calls(server: LiveServer, api: httpx.Client) -> None:
    create_generation(api, create_brand(api))
    text = httpx.get(f"{server.base_url}/metrics").text
    assert 'copyloop_generations_total{status="completed"}' in text
    assert (
        'gen_ai_client_token_usage_count{gen_ai_provider_name="fake",gen_ai_request_model="fake-model",gen_ai_token_type="input"}'
        in text
    )
    assert "gen_ai_server_request_duration_seconds_count" in text
    assert (
        'http_server_request_duration_seconds_count{http_request_method="POST",http_response_status_code="201",http_route="/v1/generations"}'
        in text
    )


def test_monitoring_reads_exactly_the_statistics_the_api_stores(
    server: LiveServer, tenant: Tenant, api: httpx.Client, responder: Responder
) -> None:
    from genai.campaign import GenerationStats
    from monitoring.frames import load_frames, scopes
    from monitoring.windows import monitoring_window
    from tests.support.scripted import Script

    # two drafts of the loyal segment are blocked by the link gate, one of the new segment is malformed
    responder.script = Script(loyal=["blocked", "good", "blocked", "good", "good"], new=["bad"])
    generation = create_generation(api, create_brand(api))
    stored = GenerationStats.from_dict(generation["stats"])
    assert stored.blocked == 2 and stored.blocked_by == {"links": 2} and stored.parse_failures == 1
    assert server._engine is not None
    [scope] = scopes(server._engine, workspace=tenant.workspace_id)
    now = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
    frames = load_frames(server._engine, scope, monitoring_window("1h", "1h", now, align=False))
    [row] = frames.requests.to_dict("records")
    assert row["request_id"] == generation["id"]
    assert (row["candidates"], row["blocked"], row["parse_failures"]) == (
        stored.candidates,
        stored.blocked,
        stored.parse_failures,
    )
    assert row["blocked_by"] == stored.blocked_by
