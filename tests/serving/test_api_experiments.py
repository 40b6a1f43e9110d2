"""Experiments through a real server: accepted variants only, sticky assignment, results and bandits."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest

from tests.support.live_server import create_brand, create_generation, variant_ids

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


def decide(api: httpx.Client, variant_id: str, kind: str) -> None:
    """Record an accept or reject of a variant."""
    event = {"idempotency_key": f"{kind}-{variant_id}", "variant_id": variant_id, "kind": kind}
    assert api.post("/v1/feedback", json={**event, "event_time": NOW.isoformat()}).status_code == 201


@pytest.fixture
def accepted(api: httpx.Client) -> list[str]:
    """Two accepted variants and one rejected one (last) of a fresh generation."""
    ids = variant_ids(create_generation(api, create_brand(api)))[:3]
    decide(api, ids[0], "accept")
    decide(api, ids[1], "accept")
    decide(api, ids[2], "reject")
    return ids


def create(api: httpx.Client, variant_ids: list[str], **fields: Any) -> httpx.Response:
    """POST an experiment."""
    return api.post(
        "/v1/experiments", json={"name": fields.pop("name", "test"), "variant_ids": variant_ids, **fields}
    )


def test_an_experiment_is_made_of_accepted_variants_with_the_first_as_control(
    api: httpx.Client, accepted: list[str]
) -> None:
    segment = api.post("/v1/segments", json={"name": "loyal"}).json()["id"]
    response = create(api, accepted[:2], segment_id=segment, guardrail_metrics=["unsubscribe"])
    assert response.status_code == 201, response.text
    experiment = response.json()
    assert experiment["status"] == "running" and experiment["segment_id"] == segment
    assert [(a["variant_id"], a["is_control"], a["weight"]) for a in experiment["arms"]] == [
        (accepted[0], True, 1.0),
        (accepted[1], False, 1.0),
    ]
    assert api.get(f"/v1/experiments/{experiment['id']}").json() == experiment
    assert create(api, accepted[:2]).status_code == 409  # the name is taken


def test_a_variant_that_was_not_accepted_cannot_be_tested(api: httpx.Client, accepted: list[str]) -> None:
    response = create(api, [accepted[0], accepted[2]])
    assert response.status_code == 409
    assert (
        response.json()["error"]["field"] == "variant_ids.1"
        and "not been accepted" in response.json()["error"]["message"]
    )
    assert create(api, [accepted[0], accepted[1]], weights=[1.0]).json()["error"]["field"] == "weights"
    assert create(api, [accepted[0]]).json()["error"]["field"] == "variant_ids"


def test_a_contact_keeps_its_arm_and_contacts_spread_over_the_arms(
    api: httpx.Client, accepted: list[str]
) -> None:
    experiment = create(api, accepted[:2]).json()["id"]
    first = api.post(f"/v1/experiments/{experiment}/assignments", json={"contact": "Ann@Example.com"}).json()
    again = api.post(f"/v1/experiments/{experiment}/assignments", json={"contact": "ann@example.com "}).json()
    assert first["new"] is True and again["new"] is False
    assert (again["arm_id"], again["variant_id"]) == (first["arm_id"], first["variant_id"])
    arms = {
        api.post(f"/v1/experiments/{experiment}/assignments", json={"contact": f"c{i}@example.com"}).json()[
            "variant_id"
        ]
        for i in range(40)
    }
    assert arms == set(accepted[:2])


def test_start_and_stop_move_the_status_and_a_stopped_experiment_assigns_no_one(
    api: httpx.Client, accepted: list[str]
) -> None:
    draft = create(api, accepted[:2], start=False).json()
    assert draft["status"] == "draft"
    refused = api.post(f"/v1/experiments/{draft['id']}/assignments", json={"contact": "a@example.com"})
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "invalid_state"
    assert api.post(f"/v1/experiments/{draft['id']}/start").json()["status"] == "running"
    stopped = api.post(f"/v1/experiments/{draft['id']}/stop").json()
    assert stopped["status"] == "stopped" and stopped["stopped_at"] is not None
    assert api.post(f"/v1/experiments/{draft['id']}/start").status_code == 409


def _run_traffic(api: httpx.Client, experiment: str, contacts: int, click_rate: dict[str, float]) -> None:
    """Assign contacts, send each its arm's variant, and click at the arm's rate (deterministically)."""
    events = []
    clicked: dict[str, int] = {}
    for i in range(contacts):
        contact = f"user{i}@example.com"
        arm = api.post(f"/v1/experiments/{experiment}/assignments", json={"contact": contact}).json()
        variant = arm["variant_id"]
        events.append(_outcome(variant, contact, "send"))
        seen = clicked.get(variant, 0)
        clicked[variant] = seen + 1
        if (seen * click_rate[variant]) % 1 + click_rate[variant] >= 1:
            events.append(_outcome(variant, contact, "click"))
    assert api.post("/v1/outcomes", json={"events": events}).json()["rejected"] == []


def _outcome(variant: str, contact: str, kind: str) -> dict[str, Any]:
    return {
        "idempotency_key": f"{kind}-{variant}-{contact}",
        "variant_id": variant,
        "contact": contact,
        "kind": kind,
        "event_time": NOW.isoformat(),
    }


def test_results_name_the_better_arm_as_winner_with_reasons(api: httpx.Client, accepted: list[str]) -> None:
    control, treatment = accepted[:2]
    experiment = create(api, [control, treatment]).json()["id"]
    # 600 contacts: with a random salt, 240 left some splits short of the risk threshold
    _run_traffic(api, experiment, 600, {control: 0.1, treatment: 0.5})
    early = api.get(f"/v1/experiments/{experiment}/results").json()
    assert early["decision"]["status"] == "keep_running"
    assert any("below the minimum of 1000" in reason for reason in early["decision"]["reasons"])
    response = api.get(f"/v1/experiments/{experiment}/results", params={"min_sample_per_arm": 50})
    assert response.status_code == 200
    results = response.json()
    arms = {a["variant_id"]: a for a in results["arms"]}
    assert arms[control]["n"] + arms[treatment]["n"] == 600
    assert arms[treatment]["mean"] > 0.4 > 0.2 > arms[control]["mean"]
    assert results["decision"]["status"] == "winner", results["decision"]
    assert results["decision"]["winner_variant_id"] == treatment
    assert results["srm"]["alarm"] is False
    comparison = results["comparisons"][0]
    assert comparison["treatment"] == treatment and comparison["chance_to_win"] > 0.95
    frequentist = api.get(
        f"/v1/experiments/{experiment}/results", params={"engine": "frequentist", "min_sample_per_arm": 50}
    ).json()
    assert frequentist["comparisons"][0]["p_value"] < 0.05
    assert frequentist["decision"]["winner_variant_id"] == treatment


def test_a_bandit_moves_traffic_towards_the_better_arm(api: httpx.Client, accepted: list[str]) -> None:
    control, treatment = accepted[:2]
    experiment = create(api, [control, treatment], mode="bandit").json()["id"]
    _run_traffic(api, experiment, 120, {control: 0.1, treatment: 0.5})
    weights = api.get(f"/v1/experiments/{experiment}/weights").json()
    by_variant = {a["variant_id"]: a for a in weights["arms"]}
    assert by_variant[treatment]["thompson"] > 0.9 and by_variant[control]["thompson"] >= 0.05
    assert by_variant[treatment]["weight"] == 1.0  # reading does not store
    stored = api.post(f"/v1/experiments/{experiment}/weights", params={"floor": 0.1}).json()
    assert {a["variant_id"]: a["weight"] for a in stored["arms"]}[control] == pytest.approx(0.1, abs=0.01)
    arms = api.get(f"/v1/experiments/{experiment}").json()["arms"]
    assert sum(a["weight"] for a in arms) == pytest.approx(1.0)


def test_fixed_experiments_do_not_store_bandit_weights(api: httpx.Client, accepted: list[str]) -> None:
    experiment = create(api, accepted[:2]).json()["id"]
    response = api.post(f"/v1/experiments/{experiment}/weights")
    assert response.status_code == 409 and response.json()["error"]["field"] == "mode"
