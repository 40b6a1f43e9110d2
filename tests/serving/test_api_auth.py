"""Auth and tenancy on every route: keys, roles, and no data across workspaces.

`ROUTES` names every route of the app; a test checks that list against the app itself, so a new
route cannot skip the isolation and authentication checks.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from genai.tuning.adapters import ADAPTERS_DIR, DEFAULT_ADAPTER
from serving.adapter_scope import write_scope
from tests.support.live_server import BRIEF, SAMPLE_PAGE, LiveServer, Tenant, create_brand, create_generation

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
BRAND_ADAPTER = "lumen-v1"


@dataclass
class World:
    """Workspace A with one of everything, and workspace B next to it."""

    a: Tenant
    b: Tenant
    ids: dict[str, str]


def _accept(client: httpx.Client, variant_id: str, key: str) -> None:
    event = {
        "idempotency_key": key,
        "variant_id": variant_id,
        "kind": "accept",
        "event_time": NOW.isoformat(),
    }
    assert client.post("/v1/feedback", json=event).status_code == 201


@pytest.fixture(scope="module")
def world(server: LiveServer) -> Iterator[World]:
    a, b = server.tenant(), server.tenant()
    with server.client(a) as client:
        brand = create_brand(client)
        segment = client.post("/v1/segments", json={"name": "loyal"}).json()["id"]
        generation = create_generation(client, brand)
        first, second = (v["id"] for v in generation["variants"]["loyal"])
        _accept(client, first, "a-1")
        _accept(client, second, "a-2")
        experiment = client.post(
            "/v1/experiments",
            json={"name": "subject test", "variant_ids": [first, second], "segment_id": segment},
        ).json()["id"]
        assert client.post(
            f"/v1/experiments/{experiment}/assignments", json={"contact": "ann@a.example"}
        ).is_success
        client.post("/v1/outcomes", json={"events": [outcome(first, "a-send")]}).raise_for_status()
        dataset = client.post("/v1/datasets", json={"spine": {"source": "variants"}}).json()["id"]
        reward_model = _reward_model(client, brand)
        key_id = client.get("/v1/keys").json()[-1]["id"]
    # an adapter trained on A's brand (as `copyloop tune --brand` leaves it)
    folder = server.settings.adapters_dir / BRAND_ADAPTER
    shutil.copytree(ADAPTERS_DIR / DEFAULT_ADAPTER, folder)
    write_scope(folder, {"workspace_id": a.workspace_id, "brand_id": brand, "brand": "Lumen", "as_of": None})
    (folder / "job.json").write_text(json.dumps({"status": "ready", "brand_id": brand, "exit_code": 0}))
    with server.client(a) as client:
        assert BRAND_ADAPTER in {x["name"] for x in client.get("/v1/adapters").json()}
    yield World(
        a,
        b,
        {
            "brand_id": brand,
            "segment_id": segment,
            "generation_id": generation["id"],
            "variant_id": first,
            "experiment_id": experiment,
            "dataset_id": dataset,
            "reward_model_id": reward_model,
            "key_id": key_id,
            "kind": "latency",  # the report kind in /v1/reports/{kind}/latest
            "platform": "sendgrid",  # the e-mail platform in /v1/outcomes/webhook/{platform}
            "name": BRAND_ADAPTER,  # the adapter in /v1/adapters/{name}/job
        },
    )


def _reward_model(client: httpx.Client, brand: str) -> str:
    """A's reward model, trained on 64 drafts of A it accepted or rejected."""
    segments = [{"name": f"s{i}"} for i in range(4)]
    ids = []
    for _ in range(2):
        generation = create_generation(client, brand, segments=segments, variants_per_segment=8)
        ids += [v["id"] for vs in generation["variants"].values() for v in vs]
    events = [
        {
            "idempotency_key": f"r{i}",
            "variant_id": v,
            "kind": "accept" if i % 2 else "reject",
            "event_time": NOW.isoformat(),
        }
        for i, v in enumerate(ids)
    ]
    assert client.post("/v1/feedback/batch", json={"events": events}).json()["accepted"] == len(ids)
    response = client.post("/v1/reward-models", json={})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _only_shipped_adapters(response: httpx.Response, _: World) -> None:
    """B lists the shipped adapters, never the one trained on A's brand."""
    assert response.status_code == 200
    listed = {a["name"]: a for a in response.json()}
    assert BRAND_ADAPTER not in listed and listed and all(a["origin"] == "shipped" for a in listed.values())


