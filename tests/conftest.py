"""Shared fixtures: settings isolated from the developer's environment, live servers per configuration."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from chromium import chromium
from live import TEST_KEY, LiveServer, serve
from llmops.config import Settings
from processes import OWN_PREFIXES

# Property tests must not depend on how fast the machine is: no per-example deadline, no "too slow"
# health check (a busy machine makes them slower, never red). Explicit @settings inherit this.
settings.register_profile("llmops", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("llmops")

pytest_plugins = ("pg",)


def isolated_settings(data_dir: Path, database_url: str, **overrides: object) -> Settings:
    """The scripted provider, a known key, quick retries, no `.env`; `overrides` win."""
    values: dict[str, object] = {
        "data_dir": data_dir,
        "database_url": database_url,
        "api_keys": TEST_KEY,
        "provider": "scripted",
        "retry_initial_s": 0.01,
        "retry_max_s": 0.5,
        **overrides,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture(autouse=True)
def _scrubbed_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's own `LLMOPS_*`, `OTEL_*` and `OPENAI_*` settings never reach a test."""
    for name in list(os.environ):
        if name.startswith(OWN_PREFIXES) and name != "LLMOPS_TEST_POSTGRES_URL":
            monkeypatch.delenv(name)


@pytest.fixture
def settings_factory(tmp_path: Path, database_url: str) -> Callable[..., Settings]:
    """Settings isolated from the developer's environment: an empty database (SQLite file or
    Postgres, so every API test runs on both), a known key."""

    def make(**overrides: object) -> Settings:
        return isolated_settings(tmp_path / "data", database_url, **overrides)

    return make


@pytest.fixture
def live_server(settings_factory: Callable[..., Settings]) -> Iterator[Callable[..., LiveServer]]:
    """Start a server with the given setting overrides; it stops when the test ends."""
    servers: list[Iterator[LiveServer]] = []

    def start(**overrides: object) -> LiveServer:
        generator = serve(settings_factory(**overrides))
        servers.append(generator)
        return next(generator)

    yield start
    for generator in servers:
        next(generator, None)


@pytest.fixture(scope="session", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def shared_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """One server with the default test settings per database for the whole session, for tests that
    only look at their own replies (they must not count stored rows or need other settings)."""
    data_dir = tmp_path_factory.mktemp("shared")
    if request.param == "sqlite":
        url = f"sqlite:///{data_dir / 'llmops.db'}"
    else:
        url = request.getfixturevalue("shared_postgres_database").render_as_string(hide_password=False)
    with pytest.MonkeyPatch.context() as patch:  # the per-test scrub does not cover session fixtures
        for name in list(os.environ):
            if name.startswith(OWN_PREFIXES) and name != "LLMOPS_TEST_POSTGRES_URL":
                patch.delenv(name)
        servers = serve(isolated_settings(data_dir / "data", url))
        server = next(servers)
    yield server
    next(servers, None)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium, launched once per browser-test module (`chromium.BROWSER_MARKS`)."""
    with chromium() as launched:
        yield launched
