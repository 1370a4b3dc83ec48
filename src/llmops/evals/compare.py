"""Compare two eval runs case by case and decide whether the candidate regressed.

Cases are paired by id (cases present on one side only are listed, not scored). The statistics are
paired because both runs score the same emails:

- McNemar's exact test on the discordant pairs: b cases went pass→fail, c went fail→pass; under "no
  change" min(b, c) ~ Bin(b + c, 1/2), and p = min(1, 2·P(X ≤ min(b, c))) (p = 1 when b + c = 0).
- A paired percentile bootstrap of the mean score difference (candidate − baseline), seeded, so the
  same runs always give the same interval.
- The minimum detectable effect (MDE) on the pass rate at `alpha` (two-sided) and 80% power, by the
  normal approximation for paired proportions: MDE = (z₁₋α/₂ + z₀.₈) · √(p_d / n), where p_d is the
  observed share of discordant pairs and n the number of pairs. With no discordance it falls back to
  the one-proportion MDE at the baseline pass rate, (z₁₋α/₂ + z₀.₈) · √(p̃(1 − p̃) / n), with
  p̃ = (passes + 1) / (n + 2) so that a perfect baseline still gets a non-zero MDE.

The verdict reads the bootstrap interval of the mean score difference and the critical cases:
REGRESSION if the upper bound is below zero or any critical case went pass→fail; IMPROVED if the lower
bound is above zero; NON-INFERIOR if the lower bound is at least −margin; otherwise INCONCLUSIVE.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from enum import StrEnum
from statistics import NormalDist, fmean

from pydantic import BaseModel, Field

from llmops.evals.runner import CaseResult, EvalRun
from llmops.evals.scorers import ScoreResult
from llmops.reporting.render import points

POWER = 0.8


class Verdict(StrEnum):
    REGRESSION = "REGRESSION"
    IMPROVED = "IMPROVED"
    NON_INFERIOR = "NON-INFERIOR"
    INCONCLUSIVE = "INCONCLUSIVE"


class RunRef(BaseModel):
    """Which run a side of the comparison is, without its results."""

    id: str
    prompt_version: str
    dataset: str
    dataset_hash: str
    target: str
    model: str | None
    started_at: str


class MetricDelta(BaseModel):
    name: str
    baseline: float | None
    candidate: float | None
    delta: float | None


class CaseChange(BaseModel):
    """One paired case; for a candidate that failed it, why (each failed scorer's expected and got) and
    where its traces are."""

    case_id: str
    critical: bool
    baseline_passed: bool
    candidate_passed: bool
    baseline_score: float
    candidate_score: float
    failures: list[ScoreResult] = Field(
        default_factory=list, description="The candidate's failed scorers (empty when it passed)."
    )
    explanations: list[str] = Field(
        default_factory=list,
        description="Why the candidate failed, a line per failed scorer: `category: expected spam, got fyi`.",
    )
    error: str | None = Field(None, description="The candidate's call error, if it errored.")
    baseline_request_id: str | None = None
    candidate_request_id: str | None = None
    candidate_trace_id: str | None = None

    @property
    def change(self) -> str:
        """`regressed`, `improved`, `failing` (in both runs) or `passing` (in both)."""
        if self.baseline_passed != self.candidate_passed:
            return "regressed" if self.baseline_passed else "improved"
        return "passing" if self.candidate_passed else "failing"


class McNemar(BaseModel):
    pass_to_fail: int = Field(description="b: discordant pairs that regressed.")
    fail_to_pass: int = Field(description="c: discordant pairs that improved.")
    p_value: float


class BootstrapCI(BaseModel):
    mean_difference: float
    low: float
    high: float
    confidence: float
    resamples: int
    seed: int


class Comparison(BaseModel):
    baseline: RunRef
    candidate: RunRef
    alpha: float
    margin: float
    paired: int
    missing_in_candidate: list[str]
    missing_in_baseline: list[str]
    dataset_changed: bool
    metrics: list[MetricDelta]
    cases: list[CaseChange] = Field(description="Every paired case, in the baseline's order.")
    regressions: list[CaseChange]
    improvements: list[CaseChange]
    still_failing: list[CaseChange] = Field(
        default_factory=list, description="Cases that fail in both runs, each with why."
    )
    mcnemar: McNemar
    bootstrap: BootstrapCI
    mde: float = Field(description="Smallest pass-rate change detectable at alpha with 80% power.")
    verdict: Verdict
    reasons: list[str]

    def metric(self, name: str) -> MetricDelta:
        return next(metric for metric in self.metrics if metric.name == name)


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value: a binomial test of min(b, c) in b + c trials at p = 1/2."""
    if b < 0 or c < 0:
        raise ValueError("counts must be non-negative")
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(b, c) + 1)) / 2**n
    return float(min(1.0, 2 * tail))


