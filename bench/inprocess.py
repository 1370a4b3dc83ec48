"""The app driven in-process through ASGI (lifespan run, no sockets): what the request-path benchmarks
share, so their figures are the service's own cost measured the same way."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI

from llmops.api.app import create_app
from llmops.config import Settings

KEY = "llmops_bench_key_0123456789abcdefghijklmnopqrstuvwxyzABCDEFGH"
SAMPLES = Path(__file__).resolve().parents[1] / "samples" / "emails.jsonl"


def sample_emails() -> list[dict]:
    return [json.loads(line)["email"] for line in SAMPLES.read_text().splitlines()]


def bench_settings(data_dir: Path, **overrides: object) -> Settings:
    return Settings(_env_file=None, data_dir=data_dir, api_keys=KEY, **overrides)  # type: ignore[call-arg]


@asynccontextmanager
async def in_process(settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The started app and an authenticated client that calls it directly."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {KEY}"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://bench", headers=headers, timeout=300
        ) as client:
            yield app, client
