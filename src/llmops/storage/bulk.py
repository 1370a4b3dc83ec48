"""Many rows in one call: SQLAlchemy compiles a statement once, the DB-API driver runs every row.

`Connection.execute(statement, rows)` turns each row dict into the driver's parameters in Python (a
lookup and a bind processor per value); for a batch of thousands of spans that cost more than the
database's own work. Here a statement is compiled once per backend to positional SQL, callers pass
plain tuples in `columns` order, only the bind processors the backend needs are applied (SQLite's
datetimes, floats and booleans; none on psycopg), and the driver runs the rows, on the caller's
connection inside its transaction:

- SQLite: a sqlite3 cursor (`executemany`, in C). RETURNING rows cannot come back from sqlite3's
  `executemany`, so `insert_returning` sends multi-row VALUES statements, `PAGE` rows each, as
  SQLAlchemy's own "insertmanyvalues" does. Not `exec_driver_sql`: its execution context and result
  set-up cost more than SQLite's own work for the three statements of a request row (callgrind, a
  gateway JSON call at concurrency 1: 4.31 → 4.09 M instructions on its request path).
- Postgres: a psycopg `RawCursor` with `$n` placeholders, `executemany` in pipeline mode (one round
  trip; `returning=True` gives each row's result), or `execute` for a single row. psycopg's default cursors parse every `%s` of a
  statement in Python and cache only statements under 4 KB: ~0.25 ms for each rollup upsert (70
  columns) and ~3 µs a placeholder for multi-row VALUES, more than the database's work.

On both, driver errors are raised as SQLAlchemy's (`OperationalError` stays one to retry), parameters
hidden (content).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain
from typing import Any

import psycopg
from sqlalchemy import Connection, Executable
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

Build = Callable[[str], Executable]  # backend name → the statement, built with that dialect's insert()
Row = tuple[Any, ...]
POSITIONAL = {"sqlite": "qmark", "postgresql": "numeric_dollar"}
PAGE = 1000  # rows per multi-row VALUES statement: 26 columns stay under SQLite's 32,766 parameters


@dataclass(frozen=True, slots=True)
class BulkSQL:
    """A statement compiled once for one backend: positional SQL and the processors its values need."""

    sql: str
    processors: tuple[tuple[int, Callable[[Any], Any]], ...]
    values: tuple[str, str, str] | None  # (head, one row's "(?, …)", tail) of a SQLite INSERT, for pages

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
            raise TypeError("only a SQLite INSERT … VALUES (?, …) can be paged")
        head, group, tail = self.values
        return head + ", ".join([group] * count) + tail


def execute_many(connection: Connection, build: Build, columns: tuple[str, ...], rows: Sequence[Row]) -> None:
    """Run `build`'s statement once per row (tuples in `columns` order) in the caller's transaction."""
    if not rows:
        return
    compiled = compile_for(connection.dialect, build, columns)
    processed = compiled.rows(rows)
    if connection.dialect.name == "postgresql":
        _on_postgres(connection, compiled.sql, processed, returning=False)
    else:
        _on_sqlite(connection, compiled.sql, processed, returning=False)


def insert_returning(
    connection: Connection, build: Build, columns: tuple[str, ...], rows: Sequence[Row]
) -> list[Any]:
    """Run an INSERT … RETURNING for every row; the first returned column of each row it inserted."""
    if not rows:
        return []
    compiled = compile_for(connection.dialect, build, columns)
    processed = compiled.rows(rows)
    if connection.dialect.name == "postgresql":
        return _on_postgres(connection, compiled.sql, processed, returning=True)
    returned: list[Any] = []
    for start in range(0, len(processed), PAGE):
        page = processed[start : start + PAGE]
        parameters = tuple(chain.from_iterable(page))
        returned.extend(_on_sqlite(connection, compiled.page(len(page)), [parameters], returning=True))
    return returned


def _on_sqlite(connection: Connection, sql: str, rows: Sequence[Row], *, returning: bool) -> list[Any]:
    """Run `sql` for each row on a sqlite3 cursor; the first column of every returned row."""
    driver_connection = connection.connection.driver_connection
    if not isinstance(driver_connection, sqlite3.Connection):
        raise TypeError("the sqlite bulk path needs a sqlite3 connection")
    if not connection.in_transaction():
        connection.begin()  # as `exec_driver_sql` autobegins: the caller's commit must cover these rows
    returned: list[Any] = []
    cursor = driver_connection.cursor()
    try:
        if returning:
            for row in rows:
                returned.extend(found[0] for found in cursor.execute(sql, row).fetchall())
        else:
            cursor.executemany(sql, rows)
    except sqlite3.Error as error:  # as `Connection.execute` would raise it
        raise DBAPIError.instance(
            sql, None, error, sqlite3.Error, hide_parameters=True, dialect=connection.dialect
        ) from error
    finally:
        cursor.close()
    return returned


def _on_postgres(connection: Connection, sql: str, rows: Sequence[Row], *, returning: bool) -> list[Any]:
    """Run `sql` for each row on a psycopg `RawCursor`; the first column of every returned row."""
    driver_connection = connection.connection.driver_connection
    if not isinstance(driver_connection, psycopg.Connection):
        raise TypeError("the postgresql bulk path needs a psycopg connection")
    returned: list[Any] = []
    try:
        with psycopg.RawCursor(driver_connection) as cursor:
            if len(rows) == 1:  # the row stored before a reply: a pipeline would cost ~0.1 ms more CPU
                cursor.execute(sql, rows[0])
            else:
                cursor.executemany(sql, rows, returning=returning)
            while returning:
                returned.extend(row[0] for row in cursor.fetchall())
                returning = cursor.nextset() is True
    except psycopg.Error as error:  # as `Connection.execute` would raise it
        raise DBAPIError.instance(
            sql, None, error, psycopg.Error, hide_parameters=True, dialect=connection.dialect
        ) from error
    return returned


def compile_for(dialect: Dialect, build: Build, columns: tuple[str, ...]) -> BulkSQL:
    dialect_class: Callable[..., Dialect] = type(dialect)  # hashable: the cache key, with `build`
    return _compile(dialect_class, dialect.name, build, columns)


@lru_cache(maxsize=32)
def _compile(
    dialect_class: Callable[..., Dialect], name: str, build: Build, columns: tuple[str, ...]
) -> BulkSQL:
    """Compiled with the positional paramstyle the bulk path gives its driver; raises when the
    statement's parameters are not exactly `columns`, in that order."""
    dialect = dialect_class(paramstyle=POSITIONAL[name])
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
    values = _values(compiled.string, len(order)) if name == "sqlite" else None
    return BulkSQL(compiled.string, tuple(processors), values)


def _values(sql: str, count: int) -> tuple[str, str, str] | None:
    """Split `INSERT … VALUES (?, …) …` around its one row of placeholders (None when it is not that)."""
    head, found, rest = sql.partition(" VALUES (")
    if not found or not head.startswith("INSERT"):
        return None
    group, closed, tail = rest.partition(")")
    if not closed or group.count("?") != count:
        return None
    return head + " VALUES ", f"({group})", tail
