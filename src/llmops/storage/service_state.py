"""Small named values the service generates once per install (e.g. the pseudonymisation key)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Engine, select

from llmops.storage.dialect import insert_for
from llmops.storage.tables import service_state


def get_or_create(engine: Engine, name: str, factory: Callable[[], str]) -> str:
    """The stored value for `name`, creating it with `factory()` if absent.

    Safe when several processes start together: the insert skips on the primary key and everyone
    reads back the one value that won, so every replica agrees.
    """
    query = select(service_state.c.value).where(service_state.c.name == name)
    with engine.connect() as connection:
        existing = connection.execute(query).scalar_one_or_none()
    if existing is not None:
        return str(existing)
    with engine.begin() as connection:
        statement = insert_for(connection, service_state).on_conflict_do_nothing(index_elements=["name"])
        connection.execute(statement, {"name": name, "value": factory(), "created_at": datetime.now(UTC)})
        return str(connection.execute(query).scalar_one())
