"""Budgets across real processes: `llmops budgets` commands and two servers sharing one Postgres."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import URL

from live import TEST_KEY
from test_budgets import EMAIL
from test_cli import LLMOPS, _env, _free_port

CAP = 12_000
REQUESTS = 40


def _llmops(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*LLMOPS, *args], env=env, capture_output=True, text=True, timeout=120)


@contextmanager
def _serving(tmp_path: Path, env: dict[str, str]) -> Iterator[str]:
    port = _free_port()
    with (tmp_path / f"serve-{port}.log").open("w") as log:
        process = subprocess.Popen([*LLMOPS, "serve", "--port", str(port)], env=env, stderr=log)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert process.poll() is None and time.monotonic() < deadline, "server did not start"
                time.sleep(0.2)
            yield base
        finally:
            process.terminate()
            process.wait(timeout=30)


@pytest.mark.postgres
def test_two_servers_sharing_postgres_never_overshoot_a_global_cap(
    tmp_path: Path, postgres_database: URL
) -> None:
    from pg import _reset_schema

    _reset_schema(postgres_database)
    env = _env(
        tmp_path,
        LLMOPS_DATABASE_URL=postgres_database.render_as_string(hide_password=False),
        LLMOPS_API_KEYS=TEST_KEY,
        LLMOPS_SCRIPTED_LATENCY_MS="20",
    )
    created = _llmops(env, "budgets", "set", "global", "hour", "tokens", str(CAP))
    assert created.returncode == 0, created.stderr
    assert "global" in _llmops(env, "budgets", "list").stdout
    with _serving(tmp_path, env) as first, _serving(tmp_path, env) as second:

        def post(index: int) -> httpx.Response:
            base = first if index % 2 else second
            headers = {"Authorization": f"Bearer {TEST_KEY}"}
            return httpx.post(f"{base}/v1/triage", json={"email": EMAIL}, headers=headers, timeout=60)

        with ThreadPoolExecutor(max_workers=16) as pool:
            replies = list(pool.map(post, range(REQUESTS)))
    ok = [r for r in replies if r.status_code == 200]
    refused = [r for r in replies if r.status_code == 429]
    assert len(ok) + len(refused) == REQUESTS and ok and refused
    per_request = {r.json()["usage"]["input_tokens"] + r.json()["usage"]["output_tokens"] for r in ok}
    [tokens] = per_request
    [status] = json.loads(_llmops(env, "budgets", "usage", "--json").stdout)
    used = status["usage"]["used"]
    assert used == len(ok) * tokens, "every settled request counted exactly once"
    assert status["usage"]["reserved"] == 0
    assert used <= CAP + tokens
    assert all(int(r.headers["Retry-After"]) >= 1 for r in refused)
    removed = _llmops(env, "budgets", "remove", "global", "hour", "tokens")
    assert removed.returncode == 0 and _llmops(env, "budgets", "usage", "--json").stdout.strip() == "[]"
    assert _llmops(env, "budgets", "remove", "global", "hour", "tokens").returncode == 1
