"""Write a request's row from its ended root span, synchronously, before the reply is sent.

Spans travel through the batch processor and may wait in its buffer for seconds: a process killed
in that window would lose requests it had already acknowledged. So the request row (its tokens,
cost and status) is written here, on the request path (callers run it off the event loop), and the
store exporter later skips the row it finds stored for the same span, so rollups count the request
once. The row passes the one `Redactor` first, like everything the exporters store.

The request id is claimed by the insert itself (`ON CONFLICT DO NOTHING RETURNING` on the unique
key): when another request, on any replica, holds the id already, a fresh id is taken.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from sqlalchemy import Connection, Engine

from llmops.redaction import Redactor
from llmops.storage.db import transact
from llmops.storage.request_rows import new_request_id
from llmops.storage.trace_store import RequestRecord, stored_request_id, write_requests
from llmops.telemetry.span_records import (
    is_root,
    normalise_attributes,
    request_id_of,
    request_record,
    span_record,
)

ATTEMPTS = 3
# Fields the service fills from values that cannot hold content: span ids it formats from integers,
# and closed sets (`status`, `source`). Every other string field passes the redactor.
NEVER_CONTENT = frozenset({"trace_id", "span_id", "status", "source"})
_REDACTED_FIELDS = tuple(
    field.name for field in dataclasses.fields(RequestRecord) if field.name not in NEVER_CONTENT
)


def root_request_record(span: ReadableSpan, redactor: Redactor) -> RequestRecord | None:
    """The redacted request record of an ended root span (None for any other span)."""
    attributes = normalise_attributes(span.attributes)
    if not is_root(attributes) or span.context is None:
        return None
    trace_id = format(span.context.trace_id, "032x")
    span_id = format(span.context.span_id, "016x")
    record = span_record(span, attributes, request_id_of(attributes, trace_id, span_id))
    return redact_record(redactor, request_record(record, attributes, None))


def redact_record(redactor: Redactor, record: RequestRecord) -> RequestRecord:
    """Every free string field through the redactor; an id the redactor would change is replaced
    by a fresh one (a masked id would be neither unique nor usable by the client)."""
    changes: dict[str, Any] = {}
    for name in _REDACTED_FIELDS:
        value = getattr(record, name)
        if isinstance(value, str) and value:
            redacted = redactor.redact(value)
            if redacted != value:
                changes[name] = redacted
    if "request_id" in changes:
        changes["request_id"] = new_request_id()
    return dataclasses.replace(record, **changes) if changes else record


def store_request(engine: Engine, record: RequestRecord) -> str:
    """Make the request row durable and return the id it is stored under (`store_requests`)."""
    return store_requests(engine, [record])[0]


def store_requests(engine: Engine, records: Sequence[RequestRecord]) -> list[str]:
    """Make the request rows durable in one transaction; the id each is stored under, in order.

    Idempotent per span: a row already stored for this span (the exporter got there first) is kept.
    A row whose id is taken by another request gets a fresh one. Transient database errors (locks)
    retry the whole transaction; anything else propagates to the caller."""

    def write(connection: Connection) -> list[str]:
        written = {id(record) for record in write_requests(connection, records)}
        return [
            record.request_id if id(record) in written else _stored_or_fresh(connection, record)
            for record in records
        ]

    return transact(engine, write, attempts=ATTEMPTS)


def _stored_or_fresh(connection: Connection, record: RequestRecord) -> str:
    stored = stored_request_id(connection, record.trace_id, record.span_id)
    if stored is not None:  # this span's row, stored by the exporter first
        return stored
    fresh = dataclasses.replace(record, request_id=new_request_id())
    if not write_requests(connection, [fresh]):  # pragma: no cover - uuid4 collision
        raise RuntimeError("a fresh request id was taken")
    return fresh.request_id