def _no_feedback_to_learn(response: httpx.Response, _: World) -> None:
    """B trains on B's feedback, which is none: A's verdicts are not counted."""
    assert response.status_code == 422 and response.json()["error"]["field"] == "feedback"
    assert response.json()["error"]["message"].startswith("0 labelled drafts")


def outcome(variant_id: str, key: str, contact: str = "ann@a.example", kind: str = "send") -> dict[str, Any]:
    """One outcome event."""
    return {
        "idempotency_key": key,
        "variant_id": variant_id,
        "contact": contact,
        "kind": kind,
        "event_time": NOW.isoformat(),
    }


Check = Callable[[httpx.Response, World], None]


def not_found(response: httpx.Response, _: World) -> None:
    """The foreign id is answered as absent."""
    assert response.status_code == 404, response.text
    assert response.json()["error"]["code"] == "not_found"


def empty_list(response: httpx.Response, _: World) -> None:
    """B's listing holds nothing of A's."""
    assert response.status_code == 200 and response.json() == []


def rejected_rows(response: httpx.Response, _: World) -> None:
    """A batch naming A's variant has that row rejected as unknown; nothing stored."""
    body = response.json()
    assert response.status_code == 200, response.text
    assert body["accepted"] == 0 and [r["field"] for r in body["rejected"]] == ["variant_id"]


@dataclass(frozen=True)
class Route:
    """How to call one route as workspace B with A's ids, and what B must see."""

    method: str
    path: str
    check: Check
    json: dict[str, Any] | list[Any] | None = None
    files: dict[str, Any] | None = None
    data: dict[str, Any] | None = None
    params: dict[str, Any] | None = None


def _own_workspace(response: httpx.Response, world: World) -> None:
    assert response.status_code == 200 and response.json()["workspace_id"] == world.b.workspace_id


def _created(response: httpx.Response, _: World) -> None:
    # Routes that name no existing id only ever create in the caller's own workspace.
    assert response.status_code == 201, response.text


def _no_foreign_keys(response: httpx.Response, world: World) -> None:
    assert response.status_code == 200
    assert world.ids["key_id"] not in {k["id"] for k in response.json()}


def _erasure_misses(response: httpx.Response, _: World) -> None:
    assert response.status_code == 200 and response.json()["found"] is False


def _csv_rejected(response: httpx.Response, _: World) -> None:
    body = response.json()
    assert (
        response.status_code == 200 and body["accepted"] == 0 and body["rejected"][0]["column"] == "variant"
    )


def _own_features(response: httpx.Response, _: World) -> None:
    assert response.status_code == 200 and {f["version"] for f in response.json()} == {1}


def _generation(world: World) -> dict[str, Any]:
    return {"brand_id": world.ids["brand_id"], "brief": BRIEF}


