"""Database fixtures: `database_url` runs a test on SQLite and on a throw-away Postgres database.

Postgres: one database `llmops_test_<random>` per test session on the local server
(`LLMOPS_TEST_POSTGRES_URL`, default `postgresql+psycopg://postgres@127.0.0.1:5432/test`), dropped at
the end. Each test gets it with an empty `public` schema, so tests see no rows or tables from
others. Postgres cases are marked `postgres` and skipped with a reason when the server is not
reachable. `conftest.py` loads it with `pytest_plugins = ("pg",)`.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import OperationalError

from llmops.storage.db import make_engine
from llmops.storage.migrate import upgrade

ADMIN_URL = os.environ.get("LLMOPS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _admin_engine() -> Engine:
    return create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[URL]:
    """A fresh Postgres database for this test session, dropped afterwards (emptied before each test)."""
    yield from _session_database()


@pytest.fixture(scope="session")
def shared_postgres_database() -> Iterator[URL]:
    """Another fresh database for the session-wide server, which must outlive each test's reset."""
    yield from _session_database()


def _session_database() -> Iterator[URL]:
    admin = _admin_engine()
    name = f"llmops_test_{secrets.token_hex(6)}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        admin.dispose()
        pytest.skip(
            f"Postgres not reachable at {make_url(ADMIN_URL).render_as_string()}: {type(exc).__name__}"
        )
    try:
        yield make_url(ADMIN_URL).set(database=name)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _reset_schema(url: URL) -> None:
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL to an empty database: a new SQLite file, or the session's Postgres database, emptied."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'llmops.db'}"
    url: URL = request.getfixturevalue("postgres_database")
    _reset_schema(url)
    return url.render_as_string(hide_password=False)


@pytest.fixture
def migrated_engine(database_url: str) -> Iterator[Engine]:
    """An engine on `database_url` with every migration applied; disposed after the test."""
    engine = make_engine(database_url)
    upgrade(engine)
    yield engine
    engine.dispose()
