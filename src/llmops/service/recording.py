"""Acknowledged means recorded: an ended root span's request row written before its reply.

The row does not depend on tracing: when the root span was not recorded (`LLMOPS_TELEMETRY=false`,
or a sampler dropped it), `untraced_root` rebuilds it from the attributes the service set, so the
request row, its tokens, cost and status are stored all the same (only the spans are missing).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Mapping

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import Span, SpanContext, SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue
from sqlalchemy import Engine

from llmops.redaction import Redactor
from llmops.telemetry.request_writer import root_request_record, store_request

logger = logging.getLogger("llmops")


class RequestNotRecorded(Exception):
    """The request row could not be made durable, so the request must not be acknowledged."""


async def store_root_span(engine: Engine, redactor: Redactor, span: Span | ReadableSpan) -> str | None:
    """`persist_request` for parts built before `Services` exists (the gateway gets it bound)."""
    if not isinstance(span, ReadableSpan):
        return None
    record = root_request_record(span, redactor)
    if record is None:
        return None
    try:
        return await asyncio.to_thread(store_request, engine, record)
    except Exception as exc:
        logger.error("storing a request row failed", extra={"error_type": type(exc).__name__})
        raise RequestNotRecorded from None


def untraced_root(
    name: str, kind: SpanKind, attributes: Mapping[str, AttributeValue], start_ns: int, end_ns: int
) -> ReadableSpan:
    """A root span that tracing did not record, rebuilt from its attributes under fresh ids, for
    `store_root_span` (it is stored as the request row only; no span reaches the store)."""
    context = SpanContext(
        trace_id=secrets.randbits(127) + 1, span_id=secrets.randbits(63) + 1, is_remote=False
    )
    return ReadableSpan(
        name=name,
        context=context,
        kind=kind,
        attributes=attributes,
        start_time=start_ns,
        end_time=end_ns,
        status=Status(StatusCode.OK),
    )
