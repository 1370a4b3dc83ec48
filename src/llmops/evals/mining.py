"""Mine negative feedback into candidate eval cases, worst first, for a human to label.

Each case is one JSON line in the golden-set format plus a `source` block linking it to the request,
trace and prompt version, the rating and notes, and the bad output. The input email is rebuilt from the
trace's stored span attributes, which the exporter has already redacted: the chat span's varying user
turn (`Sender:`, `Subject:` and `Body:` lines) and, failing that, the parse_email span's subject.
Recipients and headers are not captured on spans, so `recipients` is empty until a reviewer fills it.
When content capture was `none` (or the trace has expired) the case says so: `"email": null` and the
tag `no-content`. Every text is passed through the redactor again before it is written.

Order: rating -1 before 0; within a rating the most recently updated first, then the longest notes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import IO, Any

from pydantic import BaseModel, Field
from sqlalchemy import Engine, func, select

from llmops.redaction import Redactor
from llmops.storage.tables import feedback, requests, spans
from llmops.storage.timeutil import utc
from llmops.telemetry import conventions as c
from llmops.telemetry.messages import read_messages

MINED_TAGS = ("mined", "needs-label")
_CONTACT_NOTE = re.compile(r"\s+\([^()]*\)$")
_SUBJECT = re.compile(r"^Subject: ?(.*)$", re.MULTILINE)
_SENDER = re.compile(r"^Sender: ?(.*)$", re.MULTILINE)
_BODY = re.compile(r"^Body: ?", re.MULTILINE)


class MinedSource(BaseModel):
    request_id: str
    trace_id: str | None
    prompt_version: str | None
    rating: int
    notes: str | None
    bad_output: str | None = Field(description="The last model output of the request, redacted.")


class MinedCase(BaseModel):
    """A candidate eval case: `expected` is empty until someone labels it."""

    id: str
    email: dict[str, Any] | None
    expected: dict[str, Any] = Field(default_factory=dict)
    tags: list[str]
    critical: bool = False
    source: MinedSource


class TraceContent(BaseModel):
    email: dict[str, Any] | None = None
    bad_output: str | None = None


def mine(
    engine: Engine, redactor: Redactor, since: datetime | None = None, limit: int = 50
) -> list[MinedCase]:
    """Candidate cases from feedback rated -1 or 0 (updated at or after `since`), worst first."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    query = (
        select(
            feedback.c.request_id,
            feedback.c.rating,
            feedback.c.notes,
            requests.c.trace_id,
            requests.c.prompt_version,
        )
        .select_from(feedback.outerjoin(requests, requests.c.request_id == feedback.c.request_id))
        .where(feedback.c.rating <= 0)
        .order_by(
            feedback.c.rating.asc(),
            feedback.c.updated_at.desc(),
            func.length(func.coalesce(feedback.c.notes, "")).desc(),
            feedback.c.id.desc(),
        )
        .limit(limit)
    )
    if since is not None:
        query = query.where(feedback.c.updated_at >= utc(since))
    cases = []
    with engine.connect() as connection:
        rows = connection.execute(query).all()
        for row in rows:
            span_rows: Sequence[Any] = ()
            if row.trace_id is not None:
                span_rows = connection.execute(
                    select(spans.c.name, spans.c.start_time, spans.c.attributes)
                    .where(spans.c.trace_id == row.trace_id, spans.c.request_id == row.request_id)
                    .order_by(spans.c.start_time)
                ).all()
            content = trace_content([(r.name, stored_attributes(r.attributes)) for r in span_rows])
            cases.append(_case(row, content, redactor))
    return cases


def write_jsonl(cases: Iterable[MinedCase], stream: IO[str]) -> int:
    """One case per line; returns how many were written."""
    count = 0
    for case in cases:
        stream.write(json.dumps(case.model_dump(mode="json"), ensure_ascii=False) + "\n")
        count += 1
    return count


def _case(row: Any, content: TraceContent, redactor: Redactor) -> MinedCase:
    tags = list(MINED_TAGS)
    if content.email is None:
        tags.append("no-content")
    elif not content.email.get("body") and not content.email.get("sender"):
        tags.append("partial-content")
    source = MinedSource(
        request_id=row.request_id,
        trace_id=row.trace_id,
        prompt_version=row.prompt_version,
        rating=row.rating,
        notes=_again(redactor, row.notes),
        bad_output=_again(redactor, content.bad_output),
    )
    email = None
    if content.email is not None:
        email = {key: redact_deep(redactor, value) for key, value in content.email.items()}
    return MinedCase(id=f"mined-{row.request_id}", email=email, tags=tags, source=source)


def _again(redactor: Redactor, text: str | None) -> str | None:
    return None if text is None else redactor.redact(text)


def redact_deep(redactor: Redactor, value: Any) -> Any:
    if isinstance(value, str):
        return redactor.redact(value)
    if isinstance(value, list):
        return [redact_deep(redactor, item) for item in value]
    return value


def stored_attributes(raw: str) -> dict[str, Any]:
    try:
        parsed = json.loads(raw)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def trace_content(trace: Sequence[tuple[str, dict[str, Any]]]) -> TraceContent:
    """The email (from the first chat's user turn, else the subject) and the last model output."""
    chats = [attributes for name, attributes in trace if _is_chat(name, attributes)]
    user_turn = next(
        (
            text
            for chat in chats
            for role, text in read_messages(chat.get(c.GEN_AI_INPUT_MESSAGES))
            if role == "user"
        ),
        None,
    )
    outputs = [
        text
        for chat in chats
        for role, text in read_messages(chat.get(c.GEN_AI_OUTPUT_MESSAGES))
        if role == "assistant"
    ]
    bad_output = outputs[-1] if outputs else None
    if user_turn is not None:
        return TraceContent(email=parse_user_turn(user_turn), bad_output=bad_output)
    subject = next((a[c.EMAIL_SUBJECT] for _, a in trace if isinstance(a.get(c.EMAIL_SUBJECT), str)), None)
    if subject is not None:
        return TraceContent(email=_email("", subject, ""), bad_output=bad_output)
    return TraceContent(bad_output=bad_output)


def _is_chat(name: str, attributes: dict[str, Any]) -> bool:
    """A model call: ours are named `chat {model}`; ingested ones are known by their operation name."""
    return name.startswith("chat ") or attributes.get(c.GEN_AI_OPERATION_NAME) == "chat"


def parse_user_turn(text: str) -> dict[str, Any]:
    """Sender, subject and body from a prompt's user turn (`Sender: … (contact note)`, `Subject:`, `Body:`)."""
    sender_match = _SENDER.search(text)
    sender = _CONTACT_NOTE.sub("", sender_match.group(1)) if sender_match else ""
    subject_match = _SUBJECT.search(text)
    body_match = _BODY.search(text)
    body = text[body_match.end() :].rstrip("\n") if body_match else ""
    return _email(sender, subject_match.group(1) if subject_match else "", body)


def _email(sender: str, subject: str, body: str) -> dict[str, Any]:
    return {"sender": sender, "recipients": [], "subject": subject, "body": body}
