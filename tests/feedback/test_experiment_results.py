"""An experiment's results from the store: per-arm statistics, the decision and bandit weights."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session, sessionmaker

from feedback.errors import NotFoundError, StateError
from feedback.experiment_results import bandit_weights, experiment_results
from feedback.experiment_store import assign_contact, create_experiment, list_experiments, load_experiment
from feedback.experiments import DecisionRule, srm_check
from feedback.ingest import ingest_feedback, ingest_outcomes
from feedback.tenancy import create_workspace
from tests.support.payloads import feedback_event, outcome_event

Workspace = tuple[str, list[str]]


def running(factory: sessionmaker[Session], ws: str, variants: list[str], mode: str) -> str:
    """A started experiment over the first two (accepted) variants, with ten contacts assigned."""
    accepts = [feedback_event(f"a{i}", v) for i, v in enumerate(variants[:2])]
    assert not ingest_feedback(factory, ws, accepts).rejected
    with factory() as session, session.begin():
        experiment = create_experiment(
            session,
            ws,
            name=f"subject-{mode}",
            variant_ids=variants[:2],
            weights=None,
            segment_id=None,
            primary_metric="click",
            guardrail_metrics=["unsubscribe"],
            mode=mode,
            start=True,
        )
        for i in range(10):
            assign_contact(session, experiment, f"c{i}")
        return experiment.id


def test_results_hold_each_arm_on_the_metric_and_guardrails_and_the_decision(
    factory: sessionmaker[Session], workspace: Workspace
) -> None:
    ws, variants = workspace
    experiment_id = running(factory, ws, variants, "fixed")
    with factory() as session:
        _, arms = load_experiment(session, ws, experiment_id)
    clicks = [outcome_event(f"o{i}", arms[0].variant_id, f"c{i}", kind="click") for i in range(10)]
    ingest_outcomes(factory, ws, clicks)
    rule = DecisionRule(min_sample_per_arm=1000)
    with factory() as session:
        results = experiment_results(session, ws, experiment_id, rule)
        assert [a.id for a in results.arms] == [a.id for a in arms]
        assert sum(s.n for s in results.stats) == 10
        assert list(results.guardrails) == ["unsubscribe"]
        assert all(s.total == 0 for s in results.guardrails["unsubscribe"])
        assert results.decision.status == "keep_running" and results.winner_arm is None
        with pytest.raises(NotFoundError):
            experiment_results(session, create_workspace(session, "other").id, experiment_id, rule)


def test_only_a_bandit_stores_its_thompson_weights(
    factory: sessionmaker[Session], workspace: Workspace
) -> None:
    ws, variants = workspace
    fixed = running(factory, ws, variants, "fixed")
    bandit = running(factory, ws, variants, "bandit")
    with factory() as session, session.begin():
        with pytest.raises(StateError) as info:
            bandit_weights(session, ws, fixed, floor=0.1, store=True)
        assert info.value.field == "mode"
        peek = bandit_weights(session, ws, fixed, floor=0.1, store=False)
        assert [a.weight for a in peek.arms] == [1.0, 1.0]  # as created: a peek stores nothing
        stored = bandit_weights(session, ws, bandit, floor=0.1, store=True)
        assert sum(stored.thompson) == pytest.approx(1.0) and min(stored.thompson) >= 0.1
    with factory() as session:
        _, arms = load_experiment(session, ws, bandit)
        assert [a.weight for a in arms] == pytest.approx(stored.thompson)
        assert [e.id for e, _ in list_experiments(session, ws)] == [bandit, fixed]
        assert [e.id for e, _ in list_experiments(session, ws, limit=1, offset=1)] == [fixed]


def test_the_sample_ratio_check_follows_the_weights_in_force_when_each_contact_was_assigned(
    factory: sessionmaker[Session], workspace: Workspace
) -> None:
    ws, variants = workspace
    bandit = running(factory, ws, variants, "bandit")  # ten contacts at 50/50
    # every contact so far clicked arm 0's e-mail and none arm 1's: the bandit moves traffic to arm 0
    with factory() as session:
        experiment, arms = load_experiment(session, ws, bandit)
        first: dict[str, list[str]] = {a.id: [] for a in arms}
        for i in range(400):  # the first ten again (already assigned), then 390 more, all at 50/50
            first[assign_contact(session, experiment, f"c{i}").arm.id].append(f"c{i}")
        session.commit()
    clicks = [outcome_event(f"k{c}", arms[0].variant_id, c, kind="click") for c in first[arms[0].id]]
    clicks += [outcome_event(f"s{c}", arms[1].variant_id, c, kind="send") for c in first[arms[1].id]]
    ingest_outcomes(factory, ws, clicks)
    with factory() as session, session.begin():
        stored = bandit_weights(session, ws, bandit, floor=0.05, store=True)
        experiment, _ = load_experiment(session, ws, bandit)
        for i in range(600):
            assign_contact(session, experiment, f"r{i}")
    assert stored.thompson[0] > 0.8
    with factory() as session:
        experiment, arms = load_experiment(session, ws, bandit)
        assert len(experiment.weight_history) == 2  # as created, then the update
        results = experiment_results(session, ws, bandit, DecisionRule())
    srm = results.decision.srm
    assert sum(srm.observed) == 1000
    # checked against today's weights alone, the 400 contacts assigned at 50/50 read as a mismatch
    assert srm_check(srm.observed, stored.thompson).alarm
    assert not srm.alarm, srm
    expected_arm0 = srm.expected[0] / sum(srm.expected)
    assert expected_arm0 == pytest.approx(0.4 * 0.5 + 0.6 * stored.thompson[0], abs=1e-6)
