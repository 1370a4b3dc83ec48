"""Mine negative feedback into candidate eval cases, worst first, for a human to label.

Each case is an eval case (`EvalCase`) that loads in `llmops eval run --dataset` as written: tagged
`needs-label` with empty expectations (listed by a run, not scored, until `llmops eval label` fills
them), and a `source` block linking it to the request, trace and prompt version, the rating and notes,
and the bad output (the reply the caller received, else the last model output). The input email is
rebuilt from the trace's stored span attributes, which the exporter has already redacted: the chat
span's varying user turn (`Sender:`, `Subject:` and `Body:` lines) and, failing that, the parse_email
span's subject. Masked addresses become placeholders on `example.invalid` and the recipients, which
spans do not capture, one placeholder (`llmops.evals.placeholders`). When content capture was `none`
(or the trace has expired) the case says so: `"email": null` and the tag `no-content`. Every text is
passed through the redactor again before it is written.

Order: rating -1 before 0; within a rating the most recently updated first, then the longest notes.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import IO, Any

from pydantic import BaseModel
from sqlalchemy import Connection, Engine, func, select

from llmops.evals.datasets import NEEDS_LABEL, CaseSource, EvalCase, case_line
from llmops.evals.placeholders import case_email
from llmops.redaction import Redactor
from llmops.storage.tables import feedback, requests, spans
from llmops.storage.timeutil import utc
from llmops.telemetry import conventions as c
from llmops.telemetry.messages import read_messages

MINED_TAGS = ("mined", NEEDS_LABEL)
_CASE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_SUBJECT = re.compile(r"^Subject: ?(.*)$", re.MULTILINE)
_SENDER = re.compile(r"^Sender: ?(.*)$", re.MULTILINE)
_BODY = re.compile(r"^Body: ?", re.MULTILINE)
_POLL_S = 0.2

Trace = Sequence[tuple[str, dict[str, Any]]]


class TraceContent(BaseModel):
    email: dict[str, str] | None = None
    bad_output: str | None = None


def mine(
    engine: Engine,
    redactor: Redactor,
    since: datetime | None = None,
    limit: int = 50,
    *,
    settle_s: float = 0.0,
) -> list[EvalCase]:
    """Candidate cases from feedback rated -1 or 0 (updated at or after `since`), worst first.

    A rated request that ended less than `settle_s` ago and whose root span is not stored yet is
    waited for, until then at most: its spans may still be in the export queue of another replica
    (up to `OTEL_BSP_SCHEDULE_DELAY`; the replica that takes the feedback flushes its own)."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    query = (
        select(
            feedback.c.request_id,
            feedback.c.rating,
            feedback.c.notes,
            requests.c.trace_id,
            requests.c.span_id,
            requests.c.created_at,
            requests.c.latency_ms,
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
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    ended = {
        (row.trace_id, row.span_id): utc(row.created_at) + timedelta(milliseconds=row.latency_ms or 0.0)
        for row in rows
        if row.trace_id is not None
    }
    await_root_spans(engine, ended, settle_s)
    cases = []
    with engine.connect() as connection:
        for row in rows:
            source = CaseSource(
                request_id=row.request_id,
                trace_id=row.trace_id,
                prompt_version=row.prompt_version,
                rating=row.rating,
                notes=_again(redactor, row.notes),
            )
            cases.append(build_case(redactor, stored_trace(connection, row.request_id), source))
    return cases


def await_root_spans(engine: Engine, ended: dict[tuple[str, str], datetime], settle_s: float) -> None:
    """Wait until every root span (trace id, span id) of a request that ended less than `settle_s`
    ago is stored, or until `settle_s` after its request ended."""
    if settle_s <= 0:
        return
    due = {key: at + timedelta(seconds=settle_s) for key, at in ended.items()}
    while True:
        now = datetime.now(UTC)
        waiting = {key: at for key, at in due.items() if at > now}
        if not waiting:
            return
        with engine.connect() as connection:
            stored = _stored_spans(connection, list(waiting))
        due = {key: at for key, at in waiting.items() if key not in stored}
        if not due:
            return
        time.sleep(min(_POLL_S, (min(due.values()) - now).total_seconds()))


def _stored_spans(connection: Connection, keys: list[tuple[str, str]]) -> set[tuple[str, str]]:
    trace_ids = {trace_id for trace_id, _ in keys}
    rows = connection.execute(
        select(spans.c.trace_id, spans.c.span_id).where(
            spans.c.trace_id.in_(trace_ids), spans.c.span_id.in_({span_id for _, span_id in keys})
        )
    ).all()
    return {(row.trace_id, row.span_id) for row in rows}


def stored_trace(connection: Connection, request_id: str) -> Trace:
    """The request's stored spans as (name, attributes), oldest first."""
    rows = connection.execute(
        select(spans.c.name, spans.c.attributes)
        .where(spans.c.request_id == request_id)
        .order_by(spans.c.start_time)
    ).all()
    return [(row.name, stored_attributes(row.attributes)) for row in rows]


def build_case(
    redactor: Redactor, trace: Trace, source: CaseSource, extra_tags: Sequence[str] = ()
) -> EvalCase:
    """A `needs-label` case from a request's stored trace, redacted again, with valid addresses."""
    content = trace_content(trace)
    tags = [*MINED_TAGS, *extra_tags]
    email = None
    if content.email is None:
        tags.append("no-content")
    else:
        parts = {key: redactor.redact(value) for key, value in content.email.items()}
        if not parts["body"] and not parts["sender"]:
            tags.append("partial-content")
        email = case_email(parts["sender"], parts["subject"], parts["body"])
    source = source.model_copy(update={"bad_output": _again(redactor, content.bad_output)})
    return EvalCase(id=case_id(source.request_id), email=email, tags=tags, source=source)


def case_id(request_id: str) -> str:
    """`mined-<request id>`, or a digest of an id that is not a valid case id."""
    if _CASE_ID.match(request_id):
        return f"mined-{request_id}"
    return f"mined-{hashlib.sha256(request_id.encode()).hexdigest()[:32]}"


def write_jsonl(cases: Iterable[EvalCase], stream: IO[str]) -> int:
    """One case per line; returns how many were written."""
    count = 0
    for case in cases:
        stream.write(case_line(case) + "\n")
        count += 1
    return count


def _again(redactor: Redactor, text: str | None) -> str | None:
    return None if text is None else redactor.redact(text)


def stored_attributes(raw: str) -> dict[str, Any]:
    try:
        parsed = json.loads(raw)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def trace_content(trace: Trace) -> TraceContent:
    """The email (from the first chat's user turn, else the subject) and the bad output: the reply the
    caller received (the root span's output), else the last model output."""
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
    replied = [attributes for _, attributes in trace if _is_root(attributes)]
    outputs = _assistant_outputs(replied) or _assistant_outputs(chats)
    bad_output = outputs[-1] if outputs else None
    if user_turn is not None:
        return TraceContent(email=parse_user_turn(user_turn), bad_output=bad_output)
    subject = next((a[c.EMAIL_SUBJECT] for _, a in trace if isinstance(a.get(c.EMAIL_SUBJECT), str)), None)
    if subject is not None:
        return TraceContent(email=_email("", subject, ""), bad_output=bad_output)
    return TraceContent(bad_output=bad_output)


def _assistant_outputs(spans: list[dict[str, Any]]) -> list[str]:
    """Assistant turns in these spans' output messages (an ingested root span often carries none)."""
    return [
        text
        for attributes in spans
        for role, text in read_messages(attributes.get(c.GEN_AI_OUTPUT_MESSAGES))
        if role == "assistant"
    ]


def _is_chat(name: str, attributes: dict[str, Any]) -> bool:
    """A model call: ours are named `chat {model}`; ingested ones are known by their operation name."""
    return name.startswith("chat ") or attributes.get(c.GEN_AI_OPERATION_NAME) == "chat"


def _is_root(attributes: dict[str, Any]) -> bool:
    """The request's own span, which carries what the caller received."""
    return attributes.get(c.GEN_AI_OPERATION_NAME) == "invoke_agent"


def parse_user_turn(text: str) -> dict[str, str]:
    """Sender, subject and body from a prompt's user turn (`Sender: … (contact note)`, `Subject:`, `Body:`)."""
    sender_match = _SENDER.search(text)
    sender = strip_contact_note(sender_match.group(1)) if sender_match else ""
    subject_match = _SUBJECT.search(text)
    body_match = _BODY.search(text)
    body = text[body_match.end() :].rstrip("\n") if body_match else ""
    return _email(sender, subject_match.group(1) if subject_match else "", body)


def strip_contact_note(line: str) -> str:
    """The sender of a `{sender} ({contact note})` line: the line without its last parenthesised
    group, nested parentheses included (`Sam <[EMAIL]> (Known contact: Sam (colleague, VIP).)`). A
    note whose parentheses do not balance is left in place; the case's sender stays a valid address."""
    text = line.rstrip()
    if not text.endswith(")"):
        return text
    depth = 0
    for index in range(len(text) - 1, -1, -1):
        if text[index] == ")":
            depth += 1
        elif text[index] == "(":
            depth -= 1
            if depth == 0:
                return text[:index].rstrip()
    return text


def _email(sender: str, subject: str, body: str) -> dict[str, str]:
    return {"sender": sender, "subject": subject, "body": body}
