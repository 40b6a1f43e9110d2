"""Experiments in the store: creation from accepted variants, sticky assignment, and per-arm aggregates.

The statistics themselves (`feedback.stats`, `feedback.experiments`) work on aggregates; this
module reads them from the tables. An arm's recipients are the contacts assigned to it; a
contact converts on a rate metric when the store holds at least one outcome of that kind for
the contact and the arm's variant, and its revenue is the sum of its conversions' revenue.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, case, exists, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from feedback.assignment import assign_arm, validate_weights
from feedback.contacts import contacts_lock, ensure_contacts
from feedback.errors import ConflictError, InvalidInputError, StateError
from feedback.models import (
    Assignment,
    Contact,
    Experiment,
    ExperimentArm,
    FeedbackEvent,
    OutcomeEvent,
    SegmentRow,
    VariantRow,
    utcnow,
)
from feedback.stats import ArmStats
from feedback.tenancy import existing_ids, get_in_workspace, in_workspace

__all__ = [
    "METRIC_KINDS",
    "AssignmentResult",
    "arm_stats",
    "arms_of",
    "assign_contact",
    "create_experiment",
    "latest_decisions",
    "list_experiments",
    "load_experiment",
    "set_status",
]

# The outcome kind each metric counts; revenue is the revenue of conversions.
METRIC_KINDS = {
    "open": "open",
    "click": "click",
    "conversion": "conversion",
    "revenue": "conversion",
    "unsubscribe": "unsubscribe",
    "bounce": "bounce",
    "complaint": "complaint",
}


def latest_decisions(session: Session, workspace_id: str, variant_ids: Sequence[str]) -> dict[str, str]:
    """``{variant id: "accept" | "reject"}``: each variant's latest decision, for those with one."""
    stmt = (
        select(FeedbackEvent.variant_id, FeedbackEvent.kind)
        .where(
            FeedbackEvent.workspace_id == workspace_id,
            FeedbackEvent.variant_id.in_(list(variant_ids)),
            FeedbackEvent.kind.in_(("accept", "reject")),
        )
        .order_by(FeedbackEvent.event_time, FeedbackEvent.ingested_at, FeedbackEvent.id)
    )
    return {variant_id: kind for variant_id, kind in session.execute(stmt)}


def create_experiment(
    session: Session,
    workspace_id: str,
    *,
    name: str,
    variant_ids: Sequence[str],
    weights: Sequence[float] | None,
    segment_id: str | None,
    primary_metric: str,
    guardrail_metrics: Sequence[str],
    mode: str,
    start: bool,
) -> Experiment:
    """Create an experiment whose arms are accepted variants (the first is the control)."""
    if len(set(variant_ids)) != len(variant_ids):
        raise InvalidInputError("must not repeat a variant", field="variant_ids")
    checked = validate_weights(weights if weights is not None else [1.0] * len(variant_ids))
    if len(checked) != len(variant_ids):
        raise InvalidInputError(f"needs one weight per variant ({len(variant_ids)})", field="weights")
    if segment_id is not None:
        get_in_workspace(session, SegmentRow, workspace_id, segment_id)
    known = existing_ids(session, VariantRow, workspace_id, variant_ids)
    for variant_id in variant_ids:
        if variant_id not in known:
            get_in_workspace(session, VariantRow, workspace_id, variant_id)  # raises NotFoundError
    decisions = latest_decisions(session, workspace_id, variant_ids)
    for index, variant_id in enumerate(variant_ids):
        if decisions.get(variant_id) != "accept":
            raise StateError(
                f"variant {variant_id!r} has not been accepted; only accepted variants can be tested",
                field=f"variant_ids.{index}",
            )
    clean = name.strip()
    if not clean:
        raise InvalidInputError("must not be blank", field="name")
    if session.scalar(in_workspace(Experiment, workspace_id).where(Experiment.name == clean)) is not None:
        raise ConflictError(f"an experiment named {clean!r} exists", field="name")
    now = utcnow()
    experiment = Experiment(
        workspace_id=workspace_id,
        name=clean,
        weight_history=[{"from": now.isoformat(), "weights": list(checked)}],
        segment_id=segment_id,
        primary_metric=primary_metric,
        guardrail_metrics=list(guardrail_metrics),
        mode=mode,
        status="running" if start else "draft",
        started_at=now if start else None,
    )
    session.add(experiment)
    session.flush()
    session.add_all(
        ExperimentArm(
            workspace_id=workspace_id,
            experiment_id=experiment.id,
            variant_id=variant_id,
            position=position,
            weight=weight,
            is_control=position == 0,
        )
        for position, (variant_id, weight) in enumerate(zip(variant_ids, checked, strict=True))
    )
    session.flush()
    return experiment


def arms_of(session: Session, workspace_id: str, experiment_id: str) -> list[ExperimentArm]:
    """The experiment's arms by position (control first)."""
    stmt = (
        in_workspace(ExperimentArm, workspace_id)
        .where(ExperimentArm.experiment_id == experiment_id)
        .order_by(ExperimentArm.position)
    )
    return list(session.scalars(stmt))


