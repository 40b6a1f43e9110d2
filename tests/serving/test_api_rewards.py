"""Reward models through a real server: training from feedback, roles, workspaces, and the ranking."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest

from tests.support.live_server import LiveServer, create_brand, create_generation, variant_ids

SEGMENTS = [{"name": f"segment-{i}"} for i in range(4)]


def _judged_workspace(api: httpx.Client, brand: str, generations: int = 3) -> list[str]:
    """Generations of 4 segments x 8 variants, every variant accepted or rejected."""
    ids = []
    for _ in range(generations):
        ids += variant_ids(create_generation(api, brand, segments=SEGMENTS, variants_per_segment=8))
    at = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).isoformat()
    events = [
        {
            "idempotency_key": f"v{i}",
            "variant_id": vid,
            "kind": "accept" if i % 3 else "reject",
            "event_time": at,
        }
        for i, vid in enumerate(ids)
    ]
    assert api.post("/v1/feedback/batch", json={"events": events}).json()["accepted"] == len(ids)
    return ids


def test_an_analyst_trains_a_reward_model_and_generation_ranks_with_it(
    server: LiveServer, api: httpx.Client
) -> None:
    tenant = server.tenant()
    with server.client(tenant) as admin:
        brand = create_brand(admin)
        before = create_generation(admin, brand)
        assert before["stats"]["reward_model"] is None
        assert "no reward model yet" in before["stats"]["reward_note"]
        ids = _judged_workspace(admin, brand)
    with server.client(tenant, role="marketer") as marketer:
        refused = marketer.post("/v1/reward-models", json={})
        assert refused.status_code == 403
    with server.client(tenant, role="analyst") as analyst:
        created = analyst.post("/v1/reward-models", json={"seed": 3})
        assert created.status_code == 201, created.text
        model: dict[str, Any] = created.json()
        assert model["version"] == 1 and model["label"] == f"{model['id']} v1"
        assert model["metrics"]["labelled"] == len(ids) and model["metrics"]["held_out"] > 0
        assert model["manifest"]["from_feedback"] == len(ids) and model["manifest"]["embedder"] == "hashing"
        assert set(model["named_weights"]) >= {"subject_question", "body_words", "names_product"}
        listed = analyst.get("/v1/reward-models").json()
        assert [m["id"] for m in listed] == [model["id"]]
        assert analyst.get(f"/v1/reward-models/{model['id']}").json() == model
    with server.client(tenant, role="marketer") as marketer:
        after = create_generation(marketer, brand)
        assert after["stats"]["reward_model"] == model["label"] and after["stats"]["reward_note"] is None
        variants = [v for vs in after["variants"].values() for v in vs]
        assert all(v["lineage"]["reward_model"] == model["label"] for v in variants)
        assert all(any(r.startswith("reward ") for r in v["reasons"]) for v in variants)


def test_reward_models_stay_in_their_workspace(server: LiveServer, api: httpx.Client) -> None:
    _judged_workspace(api, create_brand(api))
    model = api.post("/v1/reward-models", json={}).json()
    other = server.tenant()
    with server.client(other) as stranger:
        assert stranger.get("/v1/reward-models").json() == []
        missing = stranger.get(f"/v1/reward-models/{model['id']}")
        assert missing.status_code == 404 and missing.json()["error"]["field"] == "reward_model_id"
        # the stranger's generations do not rank with another workspace's model
        generation = create_generation(stranger, create_brand(stranger))
        assert generation["stats"]["reward_model"] is None


def test_too_little_feedback_is_a_clear_error(api: httpx.Client) -> None:
    ids = variant_ids(create_generation(api, create_brand(api)))
    at = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).isoformat()
    events = [{"idempotency_key": vid, "variant_id": vid, "kind": "accept", "event_time": at} for vid in ids]
    api.post("/v1/feedback/batch", json={"events": events})
    response = api.post("/v1/reward-models", json={})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["field"] == "feedback" and f"{len(ids)} labelled drafts" in error["message"]
    assert api.get("/v1/reward-models").json() == []


@pytest.mark.parametrize("as_of", ["2999-01-01T00:00:00Z", "yesterday"])
def test_a_bad_training_time_names_the_field(api: httpx.Client, as_of: str) -> None:
    response = api.post("/v1/reward-models", json={"as_of": as_of})
    assert response.status_code == 422 and response.json()["error"]["field"].endswith("as_of")
