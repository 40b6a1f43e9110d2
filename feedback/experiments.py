"""Experiment decisions: the sample-ratio check, the winner rule and Thompson-sampling allocation.

Everything here works on per-arm aggregates (`ArmStats`); reading them from the store is the
caller's job. The first arm passed to `decide` is the control.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from scipy import special

from feedback.assignment import validate_weights
from feedback.errors import InvalidInputError
from feedback.stats import (
    ArmStats,
    BayesianResult,
    FrequentistResult,
    GaussianPrior,
    bayesian_test,
    comparison_problem,
    frequentist_test,
)

__all__ = [
    "Decision",
    "DecisionRule",
    "DecisionStatus",
    "EngineName",
    "SrmResult",
    "decide",
    "srm_check",
    "thompson_weights",
]

EngineName = Literal["bayesian", "frequentist"]
DecisionStatus = Literal["winner", "keep_running", "inconclusive"]


@dataclass(frozen=True)
class SrmResult:
    """Chi-square test of the observed arm sizes against the intended allocation."""

    observed: tuple[int, ...]
    expected: tuple[float, ...]
    statistic: float
    p_value: float
    alarm: bool


@dataclass(frozen=True)
class DecisionRule:
    """Thresholds of the winner rule; see `decide` for how they combine.

    `chance_to_win` and `max_risk` drive the Bayesian engine (risk is the expected loss in
    lift units, so 0.0025 is a quarter of a percent of the control's rate with a relative
    lift; `math.inf` turns the risk check off). `alpha` drives the frequentist engine.
    `max_sample_per_arm` is the planned size: once every arm has reached it without a
    winner the experiment is inconclusive; None means it may run for ever.
    """

    chance_to_win: float = 0.95
    max_risk: float = 0.0025
    min_sample_per_arm: int = 1000
    max_sample_per_arm: int | None = None
    srm_p: float = 0.001
    engine: EngineName = "bayesian"
    alpha: float = 0.05
    prior: GaussianPrior | None = None
    relative: bool = True
    higher_is_better: bool = True

    def __post_init__(self) -> None:
        if not 0.5 < self.chance_to_win < 1:
            raise InvalidInputError(f"must be in (0.5, 1), got {self.chance_to_win!r}", field="chance_to_win")
        if math.isnan(self.max_risk) or self.max_risk <= 0:
            raise InvalidInputError(f"must be > 0, got {self.max_risk!r}", field="max_risk")
        if not _is_count(self.min_sample_per_arm, minimum=2):
            raise InvalidInputError(
                f"must be an integer >= 2, got {self.min_sample_per_arm!r}", field="min_sample_per_arm"
            )
        if self.max_sample_per_arm is not None and not _is_count(
            self.max_sample_per_arm, minimum=self.min_sample_per_arm
        ):
            raise InvalidInputError(
                f"must be an integer >= min_sample_per_arm ({self.min_sample_per_arm}), "
                f"got {self.max_sample_per_arm!r}",
                field="max_sample_per_arm",
            )
        if not 0 < self.srm_p < 1:
            raise InvalidInputError(f"must be in (0, 1), got {self.srm_p!r}", field="srm_p")
        if self.engine not in ("bayesian", "frequentist"):
            raise InvalidInputError(
                f"must be 'bayesian' or 'frequentist', got {self.engine!r}", field="engine"
            )
        if not 0 < self.alpha < 1:
            raise InvalidInputError(f"must be in (0, 1), got {self.alpha!r}", field="alpha")


@dataclass
class Decision:
    """What the rule concluded, why, and the comparison of every treatment with control."""

    status: DecisionStatus
    winner: str | None
    reasons: list[str]
    srm: SrmResult
    results: dict[str, BayesianResult | FrequentistResult] = field(default_factory=dict)


def srm_check(observed: Sequence[int], weights: Sequence[float], threshold: float = 0.001) -> SrmResult:
    """Chi-square goodness of fit of the arm sizes to the weights; `alarm` when p < `threshold`."""
    checked = validate_weights(weights)
    counts = [int(count) for count in observed]
    if len(counts) != len(checked):
        raise InvalidInputError(
            f"has {len(checked)} entries but there are {len(counts)} arms", field="weights"
        )
    if any(count < 0 for count in counts):
        raise InvalidInputError("arm sizes must be >= 0", field="observed")
    total = sum(counts)
    weight_sum = math.fsum(checked)
    expected = tuple(total * weight / weight_sum for weight in checked)
    if any(count > 0 and weight == 0 for count, weight in zip(counts, checked, strict=True)):
        # Anyone in an arm that should receive nobody is a mismatch no sample size excuses.
        return SrmResult(tuple(counts), expected, math.inf, 0.0, True)
    live = [(count, exp) for count, exp in zip(counts, expected, strict=True) if exp > 0]
    if total == 0 or len(live) < 2:
        return SrmResult(tuple(counts), expected, 0.0, 1.0, False)
    # Pearson's statistic, as scipy.stats.chisquare computes it, without its per-call overhead
    # (hundreds of microseconds), which dominates `decide` inside simulations.
    statistic = math.fsum((count - exp) ** 2 / exp for count, exp in live)
    p_value = float(special.chdtrc(len(live) - 1, statistic))
    return SrmResult(tuple(counts), expected, statistic, p_value, p_value < threshold)


def decide(arms: Sequence[ArmStats], weights: Sequence[float], rule: DecisionRule | None = None) -> Decision:
    """Apply the winner rule to the arms (the first is control) under their intended `weights`.

    The status is, in this order of precedence:

    - ``inconclusive`` when the sample-ratio check alarms (p < `rule.srm_p`): assignment or
      tracking is broken, so no winner is declared however strong the data look;
    - ``keep_running`` when an arm has fewer than `rule.min_sample_per_arm` recipients, or the
      arms cannot be compared yet (no conversions in control, no variance);
    - ``winner`` when a treatment beats control: Bayesian, chance to win >= `rule.chance_to_win`
      and risk of shipping it <= `rule.max_risk`; frequentist, p < `rule.alpha` with the lift
      in the better direction. Among several such treatments the largest lift wins. Control is
      the winner when every treatment is beaten the same way (chance to win <= 1 -
      `chance_to_win` and risk of keeping control <= `max_risk`; or significantly worse);
    - ``inconclusive`` when every arm has reached `rule.max_sample_per_arm` without a winner;
    - ``keep_running`` otherwise.

    Each comparison is one-sided per direction: in an A/A test the Bayesian rule names a
    treatment with probability 1 - `chance_to_win` and control with the same probability;
    the frequentist rule names either with total probability `alpha`. No correction for
    several treatments is applied, and the frequentist error rate holds only when the
    decision is taken once, at the planned sample, not by checking repeatedly. In bandit mode
    pass as `weights` the share each arm was meant to receive over the whole run (the
    allocations averaged over the assignments made under each), not the latest allocation.
    """
    rule = rule or DecisionRule()
    _check_arms(arms)
    srm = srm_check([arm.n for arm in arms], weights, rule.srm_p)
    control, treatments = arms[0], arms[1:]
    reasons: list[str] = []
    results: dict[str, BayesianResult | FrequentistResult] = {}
    for treatment in treatments:
        problem = comparison_problem(control, treatment, rule.relative)
        if problem is None:
            results[treatment.name] = _compare(control, treatment, rule)
        else:
            reasons.append(problem)
    planned = rule.max_sample_per_arm
    max_reached = planned is not None and all(arm.n >= planned for arm in arms)

    if srm.alarm:
        reasons.insert(
            0,
            f"sample ratio mismatch: arm sizes {list(srm.observed)} against expected "
            f"{[round(value, 1) for value in srm.expected]} (p={srm.p_value:.2g} < {rule.srm_p:g}); "
            "assignment or tracking is broken, so no winner can be trusted",
        )
        return Decision("inconclusive", None, reasons, srm, results)
    small = [arm for arm in arms if arm.n < rule.min_sample_per_arm]
    if small:
        reasons.extend(
            f"arm {arm.name!r} has {arm.n} recipients, below the minimum of {rule.min_sample_per_arm}"
            for arm in small
        )
        return Decision("keep_running", None, reasons, srm, results)
    if len(results) < len(treatments):
        return Decision("inconclusive" if max_reached else "keep_running", None, reasons, srm, results)

    winner = _pick_winner(control.name, results, rule, reasons)
    if winner is not None:
        return Decision("winner", winner, reasons, srm, results)
    if max_reached:
        reasons.append(f"every arm reached the planned {rule.max_sample_per_arm} recipients without a winner")
        return Decision("inconclusive", None, reasons, srm, results)
    reasons.append("no arm is ahead by the rule's thresholds yet")
    return Decision("keep_running", None, reasons, srm, results)


def thompson_weights(
    arms: Sequence[ArmStats],
    floor: float = 0.05,
    draws: int = 10_000,
    rng: np.random.Generator | int | None = None,
    higher_is_better: bool = True,
) -> list[float]:
    """Allocation weights: each arm's posterior chance of being best, mixed with a floor per arm.

    Rate metrics draw from Beta(1 + conversions, 1 + non-conversions); mean metrics from the
    Gaussian N(mean, variance / n), and until every arm has two recipients the weights are
    equal. The result is ``floor + (1 - k·floor) · P(best)``, so every arm keeps at least
    `floor` of the traffic and the weights sum to 1.
    """
    _check_arms(arms, minimum=1)
    k = len(arms)
    if isinstance(floor, bool) or not isinstance(floor, numbers.Real) or not 0 <= floor <= 1 / k:
        raise InvalidInputError(f"must be between 0 and 1/{k} for {k} arms, got {floor!r}", field="floor")
    if not _is_count(draws, minimum=1):
        raise InvalidInputError(f"must be an integer >= 1, got {draws!r}", field="draws")
    generator = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    if arms[0].kind == "proportion":
        successes = np.array([arm.total for arm in arms])
        failures = np.array([arm.n - arm.total for arm in arms])
        samples = generator.beta(1 + successes, 1 + failures, size=(draws, k))
    elif any(arm.n < 2 for arm in arms):
        return [1 / k] * k
    else:
        means = np.array([arm.mean for arm in arms])
        scales = np.sqrt(np.array([arm.variance / arm.n for arm in arms]))
        samples = generator.normal(means, scales, size=(draws, k))
    best = np.argmax(samples if higher_is_better else -samples, axis=1)
    p_best = np.bincount(best, minlength=k) / draws
    weights = floor + (1 - k * floor) * p_best
    return [float(weight) for weight in weights / weights.sum()]


def _compare(
    control: ArmStats, treatment: ArmStats, rule: DecisionRule
) -> BayesianResult | FrequentistResult:
    if rule.engine == "bayesian":
        return bayesian_test(
            control,
            treatment,
            prior=rule.prior,
            relative=rule.relative,
            higher_is_better=rule.higher_is_better,
        )
    return frequentist_test(control, treatment, alpha=rule.alpha, relative=rule.relative)


def _pick_winner(
    control: str,
    results: dict[str, BayesianResult | FrequentistResult],
    rule: DecisionRule,
    reasons: list[str],
) -> str | None:
    """Return the winning arm's name, appending to `reasons` what each comparison showed."""
    better: list[tuple[float, str]] = []
    worse: list[str] = []
    sign = 1.0 if rule.higher_is_better else -1.0
    for name, result in results.items():
        if isinstance(result, BayesianResult):
            verdict, reason = _bayesian_verdict(result, rule)
        else:
            verdict, reason = _frequentist_verdict(result, rule)
        reasons.append(reason)
        if verdict == "better":
            better.append((sign * result.lift, name))
        elif verdict == "worse":
            worse.append(name)
    if better:
        return max(better)[1]
    if len(worse) == len(results):
        reasons.append(f"control {control!r} beats every treatment")
        return control
    return None


