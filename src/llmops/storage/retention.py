"""Retention: delete spans and request rows older than a cutoff, a batch at a time.

Each batch is its own short transaction, so a large purge never holds a long lock and the exporter
keeps writing in between. Spans go first, then requests, so a crash halfway never leaves spans whose
request row is gone while newer ones remain. The hourly and daily rollups are both kept, so they keep
agreeing: they hold counts, sums and latency histograms per hour (or day), prompt version, model and
step name, no content and no user ids, so long-range reports keep working after the raw rows are gone. User feedback has its own, usually
longer, cutoff (`feedback_older_than`): it outlives its traces so ratings can still be listed and mined.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Column, ColumnElement, Engine, Table, delete, func, select, tuple_

from llmops.storage.tables import feedback, requests, spans
from llmops.storage.timeutil import utc

ProgressCallback = Callable[[str, int], None]


class RetentionResult(BaseModel):
    cutoff: datetime
    dry_run: bool
    spans: int
    requests: int
    batches: int
    feedback: int = 0
    feedback_cutoff: datetime | None = None


def apply_retention(
    engine: Engine,
    older_than: datetime,
    batch_size: int = 5000,
    dry_run: bool = False,
    on_batch: ProgressCallback | None = None,
    feedback_older_than: datetime | None = None,
) -> RetentionResult:
    """Delete (or with `dry_run`, count) spans started and requests created before `older_than`,
    and, when `feedback_older_than` is given, feedback created before that.

    `on_batch(table, deleted)` is called after each committed batch, e.g. to drive a progress bar.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    cutoff = utc(older_than)
    span_old = spans.c.start_time < cutoff
    request_old = requests.c.created_at < cutoff
    feedback_cutoff = None if feedback_older_than is None else utc(feedback_older_than)
    feedback_old = None if feedback_cutoff is None else feedback.c.created_at < feedback_cutoff
    if dry_run:
        with engine.connect() as connection:
            span_count = connection.execute(
                select(func.count()).select_from(spans).where(span_old)
            ).scalar_one()
            request_count = connection.execute(
                select(func.count()).select_from(requests).where(request_old)
            ).scalar_one()
            feedback_count = 0
            if feedback_old is not None:
                feedback_count = connection.execute(
                    select(func.count()).select_from(feedback).where(feedback_old)
                ).scalar_one()
        return RetentionResult(
            cutoff=cutoff,
            dry_run=True,
            spans=span_count,
            requests=request_count,
            batches=0,
            feedback=feedback_count,
            feedback_cutoff=feedback_cutoff,
        )
    span_key = (spans.c.trace_id, spans.c.span_id)
    span_count, span_batches = _purge(engine, spans, span_key, span_old, batch_size, on_batch)
    request_count, request_batches = _purge(
        engine, requests, (requests.c.id,), request_old, batch_size, on_batch
    )
    feedback_count = feedback_batches = 0
    if feedback_old is not None:
        feedback_count, feedback_batches = _purge(
            engine, feedback, (feedback.c.id,), feedback_old, batch_size, on_batch
        )
    return RetentionResult(
        cutoff=cutoff,
        dry_run=False,
        spans=span_count,
        requests=request_count,
        batches=span_batches + request_batches + feedback_batches,
        feedback=feedback_count,
        feedback_cutoff=feedback_cutoff,
    )


def _purge(
    engine: Engine,
    table: Table,
    key: tuple[Column[Any], ...],
    condition: ColumnElement[bool],
    batch_size: int,
    on_batch: ProgressCallback | None,
) -> tuple[int, int]:
    """Delete matching rows `batch_size` at a time (by key, through the index on the condition)."""
    target = tuple_(*key) if len(key) > 1 else key[0]
    statement = delete(table).where(target.in_(select(*key).where(condition).limit(batch_size)))
    deleted = batches = 0
    while True:
        with engine.begin() as connection:
            count = connection.execute(statement).rowcount
        if count <= 0:
            return deleted, batches
        deleted += count
        batches += 1
        if on_batch is not None:
            on_batch(table.name, count)
        if count < batch_size:
            return deleted, batches
