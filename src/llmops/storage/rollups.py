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
from typing import cast

from sqlalchemy import Connection, Executable, Table

from llmops.storage import histogram
from llmops.storage.bulk import execute_many
from llmops.storage.dialect import insert_for_dialect
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

    def columns(self, period: str) -> tuple[str, ...]:
        return self.keys(period) + self.counters

    def hourly_upsert(self, dialect: str) -> Executable:
        return self._upsert(HOUR, dialect)

    def daily_upsert(self, dialect: str) -> Executable:
        return self._upsert(DAY, dialect)

    def _upsert(self, period: str, dialect: str) -> Executable:
        """The atomic add to one of the tables for one backend (compiled once by `bulk`: its 70-column
        `SET` took longer to build than to run, before every reply that stores a request row)."""
        table = self.hourly if period == HOUR else self.daily
        statement = insert_for_dialect(dialect, table)
        return statement.on_conflict_do_update(
            index_elements=list(self.keys(period)),
            set_={name: table.c[name] + statement.excluded[name] for name in self.counters},
        )


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
    _hours: dict[datetime, datetime] = field(default_factory=dict)  # a request's steps share its time

    def add(
        self, when: datetime, key: Sequence[str], values: Mapping[str, Number], duration_ms: float
    ) -> None:
        """Count one request or step at `when` (bucketed to its UTC hour) under the non-hour key parts."""
        hour = self._hours.get(when)
        if hour is None:
            hour = self._hours[when] = hour_floor(when)
        full_key = (hour, *key)
        cell = self._cells.get(full_key)
        if cell is None:
            cell = _Cell(dict.fromkeys(self.spec.sums, 0), [0] * histogram.BUCKETS)
            self._cells[full_key] = cell
        for name, value in values.items():
            cell.sums[name] += value
        cell.buckets[histogram.bucket_index(duration_ms)] += 1

    def __len__(self) -> int:
        return len(self._cells)

    def rows(self, period: str = HOUR) -> list[tuple[object, ...]]:
        """One row per key of the hourly (or, summed, the daily) table in `spec.columns` order, in key
        order (the lock order writers share)."""
        cells = self._cells if period == HOUR else self._days()
        sums = self.spec.sums
        return [
            (*key, *(cell.sums[name] for name in sums), *cell.buckets) for key, cell in sorted(cells.items())
        ]

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
        execute_many(connection, self.spec.hourly_upsert, self.spec.columns(HOUR), self.rows(HOUR))
        execute_many(connection, self.spec.daily_upsert, self.spec.columns(DAY), self.rows(DAY))
