"""`llmops report` speed from small stores to large: rollups + raw edges against a naive raw-rows-only query.

Run: `.venv/bin/python bench/bench_report.py [--requests 1000,10000,50000] [--days 30] [--runs 5]
[--no-postgres] [--before /tmp/base/src]`

For each store size, fills a SQLite store (and a Postgres one when the local server answers) with
requests spread over `--days` days, three child spans each (two tool calls and a model call) and the
matching hourly rollups, written directly in bulk. The filled databases are kept under `--cache-dir`
(SQLite file) and as Postgres database `llmops_bench_<n>` and reused by later runs; `--rebuild` starts
over. Then it times `build_report` for the 1h, 24h, 7d, 30d and all-time windows (median of `--runs`
warm runs) next to the naive baseline that aggregates raw rows only, and prints how far the report's
p95 is from the exact one. `--before SRC` times the same reports with another source tree's
`build_report` (e.g. `git archive <commit> src`), in a child process on the same stores, side by side.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, case, create_engine, func, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError, ProgrammingError

from llmops.reporting.queries import build_report, exact_quantile
from llmops.reporting.window import Window, parse_since
from llmops.storage.db import make_engine
from llmops.storage.migrate import alembic_config, upgrade
from llmops.storage.rollups import REQUESTS, STEPS, RollupBatch
from llmops.storage.tables import requests, service_state, spans
from llmops.storage.trace_store import (
    RequestRecord,
    request_rollup_key,
    request_rollup_values,
    step_rollup_values,
)

Store = tuple[str, Engine, datetime]
FORMAT = 2  # bump when the generated data changes, so cached databases are rebuilt
CHUNK = 20_000
WINDOWS = ("1h", "24h", "7d", "30d", "all")
BUDGET_MS = 300.0
MARKER = "bench_report_dataset"
PG_ADMIN_URL = os.environ.get("LLMOPS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
VERSIONS = (("email_triage_v5", 0.15), ("email_triage_v6", 0.30), ("email_triage_v7", 0.55))
MODELS = (("SmolLM2-135M-Instruct", "local", 1800.0), ("gpt-4o-mini", "openai", 900.0))


def generate(
    count: int, days: int, anchor: datetime, seed: int
) -> Iterator[tuple[list[RequestRecord], list[dict]]]:
    """Chunks of (request records, child span rows), in start-time order, deterministic for a seed."""
    rng = random.Random(seed)
    span_seconds = days * 86_400
    offsets = sorted(rng.random() * span_seconds for _ in range(count))
    start = anchor - timedelta(seconds=span_seconds)
    names, weights = zip(*VERSIONS, strict=True)
    for first in range(0, count, CHUNK):
        records: list[RequestRecord] = []
        children: list[dict] = []
        for index in range(first, min(first + CHUNK, count)):
            created = start + timedelta(seconds=offsets[index])
            model, provider, median = MODELS[0] if rng.random() < 0.7 else MODELS[1]
            roll = rng.random()
            status = "error" if roll < 0.02 else "degraded" if roll < 0.05 else "ok"
            latency = rng.lognormvariate(math.log(median), 0.55)
            tokens_in, tokens_out = rng.randint(300, 900), rng.randint(40, 200)
            cost = None if rng.random() < 0.01 else (tokens_in * 0.15 + tokens_out * 0.6) / 1e6
            record = RequestRecord(
                request_id=f"bench-{index:08d}",
                trace_id=f"{index:032x}",
                span_id=f"{index:012x}0000",
                created_at=created,
                user_id=f"u_{rng.randrange(5000):020d}",
                prompt_name="email_triage",
                prompt_version=rng.choices(names, weights)[0],
                model=model,
                provider=provider,
                status=status,
                http_status=500 if status == "error" else 200,
                latency_ms=latency,
                input_tokens=tokens_in,
                output_tokens=tokens_out,
                cost_usd=cost if provider == "openai" else 0.0,
                price_source="genai-prices" if provider == "openai" else "config",
                retries=0 if rng.random() < 0.94 else rng.randint(1, 2),
                degraded=status == "degraded",
                degraded_reason="provider_unavailable" if status == "degraded" else None,
                category=rng.choice(("billing", "meeting", "support", "spam", "personal")),
                error_type="AllProvidersFailed" if status == "error" else None,
            )
            records.append(record)
            steps = (
                ("execute_tool lookup_contact", rng.lognormvariate(math.log(40), 0.6)),
                ("execute_tool check_calendar", rng.lognormvariate(math.log(25), 0.6)),
                (f"chat {model}", latency * 0.85),
            )
            at = created
            for number, (name, duration) in enumerate(steps, start=1):
                end = at + timedelta(milliseconds=duration)
                children.append(
                    {
                        "trace_id": record.trace_id,
                        "span_id": f"{index:012x}{number:04x}",
                        "parent_span_id": record.span_id,
                        "request_id": record.request_id,
                        "name": name,
                        "kind": "CLIENT" if name.startswith("chat") else "INTERNAL",
                        "start_time": at,
                        "end_time": end,
                        "duration_ms": duration,
                        "status_code": "ERROR" if status == "error" and number == 3 else "UNSET",
                        "status_message": None,
                        "attributes": "{}",
                        "events": "[]",
                    }
                )
                at = end
        yield records, children


def fill(engine: Engine, count: int, days: int, seed: int) -> datetime:
    """Bulk-insert the dataset and its rollups; returns the moment the data ends (the report's `until`)."""
    anchor = datetime.now(UTC).replace(minute=37, second=0, microsecond=0)
    request_rollups, step_rollups = RollupBatch(REQUESTS), RollupBatch(STEPS)
    started = time.perf_counter()
    done = 0
    for records, children in generate(count, days, anchor, seed):
        for record in records:
            request_rollups.add(
                record.created_at,
                request_rollup_key(record),
                request_rollup_values(record),
                record.latency_ms,
            )
        owners = {record.request_id: (record.created_at, request_rollup_key(record)) for record in records}
        for child in children:
            created, key = owners[child["request_id"]]
            values = step_rollup_values(child["status_code"], child["duration_ms"])
            step_rollups.add(created, (child["name"], *key), values, child["duration_ms"])
        with engine.begin() as connection:
            connection.execute(insert(requests), [asdict(record) for record in records])
            connection.execute(insert(spans), children)
        done += len(records)
        rate = done / (time.perf_counter() - started)
        print(f"\r  {engine.dialect.name}: {done:,}/{count:,} requests ({rate:,.0f}/s)", end="", flush=True)
    with engine.begin() as connection:
        request_rollups.upsert(connection)
        step_rollups.upsert(connection)
        connection.execute(
            insert(service_state),
            {
                "name": MARKER,
                "value": f"{_dataset_key(count, days, seed)}|{anchor.isoformat()}",
                "created_at": anchor,
            },
        )
    print(f"\n  filled in {time.perf_counter() - started:.0f}s")
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE"))
    else:
        with engine.begin() as connection:
            connection.execute(text("ANALYZE"))
    return anchor


def _dataset_key(count: int, days: int, seed: int) -> str:
    return f"format={FORMAT};requests={count};days={days};seed={seed}"


def cached_anchor(engine: Engine, count: int, days: int, seed: int) -> datetime | None:
    try:
        with engine.connect() as connection:
            value = connection.execute(
                select(service_state.c.value).where(service_state.c.name == MARKER)
            ).scalar_one_or_none()
    except (OperationalError, ProgrammingError):
        return None
    if value is None:
        return None
    key, _, anchor = value.partition("|")
    return datetime.fromisoformat(anchor) if key == _dataset_key(count, days, seed) else None


def sqlite_store(
    cache_dir: Path, count: int, days: int, seed: int, rebuild: bool, migrate: bool = True
) -> tuple[Engine, datetime]:
    """The cached SQLite store (filled when missing), migrated to this tree's schema unless `migrate`
    is false (a `--before` child runs another tree, which may not know the newest revision)."""
    path = cache_dir / f"report_{count}_{days}d_f{FORMAT}.db"
    engine = make_engine(f"sqlite:///{path}")
    anchor = None if rebuild else cached_anchor(engine, count, days, seed)
    if anchor is None:
        engine.dispose()
        for stale in path.parent.glob(path.name + "*"):
            stale.unlink()
        engine = make_engine(f"sqlite:///{path}")
        upgrade(engine)
        print(f"Filling {path} …")
        anchor = fill(engine, count, days, seed)
    else:
        print(f"Reusing {path}")
        if migrate:
            upgrade(engine)
    return engine, anchor


def postgres_store(
    count: int, days: int, seed: int, rebuild: bool, migrate: bool = True
) -> tuple[Engine, datetime] | None:
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    name = f"llmops_bench_{count}"
    try:
        with admin.connect() as connection:
            exists = connection.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
            ).first()
            if exists is None:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError:
        print("Postgres not reachable: skipped")
        return None
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    anchor = None if rebuild else cached_anchor(engine, count, days, seed)
    if anchor is None:
        engine.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        engine = make_engine(url)
        upgrade(engine)
        print(f"Filling Postgres database {name} …")
        anchor = fill(engine, count, days, seed)
    else:
        print(f"Reusing Postgres database {name}")
        if migrate:
            upgrade(engine)
    admin.dispose()
    return engine, anchor


