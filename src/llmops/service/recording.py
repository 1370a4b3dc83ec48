"""Acknowledged means recorded: an ended root span's request row written before its reply.

The row does not depend on tracing: when the root span was not recorded (`LLMOPS_TELEMETRY=false`,
or a sampler dropped it), `untraced_root` rebuilds it from the attributes the service set, so the
request row, its tokens, cost and status are stored all the same (only the spans are missing).

`RowWriter` is the group-commit form every route that runs a model uses (assistant runs, the
gateway): rows that arrive while one transaction is being written wait and go together in the next,
so one commit and one thread hop serve many replies.
"""

from __future__ import annotations

import asyncio
import logging

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import Span
from sqlalchemy import Engine

from llmops.redaction import Redactor
from llmops.storage.trace_store import RequestRecord
from llmops.telemetry.request_writer import root_request_record, store_request, store_requests
from llmops.telemetry.untraced import untraced_root

__all__ = ["RequestNotRecorded", "RowWriter", "untraced_root"]

logger = logging.getLogger("llmops")


class RequestNotRecorded(Exception):
    """The request row could not be made durable, so the request must not be acknowledged."""


class RowWriter:
    """Request rows stored before their replies, with group commit, for one event loop (a worker's).

    `store` returns only once the transaction holding its row has committed, so "a 200 means the
    row is stored" holds as before. At most one transaction runs at a time: rows arriving meanwhile
    queue and are written together next, in one statement and one commit (one WAL sync and one write
    lock on SQLite, one round trip on Postgres). Alone, a row costs one transaction of its own. A
    batch that fails for a reason other than a lock is retried row by row, so one bad row fails only
    its own request."""

    def __init__(self, engine: Engine, redactor: Redactor) -> None:
        self._engine = engine
        self._redactor = redactor
        self._queue: list[tuple[RequestRecord, asyncio.Future[str]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def store(self, span: Span | ReadableSpan) -> str | None:
        """The id the ended root span's row is stored under; raises `RequestNotRecorded`."""
        if not isinstance(span, ReadableSpan):
            return None
        record = root_request_record(span, self._redactor)
        if record is None:
            return None
        stored: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._queue.append((record, stored))
        if self._writer is None:
            self._writer = asyncio.create_task(self._drain())
        return await stored  # a caller cancelled meanwhile leaves its row to be written all the same

    async def _drain(self) -> None:
        batch: list[tuple[RequestRecord, asyncio.Future[str]]] = []
        try:
            while self._queue:
                batch, self._queue = self._queue, []
                outcomes = await asyncio.to_thread(self._write, [record for record, _ in batch])
                for (_, stored), outcome in zip(batch, outcomes, strict=True):
                    if isinstance(outcome, Exception):
                        logger.error(
                            "storing a request row failed", extra={"error_type": type(outcome).__name__}
                        )
                        if not stored.done():
                            stored.set_exception(RequestNotRecorded())
                    elif not stored.done():
                        stored.set_result(outcome)
                batch = []
        finally:
            self._writer = None
            for _, stored in batch + self._queue:  # the writer itself was cancelled (shutdown)
                if not stored.done():
                    stored.set_exception(RequestNotRecorded())
            self._queue = []

    def _write(self, records: list[RequestRecord]) -> list[str | Exception]:
        if len(records) > 1:
            try:
                return list(store_requests(self._engine, records))
            except Exception:  # noqa: S110 - each row is tried alone next, and its failure reported
                pass
        outcomes: list[str | Exception] = []
        for record in records:
            try:
                outcomes.append(store_request(self._engine, record))
            except Exception as exc:
                outcomes.append(exc)
        return outcomes
