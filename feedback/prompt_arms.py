"""A bandit over the live prompt versions (or adapters): which one writes a generation, and how
each one does.

Each generation picks one prompt version (an *arm*) by Thompson sampling on the arms' acceptance
rates: an arm's draws come from Beta(1 + accepted, 1 + rejected) over the marketers' latest
accept (or edit) and reject verdicts on the variants it wrote, and it is chosen with its posterior
chance of being best, mixed with a floor so that no arm starves (`feedback.experiments.
thompson_weights`). The choice and its propensity (the chance it had of being chosen) are stored
with the generation request's stats, so the arms can be compared offline without the bias of the
bandit's own allocation: the inverse-propensity (IPS) and self-normalised (SNIPS) estimates of
each arm's acceptance rate weight each generation's acceptance by 1 / propensity.

The same bandit runs over LoRA adapters (`kind="adapter"`): the arm is the adapter that wrote a
variant (its lineage's ``adapter``, ``none`` for the base model), logged as ``adapter_arm``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from feedback.errors import InvalidInputError
from feedback.experiments import thompson_weights
from feedback.models import FeedbackEvent, GenerationRequestRow, VariantRow
from feedback.stats import ArmStats
from feedback.tenancy import get_workspace

__all__ = [
    "ARM_FLOOR",
    "ARM_KINDS",
    "ArmChoice",
    "ArmReport",
    "choose_arm",
    "ips_estimates",
    "prompt_arm_reports",
    "stats_key",
    "thompson_choice",
]

ARM_FLOOR = 0.05  # every live arm keeps at least this chance of being chosen
THOMPSON_DRAWS = 2000  # posterior draws that estimate each arm's chance of being best
_ACCEPTED = {"accept": 1, "edit": 1, "reject": 0}
ARM_KINDS = ("prompt", "adapter")


def _arm_column(kind: str) -> Any:
    """What a variant's arm is, as a SQL expression: its prompt version or its adapter."""
    if kind == "prompt":
        return VariantRow.prompt_version
    if kind == "adapter":
        return func.coalesce(VariantRow.adapter, "none")
    raise InvalidInputError(f"must be one of {', '.join(ARM_KINDS)}", field="kind")


def stats_key(kind: str) -> str:
    """Where a generation request's stats keep the choice of this kind of arm."""
    _arm_column(kind)
    return f"{kind}_arm"


@dataclass(frozen=True)
class ArmChoice:
    """The prompt version a generation uses, the chance it had, and every arm's chance."""

    arm: str
    propensity: float
    weights: dict[str, float]

    def to_dict(self) -> dict[str, object]:
        """As stored in the generation request's stats."""
        return {"arm": self.arm, "propensity": round(self.propensity, 6), "weights": self.weights}


@dataclass(frozen=True)
class ArmReport:
    """One arm's figures: what it wrote and how marketers judged it, online and offline."""

    arm: str
    live: bool
    generations: int  # generations that chose it
    judged: int  # its variants with a verdict
    accepted: int
    posterior_mean: float  # of its acceptance rate: (1 + accepted) / (2 + judged)
    weight: float | None  # its chance of being chosen now; None when it is not live
    ips: float | None  # inverse-propensity estimate of its acceptance rate
    snips: float | None  # the self-normalised one


def _verdicts(session: Session, workspace_id: str) -> dict[str, int]:
    """Each variant's latest verdict: 1 accepted or edited, 0 rejected."""
    rows = session.execute(
        select(FeedbackEvent.variant_id, FeedbackEvent.kind)
        .where(FeedbackEvent.workspace_id == workspace_id, FeedbackEvent.kind.in_(tuple(_ACCEPTED)))
        .order_by(FeedbackEvent.event_time, FeedbackEvent.id)
    )
    return {variant_id: _ACCEPTED[kind] for variant_id, kind in rows}


def _judged_by_arm(session: Session, workspace_id: str, kind: str = "prompt") -> dict[str, tuple[int, int]]:
    """(judged, accepted) of each arm's variants (prompt version or adapter), by their latest verdict.

    One aggregate query, run at every generation: the database ranks each variant's verdicts and
    counts per prompt version, instead of sending every verdict and variant of the workspace here.
    """
    ranked = (
        select(
            FeedbackEvent.variant_id,
            FeedbackEvent.kind,
            func.row_number()
            .over(
                partition_by=FeedbackEvent.variant_id,
                order_by=(FeedbackEvent.event_time.desc(), FeedbackEvent.id.desc()),
            )
            .label("latest"),
        )
        .where(FeedbackEvent.workspace_id == workspace_id, FeedbackEvent.kind.in_(tuple(_ACCEPTED)))
        .subquery()
    )
    accepted = case((ranked.c.kind.in_([kind for kind, value in _ACCEPTED.items() if value]), 1), else_=0)
    arm = _arm_column(kind)
    rows = session.execute(
        select(arm, func.count(), func.sum(accepted))
        .join(ranked, ranked.c.variant_id == VariantRow.id)
        .where(VariantRow.workspace_id == workspace_id, ranked.c.latest == 1)
        .group_by(arm)
    )
    return {str(version): (int(n), int(k or 0)) for version, n, k in rows}