def load_experiment(
    session: Session, workspace_id: str, experiment_id: str
) -> tuple[Experiment, list[ExperimentArm]]:
    """One experiment of the workspace with its arms by position, or NotFoundError."""
    experiment = get_in_workspace(session, Experiment, workspace_id, experiment_id)
    return experiment, arms_of(session, workspace_id, experiment_id)


def list_experiments(
    session: Session, workspace_id: str, *, limit: int | None = None, offset: int = 0
) -> list[tuple[Experiment, list[ExperimentArm]]]:
    """The workspace's experiments, newest first, each with its arms."""
    stmt = (
        in_workspace(Experiment, workspace_id)
        .order_by(Experiment.created_at.desc(), Experiment.id)
        .limit(limit)
        .offset(offset)
    )
    return [(e, arms_of(session, workspace_id, e.id)) for e in session.scalars(stmt)]


def set_status(session: Session, experiment: Experiment, status: str) -> Experiment:
    """Start a draft or stop a running experiment; other moves are refused."""
    allowed = {("draft", "running"), ("running", "stopped")}
    if (experiment.status, status) not in allowed:
        raise StateError(f"a {experiment.status} experiment cannot become {status}", field="status")
    experiment.status = status
    if status == "running":
        experiment.started_at = utcnow()
    else:
        experiment.stopped_at = utcnow()
    session.flush()
    return experiment


@dataclass(frozen=True)
class AssignmentResult:
    """A contact's arm in an experiment, and whether this call assigned it."""

    assignment: Assignment
    arm: ExperimentArm
    new: bool


def assign_contact(session: Session, experiment: Experiment, external_id: str) -> AssignmentResult:
    """The contact's arm: the stored one, or a new one drawn by the deterministic hash."""
    if experiment.status != "running":
        raise StateError(f"the experiment is {experiment.status}; only a running one assigns", field="status")
    workspace_id = experiment.workspace_id
    arms = arms_of(session, workspace_id, experiment.id)
    contacts_lock(session, workspace_id, exclusive=False)  # an erasure in flight finishes first
    contact_id = ensure_contacts(session, workspace_id, [external_id]).get(external_id)
    if contact_id is None:
        raise StateError("was erased from this workspace; it is not assigned again", field="contact")
    by_id = {arm.id: arm for arm in arms}

    def stored() -> Assignment | None:
        return session.scalar(
            select(Assignment).where(
                Assignment.experiment_id == experiment.id, Assignment.contact_id == contact_id
            )
        )

    existing = stored()
    if existing is not None:
        return AssignmentResult(existing, by_id[existing.arm_id], new=False)
    digest = session.scalar(select(Contact.hmac).where(Contact.id == contact_id))
    # The contact's HMAC is stable and pseudonymous: the hash never sees the raw external id.
    arm = arms[assign_arm(experiment.salt, str(digest), [a.weight for a in arms])]
    assignment = Assignment(
        workspace_id=workspace_id, experiment_id=experiment.id, contact_id=contact_id, arm_id=arm.id
    )
    try:
        with session.begin_nested():
            session.add(assignment)
    except IntegrityError:
        # Another request assigned the same contact first; its answer is the contact's arm.
        winner = stored()
        if winner is None:
            raise
        return AssignmentResult(winner, by_id[winner.arm_id], new=False)
    return AssignmentResult(assignment, arm, new=True)


def arm_stats(
    session: Session, workspace_id: str, experiment_id: str, arms: Sequence[ExperimentArm], metric: str
) -> list[ArmStats]:
    """Aggregates of each arm for a metric, named by variant id, in arm order."""
    kind = METRIC_KINDS[metric]
    matches = and_(
        OutcomeEvent.workspace_id == Assignment.workspace_id,
        OutcomeEvent.contact_id == Assignment.contact_id,
        OutcomeEvent.variant_id == ExperimentArm.variant_id,
        OutcomeEvent.kind == kind,
    )
    value: Any
    if metric == "revenue":
        value = (
            select(func.coalesce(func.sum(OutcomeEvent.revenue), 0.0))
            .where(matches)
            .correlate(Assignment, ExperimentArm)
        ).scalar_subquery()
    else:
        value = case((exists().where(matches), 1.0), else_=0.0)
    per_contact = (
        select(Assignment.arm_id.label("arm_id"), value.label("value"))
        .join(ExperimentArm, ExperimentArm.id == Assignment.arm_id)
        .where(Assignment.workspace_id == workspace_id, Assignment.experiment_id == experiment_id)
        .subquery()
    )
    stmt = select(
        per_contact.c.arm_id,
        func.count(),
        func.sum(per_contact.c.value),
        func.sum(per_contact.c.value * per_contact.c.value),
    ).group_by(per_contact.c.arm_id)
    sums = {
        arm_id: (int(n), float(total or 0), float(squares or 0))
        for arm_id, n, total, squares in session.execute(stmt)
    }
    out = []
    for arm in arms:
        n, total, squares = sums.get(arm.id, (0, 0.0, 0.0))
        if metric == "revenue":
            out.append(ArmStats(name=arm.variant_id, n=n, total=total, sum_squares=squares, kind="mean"))
        else:
            out.append(ArmStats.from_counts(arm.variant_id, n, round(total)))
    return out