def schema_of(engine: Engine, src: Path | None) -> None:
    """Move the store's schema to the newest migration of the source tree `src` (this tree's when None),
    down or up, so another tree's app can open it: `--before` runs need the older schema."""
    config = alembic_config(engine)
    target = "head"
    if src is not None:
        target = ScriptDirectory(str(src / "llmops" / "storage" / "migrations")).get_current_head() or "base"
    with engine.connect() as connection:
        config.attributes["connection"] = connection
        current = connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
        if target == "head":
            command.upgrade(config, target)
        elif current != target:
            command.downgrade(config, target)
        connection.commit()


def naive_report(engine: Engine, since: timedelta | None, until: datetime) -> dict[str, Any]:
    """The baseline: the same figures from raw rows only (exact percentiles, every row read)."""
    window = Window.ending_at(until, since)
    in_window = [requests.c.created_at < window.end]
    if window.start is not None:
        in_window.append(requests.c.created_at >= window.start)
    postgres = engine.dialect.name == "postgresql"
    with engine.connect() as connection:
        totals = connection.execute(
            select(
                requests.c.prompt_version,
                func.count(),
                func.sum(case((requests.c.status == "error", 1), else_=0)),
                func.sum(requests.c.cost_usd),
                func.sum(requests.c.input_tokens),
                func.avg(requests.c.latency_ms),
            )
            .where(*in_window)
            .group_by(requests.c.prompt_version)
        ).all()
        steps = connection.execute(
            select(spans.c.name, func.count(), func.avg(spans.c.duration_ms))
            .join(requests, spans.c.request_id == requests.c.request_id)
            .where(*in_window, spans.c.span_id != requests.c.span_id)
            .group_by(spans.c.name)
        ).all()
        if postgres:
            p95 = connection.execute(
                select(func.percentile_cont(0.95).within_group(requests.c.latency_ms)).where(*in_window)
            ).scalar_one()
            by_version = connection.execute(
                select(
                    requests.c.prompt_version, func.percentile_cont(0.95).within_group(requests.c.latency_ms)
                )
                .where(*in_window)
                .group_by(requests.c.prompt_version)
            ).all()
        else:
            rows = connection.execute(
                select(requests.c.prompt_version, requests.c.latency_ms).where(*in_window)
            )
            grouped: dict[str, list[float]] = {}
            for version, latency in rows:
                grouped.setdefault(version, []).append(latency)
            everything = sorted(value for values in grouped.values() for value in values)
            p95 = exact_quantile(everything, 0.95)
            by_version = [(key, exact_quantile(sorted(values), 0.95)) for key, values in grouped.items()]
    return {
        "requests": sum(row[1] for row in totals),
        "p95": p95,
        "by_version": by_version,
        "steps": steps,
    }


