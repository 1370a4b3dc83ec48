"""Write path of the telemetry store: spans, request rows and their hourly rollups, idempotently.

A request is counted in the rollups exactly when its row is inserted, and a step (any span below a
request's root span) exactly when it gets its `request_id`: on insert when its root is in the same
batch, otherwise later, when an UPDATE links the waiting (NULL) row. Each happens at most once, so a
batch exported twice changes nothing the second time.

Children end, and so are queued for export, before their root; when a batch boundary falls inside a
trace they wait until the root arrives and are then attributed to it by walking parent links.
Rollups bucket a step by its request's start hour, prompt version, model and provider, so "steps of
the requests in this window (of this version, model or provider)" is one question.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import attrgetter

from sqlalchemy import Connection, Executable, bindparam, select, update

from llmops.storage.bulk import execute_many, insert_returning
from llmops.storage.dialect import insert_for_dialect, one_of
from llmops.storage.rollups import REQUESTS, STEPS, RollupBatch
from llmops.storage.tables import API_SOURCE, DEFAULT_ASSISTANT, EVAL_SOURCE, LIVE_TRAFFIC, requests, spans

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
    source: str = API_SOURCE
    assistant: str = DEFAULT_ASSISTANT
    session_id: str | None = None
    model_alias: str | None = None


@dataclass(frozen=True, slots=True)
class BatchResult:
    spans_inserted: int
    requests_inserted: int
    requests_skipped: int
    steps_attributed: int


@dataclass(frozen=True, slots=True)
class _Step:
    """What a step contributes to the rollups, and the parent link used to find its request."""

    parent_span_id: str | None
    name: str
    status_code: str
    duration_ms: float


RollupKey = tuple[str, str, str, str]  # prompt version, model, provider, assistant
Owners = dict[str, tuple[datetime, RollupKey]]  # request id → (created_at, rollup key)
StoredRoots = dict[SpanKey, tuple[str, tuple[datetime, RollupKey] | None]]  # → (request id, live owner)


def write_batch(
    connection: Connection, span_records: Sequence[SpanRecord], request_records: Sequence[RequestRecord]
) -> BatchResult:
    """Store one exported batch inside the caller's transaction; duplicates are skipped, not recounted.

    A root span whose request row is already stored (by `write_request` before the reply, or by an
    earlier try of this batch) is not inserted or counted again, but still anchors its spans under the
    stored id. A root whose request id another span's row holds is skipped (`requests_skipped` counts
    both cases). A request is counted in the rollups exactly when its row is inserted.
    Spans whose root is in the same batch are attributed as they are inserted; the rest wait.
    """
    stored = _stored_roots(connection, request_records)
    pending = [r for r in request_records if (r.trace_id, r.span_id) not in stored]
    new_requests = _insert_requests(connection, pending)
    roots = {(r.trace_id, r.span_id): r.request_id for r in new_requests}
    roots.update({key: request_id for key, (request_id, _) in stored.items()})
    live = [r for r in new_requests if r.source != EVAL_SOURCE]
    owners: Owners = {r.request_id: (r.created_at, request_rollup_key(r)) for r in live}
    owners.update({request_id: owner for request_id, owner in stored.values() if owner is not None})
    stored_spans, waiting = _stored_spans(connection, {record.trace_id for record in span_records})
    fresh = _fresh_spans(span_records, stored_spans)
    children = {record.key: _step(record) for record in fresh if record.key not in roots}
    attributed = _resolve(children, roots)
    execute_many(
        connection,
        _insert_spans,
        SPAN_COLUMNS,
        [_span_row(record, roots.get(record.key) or attributed.get(record.key)) for record in fresh],
    )

    request_batch = RollupBatch(REQUESTS)
    for record in live:
        request_batch.add(
            record.created_at, request_rollup_key(record), request_rollup_values(record), record.latency_ms
        )
    request_batch.upsert(connection)
    step_batch = RollupBatch(STEPS)
    _add_steps(step_batch, attributed, children, owners)
    waiting.update((key, step) for key, step in children.items() if key not in attributed)
    late = _attribute_waiting(connection, waiting, step_batch)
    step_batch.upsert(connection)
    return BatchResult(
        spans_inserted=len(fresh),
        requests_inserted=len(new_requests),
        requests_skipped=len(request_records) - len(new_requests),
        steps_attributed=len(attributed) + late,
    )


SPAN_COLUMNS = tuple(column.name for column in spans.c)
REQUEST_COLUMNS = tuple(column.name for column in requests.c if column.name != "id")
_request_values = attrgetter(*REQUEST_COLUMNS)


def _span_row(record: SpanRecord, request_id: str | None) -> tuple[object, ...]:
    """The span's values in `SPAN_COLUMNS` order, with the request it is attributed to."""
    return (
        record.trace_id,
        record.span_id,
        record.parent_span_id,
        request_id,
        record.name,
        record.kind,
        record.start_time,
        record.end_time,
        record.duration_ms,
        record.status_code,
        record.status_message,
        record.attributes,
        record.events,
    )


