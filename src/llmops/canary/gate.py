"""The offline gate of a canary: the verdict of the candidate's latest eval run against production's.

`llmops canary start` runs the golden set on both versions first and refuses a REGRESSION unless
forced; the controller reads the same verdict before it promotes, so a version whose latest eval
against production is a REGRESSION is never promoted, however good its live figures. The verdict is
recomputed from stored runs (`eval_runs`, `eval_results`), so every replica reads the same one.
"""

from __future__ import annotations

from pydantic import BaseModel
from sqlalchemy import Engine, select

from llmops.evals.compare import Verdict, compare_runs
from llmops.evals.store import load_run
from llmops.storage.tables import eval_runs


class EvalEvidence(BaseModel):
    """A candidate's latest eval verdict against production, and which stored runs it compares."""

    dataset: str
    baseline_run_id: str
    candidate_run_id: str
    verdict: Verdict
    reasons: list[str]

    @property
    def regression(self) -> bool:
        return self.verdict is Verdict.REGRESSION

    def line(self) -> str:
        return (
            f"eval {self.verdict.value} against production on {self.dataset} "
            f"(runs {self.baseline_run_id} → {self.candidate_run_id}): {'; '.join(self.reasons)}"
        )


class EvalRegressionError(ValueError):
    """`canary start` of a version whose eval verdict against production is REGRESSION, not forced."""

    def __init__(self, evidence: EvalEvidence) -> None:
        super().__init__(f"refused: {evidence.line()}")
        self.evidence = evidence


def _latest_run(engine: Engine, version: str, dataset: str | None = None) -> tuple[str, str] | None:
    """(run id, dataset) of the version's latest completed run, on `dataset` when given."""
    r = eval_runs.c
    query = select(r.id, r.dataset).where(r.prompt_version == version, r.status == "completed")
    if dataset is not None:
        query = query.where(r.dataset == dataset)
    with engine.connect() as connection:
        row = connection.execute(query.order_by(r.started_at.desc(), r.id.desc()).limit(1)).first()
    return None if row is None else (row.id, row.dataset)


class VerdictReader:
    """Reads `latest_verdict`, remembering the last pair of runs compared (stored runs never change, and
    the controller asks again every interval)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._last: EvalEvidence | None = None

    def latest_verdict(self, production: str, candidate: str) -> EvalEvidence | None:
        """The candidate's latest run compared with production's latest run on the same dataset; None
        when either version has no such run."""
        latest = _latest_run(self.engine, candidate)
        if latest is None:
            return None
        candidate_run_id, dataset = latest
        baseline = _latest_run(self.engine, production, dataset)
        if baseline is None:
            return None
        last = self._last
        if last is not None and (last.baseline_run_id, last.candidate_run_id) == (
            baseline[0],
            candidate_run_id,
        ):
            return last
        comparison = compare_runs(load_run(self.engine, baseline[0]), load_run(self.engine, candidate_run_id))
        self._last = EvalEvidence(
            dataset=dataset,
            baseline_run_id=baseline[0],
            candidate_run_id=candidate_run_id,
            verdict=comparison.verdict,
            reasons=comparison.reasons,
        )
        return self._last
