"""The background writer: accepted batches wait in a bounded queue and reach the store in one thread.

The request thread decodes and redacts; this thread does the database work, coalescing whatever is
queued (up to `max_batch_spans`) into one transaction so many small exports cost one commit. The
queue is bounded by spans: `offer` refuses a batch that does not fit, and the route answers 503
with Retry-After, so an overloaded receiver pushes back on the exporter instead of dropping spans.

Guarantee: a batch `offer` accepted is written unless the process dies first. A transient database
error (lock, lost connection) is retried with backoff while the batch stays queued (so a database
that is down fills the queue and turns new exports away); a batch the database rejects outright is
logged with its size and counted in `failed_spans`, never retried forever. `close` drains the queue.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, select
from sqlalchemy.exc import OperationalError

from llmops.ingest.mapping import PendingRoot, Prepared, usage_of
from llmops.storage.dialect import one_of
from llmops.storage.tables import spans
from llmops.storage.trace_store import RequestRecord, write_batch

logger = logging.getLogger("llmops.ingest")

BACKOFF_S = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0)


@dataclass(slots=True)
class WriterStats:
    accepted_spans: int = 0
    written_spans: int = 0
    failed_spans: int = 0
    refused_batches: int = 0


class IngestWriter:
    def __init__(
        self, engine: Engine, *, max_queued_spans: int, max_batch_spans: int = 5000, linger_s: float = 0.05
    ) -> None:
        self._engine = engine
        self._max_queued = max_queued_spans
        self._max_batch = max_batch_spans
        self._linger_s = linger_s
        self._queue: deque[Prepared] = deque()
        self._queued_spans = 0
        self._writing = False
        self._closed = False
        self._condition = threading.Condition()
        self.stats = WriterStats()
        self._thread = threading.Thread(target=self._run, name="llmops-ingest-writer", daemon=True)
        self._thread.start()

    @property
    def queued_spans(self) -> int:
        return self._queued_spans

    def offer(self, batch: Prepared) -> bool:
        """Queue a batch for writing; False (nothing queued) when the queue is full or closed."""
        size = max(len(batch.spans), 1)
        with self._condition:
            if self._closed or (self._queued_spans and self._queued_spans + size > self._max_queued):
                self.stats.refused_batches += 1
                return False
            self._queue.append(batch)
            self._queued_spans += size
            self.stats.accepted_spans += len(batch.spans)
            self._condition.notify()
        return True

    def flush(self, timeout_s: float = 30.0) -> bool:
        """Wait until everything queued so far is written (tests and benchmarks)."""
        deadline = time.monotonic() + timeout_s
        with self._condition:
            while self._queue or self._writing:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._condition.wait(remaining)
        return True

    def close(self, timeout_s: float = 30.0) -> None:
        """Refuse new batches, write what is queued, stop the thread."""
        with self._condition:
            self._closed = True
            self._condition.notify_all()
        self._thread.join(timeout_s)
        if self._queued_spans:
            logger.error("ingest writer stopped with spans still queued", extra={"spans": self._queued_spans})

    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._queue and not self._closed:
                    self._condition.wait()
                if not self._queue:
                    return
                # Under load, wait a moment for more: one transaction for several exports costs far
                # less per span (commit, lookups, rollup upserts); an idle receiver writes at once.
                deadline = time.monotonic() + self._linger_s
                while (
                    len(self._queue) > 1
                    and self._queued_spans < self._max_batch
                    and not self._closed
                    and (remaining := deadline - time.monotonic()) > 0
                ):
                    self._condition.wait(remaining)
                batches = self._take()
                self._writing = True
            try:
                self._write(batches)
            finally:
                with self._condition:
                    self._writing = False
                    self._queued_spans -= sum(max(len(batch.spans), 1) for batch in batches)
                    self._condition.notify_all()

    def _take(self) -> list[Prepared]:
        batches = [self._queue.popleft()]
        count = len(batches[0].spans)
        while self._queue and count + len(self._queue[0].spans) <= self._max_batch:
            batch = self._queue.popleft()
            count += len(batch.spans)
            batches.append(batch)
        return batches

    def _write(self, batches: Sequence[Prepared]) -> None:
        span_records = [record for batch in batches for record in batch.spans]
        roots = [root for batch in batches for root in batch.roots]
        attempt = 0
        while True:
            try:
                with self._engine.begin() as connection:
                    write_batch(connection, span_records, _requests(connection, roots))
                self.stats.written_spans += len(span_records)
                return
            except OperationalError as exc:
                # Transient (locked, connection lost): keep the batch and back off; give up only when
                # closing, once the backoff schedule has run out.
                if self._closed and attempt >= len(BACKOFF_S):
                    self._failed(span_records, exc)
                    return
                time.sleep(BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)])
                attempt += 1
            except Exception as exc:  # rejected outright (constraint, bad value): must not kill the thread
                self._failed(span_records, exc)
                return

    def _failed(self, span_records: Sequence[object], exc: Exception) -> None:
        self.stats.failed_spans += len(span_records)
        # Class name only: database errors quote their parameters, which are span content.
        logger.error(
            "storing ingested spans failed; batch dropped",
            extra={"spans": len(span_records), "error_type": type(exc).__name__},
        )


def _requests(connection: Connection, roots: Sequence[PendingRoot]) -> list[RequestRecord]:
    """Request rows for the roots; those without model calls in their batch look in the store."""
    waiting = {root.record.trace_id for root in roots if root.usage is None}
    stored: dict[str, list[tuple[str, str | None, dict[str, object]]]] = {}
    if waiting:
        query = select(spans.c.trace_id, spans.c.span_id, spans.c.parent_span_id, spans.c.attributes).where(
            one_of(connection.dialect.name, spans.c.trace_id, waiting)
        )
        for trace_id, span_id, parent, raw in connection.execute(query):
            stored.setdefault(trace_id, []).append((span_id, parent, _attributes(raw)))
    return [
        root.request(root.usage if root.usage is not None else usage_of(stored.get(root.record.trace_id, [])))
        for root in roots
    ]


def _attributes(raw: str | None) -> dict[str, object]:
    try:
        parsed = json.loads(raw or "{}")
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}
