"""A Core statement compiled once per backend and run with the driver's own `executemany`.

SQLAlchemy's execution path (cache key, parameter processing per row, result wrapping) costs far
more than SQLite takes to run a small insert: on the gateway's request-row write it was most of the
writer thread's CPU. The statement is rendered once for the dialect; each row's values go through
the same bind processors SQLAlchemy would apply (SQLite's DateTime becomes its stored string), in
the driver's parameter style, so what is stored is what the Core path stores.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Dialect, Table
from sqlalchemy.sql.dml import Insert

Processor = Callable[[Any], Any] | None


@dataclass(frozen=True, slots=True)
class DriverStatement:
    """SQL in the driver's parameter style, and how to turn a row (by column name) into its parameters."""

    sql: str
    names: tuple[str, ...]
    processors: tuple[Processor, ...]
    positional: bool

    def parameters(self, row: Mapping[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        values = [
            row[name] if process is None or row[name] is None else process(row[name])
            for name, process in zip(self.names, self.processors, strict=True)
        ]
        return tuple(values) if self.positional else dict(zip(self.names, values, strict=True))

    def executemany(self, cursor: Any, rows: Iterable[Mapping[str, Any]]) -> int:
        """Run for every row on a DBAPI cursor; the rows the database reports changed in all."""
        cursor.executemany(self.sql, [self.parameters(row) for row in rows])
        return int(cursor.rowcount)


def driver_statement(
    statement: Insert, table: Table, dialect: Dialect, names: Sequence[str]
) -> DriverStatement:
    """`statement` (an INSERT into `table` of the columns `names`) rendered for `dialect`."""
    compiled = statement.compile(dialect=dialect, column_keys=list(names))
    order = tuple(compiled.positiontup or ()) if compiled.positional else tuple(names)
    if set(order) != set(names):  # pragma: no cover - a statement with binds of its own
        raise ValueError("the statement's parameters are not exactly the named columns")
    processors = tuple(table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in order)
    return DriverStatement(str(compiled), order, processors, compiled.positional)