def routes(world: World) -> list[Route]:
    """Every route of the API, called as B with A's ids."""
    ids = world.ids
    variant = ids["variant_id"]
    experiment = f"/v1/experiments/{ids['experiment_id']}"
    feedback = {
        "idempotency_key": "b-1",
        "variant_id": variant,
        "kind": "accept",
        "event_time": NOW.isoformat(),
    }
    csv = f"email,variant,event,time\nann@a.example,{variant},open,{NOW.isoformat()}\n"
    mapping = '{"email": "contact", "variant": "variant_id", "event": "kind", "time": "event_time"}'
    webhook = [{"event": "open", "email": "ann@a.example", "timestamp": 1733045400, "variant_id": variant}]
    orders = "customer_id,date,amount\nc1,2024-01-02,10\nc2,2024-02-03,20\n"
    return [
        Route("GET", "/v1/me", _own_workspace),
        Route("POST", "/v1/keys", _created, json={"role": "analyst"}),
        Route("GET", "/v1/keys", _no_foreign_keys),
        Route("DELETE", f"/v1/keys/{ids['key_id']}", not_found),
        Route("POST", "/v1/contacts/erase", _erasure_misses, json={"contact": "ann@a.example"}),
        Route("POST", "/v1/brands", _created, json={"kit": {"name": "B brand"}}),
        Route(
            "POST", "/v1/brands/from-html", _created, files={"file": ("page.html", SAMPLE_PAGE.read_bytes())}
        ),
        Route("POST", "/v1/brands/from-url", not_found_url, json={"url": "https://a.example/"}),
        Route("GET", "/v1/brands", lambda r, w: _names_without(r, w, "Lumen Candles")),
        Route("GET", f"/v1/brands/{ids['brand_id']}", not_found),
        Route("PATCH", f"/v1/brands/{ids['brand_id']}", not_found, json={"kit": {"tagline": "mine now"}}),
        Route("GET", f"/v1/brands/{ids['brand_id']}/completeness", not_found),
        Route("POST", "/v1/segments", _created, json={"name": "b-segment"}),
        Route(
            "POST", "/v1/segments/rfm", _created, files={"file": ("o.csv", orders)}, data={"version": "v1"}
        ),
        Route("GET", "/v1/segments", lambda r, w: _names_without(r, w, "loyal")),
        Route("GET", f"/v1/segments/{ids['segment_id']}", not_found),
        Route("POST", "/v1/generations", not_found, json=_generation(world)),
        Route("GET", "/v1/generations", empty_list),
        Route("GET", f"/v1/generations/{ids['generation_id']}", not_found),
        Route("GET", f"/v1/variants/{variant}", not_found),
        Route("GET", f"/v1/variants/{variant}/html", not_found),
        Route("GET", f"/v1/variants/{variant}/text", not_found),
        Route("GET", f"/v1/variants/{variant}/feedback", not_found),
        Route("POST", "/v1/feedback", not_found, json=feedback),
        Route("POST", "/v1/feedback/batch", rejected_rows, json={"events": [feedback]}),
        Route("POST", "/v1/outcomes", rejected_rows, json={"events": [outcome(variant, "b-o")]}),
        Route(
            "POST",
            "/v1/outcomes/import",
            _csv_rejected,
            files={"file": ("e.csv", csv)},
            data={"mapping": mapping},
        ),
        Route("POST", "/v1/outcomes/webhook", lambda r, w: _webhook_rejected(r), json=webhook),
        Route(
            "POST", f"/v1/outcomes/webhook/{ids['platform']}", lambda r, w: _webhook_rejected(r), json=webhook
        ),
        Route(
            "POST",
            "/v1/experiments",
            not_found,
            json={"name": "steal", "variant_ids": [variant, variant + "0"]},
        ),
        Route("GET", "/v1/experiments", empty_list),
        Route("GET", experiment, not_found),
        Route("POST", f"{experiment}/start", not_found),
        Route("POST", f"{experiment}/stop", not_found),
        Route("POST", f"{experiment}/assignments", not_found, json={"contact": "ann@a.example"}),
        Route("GET", f"{experiment}/results", not_found),
        Route("GET", f"{experiment}/weights", not_found),
        Route("POST", f"{experiment}/weights", not_found),
        Route("GET", "/v1/features", _own_features),
        Route(
            "POST",
            "/v1/datasets",
            not_found,
            json={"spine": {"source": "rows", "rows": [{"variant_id": variant, "ts": NOW.isoformat()}]}},
        ),
        Route("GET", "/v1/datasets", empty_list),
        Route("GET", f"/v1/datasets/{ids['dataset_id']}", not_found),
        Route("GET", f"/v1/datasets/{ids['dataset_id']}/download", not_found),
        Route("POST", "/v1/reward-models", _no_feedback_to_learn, json={}),
        Route("GET", "/v1/reward-models", empty_list),
        Route("GET", f"/v1/reward-models/{ids['reward_model_id']}", not_found),
        Route("GET", "/v1/prompt-arms", empty_list),
        Route("GET", "/v1/adapter-arms", empty_list),
        Route("GET", "/v1/adapters", _only_shipped_adapters),
        Route("POST", "/v1/adapters", not_found, json={"brand_id": ids["brand_id"]}),
        Route("GET", f"/v1/adapters/{BRAND_ADAPTER}/job", not_found),
        Route("GET", "/v1/reports", empty_list),
        Route("GET", f"/v1/reports/{ids['kind']}/latest", not_found),
    ]