def _insert_spans(dialect: str) -> Executable:
    return insert_for_dialect(dialect, spans).on_conflict_do_nothing()


def _insert_new_requests(dialect: str) -> Executable:
    statement = insert_for_dialect(dialect, requests).on_conflict_do_nothing(index_elements=["request_id"])
    return statement.returning(requests.c.request_id)


def _link_waiting(_dialect: str) -> Executable:
    return (
        update(spans)
        .where(
            spans.c.trace_id == bindparam("t"),
            spans.c.span_id == bindparam("s"),
            spans.c.request_id.is_(None),
        )
        .values(request_id=bindparam("r"))
    )


def _step(record: SpanRecord) -> _Step:
    return _Step(record.parent_span_id, record.name, record.status_code, record.duration_ms)


def write_request(connection: Connection, record: RequestRecord) -> bool:
    """Insert one request row and count it in the rollups, in the caller's transaction.

    False (nothing written, nothing counted) when its request id is taken: the unique key decides,
    so two replicas inserting one id at once cannot both win."""
    return bool(write_requests(connection, [record]))


def write_requests(connection: Connection, records: Sequence[RequestRecord]) -> list[RequestRecord]:
    """`write_request` for several rows in one statement: the records that were written (a record
    whose request id is taken, by a stored row or an earlier record of the batch, is not)."""
    new = _insert_requests(connection, records)
    batch = RollupBatch(REQUESTS)
    for record in new:
        if record.source != EVAL_SOURCE:
            batch.add(
                record.created_at,
                request_rollup_key(record),
                request_rollup_values(record),
                record.latency_ms,
            )
    batch.upsert(connection)
    return new


def stored_request_id(connection: Connection, trace_id: str, span_id: str) -> str | None:
    """The request id stored for this root span, if its row is stored already."""
    r = requests.c
    query = select(r.request_id).where(r.trace_id == trace_id, r.span_id == span_id)
    return connection.execute(query).scalar()


def _stored_roots(connection: Connection, records: Sequence[RequestRecord]) -> StoredRoots:
    """Root spans of this batch whose request row is stored already, by span (not by request id)."""
    if not records:
        return {}
    keys = {(record.trace_id, record.span_id) for record in records}
    r = requests.c
    query = select(
        r.trace_id,
        r.span_id,
        r.request_id,
        r.created_at,
        r.prompt_version,
        r.model,
        r.provider,
        r.assistant,
        r.source,
    ).where(one_of(connection.dialect.name, r.trace_id, {key[0] for key in keys}))
    found: StoredRoots = {}
    for row in connection.execute(query):
        key = (row[0], row[1])
        if key in keys:
            live = row[8] != EVAL_SOURCE
            found[key] = (row[2], (row[3], (row[4], row[5], row[6], row[7])) if live else None)
    return found


def _insert_requests(connection: Connection, records: Sequence[RequestRecord]) -> list[RequestRecord]:
    """Insert new request rows; RETURNING tells which ones won, even against a concurrent writer."""
    if not records:
        return []
    rows = [_request_values(record) for record in records]
    stored = set(insert_returning(connection, _insert_new_requests, REQUEST_COLUMNS, rows))
    new: list[RequestRecord] = []
    for record in records:
        if record.request_id in stored:
            stored.discard(record.request_id)
            new.append(record)
    return new