def thompson_choice(
    judged: dict[str, tuple[int, int]], arms: Sequence[str], rng: np.random.Generator | int | None = None
) -> ArmChoice:
    """Pick one of `arms` from their (judged, accepted) counts, with the chance it had."""
    if not arms:
        raise InvalidInputError("no prompt version is live", field="prompt_arms")
    if len(set(arms)) != len(arms):
        raise InvalidInputError(f"prompt versions repeat: {list(arms)}", field="prompt_arms")
    generator = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    stats = []
    for arm in arms:
        n, k = judged.get(arm, (0, 0))
        stats.append(ArmStats(arm, n, k, k, "proportion"))
    floor = min(ARM_FLOOR, 1 / len(arms))
    weights = (
        thompson_weights(stats, floor=floor, draws=THOMPSON_DRAWS, rng=generator) if len(arms) > 1 else [1.0]
    )
    index = int(generator.choice(len(arms), p=np.asarray(weights) / sum(weights)))
    return ArmChoice(
        arm=arms[index],
        propensity=weights[index],
        weights={arm: round(w, 6) for arm, w in zip(arms, weights, strict=True)},
    )


def choose_arm(
    session: Session,
    workspace_id: str,
    arms: Sequence[str],
    rng: np.random.Generator | int | None = None,
    *,
    kind: str = "prompt",
) -> ArmChoice:
    """Pick one of the live arms (prompt versions, or adapters) for a generation of the workspace."""
    get_workspace(session, workspace_id)
    return thompson_choice(_judged_by_arm(session, workspace_id, kind), arms, rng)


def ips_estimates(
    logged: Sequence[tuple[str, float, float]], arms: Sequence[str]
) -> dict[str, tuple[float | None, float | None]]:
    """(IPS, SNIPS) estimates of each arm's mean reward from logged (arm, propensity, reward).

    IPS: the sum over the rounds that chose the arm of reward / propensity, over all rounds.
    SNIPS divides by the sum of 1 / propensity of those rounds instead: biased a little, far less
    variable. Both are None for an arm never chosen.
    """
    n = len(logged)
    out: dict[str, tuple[float | None, float | None]] = {}
    for arm in arms:
        chosen = [(p, r) for a, p, r in logged if a == arm]
        if not chosen or not n:
            out[arm] = (None, None)
            continue
        weighted = sum(r / p for p, r in chosen)
        out[arm] = (weighted / n, weighted / sum(1 / p for p, _ in chosen))
    return out


def prompt_arm_reports(
    session: Session,
    workspace_id: str,
    live: Sequence[str],
    rng: np.random.Generator | int | None = 0,
    *,
    kind: str = "prompt",
) -> list[ArmReport]:
    """Every arm of this kind the workspace has used or has live, with its online and offline figures."""
    key = stats_key(kind)
    get_workspace(session, workspace_id)
    verdicts = _verdicts(session, workspace_id)
    logged: list[tuple[str, float, float]] = []
    generations: dict[str, int] = {}
    requests = session.execute(
        select(GenerationRequestRow.id, GenerationRequestRow.stats).where(
            GenerationRequestRow.workspace_id == workspace_id
        )
    )
    choices = {}
    for request_id, stats in requests:
        arm = (stats or {}).get(key)
        if isinstance(arm, dict) and isinstance(arm.get("arm"), str):
            choices[request_id] = arm
            generations[arm["arm"]] = generations.get(arm["arm"], 0) + 1
    judged_by_request: dict[str, list[int]] = {}
    for variant_id, request_id in session.execute(
        select(VariantRow.id, VariantRow.generation_request_id).where(VariantRow.workspace_id == workspace_id)
    ):
        if variant_id in verdicts and request_id in choices:
            judged_by_request.setdefault(request_id, []).append(verdicts[variant_id])
    for request_id, judged in judged_by_request.items():
        choice = choices[request_id]
        propensity = float(choice.get("propensity") or 0)
        if propensity > 0:
            logged.append((choice["arm"], propensity, sum(judged) / len(judged)))
    judged_by_arm = _judged_by_arm(session, workspace_id, kind)
    arms = sorted(
        {*live, *generations, *judged_by_arm},
        key=lambda a: [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in a.split(".")],
    )
    weights = thompson_choice(judged_by_arm, list(live), rng).weights if live else {}
    estimates = ips_estimates(logged, arms)
    reports = []
    for arm in arms:
        n, k = judged_by_arm.get(arm, (0, 0))
        ips, snips = estimates[arm]
        reports.append(
            ArmReport(
                arm=arm,
                live=arm in live,
                generations=generations.get(arm, 0),
                judged=n,
                accepted=k,
                posterior_mean=round((1 + k) / (2 + n), 4),
                weight=weights.get(arm),
                ips=None if ips is None else round(ips, 4),
                snips=None if snips is None else round(snips, 4),
            )
        )
    return reports
