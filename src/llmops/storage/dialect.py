"""Dialect-specific INSERTs: `ON CONFLICT` lives in each dialect's own `insert()` in SQLAlchemy."""

from __future__ import annotations

from typing import TypeAlias

from sqlalchemy import Connection, Engine, Table
from sqlalchemy.dialects import postgresql, sqlite

UpsertInsert: TypeAlias = postgresql.Insert | sqlite.Insert


def insert_for(bind: Connection | Engine, table: Table) -> UpsertInsert:
    """An INSERT with `on_conflict_do_nothing` / `on_conflict_do_update` for the bind's backend."""
    return insert_for_dialect(bind.dialect.name, table)


def insert_for_dialect(name: str, table: Table) -> UpsertInsert:
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"unsupported database backend: {name}")