def not_found_url(response: httpx.Response, _: World) -> None:
    """A URL is fetched, never looked up in a workspace; this one answers 404 upstream."""
    assert response.status_code == 422 and response.json()["error"]["code"] == "brand_fetch_failed"


def _names_without(response: httpx.Response, _: World, name: str) -> None:
    assert response.status_code == 200 and name not in {item["name"] for item in response.json()}


def _webhook_rejected(response: httpx.Response) -> None:
    body = response.json()
    assert response.status_code == 200 and body["accepted"] == 0
    assert [(r["index"], r["field"]) for r in body["rejected"]] == [(0, "variant_id")]


def _template(path: str, world: World) -> str:
    for name, value in world.ids.items():
        path = path.replace(value, "{" + name + "}")
    return path


def _call(client: httpx.Client, route: Route) -> httpx.Response:
    return client.request(
        route.method, route.path, json=route.json, files=route.files, data=route.data, params=route.params
    )


def test_the_route_table_covers_every_route_of_the_app(server: LiveServer, world: World) -> None:
    app_routes = {
        (method.upper(), path)
        for path, operations in server.app.openapi()["paths"].items()
        if path.startswith("/v1")
        for method in operations
    }
    listed = {(r.method, _template(r.path, world)) for r in routes(world)}
    assert listed == app_routes


def test_workspace_b_never_sees_or_touches_workspace_a(server: LiveServer, world: World) -> None:
    with server.client(world.b) as b:
        for route in routes(world):
            response = _call(b, route)
            try:
                route.check(response, world)
            except AssertionError as exc:
                raise AssertionError(f"{route.method} {route.path}: {exc}") from exc
    with server.client(world.a) as a:
        ids = world.ids
        assert a.get(f"/v1/brands/{ids['brand_id']}").json()["kit"]["tagline"] == "Hand-poured soy candles"
        feedback = a.get(f"/v1/variants/{ids['variant_id']}/feedback").json()
        assert feedback["counts"] == {"accept": 1}
        assert a.get(f"/v1/experiments/{ids['experiment_id']}").json()["status"] == "running"
        assert len(a.get("/v1/keys").json()) == 3


def test_a_brand_adapter_is_its_own_workspace_s_to_name(server: LiveServer, world: World) -> None:
    with server.client(world.b) as b:
        own_brand = create_brand(b)
        body = {"brand_id": own_brand, "brief": BRIEF, "adapter": BRAND_ADAPTER}
        answer = b.post("/v1/generations", json=body)
        # as for an adapter that does not exist: B does not learn that A has one of that name
        assert answer.status_code == 422
        assert answer.json()["error"] == {
            "code": "invalid_input",
            "message": f"no adapter named {BRAND_ADAPTER!r}",
            "field": "adapter",
        }
    with server.client(world.a) as a:
        assert a.get(f"/v1/adapters/{BRAND_ADAPTER}/job").json()["status"] == "ready"
        listed = {x["name"]: x for x in a.get("/v1/adapters").json()}
        assert listed[BRAND_ADAPTER]["origin"] == "trained here"
        assert (listed[BRAND_ADAPTER]["brand"], listed[BRAND_ADAPTER]["brand_id"]) == (
            "Lumen",
            world.ids["brand_id"],
        )
        assert listed[DEFAULT_ADAPTER]["origin"] == "shipped" and listed[DEFAULT_ADAPTER]["train_pairs"] > 0
        mine = a.post("/v1/generations", json={**body, "brand_id": world.ids["brand_id"]})
        # A may name it; this test server's scripted backend cannot switch adapters, and says so
        assert mine.status_code == 422 and "cannot switch adapters" in mine.json()["error"]["message"]


