"""Limits and failures through a real server: body size, rate limit, generation deadline, no backend."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from genai.backends import register_backend
from tests.support.live_server import (
    BRIEF,
    KIT,
    LiveServer,
    Responder,
    ScriptBackend,
    api_settings,
    create_brand,
)


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server with a 4 KiB body limit, 5 requests a second (burst 5) and a 1-second deadline."""
    data = tmp_path_factory.mktemp("strict")
    settings = api_settings(
        f"sqlite:///{data / 'api.db'}",
        data,
        max_body_bytes=4096,
        rate_limit_per_s=5,
        rate_limit_burst=5,
        generation_timeout_s=1.0,
    )
    live = LiveServer(settings).start()
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture(scope="module")
def without_backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server whose configured backend cannot be loaded."""
    data = tmp_path_factory.mktemp("nobackend")
    live = LiveServer(
        api_settings(f"sqlite:///{data / 'api.db'}", data, backend="nope"), inject_backend=False
    )
    live.start()
    try:
        yield live
    finally:
        live.stop()


class SlowLoadingBackend(ScriptBackend):
    """A backend whose model takes a while to load."""

    def __init__(self) -> None:
        time.sleep(1.5)
        super().__init__(Responder())


@pytest.fixture(scope="module")
def slow_loading(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server whose configured backend loads in 1.5 s."""
    register_backend("slow-loading-test", f"{__name__}:SlowLoadingBackend")
    data = tmp_path_factory.mktemp("slowload")
    settings = api_settings(f"sqlite:///{data / 'api.db'}", data, backend="slow-loading-test")
    live = LiveServer(settings, inject_backend=False).start()
    try:
        yield live
    finally:
        live.stop()


def wait_for_tokens(seconds: float = 1.2) -> None:
    """Let the rate limiter's bucket refill."""
    time.sleep(seconds)


def test_a_body_over_the_limit_is_refused_with_413(strict: LiveServer) -> None:
    wait_for_tokens()
    with strict.client(strict.tenant()) as client:
        big = {"kit": {**KIT, "description": "x" * 5000}}
        response = client.post("/v1/brands", json=big)
        assert response.status_code == 413
        assert response.json()["error"] == {
            "code": "payload_too_large",
            "message": "the request body is larger than the 4,096-byte limit",
            "field": "body",
        }

        def chunks() -> Iterator[bytes]:
            yield b'{"kit": {"name": "Chunked", "description": "'
            for _ in range(10):
                yield b"y" * 1000
            yield b'"}}'

        chunked = client.post("/v1/brands", content=chunks(), headers={"content-type": "application/json"})
        assert chunked.status_code == 413 and chunked.json()["error"]["code"] == "payload_too_large"
        assert client.get("/v1/brands").json() == []


def test_a_key_over_its_rate_answers_429_with_retry_after(strict: LiveServer) -> None:
    wait_for_tokens()
    tenant = strict.tenant()
    with strict.client(tenant) as client:
        statuses = [client.get("/v1/me").status_code for _ in range(8)]
        assert statuses[:5] == [200] * 5 and 429 in statuses[5:]
        limited = client.get("/v1/me")
        assert limited.status_code == 429
        assert limited.json()["error"]["code"] == "rate_limited"
        assert int(limited.headers["retry-after"]) >= 1
    with strict.client(tenant, role="marketer") as other_key:
        assert other_key.get("/v1/me").status_code == 200  # the limit is per key
    wait_for_tokens()
    with strict.client(tenant) as client:
        assert client.get("/v1/me").status_code == 200


def test_a_generation_past_its_deadline_answers_504_and_stores_nothing(strict: LiveServer) -> None:
    wait_for_tokens()
    with strict.client(strict.tenant()) as client:
        brand_id = create_brand(client)
        strict.responder.delay = 0.6  # three candidates a segment: 1.8 s against a 1 s deadline
        try:
            started = time.monotonic()
            response = client.post("/v1/generations", json={"brand_id": brand_id, "brief": BRIEF})
            elapsed = time.monotonic() - started
        finally:
            strict.responder.reset()
        assert response.status_code == 504
        assert response.json()["error"]["code"] == "generation_timeout"
        assert elapsed < 1.6
        time.sleep(1.0)  # the abandoned run finishes in the background; it must not be stored
        assert client.get("/v1/generations").json() == []


def test_without_a_backend_generation_answers_503_and_the_rest_works(without_backend: LiveServer) -> None:
    deadline = time.monotonic() + 10
    while "failed to load" not in httpx.get(f"{without_backend.base_url}/readyz").json()["detail"]["backend"]:
        assert time.monotonic() < deadline, "the backend never finished failing to load"
        time.sleep(0.05)
    with without_backend.client(without_backend.tenant()) as client:
        brand_id = create_brand(client)
        response = client.post("/v1/generations", json={"brand_id": brand_id, "brief": BRIEF})
        assert response.status_code == 503
        message = response.json()["error"]["message"]
        assert "generation backend is unavailable" in message and "unknown backend 'nope'" in message
        assert client.get(f"/v1/brands/{brand_id}").status_code == 200
    ready = httpx.get(f"{without_backend.base_url}/readyz")
    assert ready.status_code == 503
    body = ready.json()
    assert body["database"] is True and body["backend"] is False and "nope" in body["detail"]["backend"]