def _stored_spans(connection: Connection, trace_ids: set[str]) -> tuple[set[SpanKey], dict[SpanKey, _Step]]:
    """The stored spans of these traces, and those of them still waiting for their request (one query).

    A trace's spans all come from the one process that recorded them, in order, so reading the
    stored keys first is race-free; it lets the insert run as a plain executemany, far faster on
    Postgres than `INSERT … RETURNING` over many rows, and it tells which spans an earlier batch
    left waiting without a second query after the insert.
    """
    if not trace_ids:
        return set(), {}
    s = spans.c
    query = select(
        s.trace_id, s.span_id, s.parent_span_id, s.name, s.status_code, s.duration_ms, s.request_id
    ).where(one_of(connection.dialect.name, s.trace_id, trace_ids))
    stored: set[SpanKey] = set()
    waiting: dict[SpanKey, _Step] = {}
    for row in connection.execute(query):
        stored.add((row[0], row[1]))
        if row[6] is None:
            waiting[(row[0], row[1])] = _Step(*row[2:6])
    return stored, waiting


def _fresh_spans(records: Sequence[SpanRecord], stored: set[SpanKey]) -> list[SpanRecord]:
    """The batch's spans not stored yet, each once."""
    seen = set(stored)
    fresh: list[SpanRecord] = []
    for record in records:
        if record.key not in seen:
            seen.add(record.key)
            fresh.append(record)
    return fresh


def request_rollup_key(record: RequestRecord) -> RollupKey:
    return (record.prompt_version, record.model, record.provider, record.assistant)


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


def _add_steps(
    batch: RollupBatch, attributed: dict[SpanKey, str], steps: dict[SpanKey, _Step], owners: Owners
) -> None:
    for key, request_id in attributed.items():
        owner = owners.get(request_id)
        if owner is None:  # the request row is gone (retention) or was never stored
            continue
        step = steps[key]
        created_at, (prompt_version, model, provider, assistant) = owner
        batch.add(
            created_at,
            (step.name, prompt_version, model, provider, assistant),
            step_rollup_values(step.status_code, step.duration_ms),
            step.duration_ms,
        )


def _attribute_waiting(connection: Connection, waiting: dict[SpanKey, _Step], batch: RollupBatch) -> int:
    """Attribute stored spans still waiting for their request (root in another batch), where an
    attributed parent now anchors them."""
    if not waiting:
        return 0
    assigned = _resolve(waiting, _anchors(connection, waiting))
    if not assigned:
        return 0
    rows = [(request_id, trace_id, span_id) for (trace_id, span_id), request_id in assigned.items()]
    execute_many(connection, _link_waiting, ("r", "t", "s"), rows)
    _add_steps(batch, assigned, waiting, _request_context(connection, set(assigned.values())))
    return len(assigned)


def _anchors(connection: Connection, waiting: dict[SpanKey, _Step]) -> dict[SpanKey, str]:
    """Request ids of the already-attributed parents that waiting spans hang from."""
    wanted = {
        (trace_id, span.parent_span_id)
        for (trace_id, _), span in waiting.items()
        if span.parent_span_id and (trace_id, span.parent_span_id) not in waiting
    }
    if not wanted:
        return {}
    query = select(spans.c.trace_id, spans.c.span_id, spans.c.request_id).where(
        one_of(connection.dialect.name, spans.c.trace_id, {key[0] for key in wanted}),
        spans.c.request_id.is_not(None),
    )
    rows = connection.execute(query)
    return {(row[0], row[1]): row[2] for row in rows if (row[0], row[1]) in wanted}


def _resolve(steps: dict[SpanKey, _Step], anchors: dict[SpanKey, str]) -> dict[SpanKey, str]:
    """Walk each step up its parents to an anchor (a root or an attributed span); others stay unresolved."""
    resolved: dict[SpanKey, str | None] = {}
    for start in steps:
        chain: list[SpanKey] = []
        key: SpanKey | None = start
        found: str | None = None
        while key is not None and key not in resolved:
            if key in anchors:
                found = anchors[key]
                break
            step = steps.get(key)
            if step is None or key in chain:
                break
            chain.append(key)
            key = (key[0], step.parent_span_id) if step.parent_span_id else None
        else:
            if key is not None:
                found = resolved[key]
        for link in chain:
            resolved[link] = found
    return {key: request_id for key, request_id in resolved.items() if request_id is not None}


def _request_context(connection: Connection, request_ids: Iterable[str]) -> Owners:
    r = requests.c
    query = select(r.request_id, r.created_at, r.prompt_version, r.model, r.provider, r.assistant).where(
        one_of(connection.dialect.name, r.request_id, request_ids), LIVE_TRAFFIC
    )
    return {row[0]: (row[1], (row[2], row[3], row[4], row[5])) for row in connection.execute(query)}
