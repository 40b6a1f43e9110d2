"""An experiment's results from the store: per-arm statistics, the winner decision and bandit weights.

`feedback.experiment_store` reads the per-arm aggregates; `feedback.experiments` decides on them. This
module puts the two together for one stored experiment, and stores a bandit's new weights.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from feedback.errors import StateError
from feedback.experiment_store import arm_stats, load_experiment
from feedback.experiments import Decision, DecisionRule, decide, thompson_weights
from feedback.models import Assignment, Experiment, ExperimentArm, utcnow
from feedback.stats import ArmStats

__all__ = [
    "THOMPSON_DRAWS",
    "ArmWeights",
    "ExperimentResults",
    "bandit_weights",
    "effective_weights",
    "experiment_results",
]

THOMPSON_DRAWS = 10_000


@dataclass(frozen=True)
class ExperimentResults:
    """Each arm's statistics on the primary metric and on every guardrail, and the decision."""

    experiment: Experiment
    arms: list[ExperimentArm]
    stats: list[ArmStats]
    guardrails: dict[str, list[ArmStats]]
    decision: Decision

    @property
    def winner_arm(self) -> ExperimentArm | None:
        """The arm of the winning variant, if the decision names one."""
        return next((a for a in self.arms if a.variant_id == self.decision.winner), None)


@dataclass(frozen=True)
class ArmWeights:
    """Each arm (with its stored weight) and its Thompson-sampling weight, in arm order."""

    experiment: Experiment
    arms: list[ExperimentArm]
    thompson: list[float]


def experiment_results(
    session: Session, workspace_id: str, experiment_id: str, rule: DecisionRule
) -> ExperimentResults:
    """The statistics of one of the workspace's experiments and the decision `rule` reaches on them."""
    experiment, arms = load_experiment(session, workspace_id, experiment_id)
    stats = arm_stats(session, workspace_id, experiment.id, arms, experiment.primary_metric)
    guardrails = {
        name: arm_stats(session, workspace_id, experiment.id, arms, name)
        for name in experiment.guardrail_metrics
    }
    decision = decide(stats, effective_weights(session, experiment, arms), rule)
    return ExperimentResults(experiment, arms, stats, guardrails, decision)


def effective_weights(session: Session, experiment: Experiment, arms: Sequence[ExperimentArm]) -> list[float]:
    """The share of assignments each arm should have had: every allocation in the experiment's
    history, weighted by the assignments made while it was in force.

    A bandit's weights change as outcomes come in; the arm sizes are checked against what the
    weights were when each contact was assigned, not against today's. Without a history (an
    experiment stored before it was kept), or before any assignment, the current weights.
    """
    current = [arm.weight for arm in arms]
    periods = [
        (dt.datetime.fromisoformat(entry["from"]), [float(w) for w in entry["weights"]])
        for entry in experiment.weight_history or []
        if isinstance(entry, dict) and len(entry.get("weights") or []) == len(arms)
    ]
    if not periods:
        return current
    shares = [0.0] * len(arms)
    total = 0
    for index, (start, weights) in enumerate(periods):
        query = select(func.count()).where(
            Assignment.workspace_id == experiment.workspace_id, Assignment.experiment_id == experiment.id
        )
        if index:  # the first allocation counts from the start, whenever the clock says it began
            query = query.where(Assignment.assigned_at >= start)
        if index + 1 < len(periods):
            query = query.where(Assignment.assigned_at < periods[index + 1][0])
        count = int(session.scalar(query) or 0)
        weight_sum = math.fsum(weights)
        for arm, weight in enumerate(weights):
            shares[arm] += count * weight / weight_sum
        total += count
    return [share / total for share in shares] if total else current


def bandit_weights(
    session: Session, workspace_id: str, experiment_id: str, *, floor: float, store: bool
) -> ArmWeights:
    """The arms' Thompson-sampling weights from the outcomes so far; with `store`, a bandit keeps them."""
    experiment, arms = load_experiment(session, workspace_id, experiment_id)
    if store and experiment.mode != "bandit":
        raise StateError("only a bandit experiment updates its weights", field="mode")
    stats = arm_stats(session, workspace_id, experiment.id, arms, experiment.primary_metric)
    thompson = thompson_weights(stats, floor=floor, draws=THOMPSON_DRAWS)
    if store:
        for arm, weight in zip(arms, thompson, strict=True):
            arm.weight = weight
        # a new list, so that the JSON column is written
        experiment.weight_history = [
            *(experiment.weight_history or []),
            {"from": utcnow().isoformat(), "weights": list(thompson)},
        ]
        session.flush()
    return ArmWeights(experiment, arms, thompson)