def timed(function: Callable[[], Any], runs: int) -> tuple[float, Any]:
    """Median wall time in ms of `runs` calls after one warm-up call, and the last result."""
    wall, _, result = timed_cpu(function, runs)
    return wall, result


def timed_cpu(function: Callable[[], Any], runs: int) -> tuple[float, float, Any]:
    """Median wall and median CPU time of this process in ms (steadier on a busy machine; Postgres'
    own CPU is not in it) of `runs` calls after one warm-up call, and the last result."""
    result = function()
    walls, cpus = [], []
    for _ in range(runs):
        started, cpu = time.perf_counter(), time.process_time()
        result = function()
        walls.append((time.perf_counter() - started) * 1000)
        cpus.append((time.process_time() - cpu) * 1000)
    return statistics.median(walls), statistics.median(cpus), result


def stores(
    count: int, days: int, seed: int, cache_dir: Path, postgres: bool, rebuild: bool, migrate: bool = True
) -> list[Store]:
    found: list[Store] = [("sqlite", *sqlite_store(cache_dir, count, days, seed, rebuild, migrate))]
    if postgres:
        pg = postgres_store(count, days, seed, rebuild, migrate)
        if pg is not None:
            found.append(("postgres", *pg))
    return found


def report_times(engine: Engine, anchor: datetime, runs: int) -> dict[str, tuple[float, float]]:
    """`build_report`'s median wall and CPU time per window, with whichever llmops is on the path."""
    times = {}
    for name in WINDOWS:
        window = Window.ending_at(anchor, parse_since(name))
        wall, cpu, _ = timed_cpu(lambda window=window: build_report(engine, window), runs)
        times[name] = (wall, cpu)
    return times


