"""Active learning: pick the requests most worth adding to the eval set, in the mining code's shape.

Order: negative feedback first (rating -1, as `llmops eval mine` orders it), then the lowest LLM-judge
scores from stored eval runs (below `max_judge_score`), then disagreement between the judge and the
user (a judge score and a user rating, mapped -1→0, 0→0.5, 1→1, at least `min_disagreement` apart).
A request is picked once, for its first reason. The email and the bad output are rebuilt from the
stored (already redacted) trace and passed through the redactor again before they are written.
"""

from __future__ import annotations

import json

from pydantic import Field
from sqlalchemy import Engine, select

from llmops.evals.mining import (
    MINED_TAGS,
    MinedCase,
    MinedSource,
    mine,
    redact_deep,
    stored_attributes,
    trace_content,
)
from llmops.redaction import Redactor
from llmops.storage.tables import eval_results, feedback, requests, spans

JUDGE = "judge"
REASONS = ("negative-feedback", "low-judge-score", "judge-user-disagreement")


class CandidateSource(MinedSource):
    rating: int | None = None  # type: ignore[assignment]
    judge_score: float | None = Field(None, description="The lowest judge score stored for the request.")
    reason: str


class CandidateCase(MinedCase):
    source: CandidateSource


def select_candidates(
    engine: Engine,
    redactor: Redactor,
    limit: int = 50,
    max_judge_score: float = 0.5,
    min_disagreement: float = 0.5,
) -> list[CandidateCase]:
    if limit < 1:
        raise ValueError("limit must be at least 1")
    picked: dict[str, CandidateCase] = {}
    for case in mine(engine, redactor, limit=limit):
        if case.source.rating == -1:
            source = CandidateSource(**case.source.model_dump(), reason=REASONS[0])
            picked[case.source.request_id] = CandidateCase(
                **{**case.model_dump(), "tags": [*case.tags, REASONS[0]], "source": source}
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
) -> CandidateCase:
    with engine.connect() as connection:
        row = connection.execute(
            select(requests.c.trace_id, requests.c.prompt_version).where(requests.c.request_id == request_id)
        ).one_or_none()
        span_rows = connection.execute(
            select(spans.c.name, spans.c.attributes)
            .where(spans.c.request_id == request_id)
            .order_by(spans.c.start_time)
        ).all()
    content = trace_content([(r.name, stored_attributes(r.attributes)) for r in span_rows])
    tags = [*MINED_TAGS, reason]
    if content.email is None:
        tags.append("no-content")
    email = None if content.email is None else {k: redact_deep(redactor, v) for k, v in content.email.items()}
    source = CandidateSource(
        request_id=request_id,
        trace_id=row.trace_id if row else None,
        prompt_version=row.prompt_version if row else None,
        rating=ratings.get(request_id),
        notes=None,
        bad_output=None if content.bad_output is None else redactor.redact(content.bad_output),
        judge_score=judged.get(request_id),
        reason=reason,
    )
    return CandidateCase(id=f"mined-{request_id}", email=email, tags=tags, source=source)
