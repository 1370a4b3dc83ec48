"""Many rows in one call: SQLAlchemy compiles a statement once, the DB-API driver runs every row.

`Connection.execute(statement, rows)` turns each row dict into the driver's parameters in Python (a
lookup and a bind processor per value); for a batch of thousands of spans that cost more than the
database's own work. Here a statement is compiled once per backend to positional SQL, callers pass
plain tuples in `columns` order, only the bind processors the backend needs are applied (SQLite's
datetimes, floats and booleans; none on psycopg), and the driver runs the rows: `executemany`
(sqlite3 in C, psycopg in pipeline mode). `exec_driver_sql` keeps it inside the caller's transaction
with SQLAlchemy's error translation, so an `OperationalError` is still one to retry.

`insert_returning` runs an INSERT … RETURNING: psycopg returns each row's result from a pipelined
`executemany(returning=True)`, called on the driver's cursor (errors still become SQLAlchemy's); sqlite3
cannot, so there it runs as multi-row VALUES statements, `PAGE` rows each, as SQLAlchemy's own
"insertmanyvalues" does. (psycopg parses every placeholder of a long statement in Python, ~3 µs each,
so multi-row VALUES cost it more than the database's work.)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain
from typing import Any

from sqlalchemy import Connection, Executable
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

Build = Callable[[str], Executable]  # backend name → the statement, built with that dialect's insert()
Row = tuple[Any, ...]
POSITIONAL = {"sqlite": "qmark", "postgresql": "format"}
PLACEHOLDER = {"qmark": "?", "format": "%s"}
PAGE = 1000  # rows per multi-row VALUES statement: 26 columns stay under both backends' parameter limits


@dataclass(frozen=True, slots=True)
class BulkSQL:
    """A statement compiled once for one backend: positional SQL and the processors its values need."""

    sql: str
    processors: tuple[tuple[int, Callable[[Any], Any]], ...]
    values: tuple[str, str, str] | None  # (head, one row's "(…)", tail) of an INSERT, for multi-row pages

    def rows(self, rows: Sequence[Row]) -> Sequence[Row]:
        if not self.processors:
            return rows
        processed = []
        for row in rows:
            values = list(row)
            for index, process in self.processors:
                values[index] = process(values[index])
            processed.append(tuple(values))
        return processed

    def page(self, count: int) -> str:
        if self.values is None:
            raise TypeError("only an INSERT … VALUES (one placeholder per column) can be paged")
        head, group, tail = self.values
        return head + ", ".join([group] * count) + tail


def execute_many(connection: Connection, build: Build, columns: tuple[str, ...], rows: Sequence[Row]) -> None:
    """Run `build`'s statement once per row (tuples in `columns` order) in the caller's transaction."""
    if not rows:
        return
    compiled = compile_for(connection.dialect, build, columns)
    connection.exec_driver_sql(compiled.sql, compiled.rows(rows))


def insert_returning(
    connection: Connection, build: Build, columns: tuple[str, ...], rows: Sequence[Row]
) -> list[Any]:
    """Run an INSERT … RETURNING for every row; the first returned column of each row it inserted."""
    if not rows:
        return []
    dialect = connection.dialect
    compiled = compile_for(dialect, build, columns)
    processed = compiled.rows(rows)
    if dialect.name == "postgresql":
        return _pipelined_returning(connection, compiled.sql, processed)
    returned: list[Any] = []
    for start in range(0, len(processed), PAGE):
        page = processed[start : start + PAGE]
        parameters = tuple(chain.from_iterable(page))
        returned.extend(connection.exec_driver_sql(compiled.page(len(page)), parameters).scalars())
    return returned


def _pipelined_returning(connection: Connection, sql: str, rows: Sequence[Row]) -> list[Any]:
    dialect = connection.dialect
    error_class = dialect.loaded_dbapi.Error
    cursor: Any = connection.connection.cursor()
    returned: list[Any] = []
    try:
        cursor.executemany(sql, rows, returning=True)
        while True:
            returned.extend(row[0] for row in cursor.fetchall())
            if not cursor.nextset():
                break
    except error_class as error:  # as `Connection.execute` would raise it, parameters hidden (content)
        raise DBAPIError.instance(
            sql, None, error, error_class, hide_parameters=True, dialect=dialect
        ) from error
    finally:
        cursor.close()
    return returned


def compile_for(dialect: Dialect, build: Build, columns: tuple[str, ...]) -> BulkSQL:
    dialect_class: Callable[..., Dialect] = type(dialect)  # hashable: the cache key, with `build`
    return _compile(dialect_class, dialect.name, build, columns)


@lru_cache(maxsize=32)
def _compile(
    dialect_class: Callable[..., Dialect], name: str, build: Build, columns: tuple[str, ...]
) -> BulkSQL:
    """Compiled with a positional paramstyle of the same driver (psycopg takes `%s` as well as
    `%(name)s`); raises when the statement's parameters are not exactly `columns`, in that order."""
    paramstyle = POSITIONAL[name]
    dialect = dialect_class(paramstyle=paramstyle)
    statement = build(name)
    if not isinstance(statement, ClauseElement):
        raise TypeError("a bulk statement must be a SQLAlchemy Core statement")
    compiled = statement.compile(dialect=dialect, column_keys=list(columns))
    if not isinstance(compiled, SQLCompiler):
        raise TypeError("a bulk statement must compile to SQL")
    order = tuple(compiled.positiontup or ())
    if order != columns:
        raise ValueError(f"statement parameters {order} are not the columns {columns}")
    processors = []
    for index, key in enumerate(order):
        process = compiled.binds[key].type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            processors.append((index, process))
    return BulkSQL(
        compiled.string, tuple(processors), _values(compiled.string, PLACEHOLDER[paramstyle], order)
    )


def _values(sql: str, placeholder: str, order: tuple[str, ...]) -> tuple[str, str, str] | None:
    """Split `INSERT … VALUES (…) …` around its one row of placeholders (None when it is not that)."""
    head, found, rest = sql.partition(" VALUES (")
    if not found or not head.startswith("INSERT"):
        return None
    group, closed, tail = rest.partition(")")
    if not closed or group.count(placeholder) != len(order):
        return None
    return head + " VALUES ", f"({group})", tail