def test_the_api_answers_while_the_backend_loads_and_generates_once_it_is_ready(
    slow_loading: LiveServer,
) -> None:
    loading = httpx.get(f"{slow_loading.base_url}/readyz")
    assert loading.status_code == 503 and "still loading" in loading.json()["detail"]["backend"]
    with slow_loading.client(slow_loading.tenant()) as client:
        brand_id = create_brand(client)
        early = client.post("/v1/generations", json={"brand_id": brand_id, "brief": BRIEF})
        assert early.status_code == 503 and "still loading" in early.json()["error"]["message"]
        deadline = time.monotonic() + 10
        while httpx.get(f"{slow_loading.base_url}/readyz").status_code != 200:
            assert time.monotonic() < deadline, "the backend never became ready"
            time.sleep(0.1)
        assert client.post("/v1/generations", json={"brand_id": brand_id, "brief": BRIEF}).status_code == 201


def test_health_and_readiness_need_no_key(strict: LiveServer) -> None:
    assert httpx.get(f"{strict.base_url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{strict.base_url}/readyz")
    assert ready.status_code == 200 and ready.json() == {
        "status": "ready",
        "database": True,
        "backend": True,
        "detail": {},
    }


def test_metrics_expose_every_family_in_prometheus_format(strict: LiveServer) -> None:
    response = httpx.get(f"{strict.base_url}/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    for family in (
        "http_server_request_duration_seconds",
        "gen_ai_server_time_to_first_token_seconds",
        "gen_ai_server_time_per_output_token_seconds",
        "gen_ai_server_request_duration_seconds",
        "gen_ai_client_token_usage",
        "copyloop_gate_blocks_total",
        "copyloop_feedback_events_total",
        "copyloop_outcome_events_total",
        "copyloop_batcher_queue_depth",
    ):
        assert f"# TYPE {family} " in response.text, family
    assert 'http_route="/v1/me"' in response.text and 'http_route="/v1/me/' not in response.text


def test_unknown_routes_and_methods_answer_in_the_envelope(strict: LiveServer, tmp_path: Path) -> None:
    missing = httpx.get(f"{strict.base_url}/v1/nothing-here")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    wrong = httpx.put(f"{strict.base_url}/healthz")
    assert wrong.status_code == 405 and wrong.json()["error"]["code"] == "method_not_allowed"


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server allowing 3 failed key attempts at once per address, then 2 a second, and 2 KiB of headers."""
    data = tmp_path_factory.mktemp("guarded")
    settings = api_settings(
        f"sqlite:///{data / 'api.db'}",
        data,
        auth_failures_per_min=120,
        auth_failure_burst=3,
        max_header_bytes=2048,
    )
    live = LiveServer(settings).start()
    try:
        yield live
    finally:
        live.stop()


def test_failed_key_attempts_from_one_address_are_limited_then_allowed_again(guarded: LiveServer) -> None:
    tenant = guarded.tenant()
    with guarded.client() as client:
        assert client.get("/v1/me").status_code == 401  # no key at all is not a guess, and not counted
        guesses = [
            client.get("/v1/me", headers={"Authorization": f"Bearer cl_guess{i}"}).status_code
            for i in range(3)
        ]
        assert guesses == [401, 401, 401]
        limited = client.get("/v1/me", headers={"Authorization": "Bearer cl_guess4"})
        assert limited.status_code == 429
        assert limited.json()["error"]["code"] == "rate_limited"
        assert "failed API-key attempts" in limited.json()["error"]["message"]
        assert int(limited.headers["retry-after"]) >= 1
        # while the address is over its limit even a real key is not looked up
        assert client.get("/v1/me", headers=tenant.headers("admin")).status_code == 429
        time.sleep(1.0)  # two attempts a second come back
        assert client.get("/v1/me", headers=tenant.headers("admin")).status_code == 200


def test_headers_over_the_limit_are_refused_with_431_before_the_key_is_read(guarded: LiveServer) -> None:
    tenant = guarded.tenant()
    with guarded.client() as client:
        huge = client.get("/v1/me", headers={"Authorization": "Bearer cl_" + "x" * 4096})
        assert huge.status_code == 431
        assert huge.json()["error"] == {
            "code": "headers_too_large",
            "message": "the request headers are larger than the 2,048-byte limit",
            "field": "headers",
        }
    with guarded.client(tenant) as client:  # the server goes on serving, and the big header was no guess
        assert client.get("/v1/me").status_code == 200
