"""The evals pages: the runs, a comparison of two (defaulting to the newest run against the newest run
of another prompt version), every paired case with why it failed and a link to its trace, and one run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Engine

from llmops.dashboard.format import duration_ms, money, pct, pp
from llmops.evals.compare import Comparison, MetricDelta, compare_runs
from llmops.evals.runner import CaseResult, EvalRun
from llmops.evals.store import load_run, resolve_run
from llmops.reporting.quality import EvalRunRow, list_eval_runs
from llmops.reporting.render import NONE


@dataclass
class CaseView:
    case_id: str
    critical: bool
    baseline_passed: bool | None
    candidate_passed: bool | None
    change: str  # "regressed", "improved", "same"
    reason: str  # why the candidate (or, when it passed, the baseline) failed
    baseline_request: str | None
    candidate_request: str | None


@dataclass
class MetricRow:
    name: str
    baseline: str
    candidate: str
    change: str
    worse: bool


METRIC_NAMES = {
    "pass_rate": "Pass rate",
    "mean_score": "Mean score",
    "mean_latency_ms": "Mean latency",
    "mean_cost_usd": "Mean cost per case",
}


def metric_row(metric: MetricDelta) -> MetricRow:
    """A metric in its unit: rates in % with the change in pp, latency and cost with a signed change."""
    delta = metric.delta
    shown: Callable[[float | None], str]
    if metric.name.endswith("_ms") or metric.name.endswith("_usd"):
        shown = duration_ms if metric.name.endswith("_ms") else money
        change = NONE if delta is None else ("+" if delta >= 0 else "−") + shown(abs(delta))
        worse = delta is not None and delta > 0
    else:
        shown, change, worse = pct, pp(delta), delta is not None and delta < 0
    return MetricRow(
        METRIC_NAMES.get(metric.name, metric.name),
        shown(metric.baseline),
        shown(metric.candidate),
        change,
        worse,
    )


@dataclass
class EvalsPage:
    runs: list[EvalRunRow]
    baseline: str
    candidate: str
    comparison: Comparison | None = None
    cases: list[CaseView] = field(default_factory=list)
    metrics: list[MetricRow] = field(default_factory=list)


def default_pair(runs: list[EvalRunRow]) -> tuple[str, str]:
    """Candidate: the newest run; baseline: the newest run of another prompt version (else the one before)."""
    if len(runs) < 2:
        return ("", runs[0].id if runs else "")
    newest = runs[0]
    other = next((run for run in runs[1:] if run.prompt_version != newest.prompt_version), runs[1])
    return other.id, newest.id


def evals_page(engine: Engine, baseline: str | None, candidate: str | None) -> EvalsPage:
    """RunNotFound when a named run does not exist; with neither named, the default pair is compared."""
    runs = list_eval_runs(engine)
    if not baseline and not candidate:
        baseline, candidate = default_pair(runs)
    page = EvalsPage(runs=runs, baseline=baseline or "", candidate=candidate or "")
    if not (baseline and candidate):
        return page
    base, cand = resolve_run(engine, baseline), resolve_run(engine, candidate)
    page.baseline, page.candidate = base.id, cand.id
    page.comparison = compare_runs(base, cand)
    page.cases = case_views(page.comparison, base, cand)
    page.metrics = [metric_row(metric) for metric in page.comparison.metrics]
    return page


def case_views(comparison: Comparison, base: EvalRun, cand: EvalRun) -> list[CaseView]:
    """Regressions first, then improvements, then the rest, each with its reason and trace links."""
    before = {result.case_id: result for result in base.results}
    after = {result.case_id: result for result in cand.results}
    views = []
    for change in comparison.cases:
        old, new = before.get(change.case_id), after.get(change.case_id)
        kind = (
            "regressed"
            if change.baseline_passed and not change.candidate_passed
            else "improved"
            if change.candidate_passed and not change.baseline_passed
            else "same"
        )
        failing = new if new is not None and not new.passed else old
        views.append(
            CaseView(
                case_id=change.case_id,
                critical=change.critical,
                baseline_passed=change.baseline_passed,
                candidate_passed=change.candidate_passed,
                change=kind,
                reason=failure_reason(failing) if failing is not None and not failing.passed else "",
                baseline_request=old.request_id if old else None,
                candidate_request=new.request_id if new else None,
            )
        )
    order = {"regressed": 0, "improved": 1, "same": 2}
    return sorted(views, key=lambda view: order[view.change])


def failure_reason(result: CaseResult) -> str:
    """The failed scorers' reasons (or the case's error), one line."""
    if result.error:
        return result.error
    reasons = [f"{score.name}: {score.reason}" for score in result.scores if not score.passed]
    return "; ".join(reasons) or "below the pass score"


def comparison(engine: Engine, baseline: str, candidate: str) -> Comparison:
    """Compare two runs (ids, or prompt versions meaning their latest run); RunNotFound if missing."""
    return compare_runs(resolve_run(engine, baseline), resolve_run(engine, candidate))


def run_page(engine: Engine, run_id: str) -> EvalRun:
    """One stored run with every case (RunNotFound when there is none)."""
    return load_run(engine, run_id)
