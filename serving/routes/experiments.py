"""Experiments: A/B tests and bandits over accepted variants, assignment, results and bandit weights."""

from __future__ import annotations

import math
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from feedback import experiment_store
from feedback.experiment_results import ArmWeights, bandit_weights, experiment_results
from feedback.experiments import DecisionRule
from feedback.models import Experiment, ExperimentArm
from feedback.stats import ArmStats, BayesianResult, FrequentistResult
from feedback.tenancy import get_in_workspace
from serving.deps import Marketer, Reader, SessionDep
from serving.routes import COMMON_ERRORS, Limit, Offset, errors
from serving.schemas import (
    ArmOut,
    ArmResultOut,
    AssignmentIn,
    AssignmentOut,
    ComparisonOut,
    DecisionOut,
    ExperimentCreate,
    ExperimentOut,
    ExperimentResultsOut,
    SrmOut,
    WeightOut,
    WeightsOut,
)

__all__ = ["router"]

router = APIRouter(prefix="/v1/experiments", tags=["experiments"], responses=COMMON_ERRORS)


def _num(value: float) -> float | None:
    """A finite float, or None (JSON has no infinity or NaN)."""
    return float(value) if math.isfinite(value) else None


def _out(experiment: Experiment, arms: list[ExperimentArm]) -> ExperimentOut:
    return ExperimentOut(
        id=experiment.id,
        name=experiment.name,
        segment_id=experiment.segment_id,
        primary_metric=experiment.primary_metric,
        guardrail_metrics=list(experiment.guardrail_metrics),
        status=experiment.status,
        mode=experiment.mode,
        created_at=experiment.created_at,
        started_at=experiment.started_at,
        stopped_at=experiment.stopped_at,
        arms=[
            ArmOut(
                id=a.id,
                variant_id=a.variant_id,
                position=a.position,
                weight=a.weight,
                is_control=a.is_control,
            )
            for a in arms
        ],
    )


@router.post("", status_code=201, responses=errors(409))
def create(body: ExperimentCreate, key: Marketer, session: SessionDep) -> ExperimentOut:
    """Create an experiment from accepted variants (the first is the control), optionally for a segment."""
    with session.begin():
        experiment = experiment_store.create_experiment(
            session,
            key.workspace_id,
            name=body.name,
            variant_ids=body.variant_ids,
            weights=body.weights,
            segment_id=body.segment_id,
            primary_metric=body.primary_metric,
            guardrail_metrics=body.guardrail_metrics,
            mode=body.mode,
            start=body.start,
        )
        return _out(*experiment_store.load_experiment(session, key.workspace_id, experiment.id))


@router.get("")
def list_experiments(
    key: Reader, session: SessionDep, limit: Limit = 100, offset: Offset = 0
) -> list[ExperimentOut]:
    """The workspace's experiments, newest first."""
    with session.begin():
        experiments = experiment_store.list_experiments(session, key.workspace_id, limit=limit, offset=offset)
        return [_out(experiment, arms) for experiment, arms in experiments]


@router.get("/{experiment_id}")
def get_experiment(experiment_id: str, key: Reader, session: SessionDep) -> ExperimentOut:
    """One experiment with its arms."""
    with session.begin():
        return _out(*experiment_store.load_experiment(session, key.workspace_id, experiment_id))


@router.post("/{experiment_id}/start", responses=errors(409))
def start_experiment(experiment_id: str, key: Marketer, session: SessionDep) -> ExperimentOut:
    """Start a draft experiment: from now on it assigns contacts."""
    with session.begin():
        experiment, arms = experiment_store.load_experiment(session, key.workspace_id, experiment_id)
        return _out(experiment_store.set_status(session, experiment, "running"), arms)


@router.post("/{experiment_id}/stop", responses=errors(409))
def stop_experiment(experiment_id: str, key: Marketer, session: SessionDep) -> ExperimentOut:
    """Stop a running experiment: it assigns no one new; results stay readable."""
    with session.begin():
        experiment, arms = experiment_store.load_experiment(session, key.workspace_id, experiment_id)
        return _out(experiment_store.set_status(session, experiment, "stopped"), arms)


@router.post("/{experiment_id}/assignments", responses=errors(409))
def assign(experiment_id: str, body: AssignmentIn, key: Marketer, session: SessionDep) -> AssignmentOut:
    """The arm (variant) a contact gets: drawn once by a stable hash, then always the same."""
    with session.begin():
        experiment = get_in_workspace(session, Experiment, key.workspace_id, experiment_id)
        result = experiment_store.assign_contact(session, experiment, body.contact)
        return AssignmentOut(
            experiment_id=experiment.id,
            arm_id=result.arm.id,
            variant_id=result.arm.variant_id,
            position=result.arm.position,
            is_control=result.arm.is_control,
            assigned_at=result.assignment.assigned_at,
            new=result.new,
        )


