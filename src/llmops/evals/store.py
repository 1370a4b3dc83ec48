"""Eval runs in the database (`eval_runs`, `eval_results`), written once a run has finished.

Everything textual is redacted before it is written: outputs, score reasons (and what each scorer
expected and got) and errors. A result's
`output` column holds `{"triage", "degraded", "prompt_version", "cached"}` as JSON, so a stored run
loads back into the same `EvalRun` the runner returned (minus anything the redactor masked).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Engine, insert, select

from llmops.evals.runner import CaseResult, EvalRun
from llmops.evals.scorers import ScoreResult
from llmops.redaction import Redactor
from llmops.storage.tables import eval_results, eval_runs


class RunNotFound(LookupError):
    """No stored run matches the id or prompt version asked for."""


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _result_row(run_id: str, result: CaseResult, redactor: Redactor) -> dict[str, Any]:
    output = {
        "triage": result.output,
        "degraded": result.degraded,
        "prompt_version": result.prompt_version,
        "cached": result.cached,
    }
    scores = [redactor.redact_value(score.model_dump(mode="json")) for score in result.scores]
    return {
        "run_id": run_id,
        "case_id": result.case_id,
        "passed": result.passed,
        "score": result.score,
        "critical": result.critical,
        "scores": _dumps(scores),
        "output": _dumps(redactor.redact_value(output)),
        "error": redactor.redact(result.error) if result.error is not None else None,
        "latency_ms": result.latency_ms,
        "input_tokens": result.input_tokens,
        "output_tokens": result.output_tokens,
        "cost_usd": result.cost_usd,
        "request_id": result.request_id,
        "trace_id": result.trace_id,
    }


def save_run(engine: Engine, run: EvalRun, redactor: Redactor) -> None:
    """Insert the run and its results in one transaction."""
    with engine.begin() as connection:
        connection.execute(
            insert(eval_runs).values(
                id=run.id,
                dataset=run.dataset,
                dataset_hash=run.dataset_hash,
                prompt_version=run.prompt_version,
                target=redactor.redact(run.target, max_chars=512),
                provider=run.provider,
                model=run.model,
                started_at=run.started_at,
                finished_at=run.finished_at,
                status=run.status,
                cases=run.cases,
                passed=run.passed,
                summary=_dumps(redactor.redact_value(run.summary())),
            )
        )
        if run.results:
            connection.execute(
                insert(eval_results), [_result_row(run.id, result, redactor) for result in run.results]
            )


def _result(row: Any) -> CaseResult:
    output = json.loads(row.output) if row.output else {}
    return CaseResult(
        case_id=row.case_id,
        passed=row.passed,
        score=row.score,
        critical=row.critical,
        scores=[ScoreResult.model_validate(item) for item in json.loads(row.scores)],
        output=output.get("triage"),
        error=row.error,
        degraded=bool(output.get("degraded", False)),
        latency_ms=row.latency_ms,
        input_tokens=row.input_tokens,
        output_tokens=row.output_tokens,
        cost_usd=row.cost_usd,
        request_id=row.request_id,
        trace_id=row.trace_id,
        prompt_version=output.get("prompt_version"),
        cached=bool(output.get("cached", False)),
    )


def load_run(engine: Engine, run_id: str) -> EvalRun:
    with engine.connect() as connection:
        run = connection.execute(select(eval_runs).where(eval_runs.c.id == run_id)).first()
        if run is None:
            raise RunNotFound(f"no eval run with id {run_id!r}")
        rows = connection.execute(
            select(eval_results).where(eval_results.c.run_id == run_id).order_by(eval_results.c.case_id)
        ).all()
    summary = json.loads(run.summary)
    return EvalRun(
        id=run.id,
        dataset=run.dataset,
        dataset_hash=run.dataset_hash,
        prompt_version=run.prompt_version,
        target=run.target,
        provider=run.provider,
        model=run.model,
        started_at=run.started_at,
        finished_at=run.finished_at,
        status=run.status,
        warnings=[str(w) for w in summary.get("warnings", [])],
        unlabelled=[str(case_id) for case_id in summary.get("unlabelled", [])],
        results=[_result(row) for row in rows],
    )


def latest_run_id(engine: Engine, prompt_version: str, dataset: str | None = None) -> str | None:
    query = select(eval_runs.c.id).where(eval_runs.c.prompt_version == prompt_version)
    if dataset is not None:
        query = query.where(eval_runs.c.dataset == dataset)
    with engine.connect() as connection:
        return connection.execute(query.order_by(eval_runs.c.started_at.desc()).limit(1)).scalar()


def resolve_run(engine: Engine, reference: str, dataset: str | None = None) -> EvalRun:
    """A run by id, else the latest run of the prompt version `reference` (on `dataset` if given)."""
    try:
        return load_run(engine, reference)
    except RunNotFound:
        pass
    run_id = latest_run_id(engine, reference, dataset)
    if run_id is None:
        on = f" on dataset {dataset!r}" if dataset else ""
        raise RunNotFound(f"no eval run with id {reference!r} and no run of prompt version {reference!r}{on}")
    return load_run(engine, run_id)
