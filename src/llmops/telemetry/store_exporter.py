"""Span exporter that writes to the llmops database: spans, request rows and hourly rollups.

It runs in the batch processor's worker thread behind the redacting exporter, so it stores what it
is given. Each batch is one transaction, and re-exporting a batch is harmless (see `trace_store`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from sqlalchemy import Engine

from llmops.storage.db import transact
from llmops.storage.trace_store import RequestRecord, SpanRecord, write_batch
from llmops.telemetry.span_records import (
    is_root,
    normalise_attributes,
    price_sources,
    request_id_of,
    request_record,
    span_record,
)

logger = logging.getLogger("llmops.telemetry")


class StoreExporter(SpanExporter):
    """Store each batch in one transaction, retrying transient database errors (locks, deadlocks).

    Must not throw into the SDK: any failure is logged by class name only (database errors quote
    their parameters, which are span content) and reported as FAILURE.
    """

    def __init__(self, engine: Engine, *, attempts: int = 3) -> None:
        self._engine = engine
        self._attempts = attempts
        self._closed = threading.Event()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._closed.is_set():
            return SpanExportResult.FAILURE
        try:
            span_records, request_records = self.records(spans)
            transact(
                self._engine,
                lambda connection: write_batch(connection, span_records, request_records),
                attempts=self._attempts,
            )
        except Exception as exc:
            logger.error("storing spans failed; batch dropped", extra={"error_type": type(exc).__name__})
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    @staticmethod
    def records(spans: Sequence[ReadableSpan]) -> tuple[list[SpanRecord], list[RequestRecord]]:
        """Span records for every span and a request record for every root span in the batch."""
        prepared: list[tuple[ReadableSpan, Mapping[str, object]]] = [
            (span, normalise_attributes(span.attributes)) for span in spans
        ]
        sources = price_sources(prepared)
        span_records: list[SpanRecord] = []
        request_records: list[RequestRecord] = []
        for span, attributes in prepared:
            if not is_root(attributes):
                span_records.append(span_record(span, attributes, None))
                continue
            context = span.context
            trace_id = format(context.trace_id, "032x") if context else ""
            span_id = format(context.span_id, "016x") if context else ""
            record = span_record(span, attributes, request_id_of(attributes, trace_id, span_id))
            span_records.append(record)
            source = sources.get(context.trace_id) if context else None
            request_records.append(request_record(record, attributes, source))
        return span_records, request_records

    def shutdown(self) -> None:
        """Refuse later batches; the engine belongs to the app and is disposed there."""
        self._closed.set()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Nothing is buffered here: each `export` call has committed before it returns."""
        return True
