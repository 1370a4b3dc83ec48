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

COMPLETED = "completed"


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


def _latest_pair(engine: Engine, production: str, candidate: str) -> tuple[str, str, str] | None:
    """(baseline run id, candidate run id, dataset): the candidate's latest completed run that has a
    completed run of production on the same dataset, and production's latest such run."""
    cand, base = eval_runs.alias("candidate"), eval_runs.alias("baseline")
    query = (
        select(base.c.id, cand.c.id, cand.c.dataset)
        .join_from(cand, base, base.c.dataset == cand.c.dataset)
        .where(
            cand.c.prompt_version == candidate,
            base.c.prompt_version == production,
            cand.c.status == COMPLETED,
            base.c.status == COMPLETED,
        )
        .order_by(cand.c.started_at.desc(), cand.c.id.desc(), base.c.started_at.desc(), base.c.id.desc())
        .limit(1)
    )
    with engine.connect() as connection:
        row = connection.execute(query).first()
    return None if row is None else (row[0], row[1], row[2])


class VerdictReader:
    """Reads `latest_verdict`, remembering the last pair of runs compared (stored runs never change, and
    the controller asks again every interval)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._last: EvalEvidence | None = None

    def latest_verdict(self, production: str, candidate: str) -> EvalEvidence | None:
        """The candidate's latest run compared with production's latest run on the same dataset (a later
        run on a dataset production was never run on does not hide it); None when there is no pair."""
        pair = _latest_pair(self.engine, production, candidate)
        if pair is None:
            return None
        baseline_run_id, candidate_run_id, dataset = pair
        last = self._last
        if last is not None and (last.baseline_run_id, last.candidate_run_id) == pair[:2]:
            return last
        comparison = compare_runs(
            load_run(self.engine, baseline_run_id), load_run(self.engine, candidate_run_id)
        )
        self._last = EvalEvidence(
            dataset=dataset,
            baseline_run_id=baseline_run_id,
            candidate_run_id=candidate_run_id,
            verdict=comparison.verdict,
            reasons=comparison.reasons,
        )
        return self._last