def bootstrap_ci(
    differences: Sequence[float], *, confidence: float = 0.95, resamples: int = 10_000, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of paired differences, deterministic for a seed."""
    if not differences:
        return 0.0, 0.0
    if resamples < 1:
        raise ValueError("resamples must be at least 1")
    rng = random.Random(seed)
    n = len(differences)
    means = sorted(fmean(rng.choices(differences, k=n)) for _ in range(resamples))
    tail = (1 - confidence) / 2
    return _quantile(means, tail), _quantile(means, 1 - tail)


def _quantile(ordered: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), on already sorted values."""
    position = q * (len(ordered) - 1)
    below = math.floor(position)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)


def minimum_detectable_effect(
    n: int, discordant: int, baseline_passes: int, *, alpha: float = 0.05, power: float = POWER
) -> float:
    """The pass-rate change a paired comparison of n cases can detect (formula in the module docstring)."""
    if n <= 0:
        return 1.0
    z = NormalDist().inv_cdf(1 - alpha / 2) + NormalDist().inv_cdf(power)
    if discordant > 0:
        return min(1.0, z * math.sqrt(discordant / n / n))
    smoothed = (baseline_passes + 1) / (n + 2)
    return min(1.0, z * math.sqrt(smoothed * (1 - smoothed) / n))


def _mean(values: Sequence[float | None]) -> float | None:
    known = [value for value in values if value is not None]
    return fmean(known) if known else None


def _delta(name: str, baseline: float | None, candidate: float | None) -> MetricDelta:
    delta = None if baseline is None or candidate is None else candidate - baseline
    return MetricDelta(name=name, baseline=baseline, candidate=candidate, delta=delta)


def _metrics(pairs: Sequence[tuple[CaseResult, CaseResult]]) -> list[MetricDelta]:
    base = [b for b, _ in pairs]
    cand = [c for _, c in pairs]
    rows: list[MetricDelta] = []
    for name, read in (
        ("pass_rate", lambda r: float(r.passed)),
        ("mean_score", lambda r: r.score),
        ("mean_latency_ms", lambda r: r.latency_ms),
        ("mean_cost_usd", lambda r: r.cost_usd),
    ):
        rows.append(_delta(name, _mean([read(r) for r in base]), _mean([read(r) for r in cand])))
    return rows


def _ref(run: EvalRun) -> RunRef:
    return RunRef(
        id=run.id,
        prompt_version=run.prompt_version,
        dataset=run.dataset,
        dataset_hash=run.dataset_hash,
        target=run.target,
        model=run.model,
        started_at=run.started_at.isoformat(),
    )


def _change(base: CaseResult, cand: CaseResult) -> CaseChange:
    return CaseChange(
        case_id=cand.case_id,
        critical=base.critical or cand.critical,
        baseline_passed=base.passed,
        candidate_passed=cand.passed,
        baseline_score=base.score,
        candidate_score=cand.score,
        failures=[] if cand.passed else [score for score in cand.scores if not score.passed],
        explanations=cand.explanations(),
        error=None if cand.passed else cand.error,
        baseline_request_id=base.request_id,
        candidate_request_id=cand.request_id,
        candidate_trace_id=cand.trace_id,
    )


