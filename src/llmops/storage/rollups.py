"""Rollups per UTC hour and per UTC day: accumulate a batch in memory, then add it to the stored rows
with one atomic upsert per table.

`col = col + excluded.col` inside `INSERT … ON CONFLICT DO UPDATE` is evaluated under the row lock, so
several processes writing the same hour never lose an increment. Rows are written in key order, hours
before days, so two writers that touch the same keys take their row locks in the same order and cannot
deadlock. The day rows are the hour rows summed, written in the same transaction: they always agree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import cast

from sqlalchemy import Connection, Table

from llmops.storage import histogram
from llmops.storage.dialect import UpsertInsert, insert_for_dialect
from llmops.storage.tables import request_rollups, request_rollups_daily, step_rollups, step_rollups_daily
from llmops.storage.timeutil import day_floor, hour_floor

Number = int | float


@dataclass(frozen=True)
class RollupSpec:
    """Which columns of a rollup's two tables (`hourly` keyed by `hour`, `daily` by `day`) form its key
    besides the period and which are summed."""

    hourly: Table
    daily: Table
    dimensions: tuple[str, ...]
    sums: tuple[str, ...]

    @property
    def counters(self) -> tuple[str, ...]:
        return self.sums + histogram.COLUMNS

    def keys(self, period: str) -> tuple[str, ...]:
        return (period, *self.dimensions)


HOUR, DAY = "hour", "day"  # the period columns of the hourly and the daily tables

REQUESTS = RollupSpec(
    request_rollups,
    request_rollups_daily,
    dimensions=("prompt_version", "model", "provider", "assistant"),
    sums=(
        "requests",
        "errors",
        "degraded",
        "retries",
        "input_tokens",
        "output_tokens",
        "priced",
        "cost_usd",
        "latency_sum_ms",
    ),
)
STEPS = RollupSpec(
    step_rollups,
    step_rollups_daily,
    dimensions=("name", "prompt_version", "model", "provider", "assistant"),
    sums=("calls", "errors", "duration_sum_ms"),
)


@dataclass
class _Cell:
    sums: dict[str, Number]
    buckets: list[int]


@dataclass
class RollupBatch:
    """Rollup increments for one batch, merged per key before they touch the database."""

    spec: RollupSpec
    _cells: dict[tuple[object, ...], _Cell] = field(default_factory=dict)

    def add(
        self, when: datetime, key: Sequence[str], values: Mapping[str, Number], duration_ms: float
    ) -> None:
        """Count one request or step at `when` (bucketed to its UTC hour) under the non-hour key parts."""
        full_key = (hour_floor(when), *key)
        cell = self._cells.get(full_key)
        if cell is None:
            cell = _Cell(dict.fromkeys(self.spec.sums, 0), [0] * histogram.BUCKETS)
            self._cells[full_key] = cell
        for name, value in values.items():
            cell.sums[name] += value
        cell.buckets[histogram.bucket_index(duration_ms)] += 1

    def __len__(self) -> int:
        return len(self._cells)

    def rows(self, period: str = HOUR) -> list[dict[str, object]]:
        """One row per key of the hourly (or, summed, the daily) table, in key order (the lock order
        writers share)."""
        cells = self._cells if period == HOUR else self._days()
        keys = self.spec.keys(period)
        rows = []
        for key in sorted(cells):
            cell = cells[key]
            row: dict[str, object] = dict(zip(keys, key, strict=True))
            row.update(cell.sums)
            row.update(zip(histogram.COLUMNS, cell.buckets, strict=True))
            rows.append(row)
        return rows

    def _days(self) -> dict[tuple[object, ...], _Cell]:
        days: dict[tuple[object, ...], _Cell] = {}
        for (hour, *rest), cell in self._cells.items():
            key = (day_floor(cast(datetime, hour)), *rest)
            into = days.get(key)
            if into is None:
                days[key] = _Cell(dict(cell.sums), list(cell.buckets))
                continue
            for name, value in cell.sums.items():
                into.sums[name] += value
            into.buckets = [a + b for a, b in zip(into.buckets, cell.buckets, strict=True)]
        return days

    def upsert(self, connection: Connection) -> None:
        """Add this batch to the stored hourly and daily rollups inside the caller's transaction."""
        if not self._cells:
            return
        dialect = connection.dialect.name
        connection.execute(_upsert(self.spec, HOUR, dialect), self.rows(HOUR))
        connection.execute(_upsert(self.spec, DAY, dialect), self.rows(DAY))


@lru_cache(maxsize=8)
def _upsert(spec: RollupSpec, period: str, dialect: str) -> UpsertInsert:
    """The spec's atomic add to one of its tables for one backend, built once: building its 70-column
    `SET` took longer than running it (it runs before every reply that stores a request row)."""
    table = spec.hourly if period == HOUR else spec.daily
    statement = insert_for_dialect(dialect, table)
    return statement.on_conflict_do_update(
        index_elements=list(spec.keys(period)),
        set_={name: table.c[name] + statement.excluded[name] for name in spec.counters},
    )