def _arm_results(arms: list[ExperimentArm], stats: list[ArmStats]) -> list[ArmResultOut]:
    return [
        ArmResultOut(
            arm_id=arm.id,
            variant_id=arm.variant_id,
            is_control=arm.is_control,
            weight=arm.weight,
            n=s.n,
            total=s.total,
            mean=_num(s.mean),
        )
        for arm, s in zip(arms, stats, strict=True)
    ]


def _comparison(result: BayesianResult | FrequentistResult) -> ComparisonOut:
    out = ComparisonOut(
        treatment=result.treatment,
        control=result.control,
        relative=result.relative,
        lift=_num(result.lift),
        interval=[_num(result.interval[0]), _num(result.interval[1])],
    )
    if isinstance(result, BayesianResult):
        out.chance_to_win = _num(result.chance_to_win)
        out.risk_treatment = _num(result.risk_treatment)
        out.risk_control = _num(result.risk_control)
    else:
        out.p_value = _num(result.p_value)
        out.standard_error = _num(result.standard_error)
    return out


@router.get("/{experiment_id}/results")
def get_results(
    experiment_id: str,
    key: Reader,
    session: SessionDep,
    engine: Literal["bayesian", "frequentist"] = "bayesian",
    chance_to_win: Annotated[float, Query(gt=0.5, lt=1)] = 0.95,
    max_risk: Annotated[float, Query(gt=0, le=1e6)] = 0.0025,
    min_sample_per_arm: Annotated[int, Query(ge=2, le=100_000_000)] = 1000,
    alpha: Annotated[float, Query(gt=0, lt=1)] = 0.05,
) -> ExperimentResultsOut:
    """Per-arm statistics, each treatment against control, the sample-ratio check and the winner decision."""
    rule = DecisionRule(
        chance_to_win=chance_to_win,
        max_risk=max_risk,
        min_sample_per_arm=min_sample_per_arm,
        engine=engine,
        alpha=alpha,
    )
    with session.begin():
        results = experiment_results(session, key.workspace_id, experiment_id, rule)
    arms, decision = results.arms, results.decision
    winner_arm = results.winner_arm
    srm = decision.srm
    return ExperimentResultsOut(
        experiment_id=results.experiment.id,
        metric=results.experiment.primary_metric,
        engine=engine,
        arms=_arm_results(arms, results.stats),
        comparisons=[_comparison(result) for result in decision.results.values()],
        srm=SrmOut(
            observed=list(srm.observed),
            expected=[float(x) for x in srm.expected],
            statistic=_num(srm.statistic),
            p_value=srm.p_value,
            alarm=srm.alarm,
        ),
        decision=DecisionOut(
            status=decision.status,
            winner_variant_id=decision.winner,
            winner_arm_id=winner_arm.id if winner_arm else None,
            reasons=decision.reasons,
        ),
        guardrails={name: _arm_results(arms, stats) for name, stats in results.guardrails.items()},
    )


def _weights_out(weights: ArmWeights, floor: float) -> WeightsOut:
    experiment = weights.experiment
    return WeightsOut(
        experiment_id=experiment.id,
        mode=experiment.mode,
        metric=experiment.primary_metric,
        floor=floor,
        arms=[
            WeightOut(arm_id=a.id, variant_id=a.variant_id, weight=a.weight, thompson=t)
            for a, t in zip(weights.arms, weights.thompson, strict=True)
        ],
    )


Floor = Annotated[float, Query(ge=0, le=0.5, description="Least share of traffic each arm keeps.")]


@router.get("/{experiment_id}/weights")
def get_weights(experiment_id: str, key: Reader, session: SessionDep, floor: Floor = 0.05) -> WeightsOut:
    """Each arm's stored weight and its Thompson-sampling weight from the outcomes so far."""
    with session.begin():
        weights = bandit_weights(session, key.workspace_id, experiment_id, floor=floor, store=False)
        return _weights_out(weights, floor)


@router.post("/{experiment_id}/weights", responses=errors(409))
def update_weights(experiment_id: str, key: Marketer, session: SessionDep, floor: Floor = 0.05) -> WeightsOut:
    """Bandit mode: store the Thompson-sampling weights as the arms' allocation for new assignments."""
    with session.begin():
        weights = bandit_weights(session, key.workspace_id, experiment_id, floor=floor, store=True)
        return _weights_out(weights, floor)
