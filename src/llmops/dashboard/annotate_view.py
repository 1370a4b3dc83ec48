"""What the annotation page shows: the requests most worth labelling, as cards with a proposal each.

The queue is `llmops eval candidates` (negative feedback, low judge scores, judge/user disagreement)
without the cases the chosen dataset already holds in the database (labelled on any replica).
Everything shown was rebuilt from the stored, redacted trace and redacted again; long texts are clipped.
"""

from __future__ import annotations

from pydantic import BaseModel, Field
from sqlalchemy import Engine

from llmops.evals.active_learning import select_candidates
from llmops.evals.case_store import checked_name, stored_ids
from llmops.evals.datasets import EvalCase
from llmops.evals.labelling import proposal
from llmops.redaction import Redactor

DEFAULT_DATASET = "labelled"
PAGE = 50
_CLIP = 2000


class Card(BaseModel):
    case_id: str
    reason: str | None
    rating: int | None
    judge_score: float | None
    notes: str | None
    sender: str | None
    subject: str | None
    body: str | None
    replied: str | None
    category: str | None
    priority: tuple[int, int]
    runnable: bool


class Queue(BaseModel):
    dataset: str
    labelled: int
    added: str | None = Field(None, description="The case just added, when the dataset holds it.")
    cards: list[Card]


def candidates(engine: Engine, redactor: Redactor, name: str) -> list[EvalCase]:
    """Cases waiting for a label that the named dataset does not hold yet, most useful first."""
    done = stored_ids(engine, checked_name(name))
    picked = select_candidates(engine, redactor, limit=len(done) + PAGE)
    return [case for case in picked if case.id not in done][:PAGE]


def queue(engine: Engine, redactor: Redactor, name: str, added: str | None) -> Queue:
    done = stored_ids(engine, checked_name(name))
    return Queue(
        dataset=name,
        labelled=len(done),
        added=added if added in done else None,
        cards=[card(case) for case in candidates(engine, redactor, name)],
    )


def card(case: EvalCase) -> Card:
    proposed = proposal(case)
    low, high = proposed.get("priority", [3, 3])
    source = case.source
    email = case.email
    return Card(
        case_id=case.id,
        reason=source.reason if source else None,
        rating=source.rating if source else None,
        judge_score=source.judge_score if source else None,
        notes=_clip(source.notes if source else None),
        sender=email.sender if email else None,
        subject=_clip(email.subject if email else None),
        body=_clip(email.body if email else None),
        replied=_clip(source.bad_output if source else None),
        category=proposed.get("category"),
        priority=(low, high),
        runnable=email is not None or case.input is not None,
    )


def _clip(text: str | None) -> str | None:
    if text is None or len(text) <= _CLIP:
        return text
    return text[:_CLIP] + "…"
