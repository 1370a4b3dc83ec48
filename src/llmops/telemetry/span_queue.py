"""The span export queue: ended spans wait, within a bound, for the one thread that exports them.

The SDK's `BatchSpanProcessor` drops spans silently when its queue is full (it counts them only when
an environment flag turns its internal metrics on). Here a full queue drops the span and counts it
(`llmops.spans.dropped`), so an overload shows on `/metrics` instead of as a slower service: the request
path never waits for export. Only spans can be dropped: request rows never wait in this queue (they
are stored before the reply, see `request_writer`).

The standard variables size it: `OTEL_BSP_SCHEDULE_DELAY` (ms between exports, 5000),
`OTEL_BSP_MAX_QUEUE_SIZE` (2048) and `OTEL_BSP_MAX_EXPORT_BATCH_SIZE` (512).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections import deque
from collections.abc import Callable

from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY, Context, attach, detach, set_value
from opentelemetry.sdk.environment_variables import (
    OTEL_BSP_MAX_EXPORT_BATCH_SIZE,
    OTEL_BSP_MAX_QUEUE_SIZE,
    OTEL_BSP_SCHEDULE_DELAY,
)
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter

logger = logging.getLogger("llmops.telemetry")

DEFAULTS = {OTEL_BSP_SCHEDULE_DELAY: 5000, OTEL_BSP_MAX_QUEUE_SIZE: 2048, OTEL_BSP_MAX_EXPORT_BATCH_SIZE: 512}


class BoundedSpanProcessor(SpanProcessor):
    """Queue ended, sampled spans (up to `max_queue_size`) and export them in batches from one thread.

    `on_end` never blocks: when the queue is full the span is dropped and `on_drop` called (it must
    not block or raise either). The worker exports every `schedule_delay_millis`, or as soon as a
    batch is full.
    """

    def __init__(
        self,
        exporter: SpanExporter,
        on_drop: Callable[[], None],
        *,
        max_queue_size: int | None = None,
        schedule_delay_millis: int | None = None,
        max_export_batch_size: int | None = None,
    ) -> None:
        self._exporter = exporter
        self._on_drop = on_drop
        self._max_queue = max_queue_size or _setting(OTEL_BSP_MAX_QUEUE_SIZE)
        self._delay_s = schedule_delay_millis / 1000 if schedule_delay_millis else schedule_delay_s()
        self._batch = max_export_batch_size or _setting(OTEL_BSP_MAX_EXPORT_BATCH_SIZE)
        self._queue: deque[ReadableSpan] = deque()
        self._wake = threading.Event()
        self._export_lock = threading.Lock()
        self._closed = False
        self._worker = threading.Thread(target=self._work, name="llmops-span-export", daemon=True)
        self._worker.start()

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        return None

    def on_end(self, span: ReadableSpan) -> None:
        if self._closed or not (span.context and span.context.trace_flags.sampled):
            return
        if len(self._queue) >= self._max_queue:
            self._on_drop()
            return
        self._queue.append(span)
        if len(self._queue) >= self._batch:
            self._wake.set()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Export, in the caller's thread, every span that ended before the call: once it returns they
        are stored (a batch the worker was exporting meanwhile is finished first). Spans queued during
        the flush are left to the worker, so a busy service cannot keep a flush going."""
        self._export_queued(limit=len(self._queue))
        return True

    def shutdown(self) -> None:
        """Stop taking spans, export what is queued, then shut the exporter down."""
        if self._closed:
            return
        self._closed = True
        self._wake.set()
        self._worker.join(timeout=30)
        self._export_queued()
        self._exporter.shutdown()

    def _work(self) -> None:
        while not self._closed:
            self._wake.wait(self._delay_s)
            self._wake.clear()
            self._export_queued()

    def _export_queued(self, limit: int | None = None) -> None:
        """Export the queue's spans in batches, at most `limit` of them (None: until it is empty)."""
        with self._export_lock:
            left = sys.maxsize if limit is None else limit
            while left > 0 and self._queue:
                batch = [self._queue.popleft() for _ in range(min(self._batch, left, len(self._queue)))]
                left -= len(batch)
                token = attach(set_value(_SUPPRESS_INSTRUMENTATION_KEY, True))  # no spans of the export
                try:
                    self._exporter.export(batch)
                except Exception as exc:  # an exporter must not raise; never let one stop the worker
                    logger.error("span export raised", extra={"error_type": type(exc).__name__})
                finally:
                    detach(token)


def schedule_delay_s() -> float:
    """How long an ended span may wait in the queue before its export starts (`OTEL_BSP_SCHEDULE_DELAY`)."""
    return _setting(OTEL_BSP_SCHEDULE_DELAY) / 1000


def _setting(name: str) -> int:
    value = os.environ.get(name, "")
    try:
        number = int(value)
    except ValueError:
        return DEFAULTS[name]
    return number if number > 0 else DEFAULTS[name]
