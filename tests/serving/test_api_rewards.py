"""Reward models through a real server: training from feedback, roles, workspaces, and the ranking."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.live_server import (
    BRIEF,
    LiveServer,
    api_settings,
    create_brand,
    create_generation,
    variant_ids,
)
from tests.support.reward_api import judged_workspace


def test_an_analyst_trains_a_reward_model_and_generation_ranks_with_it(
    server: LiveServer, api: httpx.Client
) -> None:
    tenant = server.tenant()
    with server.client(tenant) as admin:
        brand = create_brand(admin)
        before = create_generation(admin, brand)
        assert before["stats"]["reward_model"] is None
        assert "no reward model yet" in before["stats"]["reward_note"]
        ids = judged_workspace(admin, brand)
    with server.client(tenant, role="marketer") as marketer:
        refused = marketer.post("/v1/reward-models", json={})
        assert refused.status_code == 403
    with server.client(tenant, role="analyst") as analyst:
        created = analyst.post("/v1/reward-models", json={"seed": 3})
        assert created.status_code == 201, created.text
        model: dict[str, Any] = created.json()
        assert model["version"] == 1 and model["label"] == f"{model['id']} v1"
        # auto, with fewer labelled drafts than a cross-encoder needs
        assert model["kind"] == "logistic" and model["manifest"]["kind_asked"] == "auto"
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
    judged_workspace(api, create_brand(api))
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


def _judge(api: httpx.Client, chosen: list[tuple[str, list[str]]], good: str) -> None:
    """Accept every variant the arm `good` wrote and reject the others'."""
    at = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).isoformat()
    events = [
        {
            "idempotency_key": vid,
            "variant_id": vid,
            "kind": "accept" if arm == good else "reject",
            "event_time": at,
        }
        for arm, ids in chosen
        for vid in ids
    ]
    assert api.post("/v1/feedback/batch", json={"events": events}).json()["accepted"] == len(events)


@pytest.fixture
def bandit_server(tmp_path: Path) -> Iterator[LiveServer]:
    """A server with prompt versions 2 and 3 live at once."""
    server = LiveServer(
        api_settings(f"sqlite:///{tmp_path / 'api.db'}", tmp_path / "data", prompt_arms=["2", "3"])
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_with_several_prompt_versions_live_each_generation_logs_its_arm_and_propensity(
    bandit_server: LiveServer,
) -> None:
    tenant = bandit_server.tenant()
    with bandit_server.client(tenant) as api:
        brand = create_brand(api)
        chosen = []
        for _ in range(6):
            generation = create_generation(api, brand)
            arm = generation["stats"]["prompt_arm"]
            assert arm["arm"] in ("2", "3") and 0 < arm["propensity"] <= 1
            assert set(arm["weights"]) == {"2", "3"} and arm["weights"][arm["arm"]] == arm["propensity"]
            variants = [v for vs in generation["variants"].values() for v in vs]
            assert {v["lineage"]["prompt_version"] for v in variants} == {arm["arm"]}
            chosen.append((arm["arm"], variant_ids(generation)))
        # the marketer accepts every variant of prompt 3 and rejects every one of prompt 2
        _judge(api, chosen, good="3")
        arms = {a["arm"]: a for a in api.get("/v1/prompt-arms").json()}
    assert set(arms) == {"2", "3"} and all(a["live"] for a in arms.values())
    assert sum(a["generations"] for a in arms.values()) == 6
    for name, arm in arms.items():
        if arm["generations"]:
            assert arm["snips"] == (1.0 if name == "3" else 0.0)
    assert arms["3"]["posterior_mean"] >= arms["2"]["posterior_mean"]
    assert arms["3"]["weight"] + arms["2"]["weight"] == pytest.approx(1.0, abs=1e-4)
    with bandit_server.client(bandit_server.tenant()) as stranger:
        # another workspace's verdicts do not move this one's arms
        assert all(a["generations"] == 0 and a["judged"] == 0 for a in stranger.get("/v1/prompt-arms").json())


def test_an_unknown_prompt_version_is_refused_when_the_settings_load() -> None:
    from genai.errors import InvalidInputError
    from serving.settings import load_settings

    with pytest.raises(InvalidInputError) as caught:
        load_settings(prompt_arms="2,99")
    assert caught.value.field == "prompt_arms" and "99" in str(caught.value)


@pytest.fixture
def adapter_bandit_server(tmp_path: Path) -> Iterator[LiveServer]:
    """The fake backend (it switches adapters as the embedded one does) with two adapters live."""
    settings = api_settings(
        f"sqlite:///{tmp_path / 'api.db'}", tmp_path / "data", adapter_arms=["email-v1", "email-v2"]
    )
    server = LiveServer(settings, inject_backend=False)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_with_several_adapters_live_each_generation_logs_its_adapter_and_propensity(
    adapter_bandit_server: LiveServer,
) -> None:
    server = adapter_bandit_server
    tenant = server.tenant()
    with server.client(tenant) as api:
        brand = create_brand(api)
        chosen = []
        for _ in range(6):
            generation = create_generation(api, brand)
            arm = generation["stats"]["adapter_arm"]
            assert arm["arm"] in ("email-v1", "email-v2") and 0 < arm["propensity"] <= 1
            assert set(arm["weights"]) == {"email-v1", "email-v2"}
            variants = [v for vs in generation["variants"].values() for v in vs]
            assert {v["lineage"]["adapter"] for v in variants} == {arm["arm"]}
            chosen.append((arm["arm"], variant_ids(generation)))
        # a request that names its adapter is not the bandit's choice
        explicit = api.post(
            "/v1/generations", json={"brand_id": brand, "brief": BRIEF, "adapter": "none"}
        ).json()
        assert explicit["stats"]["adapter_arm"] is None
        assert {v["lineage"]["adapter"] for vs in explicit["variants"].values() for v in vs} == {None}
        _judge(api, chosen, good="email-v2")
        arms = {a["arm"]: a for a in api.get("/v1/adapter-arms").json()}
    assert {"email-v1", "email-v2"} <= set(arms) and arms["email-v1"]["live"] and arms["email-v2"]["live"]
    assert sum(a["generations"] for a in arms.values()) == 6
    for name in ("email-v1", "email-v2"):
        if arms[name]["generations"]:
            assert arms[name]["snips"] == (1.0 if name == "email-v2" else 0.0)
    assert arms["email-v1"]["weight"] + arms["email-v2"]["weight"] == pytest.approx(1.0, abs=1e-4)
    with server.client(server.tenant()) as stranger:
        assert all(
            a["generations"] == 0 and a["judged"] == 0 for a in stranger.get("/v1/adapter-arms").json()
        )


def test_an_adapter_arm_that_is_not_a_name_is_refused_when_the_settings_load() -> None:
    from genai.errors import InvalidInputError
    from serving.settings import load_settings

    with pytest.raises(InvalidInputError) as caught:
        load_settings(adapter_arms="email-v1,../x")
    assert caught.value.field == "adapter_arms" and "../x" in str(caught.value)
