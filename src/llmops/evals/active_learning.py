"""Active learning: pick the requests most worth adding to the eval set, in the mining code's shape.

Order: negative feedback first (rating -1, as `llmops eval mine` orders it), then the lowest LLM-judge
scores from stored eval runs (below `max_judge_score`), then disagreement between the judge and the
user (a judge score and a user rating, mapped -1→0, 0→0.5, 1→1, at least `min_disagreement` apart).
A request is picked once, for its first reason. The email and the bad output are rebuilt from the
stored (already redacted) trace and passed through the redactor again before they are written.
"""

from __future__ import annotations

import json

from sqlalchemy import Engine, select

from llmops.evals.datasets import CaseSource, EvalCase
from llmops.evals.mining import build_case, mine, stored_trace
from llmops.redaction import Redactor
from llmops.storage.tables import eval_results, feedback, requests

JUDGE = "judge"
REASONS = ("negative-feedback", "low-judge-score", "judge-user-disagreement")


def select_candidates(
    engine: Engine,
    redactor: Redactor,
    limit: int = 50,
    max_judge_score: float = 0.5,
    min_disagreement: float = 0.5,
) -> list[EvalCase]:
    if limit < 1:
        raise ValueError("limit must be at least 1")
    picked: dict[str, EvalCase] = {}
    for case in mine(engine, redactor, limit=limit):
        assert case.source is not None  # mined cases always say where they came from
        if case.source.rating == -1:
            source = case.source.model_copy(update={"reason": REASONS[0]})
            picked[source.request_id] = case.model_copy(
                update={"tags": [*case.tags, REASONS[0]], "source": source}
            )
    judged = _judge_scores(engine)
    ratings = _ratings(engine, list(judged))
    low = sorted((score, rid) for rid, score in judged.items() if score < max_judge_score)
    disagree = sorted(
        ((-abs(score - (ratings[rid] + 1) / 2), rid) for rid, score in judged.items() if rid in ratings),
    )
    order = [(rid, REASONS[1]) for _, rid in low] + [
        (rid, REASONS[2]) for gap, rid in disagree if -gap >= min_disagreement
    ]
    for request_id, reason in order:
        if len(picked) >= limit:
            break
        if request_id not in picked:
            picked[request_id] = _case(engine, redactor, request_id, reason, judged, ratings)
    return list(picked.values())[:limit]


def _judge_scores(engine: Engine) -> dict[str, float]:
    """The lowest judge score per request id across stored eval results."""
    query = select(eval_results.c.request_id, eval_results.c.scores).where(
        eval_results.c.request_id.is_not(None)
    )
    found: dict[str, float] = {}
    with engine.connect() as connection:
        for request_id, raw in connection.execute(query):
            for score in json.loads(raw):
                if score.get("name") == JUDGE and isinstance(score.get("score"), int | float):
                    found[request_id] = min(found.get(request_id, 1.0), float(score["score"]))
    return found


def _ratings(engine: Engine, request_ids: list[str]) -> dict[str, int]:
    if not request_ids:
        return {}
    query = select(feedback.c.request_id, feedback.c.rating).where(feedback.c.request_id.in_(request_ids))
    with engine.connect() as connection:
        return {row.request_id: row.rating for row in connection.execute(query)}


def _case(
    engine: Engine,
    redactor: Redactor,
    request_id: str,
    reason: str,
    judged: dict[str, float],
    ratings: dict[str, int],
) -> EvalCase:
    with engine.connect() as connection:
        row = connection.execute(
            select(requests.c.trace_id, requests.c.prompt_version).where(requests.c.request_id == request_id)
        ).one_or_none()
        trace = stored_trace(connection, request_id)
    source = CaseSource(
        request_id=request_id,
        trace_id=row.trace_id if row else None,
        prompt_version=row.prompt_version if row else None,
        rating=ratings.get(request_id),
        judge_score=judged.get(request_id),
        reason=reason,
    )
    return build_case(redactor, trace, source, extra_tags=[reason])
