"""Hourly rollups: accumulate a batch in memory, then add it to the stored rows with one atomic upsert.

`col = col + excluded.col` inside `INSERT … ON CONFLICT DO UPDATE` is evaluated under the row lock, so
several processes writing the same hour never lose an increment. Rows are written in key order so two
writers that touch the same keys take their row locks in the same order and cannot deadlock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, Executable, Table

from llmops.storage import histogram
from llmops.storage.bulk import execute_many
from llmops.storage.dialect import insert_for_dialect
from llmops.storage.tables import request_rollups, step_rollups
from llmops.storage.timeutil import hour_floor

Number = int | float


@dataclass(frozen=True)
class RollupSpec:
    """Which columns of a rollup table form its key and which are summed."""

    table: Table
    keys: tuple[str, ...]
    sums: tuple[str, ...]

    @property
    def counters(self) -> tuple[str, ...]:
        return self.sums + histogram.COLUMNS

    @property
    def columns(self) -> tuple[str, ...]:
        return self.keys + self.counters

    def upsert(self, dialect: str) -> Executable:
        """The atomic add for one backend (compiled once by `bulk`: its 70-column `SET` took longer
        to build than to run, before every reply that stores a request row)."""
        statement = insert_for_dialect(dialect, self.table)
        return statement.on_conflict_do_update(
            index_elements=list(self.keys),
            set_={name: self.table.c[name] + statement.excluded[name] for name in self.counters},
        )


REQUESTS = RollupSpec(
    request_rollups,
    keys=("hour", "prompt_version", "model", "provider", "assistant"),
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
    keys=("hour", "name", "prompt_version", "model", "provider", "assistant"),
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

    def rows(self) -> list[tuple[object, ...]]:
        """One row per key in `spec.columns` order, in key order (the lock order writers share)."""
        sums = self.spec.sums
        return [
            (*key, *(cell.sums[name] for name in sums), *cell.buckets)
            for key, cell in sorted(self._cells.items())
        ]

    def upsert(self, connection: Connection) -> None:
        """Add this batch to the stored rollups inside the caller's transaction."""
        execute_many(connection, self.spec.upsert, self.spec.columns, self.rows())
