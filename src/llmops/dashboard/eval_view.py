"""The evals pages: the runs, a comparison of two (defaulting to the newest run against the newest run
of another prompt version), every paired case with, per failed scorer, what was expected and what came
back and a link to its trace, and one run.

The selects above a comparison always name the two runs it compares: a side left out is filled with
its default, and a compared run older than the listed ones is added to the options.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine

from llmops.evals.compare import CaseChange, Comparison, compare_runs
from llmops.evals.reports import MetricFigures, metric_figures
from llmops.evals.runner import EvalRun
from llmops.evals.store import load_run, resolve_run
from llmops.reporting.quality import EvalRunRow, list_eval_runs

CHANGE_ORDER = {"regressed": 0, "failing": 1, "improved": 2, "passing": 3}


@dataclass
class EvalsPage:
    runs: list[EvalRunRow]
    baseline: str
    candidate: str
    comparison: Comparison | None = None
    cases: list[CaseChange] = field(default_factory=list)
    metrics: list[MetricFigures] = field(default_factory=list)


def _baseline_for(runs: list[EvalRunRow], candidate: EvalRun) -> str:
    """The newest run of another prompt version than the candidate's, else the newest other run."""
    others = [run for run in runs if run.id != candidate.id]
    other = next((run for run in others if run.prompt_version != candidate.prompt_version), None)
    return (other or others[0]).id if others else candidate.id


def _row(run: EvalRun) -> EvalRunRow:
    return EvalRunRow(
        id=run.id,
        dataset=run.dataset,
        prompt_version=run.prompt_version,
        provider=run.provider,
        model=run.model,
        started_at=run.started_at,
        status=run.status,
        cases=run.cases,
        passed=run.passed,
        pass_rate=run.passed / run.cases if run.cases else None,
    )


def evals_page(engine: Engine, baseline: str | None, candidate: str | None) -> EvalsPage:
    """RunNotFound when a named run does not exist. A side not named gets its default: the newest run as
    candidate (the newest other run when only the baseline is named) and the newest run of another
    prompt version than the candidate's as baseline."""
    runs = list_eval_runs(engine)
    page = EvalsPage(runs=runs, baseline=baseline or "", candidate=candidate or "")
    if not runs:
        return page
    if baseline and not candidate:  # the newest other run is the candidate
        base = resolve_run(engine, baseline)
        cand = load_run(engine, next((run.id for run in runs if run.id != base.id), base.id))
    else:
        cand = resolve_run(engine, candidate) if candidate else load_run(engine, runs[0].id)
        base = resolve_run(engine, baseline) if baseline else load_run(engine, _baseline_for(runs, cand))
    if base.id == cand.id and not (baseline and candidate):
        page.candidate = cand.id
        return page  # one run stored: nothing to compare it with
    for run in (base, cand):
        if run.id not in {row.id for row in page.runs}:
            page.runs.append(_row(run))
    page.baseline, page.candidate = base.id, cand.id
    page.comparison = compare_runs(base, cand)
    page.cases = sorted(page.comparison.cases, key=lambda change: CHANGE_ORDER[change.change])
    page.metrics = [metric_figures(metric) for metric in page.comparison.metrics]
    return page


def comparison(engine: Engine, baseline: str, candidate: str) -> Comparison:
    """Compare two runs (ids, or prompt versions meaning their latest run); RunNotFound if missing."""
    return compare_runs(resolve_run(engine, baseline), resolve_run(engine, candidate))


def run_page(engine: Engine, run_id: str) -> EvalRun:
    """One stored run with every case (RunNotFound when there is none)."""
    return load_run(engine, run_id)
