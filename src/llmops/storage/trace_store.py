"""Write path of the telemetry store: spans, request rows and their hourly rollups, idempotently.

A request is counted in the rollups exactly when its row is inserted, and a step (any span below a
request's root span) exactly when its `request_id` goes from NULL to set. Both transitions happen at
most once, so a batch exported twice changes nothing the second time.

Children usually end, and so are exported, before their root; they wait with `request_id` NULL until
the root arrives, then are attributed to it by walking parent links. Rollups bucket a step by its
request's start hour and prompt version, so "steps of the requests in this window" is one question.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import Connection, bindparam, select, tuple_, update

from llmops.storage.dialect import insert_for
from llmops.storage.rollups import REQUESTS, STEPS, RollupBatch
from llmops.storage.tables import requests, spans

SpanKey = tuple[str, str]


@dataclass(frozen=True, slots=True)
class SpanRecord:
    """One span as stored; `request_id` is set on a request's root span only."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    kind: str
    start_time: datetime
    end_time: datetime
    duration_ms: float
    status_code: str
    status_message: str | None
    attributes: str
    events: str
    request_id: str | None = None

    @property
    def key(self) -> SpanKey:
        return (self.trace_id, self.span_id)


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request, from its root span; missing strings are stored as '' so rollup keys stay non-null."""

    request_id: str
    trace_id: str
    span_id: str
    created_at: datetime
    user_id: str | None
    prompt_name: str
    prompt_version: str
    model: str
    provider: str
    status: str
    http_status: int | None
    latency_ms: float
    input_tokens: int
    output_tokens: int
    cost_usd: float | None
    price_source: str | None
    retries: int
    degraded: bool
    degraded_reason: str | None
    category: str | None
    error_type: str | None


@dataclass(frozen=True, slots=True)
class BatchResult:
    spans_inserted: int
    requests_inserted: int
    requests_skipped: int
    steps_attributed: int


@dataclass(frozen=True, slots=True)
class _Pending:
    parent_span_id: str | None
    name: str
    status_code: str
    duration_ms: float


def write_batch(
    connection: Connection, span_records: Sequence[SpanRecord], request_records: Sequence[RequestRecord]
) -> BatchResult:
    """Store one exported batch inside the caller's transaction; duplicates are skipped, not recounted.

    A root span whose request id is already stored is skipped: either the batch is a retry, or a
    client reused an `X-Request-ID` (the first request keeps the id; `requests_skipped` counts both).
    """
    new_requests = _insert_requests(connection, request_records)
    roots = {(r.trace_id, r.span_id): r.request_id for r in new_requests}
    spans_inserted = _insert_spans(connection, span_records, roots)
    request_batch = RollupBatch(REQUESTS)
    for record in new_requests:
        request_batch.add(
            record.created_at, request_rollup_key(record), request_rollup_values(record), record.latency_ms
        )
    request_batch.upsert(connection)
    steps = _attribute_steps(connection, {record.trace_id for record in span_records})
    return BatchResult(spans_inserted, len(new_requests), len(request_records) - len(new_requests), steps)


def _insert_requests(connection: Connection, records: Sequence[RequestRecord]) -> list[RequestRecord]:
    if not records:
        return []
    statement = (
        insert_for(connection, requests)
        .on_conflict_do_nothing(index_elements=["request_id"])
        .returning(requests.c.request_id)
    )
    stored = set(connection.execute(statement, [asdict(record) for record in records]).scalars())
    new: list[RequestRecord] = []
    for record in records:
        if record.request_id in stored:
            stored.discard(record.request_id)
            new.append(record)
    return new


def _insert_spans(connection: Connection, records: Sequence[SpanRecord], roots: dict[SpanKey, str]) -> int:
    if not records:
        return 0
    rows = []
    for record in records:
        row = asdict(record)
        row["request_id"] = roots.get(record.key)
        rows.append(row)
    statement = insert_for(connection, spans).on_conflict_do_nothing().returning(spans.c.span_id)
    return len(connection.execute(statement, rows).all())


def request_rollup_key(record: RequestRecord) -> tuple[str, str, str]:
    return (record.prompt_version, record.model, record.provider)


def request_rollup_values(record: RequestRecord) -> dict[str, int | float]:
    return {
        "requests": 1,
        "errors": int(record.status == "error"),
        "degraded": int(record.degraded),
        "retries": record.retries,
        "input_tokens": record.input_tokens,
        "output_tokens": record.output_tokens,
        "priced": int(record.cost_usd is not None),
        "cost_usd": record.cost_usd or 0.0,
        "latency_sum_ms": record.latency_ms,
    }


def step_rollup_values(status_code: str, duration_ms: float) -> dict[str, int | float]:
    return {"calls": 1, "errors": int(status_code == "ERROR"), "duration_sum_ms": duration_ms}


def _attribute_steps(connection: Connection, trace_ids: set[str]) -> int:
    """Attribute waiting spans of these traces to their request and count them in the step rollups."""
    if not trace_ids:
        return 0
    pending = _pending_spans(connection, trace_ids)
    if not pending:
        return 0
    anchors = _anchors(connection, pending)
    assigned = _resolve(pending, anchors)
    if not assigned:
        return 0
    connection.execute(
        update(spans)
        .where(
            spans.c.trace_id == bindparam("t"),
            spans.c.span_id == bindparam("s"),
            spans.c.request_id.is_(None),
        )
        .values(request_id=bindparam("r")),
        [{"t": key[0], "s": key[1], "r": request_id} for key, request_id in assigned.items()],
    )
    owners = _request_context(connection, set(assigned.values()))
    batch = RollupBatch(STEPS)
    for key, request_id in assigned.items():
        step = pending[key]
        owner = owners.get(request_id)
        if owner is None:
            continue
        created_at, prompt_version = owner
        values = step_rollup_values(step.status_code, step.duration_ms)
        batch.add(created_at, (step.name, prompt_version), values, step.duration_ms)
    batch.upsert(connection)
    return len(assigned)


def _pending_spans(connection: Connection, trace_ids: set[str]) -> dict[SpanKey, _Pending]:
    query = select(
        spans.c.trace_id,
        spans.c.span_id,
        spans.c.parent_span_id,
        spans.c.name,
        spans.c.status_code,
        spans.c.duration_ms,
    ).where(spans.c.trace_id.in_(sorted(trace_ids)), spans.c.request_id.is_(None))
    return {(row[0], row[1]): _Pending(*row[2:]) for row in connection.execute(query)}


def _anchors(connection: Connection, pending: dict[SpanKey, _Pending]) -> dict[SpanKey, str]:
    """Request ids of the already-attributed parents that waiting spans hang from."""
    wanted = {
        (trace_id, span.parent_span_id)
        for (trace_id, _), span in pending.items()
        if span.parent_span_id and (trace_id, span.parent_span_id) not in pending
    }
    if not wanted:
        return {}
    query = select(spans.c.trace_id, spans.c.span_id, spans.c.request_id).where(
        tuple_(spans.c.trace_id, spans.c.span_id).in_(sorted(wanted)), spans.c.request_id.is_not(None)
    )
    return {(row[0], row[1]): row[2] for row in connection.execute(query)}


def _resolve(pending: dict[SpanKey, _Pending], anchors: dict[SpanKey, str]) -> dict[SpanKey, str]:
    """Walk each waiting span up its parents to an attributed span; unresolved spans keep waiting."""
    resolved: dict[SpanKey, str | None] = {}
    for start in pending:
        chain: list[SpanKey] = []
        key: SpanKey | None = start
        found: str | None = None
        while key is not None and key not in resolved:
            if key in anchors:
                found = anchors[key]
                break
            span = pending.get(key)
            if span is None or key in chain:
                break
            chain.append(key)
            key = (key[0], span.parent_span_id) if span.parent_span_id else None
        else:
            if key is not None:
                found = resolved[key]
        for link in chain:
            resolved[link] = found
    return {key: request_id for key, request_id in resolved.items() if request_id is not None}


def _request_context(connection: Connection, request_ids: Iterable[str]) -> dict[str, tuple[datetime, str]]:
    query = select(requests.c.request_id, requests.c.created_at, requests.c.prompt_version).where(
        requests.c.request_id.in_(sorted(request_ids))
    )
    return {row[0]: (row[1], row[2]) for row in connection.execute(query)}
