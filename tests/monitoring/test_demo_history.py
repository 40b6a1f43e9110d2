"""The demo history: written through the store, reproducible, and carrying the planted changes."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from sqlalchemy import func, select

from feedback.db import make_engine, upgrade
from feedback.errors import ConflictError
from feedback.experiments import decide, srm_check
from feedback.models import Assignment, ExperimentArm, FeedbackEvent, OutcomeEvent, VariantRow
from feedback.stats import ArmStats
from monitoring.demo_history import simulate
from tests.support.monitoring import SMALL, SimulatedStore


def _counts(url: str) -> dict[str, int]:
    engine = make_engine(url)
    with engine.connect() as conn:
        counts = {
            "variants": conn.scalar(select(func.count()).select_from(VariantRow)),
            "feedback": conn.scalar(select(func.count()).select_from(FeedbackEvent)),
            "outcomes": conn.scalar(select(func.count()).select_from(OutcomeEvent)),
            "prompts": conn.scalar(select(func.count(func.distinct(VariantRow.prompt_version)))),
        }
    engine.dispose()
    return {k: int(v or 0) for k, v in counts.items()}


def test_history_matches_what_the_simulator_reports(simulated_store: SimulatedStore, store_url: str) -> None:
    counts = _counts(store_url)
    result = simulated_store.result
    assert counts["variants"] == result.variants > 0
    assert counts["feedback"] == result.feedback_events > 0
    assert counts["outcomes"] == result.outcome_events > 0
    assert counts["prompts"] == 2
    assert result.markers["drift"] == SMALL.day(SMALL.drift_day)


def test_the_same_seed_writes_the_same_history(simulated_store: SimulatedStore, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'again.db'}"
    engine = make_engine(url)
    upgrade(engine)
    again = simulate(engine, SMALL)
    engine.dispose()
    first = simulated_store.result
    assert (again.requests, again.variants, again.feedback_events, again.outcome_events) == (
        first.requests,
        first.variants,
        first.feedback_events,
        first.outcome_events,
    )


def test_another_seed_writes_another_history(tmp_path: Path, simulated_store: SimulatedStore) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'other.db'}")
    upgrade(engine)
    other = simulate(engine, dataclasses.replace(SMALL, seed=8))
    engine.dispose()
    assert other.outcome_events != simulated_store.result.outcome_events


def test_the_workspace_cannot_be_written_twice(store_url: str) -> None:
    with pytest.raises(ConflictError):
        simulate(store_url, SMALL)


def test_the_experiment_has_balanced_arms_and_the_story_arm_clicks_more(store_url: str) -> None:
    engine = make_engine(store_url)
    with engine.connect() as conn:
        arms = conn.execute(
            select(ExperimentArm.id, ExperimentArm.variant_id, ExperimentArm.position).order_by(
                ExperimentArm.position
            )
        ).fetchall()
        stats = []
        for arm in arms:
            sent = conn.scalar(select(func.count()).where(Assignment.arm_id == arm.id))
            clicks = conn.scalar(
                select(func.count(func.distinct(OutcomeEvent.contact_id))).where(
                    OutcomeEvent.variant_id == arm.variant_id, OutcomeEvent.kind == "click"
                )
            )
            stats.append(ArmStats.from_counts(f"arm {arm.position}", int(sent or 0), int(clicks or 0)))
    engine.dispose()
    assert len(stats) == 2
    assert not srm_check([s.n for s in stats], [0.5, 0.5]).alarm
    assert stats[1].mean > stats[0].mean
    decision = decide(stats, [0.5, 0.5])
    assert decision.srm.alarm is False
