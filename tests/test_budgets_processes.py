"""Budgets across real processes: `llmops budgets` commands and two servers sharing one Postgres."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import URL

from live import TEST_KEY
from processes import cli_env, run_llmops, serving
from test_budgets import EMAIL

CAP = 12_000
REQUESTS = 40


@pytest.mark.postgres
def test_two_servers_sharing_postgres_never_overshoot_a_global_cap(
    tmp_path: Path, postgres_database: URL
) -> None:
    from pg import _reset_schema

    _reset_schema(postgres_database)
    env = cli_env(
        tmp_path,
        LLMOPS_DATABASE_URL=postgres_database.render_as_string(hide_password=False),
        LLMOPS_API_KEYS=TEST_KEY,
        LLMOPS_SCRIPTED_LATENCY_MS="20",
    )
    created = run_llmops(env, "budgets", "set", "global", "hour", "tokens", str(CAP))
    assert created.returncode == 0, created.stderr
    assert "global" in run_llmops(env, "budgets", "list").stdout
    with serving(tmp_path, env) as (first, _), serving(tmp_path, env) as (second, _):

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
    [status] = json.loads(run_llmops(env, "budgets", "usage", "--json").stdout)
    used = status["usage"]["used"]
    assert used == len(ok) * tokens, "every settled request counted exactly once"
    assert status["usage"]["reserved"] == 0
    assert used <= CAP + tokens
    assert all(int(r.headers["Retry-After"]) >= 1 for r in refused)
    removed = run_llmops(env, "budgets", "remove", "global", "hour", "tokens")
    assert removed.returncode == 0 and run_llmops(env, "budgets", "usage", "--json").stdout.strip() == "[]"
    assert run_llmops(env, "budgets", "remove", "global", "hour", "tokens").returncode == 1
