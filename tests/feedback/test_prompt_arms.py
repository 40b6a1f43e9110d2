"""The prompt bandit: Thompson choices with their propensities, and offline estimates that match
a simulation with known acceptance rates."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import numpy as np
import pytest
from sqlalchemy.orm import Session, sessionmaker

from feedback.catalog import create_brand, save_campaign
from feedback.errors import InvalidInputError
from feedback.ingest import ingest_feedback
from feedback.models import VariantRow, utcnow
from feedback.prompt_arms import ARM_FLOOR, choose_arm, ips_estimates, prompt_arm_reports, thompson_choice
from feedback.tenancy import create_workspace
from tests.support.feedback import make_campaign

TRUE_RATES = {"2": 0.30, "3": 0.55, "4": 0.40}


def _simulate(seed: int, rounds: int) -> tuple[dict[str, tuple[int, int]], list[tuple[str, float, float]]]:
    """A bandit run against marketers whose acceptance rate per arm is `TRUE_RATES`."""
    rng = np.random.default_rng(seed)
    judged = {arm: (0, 0) for arm in TRUE_RATES}
    logged = []
    for _ in range(rounds):
        choice = thompson_choice(judged, list(TRUE_RATES), rng)
        assert choice.weights[choice.arm] == pytest.approx(choice.propensity, abs=1e-6)
        assert sum(choice.weights.values()) == pytest.approx(1.0, abs=1e-4)
        assert min(choice.weights.values()) >= ARM_FLOOR - 1e-6
        accepted = int(rng.random() < TRUE_RATES[choice.arm])
        n, k = judged[choice.arm]
        judged[choice.arm] = (n + 1, k + accepted)
        logged.append((choice.arm, choice.propensity, float(accepted)))
    return judged, logged


def test_the_bandit_finds_the_best_arm_and_its_offline_estimates_match_the_true_rates() -> None:
    runs = [_simulate(seed, 300) for seed in range(40)]
    pulls = {arm: float(np.mean([judged[arm][0] for judged, _ in runs])) for arm in TRUE_RATES}
    assert pulls["3"] > 0.6 * 300  # most traffic goes to the best arm
    assert min(pulls.values()) >= 0.05 * 300  # the floor keeps the others alive
    for arm, rate in TRUE_RATES.items():
        estimates = [ips_estimates(logged, [arm])[arm] for _, logged in runs]
        ips = np.mean([e[0] for e in estimates if e[0] is not None])
        snips = np.mean([e[1] for e in estimates if e[1] is not None])
        # over many runs the inverse-propensity estimates centre on the true rate
        assert ips == pytest.approx(rate, abs=0.04), arm
        assert snips == pytest.approx(rate, abs=0.04), arm
    assert ips_estimates(runs[0][1], ["9"]) == {"9": (None, None)}


def test_a_choice_needs_distinct_live_arms() -> None:
    with pytest.raises(InvalidInputError) as caught:
        thompson_choice({}, [])
    assert caught.value.field == "prompt_arms"
    with pytest.raises(InvalidInputError, match="repeat"):
        thompson_choice({}, ["2", "2"])
    only = thompson_choice({}, ["2"], 0)
    assert only.arm == "2" and only.propensity == 1.0


def _generation(session: Session, workspace: str, brand: str, version: str, propensity: float) -> list[str]:
    campaign = make_campaign({"all": 2})
    for v in campaign.variants["all"]:
        v.lineage = replace(v.lineage, prompt_version=version)
    stats = replace(campaign.stats, prompt_arm={"arm": version, "propensity": propensity, "weights": {}})
    campaign = replace(campaign, stats=stats)
    request = save_campaign(session, workspace, {"goal": "Sale"}, campaign, brand)
    return [
        v.id
        for v in session.query(VariantRow)
        .filter_by(generation_request_id=request.id)
        .order_by(VariantRow.rank)
    ]


def test_choices_and_reports_read_the_stored_verdicts(factory: sessionmaker[Session]) -> None:
    with factory() as session, session.begin():
        ws = create_workspace(session, "acme").id
        brand = create_brand(session, ws, "Acme", {}).id
        good = _generation(session, ws, brand, "3", 0.5) + _generation(session, ws, brand, "3", 0.25)
        poor = _generation(session, ws, brand, "2", 0.5)
    at = utcnow() - dt.timedelta(hours=1)
    events = [
        {"variant_id": vid, "kind": "accept", "idempotency_key": f"g{i}", "event_time": at}
        for i, vid in enumerate(good)
    ] + [
        {"variant_id": vid, "kind": "reject", "idempotency_key": f"p{i}", "event_time": at}
        for i, vid in enumerate(poor)
    ]
    assert not ingest_feedback(factory, ws, events).rejected
    with factory() as session:
        weights = choose_arm(session, ws, ["2", "3"], 0).weights
        assert weights["3"] > weights["2"]
        reports = {r.arm: r for r in prompt_arm_reports(session, ws, ["2", "3", "1"])}
    assert set(reports) == {"1", "2", "3"}
    three, two, one = reports["3"], reports["2"], reports["1"]
    assert (three.generations, three.judged, three.accepted) == (2, 4, 4)
    assert (two.generations, two.judged, two.accepted) == (1, 2, 0)
    assert one.generations == 0 and one.ips is None and one.weight is not None
    assert three.posterior_mean == round(5 / 6, 4) and two.posterior_mean == 0.25
    # IPS over 3 logged generations: arm 3 had rewards 1 at propensities 0.5 and 0.25
    assert three.ips == pytest.approx((1 / 0.5 + 1 / 0.25) / 3, abs=1e-4)
    assert three.snips == pytest.approx(1.0) and two.snips == pytest.approx(0.0)
    with factory() as session:
        assert not any(r.live for r in prompt_arm_reports(session, ws, []))


def test_each_variant_counts_once_by_its_latest_verdict_and_only_in_its_workspace(
    factory: sessionmaker[Session],
) -> None:
    with factory() as session, session.begin():
        ws = create_workspace(session, "acme").id
        other = create_workspace(session, "other").id
        brand = create_brand(session, ws, "Acme", {}).id
        other_brand = create_brand(session, other, "Other", {}).id
        first, second = _generation(session, ws, brand, "3", 0.5)
        foreign = _generation(session, other, other_brand, "3", 0.5)
    at = utcnow() - dt.timedelta(hours=2)
    later = at + dt.timedelta(hours=1)
    events = [
        {"variant_id": first, "kind": "accept", "idempotency_key": "a", "event_time": at},
        {"variant_id": first, "kind": "reject", "idempotency_key": "b", "event_time": later},
        {"variant_id": second, "kind": "reject", "idempotency_key": "c", "event_time": at},
        {
            "variant_id": second,
            "kind": "edit",
            "edited_text": "Better",
            "idempotency_key": "d",
            "event_time": later,
        },
        {
            "variant_id": second,
            "kind": "comment",
            "comment": "nice",
            "idempotency_key": "e",
            "event_time": later,
        },
    ]
    assert not ingest_feedback(factory, ws, events).rejected
    accepts = [{"variant_id": v, "kind": "accept", "idempotency_key": v, "event_time": at} for v in foreign]
    assert not ingest_feedback(factory, other, accepts).rejected
    with factory() as session:
        reports = {r.arm: r for r in prompt_arm_reports(session, ws, ["3"])}
        assert (reports["3"].judged, reports["3"].accepted) == (2, 1)
        foreign_reports = {r.arm: r for r in prompt_arm_reports(session, other, ["3"])}
        assert (foreign_reports["3"].judged, foreign_reports["3"].accepted) == (2, 2)


def test_the_adapter_bandit_counts_by_the_adapter_that_wrote_each_variant(
    factory: sessionmaker[Session],
) -> None:
    with factory() as session, session.begin():
        ws = create_workspace(session, "acme").id
        brand = create_brand(session, ws, "Acme", {}).id
        tuned = _generation(session, ws, brand, "2", 0.5)
        base = _generation(session, ws, brand, "2", 0.5)
        for vid in tuned:
            session.get(VariantRow, vid).adapter = "email-v1"  # type: ignore[union-attr]
    at = utcnow() - dt.timedelta(hours=1)
    events = [
        {
            "variant_id": vid,
            "kind": "accept" if vid in tuned else "reject",
            "idempotency_key": vid,
            "event_time": at,
        }
        for vid in tuned + base
    ]
    assert not ingest_feedback(factory, ws, events).rejected
    with factory() as session:
        reports = {r.arm: r for r in prompt_arm_reports(session, ws, ["email-v1", "none"], kind="adapter")}
        choice = choose_arm(session, ws, ["email-v1", "none"], 0, kind="adapter")
    assert (reports["email-v1"].judged, reports["email-v1"].accepted) == (2, 2)
    assert (reports["none"].judged, reports["none"].accepted) == (2, 0)
    assert choice.weights["email-v1"] > choice.weights["none"]
    with pytest.raises(InvalidInputError) as caught, factory() as session:
        choose_arm(session, ws, ["x"], 0, kind="model")
    assert caught.value.field == "kind"
