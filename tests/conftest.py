"""Shared fixtures: the real app served by uvicorn on a free port, in a thread, per configuration."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn

from llmops.api.app import create_app
from llmops.config import Settings

TEST_KEY = "llmops_test_key_0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"
SAMPLES = Path(__file__).resolve().parents[1] / "samples"


@dataclass
class LiveServer:
    base_url: str
    key: str
    settings: Settings

    def client(self, authenticated: bool = True, timeout: float = 120.0) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.key}"} if authenticated else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)


class _ThreadedServer(uvicorn.Server):
    def install_signal_handlers(self) -> None:
        """Signals belong to pytest's main thread."""


@pytest.fixture
def settings_factory(tmp_path: Path) -> Callable[..., Settings]:
    """Settings isolated from the developer's environment: a fresh SQLite file, a known key."""

    def make(**overrides: object) -> Settings:
        values: dict[str, object] = {
            "data_dir": tmp_path / "data",
            "api_keys": TEST_KEY,
            "provider": "scripted",
            "retry_initial_s": 0.01,
            "retry_max_s": 0.5,
        }
        values.update(overrides)
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    return make


def serve(settings: Settings) -> Iterator[LiveServer]:
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    server = _ThreadedServer(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("server did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield LiveServer(base_url=f"http://127.0.0.1:{port}", key=TEST_KEY, settings=settings)
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture
def live_server(settings_factory: Callable[..., Settings]) -> Callable[..., LiveServer]:
    """Start a server with the given setting overrides; it stops when the test ends."""
    servers: list[Iterator[LiveServer]] = []

    def start(**overrides: object) -> LiveServer:
        generator = serve(settings_factory(**overrides))
        servers.append(generator)
        return next(generator)

    yield start
    for generator in servers:
        next(generator, None)
