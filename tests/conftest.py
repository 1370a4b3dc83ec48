"""Shared fixtures: settings isolated from the developer's environment, live servers per configuration."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from live import TEST_KEY, LiveServer, serve
from llmops.config import Settings
from processes import OWN_PREFIXES

pytest_plugins = ("pg",)


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
        values: dict[str, object] = {
            "data_dir": tmp_path / "data",
            "database_url": database_url,
            "api_keys": TEST_KEY,
            "provider": "scripted",
            "retry_initial_s": 0.01,
            "retry_max_s": 0.5,
        }
        values.update(overrides)
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

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
