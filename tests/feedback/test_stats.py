"""Per-arm statistics, both engines, power, the sample-ratio check, the winner rule and Thompson weights.

Checked against hand-computed values, scipy's own tests and numerical integration.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate
from scipy import stats as scipy_stats

from feedback.errors import InvalidInputError
from feedback.experiments import Decision, DecisionRule, decide, srm_check, thompson_weights
from feedback.stats import (
    ArmStats,
    GaussianPrior,
    bayesian_test,
    comparison_problem,
    expected_negative_part,
    expected_positive_part,
    frequentist_test,
    lift_and_variance,
    power,
    required_sample_size,
)

# Fixed revenue-like samples: most recipients buy nothing, a few spend a lot.
_rng = np.random.default_rng(20240601)
REVENUE_C = np.where(_rng.random(400) < 0.1, _rng.gamma(2.0, 30.0, 400), 0.0)
REVENUE_T = np.where(_rng.random(500) < 0.13, _rng.gamma(2.0, 32.0, 500), 0.0)


def counts(name: str, n: int, conversions: int) -> ArmStats:
    return ArmStats.from_counts(name, n, conversions)


# --- ArmStats -----------------------------------------------------------------------------------------


def test_rate_arm_has_mean_p_and_variance_p_times_one_minus_p() -> None:
    arm = counts("A", 1000, 100)
    assert arm.mean == pytest.approx(0.1)
    assert arm.variance == pytest.approx(0.09)
    assert arm.kind == "proportion"


def test_revenue_arm_from_values_matches_numpy_mean_and_sample_variance() -> None:
    arm = ArmStats.from_values("A", REVENUE_C)
    assert arm.n == 400
    assert arm.mean == pytest.approx(REVENUE_C.mean())
    assert arm.variance == pytest.approx(REVENUE_C.var(ddof=1))


def test_revenue_arm_from_sums_equals_arm_from_values() -> None:
    from_sums = ArmStats("A", 400, float(REVENUE_C.sum()), float((REVENUE_C**2).sum()))
    from_values = ArmStats.from_values("A", REVENUE_C)
    assert from_sums.mean == pytest.approx(from_values.mean)
    assert from_sums.variance == pytest.approx(from_values.variance)


def test_numpy_scalars_become_plain_numbers() -> None:
    arm = ArmStats.from_counts("A", np.int64(10), np.int64(3))  # type: ignore[arg-type]
    assert type(arm.n) is int
    assert type(arm.total) is float


def test_undefined_statistics_are_nan() -> None:
    assert math.isnan(counts("A", 0, 0).mean)
    assert math.isnan(ArmStats.from_values("A", [5.0]).variance)


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: counts("A", 10, 11), "conversions"),
        (lambda: counts("A", 10, -1), "conversions"),
        (lambda: ArmStats("A", 10, 2.5, 2.5, "proportion"), "conversions"),
        (lambda: ArmStats("A", 10, 3, 2, "proportion"), "sum_squares"),
        (lambda: counts("A", -1, 0), "n"),
        (lambda: counts("", 10, 1), "name"),
        (lambda: ArmStats("A", 4, 10.0, 20.0), "sum_squares"),  # 4·20 < 10²
        (lambda: ArmStats("A", 0, 1.0, 1.0), "total"),
        (lambda: ArmStats("A", 4, math.nan, 1.0), "total"),
        (lambda: ArmStats("A", 4, 1.0, 1.0, "ratio"), "kind"),  # type: ignore[arg-type]
    ],
)
def test_impossible_aggregates_raise_an_error_naming_the_field(make: object, field: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        make()  # type: ignore[operator]
    assert caught.value.field == field


# --- delta method -------------------------------------------------------------------------------------


def test_delta_method_variance_matches_hand_computation() -> None:
    # p_c = 0.1, p_t = 0.12, n = 1000 each:
    # Var = p_t(1-p_t)/(n p_c²) + p_t² p_c(1-p_c)/(n p_c⁴) = 0.1056/10 + 0.0144·0.09/0.1 = 0.01056 + 0.01296
    lift, variance = lift_and_variance(counts("A", 1000, 100), counts("B", 1000, 120))
    assert lift == pytest.approx(0.2)
    assert variance == pytest.approx(0.02352)


def test_absolute_difference_variance_is_sum_of_variances_of_the_means() -> None:
    diff, variance = lift_and_variance(counts("A", 1000, 100), counts("B", 500, 60), relative=False)
    assert diff == pytest.approx(0.02)
    assert variance == pytest.approx(0.09 / 1000 + 0.1056 / 500)


def test_delta_method_variance_matches_the_spread_of_simulated_lifts() -> None:
    rng = np.random.default_rng(7)
    n, p_c, p_t = 5000, 0.08, 0.1
    lifts = rng.binomial(n, p_t, 200_000) / rng.binomial(n, p_c, 200_000) - 1
    _, variance = lift_and_variance(counts("A", n, round(n * p_c)), counts("B", n, round(n * p_t)))
    assert lifts.var() == pytest.approx(variance, rel=0.03)


@pytest.mark.parametrize(
    ("control", "treatment", "relative", "fragment"),
    [
        (counts("A", 1, 0), counts("B", 10, 1), True, "at least 2"),
        (counts("A", 100, 0), counts("B", 100, 5), True, "positive base"),
        (counts("A", 100, 0), counts("B", 100, 0), False, "no variance"),
        (counts("A", 100, 5), counts("B", 100, 0), True, "no variance"),
        (counts("A", 100, 5), ArmStats.from_values("B", [1.0, 2.0]), True, "different kinds"),
    ],
)
def test_arms_that_cannot_be_compared_yet_say_why_and_engines_refuse_them(
    control: ArmStats, treatment: ArmStats, relative: bool, fragment: str
) -> None:
    problem = comparison_problem(control, treatment, relative)
    assert problem is not None and fragment in problem
    for engine in (bayesian_test, frequentist_test):
        with pytest.raises(InvalidInputError, match=fragment) as caught:
            engine(control, treatment, relative=relative)
        assert caught.value.field == "arms"


# --- frequentist engine -------------------------------------------------------------------------------


def test_absolute_welch_test_matches_scipy_ttest_ind_unequal_variances() -> None:
    result = frequentist_test(
        ArmStats.from_values("A", REVENUE_C), ArmStats.from_values("B", REVENUE_T), relative=False
    )
    reference = scipy_stats.ttest_ind(REVENUE_T, REVENUE_C, equal_var=False)
    assert result.statistic == pytest.approx(reference.statistic)
    assert result.p_value == pytest.approx(reference.pvalue)
    assert result.df == pytest.approx(reference.df)
    interval = reference.confidence_interval(0.95)
    assert result.interval == pytest.approx((interval.low, interval.high))


def test_relative_welch_test_uses_delta_method_error_and_welch_degrees_of_freedom() -> None:
    control, treatment = ArmStats.from_values("A", REVENUE_C), ArmStats.from_values("B", REVENUE_T)
    result = frequentist_test(control, treatment, alpha=0.1)
    lift, variance = lift_and_variance(control, treatment)
    df = scipy_stats.ttest_ind(REVENUE_T, REVENUE_C, equal_var=False).df
    assert result.lift == pytest.approx(REVENUE_T.mean() / REVENUE_C.mean() - 1)
    assert result.standard_error == pytest.approx(math.sqrt(variance))
    assert result.df == pytest.approx(df)
    assert result.p_value == pytest.approx(2 * scipy_stats.t.sf(abs(lift) / math.sqrt(variance), df))
    half = scipy_stats.t.ppf(0.95, df) * math.sqrt(variance)
    assert result.interval == pytest.approx((lift - half, lift + half))


def test_frequentist_p_value_is_symmetric_in_the_sign_of_the_difference() -> None:
    up = frequentist_test(counts("A", 2000, 200), counts("B", 2000, 240), relative=False)
    down = frequentist_test(counts("A", 2000, 240), counts("B", 2000, 200), relative=False)
    assert up.p_value == pytest.approx(down.p_value)
    assert up.lift == pytest.approx(-down.lift)


# --- Bayesian engine ----------------------------------------------------------------------------------


def test_flat_prior_posterior_is_the_data_likelihood() -> None:
    control, treatment = counts("A", 1000, 100), counts("B", 1000, 120)
    result = bayesian_test(control, treatment)
    sd = math.sqrt(0.02352)
    assert result.lift == pytest.approx(0.2)
    assert result.lift_sd == pytest.approx(sd)
    assert result.chance_to_win == pytest.approx(scipy_stats.norm.cdf(0.2 / sd))
    low, high = scipy_stats.norm.interval(0.95, loc=0.2, scale=sd)
    assert result.interval == pytest.approx((low, high))
    assert result.risk_treatment == pytest.approx(expected_negative_part(0.2, sd))
    assert result.risk_control == pytest.approx(expected_positive_part(0.2, sd))


def test_proper_prior_combines_with_data_by_precision() -> None:
    control, treatment = counts("A", 1000, 100), counts("B", 1000, 120)
    prior = GaussianPrior(mean=0.0, variance=0.01)
    result = bayesian_test(control, treatment, prior=prior)
    precision = 1 / 0.01 + 1 / 0.02352
    assert result.lift_sd == pytest.approx(math.sqrt(1 / precision))
    assert result.lift == pytest.approx((0.2 / 0.02352) / precision)
    assert 0 < result.lift < 0.2  # shrunk towards the prior mean of zero


def test_vague_proper_prior_gives_nearly_the_flat_prior_answer() -> None:
    control, treatment = counts("A", 1000, 100), counts("B", 1000, 120)
    flat = bayesian_test(control, treatment)
    vague = bayesian_test(control, treatment, prior=GaussianPrior(variance=1e6))
    assert vague.chance_to_win == pytest.approx(flat.chance_to_win, abs=1e-6)


def test_lower_is_better_flips_chance_to_win_and_swaps_the_risks() -> None:
    control, treatment = counts("A", 5000, 50), counts("B", 5000, 40)  # e.g. unsubscribes
    higher = bayesian_test(control, treatment)
    lower = bayesian_test(control, treatment, higher_is_better=False)
    assert lower.chance_to_win == pytest.approx(1 - higher.chance_to_win)
    assert lower.chance_to_win > 0.5
    assert lower.risk_treatment == pytest.approx(higher.risk_control)
    assert lower.risk_control == pytest.approx(higher.risk_treatment)


@pytest.mark.parametrize(("prior_variance", "level"), [(0.0, 0.95), (-1.0, 0.95)])
def test_invalid_prior_is_refused(prior_variance: float, level: float) -> None:
    with pytest.raises(InvalidInputError) as caught:
        GaussianPrior(variance=prior_variance)
    assert caught.value.field == "prior.variance"


def test_interval_level_outside_zero_one_is_refused() -> None:
    with pytest.raises(InvalidInputError) as caught:
        bayesian_test(counts("A", 100, 10), counts("B", 100, 12), interval_level=1.0)
    assert caught.value.field == "interval_level"


# --- expected loss --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("mean", "sd"), [(0.0, 1.0), (0.3, 0.2), (-0.05, 0.02), (2.0, 0.5), (-1.0, 3.0)])
def test_gaussian_expected_loss_matches_numerical_integration(mean: float, sd: float) -> None:
    dist = scipy_stats.norm(mean, sd)
    negative, _ = integrate.quad(lambda x: -x * dist.pdf(x), mean - 12 * sd, 0.0)
    positive, _ = integrate.quad(lambda x: x * dist.pdf(x), 0.0, mean + 12 * sd)
    assert expected_negative_part(mean, sd) == pytest.approx(max(negative, 0.0), abs=1e-10)
    assert expected_positive_part(mean, sd) == pytest.approx(max(positive, 0.0), abs=1e-10)


def test_expected_loss_at_zero_mean_is_sd_over_root_two_pi() -> None:
    assert expected_negative_part(0.0, 2.0) == pytest.approx(2.0 / math.sqrt(2 * math.pi))


def test_positive_minus_negative_part_is_the_mean() -> None:
    for mean in (-0.7, 0.0, 0.01, 1.3):
        assert expected_positive_part(mean, 0.4) - expected_negative_part(mean, 0.4) == pytest.approx(mean)


def test_expected_loss_with_no_uncertainty_is_the_shortfall_itself() -> None:
    assert expected_negative_part(-0.3, 0.0) == pytest.approx(0.3)
    assert expected_negative_part(0.3, 0.0) == 0.0


def test_expected_loss_far_in_the_tail_is_never_negative() -> None:
    assert expected_negative_part(50.0, 1.0) >= 0.0


# --- power ----------------------------------------------------------------------------------------------


def test_required_sample_size_matches_hand_computed_delta_method_formula() -> None:
    # p_c = 0.05, p_t = 0.055: unit variance = p_t q_t / p_c² + p_t² p_c q_c / p_c⁴
    unit = 0.055 * 0.945 / 0.05**2 + 0.055**2 * 0.05 * 0.95 / 0.05**4
    z = scipy_stats.norm.ppf(0.975) + scipy_stats.norm.ppf(0.8)
    assert required_sample_size(0.05, 0.1, alpha=0.05, power=0.8) == math.ceil(z**2 * unit / 0.01)


def test_required_sample_size_is_the_smallest_n_reaching_the_power() -> None:
    n = required_sample_size(0.03, 0.15, alpha=0.05, power=0.9)
    assert power(0.03, 0.15, n, alpha=0.05) >= 0.9
    assert power(0.03, 0.15, n - 100, alpha=0.05) < 0.9


def test_one_sided_test_needs_fewer_recipients_than_two_sided() -> None:
    assert required_sample_size(0.05, 0.1, two_sided=False) < required_sample_size(0.05, 0.1)


def test_power_grows_with_sample_size_and_starts_near_alpha() -> None:
    values = [power(0.05, 0.1, n) for n in (10, 1000, 10_000, 100_000)]
    assert values == sorted(values)
    assert values[0] == pytest.approx(0.05, abs=0.01)
    assert values[-1] > 0.99


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"baseline_rate": 0.0}, "baseline_rate"),
        ({"baseline_rate": 1.0}, "baseline_rate"),
        ({"relative_lift": 0.0}, "relative_lift"),
        ({"relative_lift": 20.0}, "relative_lift"),
        ({"alpha": 1.5}, "alpha"),
        ({"power": 1.0}, "power"),
    ],
)
def test_invalid_power_inputs_raise_an_error_naming_the_field(kwargs: dict[str, float], field: str) -> None:
    arguments = {"baseline_rate": 0.05, "relative_lift": 0.1, **kwargs}
    with pytest.raises(InvalidInputError) as caught:
        required_sample_size(**arguments)  # type: ignore[arg-type]
    assert caught.value.field == field


def test_power_refuses_a_sample_below_one() -> None:
    with pytest.raises(InvalidInputError) as caught:
        power(0.05, 0.1, 0)
    assert caught.value.field == "n_per_arm"


# --- sample-ratio mismatch ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("observed", "weights"),
    [([5000, 5100], [1, 1]), ([5000, 3100, 1900], [0.5, 0.3, 0.2]), ([120, 80], [3, 2]), ([10, 30], [1, 1])],
)
def test_srm_statistic_and_p_value_equal_scipy_chisquare(observed: list[int], weights: list[float]) -> None:
    result = srm_check(observed, weights)
    expected = np.array(weights) / sum(weights) * sum(observed)
    reference = scipy_stats.chisquare(observed, expected)
    assert result.statistic == pytest.approx(reference.statistic)
    assert result.p_value == pytest.approx(reference.pvalue)
    assert result.expected == pytest.approx(tuple(expected))


def test_srm_alarms_when_a_zero_weight_arm_has_recipients() -> None:
    result = srm_check([100, 100, 1], [1, 1, 0])
    assert result.alarm
    assert result.p_value == 0.0


def test_srm_ignores_an_empty_zero_weight_arm() -> None:
    assert srm_check([100, 100, 0], [1, 1, 0]).p_value == pytest.approx(1.0)


def test_srm_on_no_data_is_quiet() -> None:
    assert not srm_check([0, 0], [1, 1]).alarm


def test_srm_refuses_weights_of_the_wrong_length() -> None:
    with pytest.raises(InvalidInputError) as caught:
        srm_check([10, 10, 10], [1, 1])
    assert caught.value.field == "weights"


# --- winner rule ----------------------------------------------------------------------------------------

LOOSE = DecisionRule(min_sample_per_arm=100)


@pytest.mark.parametrize("engine", ["bayesian", "frequentist"])
def test_clear_improvement_is_declared_the_winner(engine: str) -> None:
    rule = DecisionRule(engine=engine)  # type: ignore[arg-type]
    decision = decide([counts("A", 20_000, 1000), counts("B", 20_000, 1200)], [1, 1], rule)
    assert (decision.status, decision.winner) == ("winner", "B")
    assert set(decision.results) == {"B"}
    assert any("'B' vs 'A'" in reason for reason in decision.reasons)


@pytest.mark.parametrize("engine", ["bayesian", "frequentist"])
def test_clearly_worse_treatment_makes_control_the_winner(engine: str) -> None:
    rule = DecisionRule(engine=engine)  # type: ignore[arg-type]
    decision = decide([counts("A", 20_000, 1200), counts("B", 20_000, 1000)], [1, 1], rule)
    assert (decision.status, decision.winner) == ("winner", "A")
    assert any("control 'A' beats every treatment" in reason for reason in decision.reasons)


def test_too_few_recipients_keeps_the_experiment_running_and_names_the_arm() -> None:
    decision = decide([counts("A", 5000, 200), counts("B", 900, 90)], [5, 1], DecisionRule())
    assert decision.status == "keep_running"
    assert decision.winner is None
    assert any("'B' has 900 recipients, below the minimum of 1000" in reason for reason in decision.reasons)


def test_sample_ratio_mismatch_blocks_an_otherwise_clear_winner() -> None:
    arms = [counts("A", 10_400, 520), counts("B", 9_600, 700)]
    assert decide(arms, [1, 1], DecisionRule(srm_p=1e-12)).winner == "B"
    decision = decide(arms, [1, 1], DecisionRule())
    assert (decision.status, decision.winner) == ("inconclusive", None)
    assert decision.srm.alarm
    assert decision.reasons[0].startswith("sample ratio mismatch")
    assert "B" in decision.results  # the comparison is still reported


def test_no_difference_keeps_running_until_the_planned_sample_then_is_inconclusive() -> None:
    arms = [counts("A", 10_000, 500), counts("B", 10_000, 505)]
    running = decide(arms, [1, 1], DecisionRule())
    assert running.status == "keep_running"
    assert running.reasons[-1] == "no arm is ahead by the rule's thresholds yet"
    done = decide(arms, [1, 1], DecisionRule(max_sample_per_arm=10_000))
    assert done.status == "inconclusive"
    assert "planned 10000 recipients" in done.reasons[-1]


def test_high_chance_to_win_with_too_much_risk_is_not_a_winner() -> None:
    arms = [counts("A", 1000, 10), counts("B", 1000, 26)]
    decision = decide(arms, [1, 1], LOOSE)
    result = decision.results["B"]
    assert result.chance_to_win >= 0.95  # type: ignore[union-attr]
    assert decision.status == "keep_running"
    assert any("risk of shipping it" in reason for reason in decision.reasons)
    unlimited = DecisionRule(min_sample_per_arm=100, max_risk=math.inf)
    assert decide(arms, [1, 1], unlimited).winner == "B"


def test_control_without_conversions_keeps_running_or_is_inconclusive_at_the_planned_sample() -> None:
    arms = [counts("A", 2000, 0), counts("B", 2000, 3)]
    running = decide(arms, [1, 1], DecisionRule())
    assert running.status == "keep_running"
    assert any("positive base" in reason for reason in running.reasons)
    assert decide(arms, [1, 1], DecisionRule(max_sample_per_arm=2000)).status == "inconclusive"


def test_best_of_several_significant_treatments_wins() -> None:
    arms = [counts("A", 30_000, 1500), counts("B", 30_000, 1800), counts("C", 30_000, 2100)]
    decision = decide(arms, [1, 1, 1], DecisionRule())
    assert (decision.status, decision.winner) == ("winner", "C")
    assert set(decision.results) == {"B", "C"}


def test_control_wins_only_when_it_beats_every_treatment() -> None:
    arms = [counts("A", 30_000, 1800), counts("B", 30_000, 1500), counts("C", 30_000, 1790)]
    assert decide(arms, [1, 1, 1], DecisionRule()).status == "keep_running"


@pytest.mark.parametrize("engine", ["bayesian", "frequentist"])
def test_lower_is_better_metric_picks_the_arm_with_fewer_events(engine: str) -> None:
    rule = DecisionRule(engine=engine, higher_is_better=False)  # type: ignore[arg-type]
    decision = decide([counts("A", 40_000, 400), counts("B", 40_000, 280)], [1, 1], rule)
    assert decision.winner == "B"


def test_revenue_per_recipient_is_decided_on_its_relative_lift() -> None:
    rng = np.random.default_rng(3)
    control = np.where(rng.random(20_000) < 0.05, rng.gamma(2.0, 25.0, 20_000), 0.0)
    treatment = np.where(rng.random(20_000) < 0.05, rng.gamma(2.0, 32.0, 20_000), 0.0)
    decision = decide([ArmStats.from_values("A", control), ArmStats.from_values("B", treatment)], [1, 1])
    assert decision.winner == "B"
    assert decision.results["B"].lift == pytest.approx(treatment.mean() / control.mean() - 1)


def test_decision_carries_the_engine_result_type_of_the_rule() -> None:
    arms = [counts("A", 2000, 100), counts("B", 2000, 110)]
    bayes: Decision = decide(arms, [1, 1], DecisionRule(engine="bayesian"))
    freq: Decision = decide(arms, [1, 1], DecisionRule(engine="frequentist"))
    assert hasattr(bayes.results["B"], "chance_to_win")
    assert hasattr(freq.results["B"], "p_value")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"chance_to_win": 0.5}, "chance_to_win"),
        ({"chance_to_win": 1.0}, "chance_to_win"),
        ({"max_risk": 0.0}, "max_risk"),
        ({"min_sample_per_arm": 1}, "min_sample_per_arm"),
        ({"min_sample_per_arm": 500, "max_sample_per_arm": 100}, "max_sample_per_arm"),
        ({"srm_p": 0.0}, "srm_p"),
        ({"engine": "sequential"}, "engine"),
        ({"alpha": 0.0}, "alpha"),
    ],
)
def test_invalid_rule_raises_an_error_naming_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        DecisionRule(**kwargs)  # type: ignore[arg-type]
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("arms", "weights", "field"),
    [
        ([counts("A", 10, 1)], [1], "arms"),
        ([counts("A", 10, 1), counts("A", 10, 2)], [1, 1], "arms"),
        ([counts("A", 10, 1), ArmStats.from_values("B", [1.0, 2.0])], [1, 1], "arms"),
        ([counts("A", 10, 1), counts("B", 10, 2)], [1, 1, 1], "weights"),
    ],
)
def test_invalid_experiment_raises_an_error_naming_the_field(
    arms: list[ArmStats], weights: list[float], field: str
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        decide(arms, weights)
    assert caught.value.field == field


# --- Thompson sampling ----------------------------------------------------------------------------------


def test_thompson_weights_sum_to_one_and_respect_the_floor() -> None:
    arms = [counts("A", 5000, 250), counts("B", 5000, 400), counts("C", 5000, 240)]
    weights = thompson_weights(arms, floor=0.1, rng=1)
    assert sum(weights) == pytest.approx(1.0)
    assert min(weights) >= 0.1 - 1e-12
    assert weights[1] == pytest.approx(1 - 2 * 0.1, abs=1e-3)  # B is best in virtually every draw


def test_thompson_weights_are_reproducible_with_a_seed() -> None:
    arms = [counts("A", 300, 20), counts("B", 300, 25)]
    assert thompson_weights(arms, rng=42) == thompson_weights(arms, rng=np.random.default_rng(42))


def test_thompson_probability_of_best_matches_beta_integral() -> None:
    control, treatment = counts("A", 200, 20), counts("B", 200, 26)
    a, b = scipy_stats.beta(21, 181), scipy_stats.beta(27, 175)
    p_b_best, _ = integrate.quad(lambda x: b.pdf(x) * a.cdf(x), 0, 1)
    weights = thompson_weights([control, treatment], floor=0.0, draws=400_000, rng=5)
    assert weights[1] == pytest.approx(p_b_best, abs=0.004)


def test_thompson_weights_start_equal_before_any_data() -> None:
    weights = thompson_weights([counts("A", 0, 0), counts("B", 0, 0), counts("C", 0, 0)], rng=0)
    assert weights == pytest.approx([1 / 3] * 3, abs=0.02)
    revenue = [ArmStats.from_values("A", [1.0]), ArmStats.from_values("B", [])]
    assert thompson_weights(revenue) == [0.5, 0.5]


def test_thompson_weights_for_revenue_favour_the_higher_mean() -> None:
    rng = np.random.default_rng(11)
    low = ArmStats.from_values("A", rng.gamma(2.0, 10.0, 3000))
    high = ArmStats.from_values("B", rng.gamma(2.0, 12.0, 3000))
    weights = thompson_weights([low, high], floor=0.05, rng=2)
    assert weights[1] == pytest.approx(0.95, abs=1e-3)


def test_thompson_weights_for_a_lower_is_better_metric_favour_fewer_events() -> None:
    arms = [counts("A", 10_000, 100), counts("B", 10_000, 40)]
    assert thompson_weights(arms, higher_is_better=False, rng=3)[1] > 0.9


@pytest.mark.parametrize(
    ("floor", "draws", "field"), [(0.6, 100, "floor"), (-0.1, 100, "floor"), (0.1, 0, "draws")]
)
def test_invalid_thompson_settings_raise_an_error_naming_the_field(
    floor: float, draws: int, field: str
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        thompson_weights([counts("A", 10, 1), counts("B", 10, 2)], floor=floor, draws=draws)
    assert caught.value.field == field