def decide(ci: BootstrapCI, regressions: Sequence[CaseChange], margin: float) -> tuple[Verdict, list[str]]:
    """The verdict and the rule that produced it (see the module docstring for the rules)."""
    critical = [change.case_id for change in regressions if change.critical]
    if critical:
        return Verdict.REGRESSION, [f"{len(critical)} critical case(s) went pass→fail: {', '.join(critical)}"]
    if ci.high < 0:
        return Verdict.REGRESSION, [f"the mean score change's CI upper bound {points(ci.high)} is below 0"]
    if ci.low > 0:
        return Verdict.IMPROVED, [f"the mean score change's CI lower bound {points(ci.low)} is above 0"]
    margin_pp = points(-margin)
    if ci.low >= -margin:
        return Verdict.NON_INFERIOR, [
            f"the mean score change's CI lower bound {points(ci.low)} is within the margin {margin_pp}"
        ]
    return Verdict.INCONCLUSIVE, [
        f"the mean score change's CI [{points(ci.low)}, {points(ci.high)}] spans 0 and the margin {margin_pp}"
    ]


def compare_runs(
    baseline: EvalRun,
    candidate: EvalRun,
    *,
    alpha: float = 0.05,
    margin: float = 0.02,
    seed: int = 0,
    resamples: int = 10_000,
) -> Comparison:
    """Pair the runs' cases by id and compute the metrics, tests, interval, MDE and verdict."""
    if not 0 < alpha < 1:
        raise ValueError("alpha must be between 0 and 1")
    if margin < 0:
        raise ValueError("margin must be non-negative")
    base_by_id = {result.case_id: result for result in baseline.results}
    cand_by_id = {result.case_id: result for result in candidate.results}
    pairs = [(base_by_id[case_id], cand_by_id[case_id]) for case_id in base_by_id if case_id in cand_by_id]
    cases = [_change(b, c) for b, c in pairs]
    regressions = [ch for ch in cases if ch.baseline_passed and not ch.candidate_passed]
    improvements = [ch for ch in cases if not ch.baseline_passed and ch.candidate_passed]
    low, high = bootstrap_ci(
        [c.score - b.score for b, c in pairs], confidence=1 - alpha, resamples=resamples, seed=seed
    )
    ci = BootstrapCI(
        mean_difference=fmean(c.score - b.score for b, c in pairs) if pairs else 0.0,
        low=low,
        high=high,
        confidence=1 - alpha,
        resamples=resamples,
        seed=seed,
    )
    verdict, reasons = decide(ci, regressions, margin)
    if not pairs:
        verdict, reasons = Verdict.INCONCLUSIVE, ["the runs have no case in common"]
    return Comparison(
        baseline=_ref(baseline),
        candidate=_ref(candidate),
        alpha=alpha,
        margin=margin,
        paired=len(pairs),
        missing_in_candidate=sorted(set(base_by_id) - set(cand_by_id)),
        missing_in_baseline=sorted(set(cand_by_id) - set(base_by_id)),
        dataset_changed=baseline.dataset_hash != candidate.dataset_hash,
        metrics=_metrics(pairs),
        cases=cases,
        regressions=regressions,
        improvements=improvements,
        still_failing=[ch for ch in cases if not ch.baseline_passed and not ch.candidate_passed],
        mcnemar=McNemar(
            pass_to_fail=len(regressions),
            fail_to_pass=len(improvements),
            p_value=mcnemar_exact(len(regressions), len(improvements)),
        ),
        bootstrap=ci,
        mde=minimum_detectable_effect(
            len(pairs), len(regressions) + len(improvements), sum(b.passed for b, _ in pairs), alpha=alpha
        ),
        verdict=verdict,
        reasons=reasons,
    )