def _bayesian_verdict(result: BayesianResult, rule: DecisionRule) -> tuple[str, str]:
    lift = _fmt(result.lift, result.relative, signed=True)
    head = (
        f"{result.treatment!r} vs {result.control!r}: lift {lift}, chance to win {result.chance_to_win:.1%}"
    )
    limit = _fmt(rule.max_risk, result.relative)
    if result.chance_to_win >= rule.chance_to_win:
        risk = _fmt(result.risk_treatment, result.relative)
        if result.risk_treatment <= rule.max_risk:
            return "better", f"{head} >= {rule.chance_to_win:.1%}, risk {risk} within {limit}"
        return "undecided", f"{head}, but the risk of shipping it, {risk}, exceeds {limit}"
    if 1 - result.chance_to_win >= rule.chance_to_win:
        risk = _fmt(result.risk_control, result.relative)
        if result.risk_control <= rule.max_risk:
            return "worse", f"{head}: control is better, risk {risk} within {limit}"
        return "undecided", f"{head}: control leads, but the risk of keeping it, {risk}, exceeds {limit}"
    return "undecided", f"{head}, short of {rule.chance_to_win:.1%} either way"


def _frequentist_verdict(result: FrequentistResult, rule: DecisionRule) -> tuple[str, str]:
    lift = _fmt(result.lift, result.relative, signed=True)
    head = f"{result.treatment!r} vs {result.control!r}: lift {lift}, p={result.p_value:.3g}"
    if result.p_value >= rule.alpha:
        return "undecided", f"{head} not below alpha={rule.alpha:g}"
    improved = (result.lift > 0) == rule.higher_is_better
    if improved:
        return "better", f"{head} < alpha={rule.alpha:g}, treatment better"
    return "worse", f"{head} < alpha={rule.alpha:g}, treatment worse"


def _fmt(value: float, relative: bool, signed: bool = False) -> str:
    """A lift or risk as a percentage when relative, as a plain number when absolute."""
    if relative:
        return f"{value:+.2%}" if signed else f"{value:.3%}"
    return f"{value:+.4g}" if signed else f"{value:.4g}"


def _check_arms(arms: Sequence[ArmStats], minimum: int = 2) -> None:
    if len(arms) < minimum:
        raise InvalidInputError(f"needs at least {minimum} arms, got {len(arms)}", field="arms")
    names = [arm.name for arm in arms]
    if len(set(names)) != len(names):
        raise InvalidInputError(f"arm names must be unique, got {names}", field="arms")
    if len({arm.kind for arm in arms}) > 1:
        raise InvalidInputError("every arm must measure the same kind of metric", field="arms")


def _is_count(value: object, minimum: int) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and int(value) >= minimum
