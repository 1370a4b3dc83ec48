"""Dashboard render times from small stores to large: the overview and a request page through the ASGI app.

Reuses the bench databases `bench_report.py` builds (cached under `~/.cache/llmops-bench/`, one per
size), serves each with the real app (lifespan, migrations, signed-in session cookie) over
`httpx.ASGITransport`, and times `/` for each range and `/requests/{id}`, median of several warm runs.
The comparison rows compute the overview's figures the naive way, from raw request rows only.
`--before SRC` times the same pages with another source tree (e.g. `git archive <commit> src`), in a
child process on the same stores, side by side.

    .venv/bin/python bench/bench_dashboard.py [--requests 1000,10000,50000] [--runs 7] [--before SRC]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import Engine, select

sys.path.insert(0, str(Path(__file__).parent))
from bench_report import naive_report, sqlite_store
from llmops.api.app import create_app
from llmops.config import Settings
from llmops.storage.tables import requests

KEY = "llmops_bench_key_0123456789abcdefghijklmnopqrstuvwxyzABCDEF"
BUDGET_MS = 300.0
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


async def timed_get(client: httpx.AsyncClient, path: str, runs: int) -> float:
    """Median wall time of `runs` GETs after one warm-up; every reply must be a 200."""
    (await client.get(path)).raise_for_status()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        reply = await client.get(path)
        samples.append((time.perf_counter() - started) * 1000)
        if reply.status_code != 200:
            raise RuntimeError(f"{path} answered {reply.status_code}")
    return statistics.median(samples)


def timed_call(function: object, runs: int) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        function()  # type: ignore[operator]
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def sample_request_id(engine: Engine, anchor: datetime) -> str:
    query = (
        select(requests.c.request_id)
        .where(requests.c.created_at < anchor)
        .order_by(requests.c.created_at.desc())
    )
    with engine.connect() as connection:
        return connection.execute(query.limit(1)).scalar_one()


async def run(database: Path, anchor: datetime, request_id: str, runs: int) -> list[tuple[str, float]]:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=f"sqlite:///{database}",
        data_dir=database.parent / "dashboard-bench-data",
        api_keys=KEY,
        provider="scripted",
        retention_days=36_500,  # the cached dataset must survive the server's retention pass
        retention_interval_s=10**9,
    )
    app = create_app(settings)
    rows = []
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            token = CSRF.search((await client.get("/login")).text)
            assert token is not None
            signed = await client.post("/login", data={"api_key": KEY, "csrf_token": token.group(1)})
            assert signed.status_code == 303, signed.status_code
            until = anchor.isoformat()
            for window in ("1h", "24h", "7d", "30d"):
                path = "/?" + str(httpx.QueryParams({"range": window, "until": until}))
                rows.append((f"GET / (overview, {window})", await timed_get(client, path, runs)))
            rows.append(("GET /requests (first page)", await timed_get(client, "/requests", runs)))
            rows.append(
                ("GET /requests/{id} (waterfall)", await timed_get(client, f"/requests/{request_id}", runs))
            )
    return rows


def page_times(cache_dir: Path, count: int, days: int, seed: int, runs: int) -> list[tuple[str, float]]:
    engine, anchor = sqlite_store(cache_dir, count, days, seed, rebuild=False)
    request_id = sample_request_id(engine, anchor)
    database = Path(engine.url.database or "")
    engine.dispose()
    return asyncio.run(run(database, anchor, request_id, runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", default="1000,10000,50000", help="store sizes, comma-separated")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "llmops-bench",
    )
    parser.add_argument("--before", type=Path, help="also time another source tree's pages (its src/)")
    parser.add_argument("--emit-times", action="store_true", help=argparse.SUPPRESS)  # `--before`'s child
    args = parser.parse_args()
    args.cache_dir.mkdir(parents=True, exist_ok=True)
    sizes = [int(size) for size in args.requests.split(",")]
    if args.emit_times:
        print(json.dumps(page_times(args.cache_dir, sizes[0], args.days, args.seed, args.runs)))
        return
    table: list[tuple[str, str, str, str]] = []
    for count in sizes:
        engine, anchor = sqlite_store(args.cache_dir, count, args.days, args.seed, rebuild=False)
        naive = [
            (
                f"overview figures from raw rows ({w})",
                timed_call(lambda d=d, e=engine, a=anchor: naive_report(e, d, a), 3),
            )
            for w, d in (("24h", timedelta(hours=24)), ("30d", timedelta(days=30)))
        ]
        engine.dispose()
        before: dict[str, float] = {}
        if args.before:
            command = [
                sys.executable,
                __file__,
                "--emit-times",
                "--requests",
                str(count),
                "--runs",
                str(args.runs),
            ]
            command += [
                "--days",
                str(args.days),
                "--seed",
                str(args.seed),
                "--cache-dir",
                str(args.cache_dir),
            ]
            done = subprocess.run(
                command,
                env={**os.environ, "PYTHONPATH": str(args.before)},
                check=True,
                capture_output=True,
                text=True,
            )
            before = dict(json.loads(done.stdout.strip().splitlines()[-1]))
        for label, ms in page_times(args.cache_dir, count, args.days, args.seed, args.runs):
            mark = "ok" if ms < BUDGET_MS else "OVER"
            was = f"{before[label]:9.1f}" if label in before else f"{'-':>9}"
            table.append((f"{count:,}", label, was, f"{ms:9.1f}  {mark}"))
        table += [(f"{count:,}", f"baseline: {label}", f"{'-':>9}", f"{ms:9.1f}") for label, ms in naive]
    print(
        f"\nStores of {', '.join(f'{n:,}' for n in sizes)} requests over {args.days} days (SQLite); median of {args.runs} warm runs."
    )
    width = max(len(label) for _, label, _, _ in table)
    print(f"{'STORE':>10}  {'WHAT':<{width}}  {'BEFORE':>9}  {'MS':>9}  BUDGET {BUDGET_MS:.0f} ms")
    for count, label, was, ms in table:
        print(f"{count:>10}  {label:<{width}}  {was}  {ms}")


if __name__ == "__main__":
    main()
