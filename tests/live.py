"""A real llmops server on a free port, run by uvicorn in a thread, for integration tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI

from llmops.api.app import create_app
from llmops.config import Settings

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
TEST_KEY = "llmops_test_key_0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"


@dataclass
class LiveServer:
    base_url: str
    key: str
    settings: Settings
    app: FastAPI

    def flush(self) -> None:
        """Wait until every finished span has been exported to the store."""
        assert self.app.state.services.telemetry_setup.force_flush(30_000)

    def client(self, authenticated: bool = True, timeout: float | None = 120.0) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.key}"} if authenticated else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)


class _ThreadedServer(uvicorn.Server):
    def install_signal_handlers(self) -> None:
        """Signals belong to pytest's main thread."""


def serve(settings: Settings) -> Iterator[LiveServer]:
    app = create_app(settings)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, access_log=False, lifespan="on")
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
        yield LiveServer(base_url=f"http://127.0.0.1:{port}", key=TEST_KEY, settings=settings, app=app)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
