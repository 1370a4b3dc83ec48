"""Comparison statistics against known values, and the verdict rules users gate releases on."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from scipy.stats import binomtest

from llmops.evals.compare import (
    Verdict,
    bootstrap_ci,
    compare_runs,
    mcnemar_exact,
    minimum_detectable_effect,
)
from llmops.evals.runner import CaseResult, EvalRun


def make_run(
    scores: dict[str, float], *, critical: set[str] = frozenset(), version: str = "v", run_id: str = "r"
) -> EvalRun:
    """A run whose case passes when its score is 1.0."""
    return EvalRun(
        id=run_id,
        dataset="mini",
        dataset_hash="h",
        prompt_version=version,
        target="in-process",
        started_at=datetime(2026, 1, 1, tzinfo=UTC),
        results=[
            CaseResult(case_id=case_id, passed=score == 1.0, score=score, critical=case_id in critical)
            for case_id, score in scores.items()
        ],
    )


@pytest.mark.parametrize("b,c", [(0, 0), (1, 0), (0, 5), (3, 7), (10, 2), (25, 25), (4, 30), (60, 41)])
def test_mcnemar_matches_scipy_binomial_test(b: int, c: int) -> None:
    expected = 1.0 if b + c == 0 else binomtest(min(b, c), b + c, 0.5).pvalue
    assert mcnemar_exact(b, c) == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_bootstrap_is_deterministic_and_covers_the_true_difference() -> None:
    differences = [0.3, -0.1, 0.2, 0.0, 0.25, 0.15, -0.05, 0.1, 0.05, 0.1] * 3
    true_mean = sum(differences) / len(differences)
    first = bootstrap_ci(differences, seed=7, resamples=4000)
    again = bootstrap_ci(differences, seed=7, resamples=4000)
    assert first == again
    low, high = first
    assert low < true_mean < high
    assert low > 0  # the effect is clearly positive with 30 pairs


def test_mde_follows_the_documented_formulas() -> None:
    z = 1.959963984540054 + 0.8416212335729143
    assert minimum_detectable_effect(100, 20, 80) == pytest.approx(z * math.sqrt(0.2 / 100))
    smoothed = 101 / 102
    assert minimum_detectable_effect(100, 0, 100) == pytest.approx(
        z * math.sqrt(smoothed * (1 - smoothed) / 100)
    )
    assert minimum_detectable_effect(400, 20, 300) < minimum_detectable_effect(100, 20, 80)


def test_comparing_a_run_with_itself_is_non_inferior() -> None:
    run = make_run({"a": 1.0, "b": 0.5, "c": 1.0, "d": 0.0})
    comparison = compare_runs(run, run)
    assert comparison.verdict is Verdict.NON_INFERIOR
    assert comparison.mcnemar.p_value == 1.0
    assert (comparison.bootstrap.low, comparison.bootstrap.high) == (0.0, 0.0)
    assert comparison.regressions == comparison.improvements == []
    assert comparison.metric("pass_rate").delta == 0.0


def test_a_critical_case_going_pass_to_fail_is_a_regression_even_when_the_mean_improves() -> None:
    ids = [f"case-{i}" for i in range(20)]
    baseline = make_run({i: 0.5 for i in ids} | {"critical-1": 1.0}, critical={"critical-1"})
    candidate = make_run({i: 1.0 for i in ids} | {"critical-1": 0.9}, critical={"critical-1"})
    comparison = compare_runs(baseline, candidate)
    assert comparison.bootstrap.low > 0
    assert comparison.verdict is Verdict.REGRESSION
    assert [change.case_id for change in comparison.regressions] == ["critical-1"]
    assert "critical" in comparison.reasons[0]


def test_clear_improvement_and_clear_regression() -> None:
    ids = [f"c{i}" for i in range(30)]
    worse = make_run({i: 0.5 if n % 3 else 1.0 for n, i in enumerate(ids)})
    better = make_run({i: 1.0 for i in ids})
    improved = compare_runs(worse, better)
    assert improved.verdict is Verdict.IMPROVED
    assert improved.mcnemar.fail_to_pass == 20 and improved.mcnemar.pass_to_fail == 0
    assert improved.mcnemar.p_value == pytest.approx(binomtest(0, 20, 0.5).pvalue)
    regressed = compare_runs(better, worse)
    assert regressed.verdict is Verdict.REGRESSION
    assert regressed.bootstrap.high < 0
    assert regressed.metric("pass_rate").delta == pytest.approx(-20 / 30)


def test_a_small_noisy_drop_beyond_the_margin_is_inconclusive() -> None:
    baseline = make_run({f"c{i}": 1.0 for i in range(10)})
    candidate = make_run({f"c{i}": 1.0 if i else 0.7 for i in range(10)})
    comparison = compare_runs(baseline, candidate, margin=0.01)
    assert comparison.verdict is Verdict.INCONCLUSIVE


def test_cases_missing_on_either_side_are_reported_and_not_paired() -> None:
    baseline = make_run({"a": 1.0, "b": 1.0, "only-base": 0.0})
    candidate = make_run({"a": 1.0, "b": 1.0, "only-cand": 1.0})
    comparison = compare_runs(baseline, candidate)
    assert comparison.paired == 2
    assert comparison.missing_in_candidate == ["only-base"]
    assert comparison.missing_in_baseline == ["only-cand"]
    assert comparison.metric("pass_rate").baseline == 1.0
