"""The winner rule and the SRM check behave as their error rates and the power calculation promise.

Experiments are simulated with numpy under fixed seeds and every one is run through the real
`decide`. Tolerances are four binomial standard errors of the simulated rate, so a seed
change would almost never fail a correct implementation while a wrong one (a one-sided test
where a two-sided was configured, a variance off by a factor) lands far outside them.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

from feedback.assignment import assign_arm
from feedback.experiments import DecisionRule, decide, srm_check
from feedback.stats import ArmStats, bayesian_test, frequentist_test, power, required_sample_size

EXPERIMENTS = 2000
BASELINE = 0.05


def tolerance(rate: float, experiments: int = EXPERIMENTS) -> float:
    """Four binomial standard errors of a rate estimated from `experiments` runs."""
    return 4 * math.sqrt(rate * (1 - rate) / experiments)


def winners(conversions_c: np.ndarray, conversions_t: np.ndarray, n: int, rule: DecisionRule) -> Counter[str]:
    """How often each outcome came out of `decide` over simulated two-arm rate experiments."""
    outcomes: Counter[str] = Counter()
    for c, t in zip(conversions_c, conversions_t, strict=True):
        arms = [ArmStats.from_counts("A", n, int(c)), ArmStats.from_counts("B", n, int(t))]
        decision = decide(arms, [1, 1], rule)
        outcomes[decision.winner or decision.status] += 1
    return outcomes


@pytest.fixture(scope="module")
def aa_conversions() -> tuple[np.ndarray, np.ndarray, int]:
    """2000 A/A experiments: both arms convert at 5% on 50,000 recipients each.

    Large enough that the delta method's known tilt (at small counts it flags losses more
    often than gains, see `feedback.stats`) stays well inside the per-direction tolerances.
    """
    n = 50_000
    rng = np.random.default_rng(101)
    return rng.binomial(n, BASELINE, EXPERIMENTS), rng.binomial(n, BASELINE, EXPERIMENTS), n


@pytest.fixture(scope="module")
def lift_conversions() -> tuple[np.ndarray, np.ndarray, int]:
    """2000 experiments with a true 10% relative lift at the sample giving 80% power (alpha 0.05)."""
    n = required_sample_size(BASELINE, 0.10, alpha=0.05, power=0.8)
    rng = np.random.default_rng(202)
    return rng.binomial(n, BASELINE, EXPERIMENTS), rng.binomial(n, BASELINE * 1.1, EXPERIMENTS), n


def test_frequentist_aa_tests_flag_a_winner_at_the_alpha_rate(
    aa_conversions: tuple[np.ndarray, np.ndarray, int],
) -> None:
    outcomes = winners(*aa_conversions, DecisionRule(engine="frequentist", alpha=0.05))
    flagged = (outcomes["A"] + outcomes["B"]) / EXPERIMENTS
    assert abs(flagged - 0.05) < tolerance(0.05)
    # Two-sided: the false winners split between the arms.
    assert abs(outcomes["B"] / EXPERIMENTS - 0.025) < tolerance(0.025)


def test_bayesian_aa_tests_flag_each_direction_at_one_minus_chance_to_win(
    aa_conversions: tuple[np.ndarray, np.ndarray, int],
) -> None:
    outcomes = winners(*aa_conversions, DecisionRule(engine="bayesian", chance_to_win=0.95))
    assert abs(outcomes["B"] / EXPERIMENTS - 0.05) < tolerance(0.05)
    assert abs(outcomes["A"] / EXPERIMENTS - 0.05) < tolerance(0.05)


def test_stricter_chance_to_win_flags_fewer_aa_winners(
    aa_conversions: tuple[np.ndarray, np.ndarray, int],
) -> None:
    outcomes = winners(*aa_conversions, DecisionRule(engine="bayesian", chance_to_win=0.99))
    assert abs(outcomes["B"] / EXPERIMENTS - 0.01) < tolerance(0.01)


def test_frequentist_aa_tests_on_skewed_revenue_flag_a_winner_at_the_alpha_rate() -> None:
    experiments, n = 1000, 2000
    rng = np.random.default_rng(303)

    def revenue() -> np.ndarray:
        return np.where(rng.random((experiments, n)) < 0.1, rng.gamma(2.0, 30.0, (experiments, n)), 0.0)

    control, treatment = revenue(), revenue()
    rule = DecisionRule(engine="frequentist", alpha=0.05)
    flagged = 0
    for row_c, row_t in zip(control, treatment, strict=True):
        arms = [
            ArmStats("A", n, float(row_c.sum()), float((row_c**2).sum())),
            ArmStats("B", n, float(row_t.sum()), float((row_t**2).sum())),
        ]
        flagged += decide(arms, [1, 1], rule).status == "winner"
    assert abs(flagged / experiments - 0.05) < tolerance(0.05, experiments)


def test_true_ten_percent_lift_is_found_as_often_as_the_power_calculation_says(
    lift_conversions: tuple[np.ndarray, np.ndarray, int],
) -> None:
    conversions_c, conversions_t, n = lift_conversions
    expected = power(BASELINE, 0.10, n, alpha=0.05)
    assert expected == pytest.approx(0.8, abs=0.001)
    outcomes = winners(conversions_c, conversions_t, n, DecisionRule(engine="frequentist", alpha=0.05))
    assert abs(outcomes["B"] / EXPERIMENTS - expected) < tolerance(expected)
    assert outcomes["A"] == 0  # a significant result in the wrong direction is vanishingly rare here


def test_power_calculation_also_holds_at_half_the_sample() -> None:
    n = required_sample_size(BASELINE, 0.10, alpha=0.05, power=0.8) // 2
    rng = np.random.default_rng(404)
    conversions_c, conversions_t = rng.binomial(n, BASELINE, EXPERIMENTS), rng.binomial(n, 0.055, EXPERIMENTS)
    expected = power(BASELINE, 0.10, n, alpha=0.05)
    assert 0.4 < expected < 0.6
    outcomes = winners(conversions_c, conversions_t, n, DecisionRule(engine="frequentist", alpha=0.05))
    assert abs(outcomes["B"] / EXPERIMENTS - expected) < tolerance(expected)


def test_bayesian_rule_finds_a_true_lift_as_often_as_a_one_sided_test_would(
    lift_conversions: tuple[np.ndarray, np.ndarray, int],
) -> None:
    conversions_c, conversions_t, n = lift_conversions
    expected = power(BASELINE, 0.10, n, alpha=0.05, two_sided=False)
    outcomes = winners(conversions_c, conversions_t, n, DecisionRule(engine="bayesian", chance_to_win=0.95))
    assert abs(outcomes["B"] / EXPERIMENTS - expected) < tolerance(expected)


def test_srm_fires_on_a_52_48_split_of_20000() -> None:
    result = srm_check([10_400, 9_600], [0.5, 0.5])
    assert result.alarm
    assert result.p_value < 1e-6


def test_srm_stays_quiet_on_a_fair_split() -> None:
    assert not srm_check([10_000, 10_000], [0.5, 0.5]).alarm
    assert not srm_check([10_150, 9_850], [0.5, 0.5]).alarm  # 1.5 standard deviations off


def test_srm_catches_simulated_52_48_splits_and_rarely_alarms_on_fair_ones() -> None:
    rng = np.random.default_rng(505)
    fair = rng.binomial(20_000, 0.5, EXPERIMENTS)
    skewed = rng.binomial(20_000, 0.52, EXPERIMENTS)
    fair_alarms = sum(srm_check([int(a), 20_000 - int(a)], [1, 1]).alarm for a in fair)
    skewed_alarms = sum(srm_check([int(a), 20_000 - int(a)], [1, 1]).alarm for a in skewed)
    assert fair_alarms <= 8  # about 2 expected at p < 0.001
    assert skewed_alarms / EXPERIMENTS > 0.97  # about 99% expected


def test_srm_on_hash_assignment_is_quiet_for_the_intended_weights_and_fires_for_skewed_ones() -> None:
    keys = [f"contact-{i}" for i in range(20_000)]
    fair = np.bincount([assign_arm("srm-sim", key, [0.5, 0.5]) for key in keys], minlength=2)
    skewed = np.bincount([assign_arm("srm-sim", key, [0.52, 0.48]) for key in keys], minlength=2)
    assert not srm_check(fair.tolist(), [0.5, 0.5]).alarm
    assert srm_check(skewed.tolist(), [0.5, 0.5]).alarm


@pytest.mark.parametrize(
    "arms",
    [
        (ArmStats.from_counts("A", 200_000, 10_000), ArmStats.from_counts("B", 200_000, 11_000)),
        (ArmStats.from_counts("A", 150_000, 4_500), ArmStats.from_counts("B", 250_000, 7_200)),
    ],
)
def test_bayesian_and_frequentist_intervals_agree_under_a_flat_prior_with_large_n(
    arms: tuple[ArmStats, ArmStats],
) -> None:
    bayes = bayesian_test(*arms)
    freq = frequentist_test(*arms, alpha=0.05)
    assert bayes.lift == pytest.approx(freq.lift)
    width = freq.interval[1] - freq.interval[0]
    assert bayes.interval[0] == pytest.approx(freq.interval[0], abs=1e-4 * width)
    assert bayes.interval[1] == pytest.approx(freq.interval[1], abs=1e-4 * width)
    # Half the two-sided p-value is the posterior chance of the direction the data argue against.
    against = min(bayes.chance_to_win, 1 - bayes.chance_to_win)
    assert against == pytest.approx(freq.p_value / 2, rel=1e-3)
