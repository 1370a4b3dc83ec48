"""Dashboard render times from small stores to large: every page that queries the store, through the ASGI app.

Reuses the bench databases `bench_report.py` builds (a SQLite file cached under `~/.cache/llmops-bench/`
and Postgres database `llmops_bench_<n>`, one per size), serves each with the real app (lifespan,
migrations, signed-in session cookie) over `httpx.ASGITransport`, and times the overview for each
range, the latency and prompts pages, the request list, a request's waterfall, evals and alerts
(with budgets), median of several warm runs. The comparison rows compute the overview's figures the
naive way, from raw request rows only. `--before SRC` times the same pages with another source tree
(e.g. `git archive <commit> src`), in a child process on the same stores (moved to that tree's schema
first and back after), side by side.

    .venv/bin/python bench/bench_dashboard.py [--requests 1000,10000,50000] [--runs 7] [--no-postgres]
        [--before SRC]
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
from bench_report import naive_report, postgres_store, schema_of, sqlite_store
from llmops.api.app import create_app
from llmops.config import Settings
from llmops.storage.tables import requests

KEY = "llmops_bench_key_0123456789abcdefghijklmnopqrstuvwxyzABCDEF"
BUDGET_MS = 300.0
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


async def timed_get(client: httpx.AsyncClient, path: str, runs: int) -> tuple[float, float]:
    """Median wall time and median CPU time of this process (every thread: the app runs its queries in
    worker threads; Postgres' own CPU is not in it), in ms, of `runs` GETs after one warm-up; every
    reply must be a 200."""
    (await client.get(path)).raise_for_status()
    walls, cpus = [], []
    for _ in range(runs):
        started, cpu = time.perf_counter(), time.process_time()
        reply = await client.get(path)
        walls.append((time.perf_counter() - started) * 1000)
        cpus.append((time.process_time() - cpu) * 1000)
        if reply.status_code != 200:
            raise RuntimeError(f"{path} answered {reply.status_code}")
    return statistics.median(walls), statistics.median(cpus)


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


async def run(
    url: str, data_dir: Path, anchor: datetime, request_id: str, runs: int
) -> list[tuple[str, tuple[float, float]]]:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=url,
        data_dir=data_dir,
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
            for window in ("24h", "30d"):
                path = f"/latency?range={window}"
                rows.append((f"GET /latency ({window}, ending now)", await timed_get(client, path, runs)))
            rows.append(("GET /prompts (30d, ending now)", await timed_get(client, "/prompts", runs)))
            rows.append(("GET /requests (first page)", await timed_get(client, "/requests", runs)))
            errors = "/requests?status=error"
            rows.append(("GET /requests?status=error", await timed_get(client, errors, runs)))
            rows.append(
                ("GET /requests/{id} (waterfall)", await timed_get(client, f"/requests/{request_id}", runs))
            )
            rows.append(("GET /evals", await timed_get(client, "/evals", runs)))
            rows.append(("GET /alerts (and budgets)", await timed_get(client, "/alerts", runs)))
    return rows


def open_store(
    cache_dir: Path, backend: str, count: int, days: int, seed: int
) -> tuple[Engine, datetime] | None:
    if backend == "sqlite":
        return sqlite_store(cache_dir, count, days, seed, rebuild=False)
    return postgres_store(count, days, seed, rebuild=False)


def page_times(
    cache_dir: Path, backend: str, count: int, days: int, seed: int, runs: int
) -> list[tuple[str, tuple[float, float]]]:
    """The pages' times on one store, with whichever llmops is on the path (the store is at its schema)."""
    if backend == "sqlite":
        store = sqlite_store(cache_dir, count, days, seed, rebuild=False, migrate=False)
    else:
        store = postgres_store(count, days, seed, rebuild=False, migrate=False)
    assert store is not None
    engine, anchor = store
    request_id = sample_request_id(engine, anchor)
    url = engine.url.render_as_string(hide_password=False)
    engine.dispose()
    return asyncio.run(run(url, cache_dir / "dashboard-bench-data", anchor, request_id, runs))


def before_times(args: argparse.Namespace, backend: str, count: int) -> dict[str, tuple[float, float]]:
    """`page_times` from the source tree `--before`, in a child process, on the store moved to its schema."""
    command = [sys.executable, __file__, "--emit-times", "--backend", backend, "--requests", str(count)]
    command += ["--runs", str(args.runs), "--days", str(args.days), "--seed", str(args.seed)]
    command += ["--cache-dir", str(args.cache_dir)]
    done = subprocess.run(
        command,
        env={**os.environ, "PYTHONPATH": str(args.before)},
        check=True,
        capture_output=True,
        text=True,
    )
    return {label: (wall, cpu) for label, (wall, cpu) in json.loads(done.stdout.strip().splitlines()[-1])}


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
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--before", type=Path, help="also time another source tree's pages (its src/)")
    parser.add_argument("--emit-times", action="store_true", help=argparse.SUPPRESS)  # `--before`'s child
    parser.add_argument("--backend", default="sqlite", help=argparse.SUPPRESS)  # the child's store
    args = parser.parse_args()
    args.cache_dir.mkdir(parents=True, exist_ok=True)
    sizes = [int(size) for size in args.requests.split(",")]
    if args.emit_times:
        print(json.dumps(page_times(args.cache_dir, args.backend, sizes[0], args.days, args.seed, args.runs)))
        return
    backends = ["sqlite"] if args.no_postgres else ["sqlite", "postgres"]
    table: list[tuple[str, str, str, str, str, str]] = []
    for count in sizes:
        for backend in backends:
            store = open_store(args.cache_dir, backend, count, args.days, args.seed)
            if store is None:
                continue
            engine, anchor = store
            naive = [
                (
                    f"overview figures from raw rows ({w})",
                    timed_call(lambda d=d, e=engine, a=anchor: naive_report(e, d, a), 3),
                )
                for w, d in (("24h", timedelta(hours=24)), ("30d", timedelta(days=30)))
            ]
            before: dict[str, tuple[float, float]] = {}
            if args.before:
                schema_of(engine, args.before)
                before = before_times(args, backend, count)
                schema_of(engine, None)
            engine.dispose()
            for label, (ms, cpu) in page_times(
                args.cache_dir, backend, count, args.days, args.seed, args.runs
            ):
                mark = "ok" if ms < BUDGET_MS else "OVER"
                if label in before:
                    was_ms, was_cpu = before[label]
                    was = f"{was_ms:9.1f} {was_cpu:9.1f}"
                    ratio = f"{was_ms / ms:5.1f}x {was_cpu / cpu if cpu else 0:5.1f}x"
                else:
                    was, ratio = f"{'-':>9} {'-':>9}", f"{'-':>6} {'-':>6}"
                table.append((f"{count:,}", backend, label, was, f"{ms:9.1f} {cpu:9.1f}", f"{ratio}  {mark}"))
            table += [
                (f"{count:,}", backend, f"baseline: {label}", f"{'-':>9} {'-':>9}", f"{ms:9.1f} {'-':>9}", "")
                for label, ms in naive
            ]
    print(
        f"\nStores of {', '.join(f'{n:,}' for n in sizes)} requests over {args.days} days; "
        f"median of {args.runs} warm runs."
    )
    width = max(len(label) for _, _, label, _, _, _ in table)
    print(
        f"{'STORE':>10}  {'BACKEND':<8}  {'WHAT':<{width}}  {'BEFORE ms':>9} {'CPU ms':>9}  {'AFTER ms':>9} "
        f"{'CPU ms':>9}  {'WALL':>6} {'CPU':>6}  BUDGET {BUDGET_MS:.0f} ms (wall)"
    )
    for count, backend, label, was, now, ratio in table:
        print(f"{count:>10}  {backend:<8}  {label:<{width}}  {was}  {now}  {ratio}")


if __name__ == "__main__":
    main()
