"""Hourly rollups: accumulate a batch in memory, then add it to the stored rows with one atomic upsert.

`col = col + excluded.col` inside `INSERT … ON CONFLICT DO UPDATE` is evaluated under the row lock, so
several processes writing the same hour never lose an increment. Rows are written in key order so two
writers that touch the same keys take their row locks in the same order and cannot deadlock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache

from sqlalchemy import Connection, Table

from llmops.storage import histogram
from llmops.storage.dialect import UpsertInsert, insert_for_dialect
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

    def rows(self) -> list[dict[str, object]]:
        """One row per key, in key order (the lock order writers share)."""
        rows = []
        for key in sorted(self._cells):
            cell = self._cells[key]
            row: dict[str, object] = dict(zip(self.spec.keys, key, strict=True))
            row.update(cell.sums)
            row.update(zip(histogram.COLUMNS, cell.buckets, strict=True))
            rows.append(row)
        return rows

    def upsert(self, connection: Connection) -> None:
        """Add this batch to the stored rollups inside the caller's transaction."""
        if not self._cells:
            return
        connection.execute(upsert_statement(self.spec, connection.dialect.name), self.rows())


@lru_cache(maxsize=8)
def upsert_statement(spec: RollupSpec, dialect: str) -> UpsertInsert:
    """The spec's atomic add for one backend, built once: building its 70-column `SET` took longer
    than running it (it runs before every reply that stores a request row)."""
    table = spec.table
    statement = insert_for_dialect(dialect, table)
    return statement.on_conflict_do_update(
        index_elements=list(spec.keys),
        set_={name: table.c[name] + statement.excluded[name] for name in spec.counters},
    )