def before_times(src: Path, args: argparse.Namespace, count: int) -> dict[str, dict[str, list[float]]]:
    """`report_times` per backend from the source tree `src`, run in a child process on the same stores."""
    command = [sys.executable, __file__, "--emit-times", "--requests", str(count), "--days", str(args.days)]
    command += ["--runs", str(args.runs), "--seed", str(args.seed), "--cache-dir", str(args.cache_dir)]
    command += ["--no-postgres"] if args.no_postgres else []
    env = {**os.environ, "PYTHONPATH": str(src)}
    done = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def bench(
    label: str, engine: Engine, anchor: datetime, runs: int, before: dict[str, list[float]] | None
) -> list[list[str]]:
    rows = []
    for name in WINDOWS:
        window = Window.ending_at(anchor, parse_since(name))
        report_ms, cpu_ms, report = timed_cpu(lambda window=window: build_report(engine, window), runs)
        naive_ms, naive = timed(
            lambda name=name: naive_report(engine, parse_since(name), anchor), max(1, runs // 2)
        )
        assert naive["requests"] == report.requests, (naive["requests"], report.requests)
        error = (report.p95_latency_ms / naive["p95"] - 1) * 100 if naive["p95"] else 0.0
        rows.append(
            [
                label,
                name,
                f"{report.requests:,}",
                "-" if before is None else f"{before[name][0]:,.1f}",
                "-" if before is None else f"{before[name][1]:,.1f}",
                f"{report_ms:,.1f}",
                f"{cpu_ms:,.1f}",
                "-" if before is None else f"{before[name][1] / cpu_ms if cpu_ms else 0:.1f}x",
                "ok" if report_ms <= BUDGET_MS else "OVER",
                report.p95_method,
                f"{naive_ms:,.1f}",
                f"{report.p95_latency_ms or 0:,.0f}",
                f"{naive['p95'] or 0:,.0f}",
                f"{error:+.1f}%",
            ]
        )
        print(
            f"  {label} {name}: report {report_ms:.1f} ms ({cpu_ms:.1f} CPU), naive {naive_ms:.1f} ms",
            file=sys.stderr,
        )
    return rows


def print_table(rows: list[list[str]]) -> None:
    header = [
        "backend",
        "window",
        "requests",
        "before ms",
        "CPU ms",
        "report ms",
        "CPU ms",
        "CPU before/after",
        f"≤{BUDGET_MS:.0f}",
        "p95 via",
        "naive ms",
        "p95",
        "exact",
        "p95 err",
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print(
            "  ".join(
                cell.ljust(width) if i < 2 else cell.rjust(width)
                for i, (cell, width) in enumerate(zip(row, widths, strict=True))
            )
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--requests", default="1000,10000,50000", help="store sizes, comma-separated (e.g. 1000,1000000)"
    )
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "llmops-bench",
    )
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument(
        "--rebuild", action="store_true", help="Refill the databases even if cached ones match."
    )
    parser.add_argument("--before", type=Path, help="also time another source tree's reports (its src/)")
    parser.add_argument("--emit-times", action="store_true", help=argparse.SUPPRESS)  # `--before`'s child
    args = parser.parse_args()
    args.cache_dir.mkdir(parents=True, exist_ok=True)
    sizes = [int(size) for size in args.requests.split(",")]

    if args.emit_times:  # run under the other source tree: the stores exist already
        found = stores(sizes[0], args.days, args.seed, args.cache_dir, not args.no_postgres, False, False)
        print(json.dumps({label: report_times(engine, anchor, args.runs) for label, engine, anchor in found}))
        return
    rows: list[list[str]] = []
    for count in sizes:
        found = stores(count, args.days, args.seed, args.cache_dir, not args.no_postgres, args.rebuild)
        before = before_times(args.before, args, count) if args.before else {}
        for label, engine, anchor in found:
            rows += bench(label, engine, anchor, args.runs, before.get(label) if args.before else None)
            engine.dispose()
    print()
    print(
        f"Stores of {', '.join(f'{n:,}' for n in sizes)} requests over {args.days} days; median of {args.runs} warm runs."
    )
    print_table(rows)


if __name__ == "__main__":
    main()
