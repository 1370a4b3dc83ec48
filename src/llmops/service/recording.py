"""Acknowledged means recorded: an ended root span's request row written before its reply.

The row does not depend on tracing: when the root span was not recorded (`LLMOPS_TELEMETRY=false`,
or a sampler dropped it), `untraced_root` rebuilds it from the attributes the service set, so the
request row, its tokens, cost and status are stored all the same (only the spans are missing).
"""

from __future__ import annotations

import asyncio
import logging

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import Span
from sqlalchemy import Engine

from llmops.redaction import Redactor
from llmops.telemetry.request_writer import root_request_record, store_request
from llmops.telemetry.untraced import untraced_root

__all__ = ["RequestNotRecorded", "store_root_span", "untraced_root"]

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