def test_every_route_needs_a_key(server: LiveServer, world: World) -> None:
    with server.client() as anonymous:
        for route in routes(world):
            response = _call(anonymous, route)
            assert response.status_code == 401, f"{route.method} {route.path}"
            assert response.json()["error"]["code"] == "unauthorized"
            assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "authorization",
    ["Bearer nonsense", "Bearer cl_0123456789ab_wrongsecret", "Token abc", "Basic !!!", ""],
)
def test_a_malformed_or_unknown_key_is_refused(server: LiveServer, authorization: str) -> None:
    response = httpx.get(f"{server.base_url}/v1/me", headers={"Authorization": authorization})
    assert response.status_code == 401 and response.json()["error"]["field"] == "authorization"


def test_a_wrong_secret_for_a_real_key_prefix_is_refused(server: LiveServer, world: World) -> None:
    real = world.a.keys["admin"]
    forged = real[: real.rindex("_") + 1] + "x" * 43
    response = httpx.get(f"{server.base_url}/v1/me", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401


def test_basic_auth_carries_the_key_as_its_password(server: LiveServer, world: World) -> None:
    token = base64.b64encode(f"webhook:{world.a.keys['marketer']}".encode()).decode()
    response = httpx.get(f"{server.base_url}/v1/me", headers={"Authorization": f"Basic {token}"})
    assert response.status_code == 200 and response.json()["role"] == "marketer"


def test_a_revoked_key_stops_working_at_once(server: LiveServer) -> None:
    tenant = server.tenant()
    with server.client(tenant) as admin:
        issued = admin.post("/v1/keys", json={"role": "marketer", "name": "temp"}).json()
        headers = {"Authorization": f"Bearer {issued['key']}"}
        assert httpx.get(f"{server.base_url}/v1/me", headers=headers).status_code == 200
        revoked = admin.delete(f"/v1/keys/{issued['id']}")
        assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
        assert "key" not in revoked.json()
    assert httpx.get(f"{server.base_url}/v1/me", headers=headers).status_code == 401


@pytest.mark.parametrize(
    ("role", "method", "path", "allowed"),
    [
        ("analyst", "POST", "/v1/brands", False),
        ("analyst", "GET", "/v1/brands", True),
        ("analyst", "POST", "/v1/feedback/batch", False),
        ("analyst", "POST", "/v1/datasets", True),
        ("marketer", "POST", "/v1/datasets", False),
        ("marketer", "GET", "/v1/datasets", False),
        ("marketer", "POST", "/v1/brands", True),
        ("marketer", "GET", "/v1/keys", False),
        ("marketer", "POST", "/v1/contacts/erase", False),
        ("analyst", "POST", "/v1/keys", False),
        ("admin", "GET", "/v1/keys", True),
    ],
)
def test_roles_allow_only_their_routes(
    server: LiveServer, role: str, method: str, path: str, allowed: bool
) -> None:
    tenant = server.tenant()
    bodies = {
        "/v1/brands": {"kit": {"name": "Role test"}},
        "/v1/feedback/batch": {"events": [{}]},
        "/v1/datasets": {"spine": {"source": "variants"}},
        "/v1/keys": {"role": "marketer"},
        "/v1/contacts/erase": {"contact": "x@example.com"},
    }
    with server.client(tenant, role=role) as client:
        response = client.request(method, path, json=bodies.get(path) if method == "POST" else None)
    if allowed:
        assert response.status_code in (200, 201), response.text
    else:
        assert response.status_code == 403
        assert response.json()["error"] == {
            "code": "forbidden",
            "message": response.json()["error"]["message"],
            "field": "role",
        }
        assert role in response.json()["error"]["message"]
