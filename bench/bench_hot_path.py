"""The hot path in one run: `llmops serve` (scripted provider, zero model time) against a minimal
FastAPI + pydantic floor app parsing the same body, and this tree against an earlier commit.

Every configuration is a real server process on a free port, driven over HTTP by `httpload` (keep-alive
connections, the sample emails in turn, each copy made distinct). For each: req/s at concurrency 1 and 8, p95 at 1, p50/p95 at 8, and the
server's CPU per request (user + system time of the whole process tree, read from /proc, including
the export thread's work after the load ends). Export CPU per request is full telemetry minus the
same run with the span export deferred for the whole run. The soak sends `--soak` requests to one
worker with full telemetry and samples its RSS; the spans the export queue dropped are read from
`/metrics` (`llmops_spans_dropped_total`; the earlier commit may not have it).

The earlier commit (`--before`, default HEAD~1) is checked out with `git worktree` under /tmp and run
from this venv with its `src/` first on PYTHONPATH.

    python bench/bench_hot_path.py [--requests 2000] [--before REV] [--soak 100000] [--configs …]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from httpload import run_load
from scratch_postgres import POSTGRES, postgres_database

ROOT = Path(__file__).resolve().parents[1]
KEY = "llmops_bench_key_0123456789abcdefghijklmnopqrstuvwxyzABCDEFGH"
TICK = os.sysconf("SC_CLK_TCK")
DEFERRED = {
    "OTEL_BSP_SCHEDULE_DELAY": "3600000",
    "OTEL_BSP_MAX_QUEUE_SIZE": "10000000",
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "10000000",
}
TARGET_CPU_MS, TARGET_RPS, TARGET_P95_MS, TARGET_RATIO = 2.0, 500, 20.0, 5.0


@dataclass(frozen=True)
class Config:
    telemetry: bool = True
    workers: int = 1
    postgres: bool = False
    deferred: bool = False


CONFIGS = {
    "telemetry off": Config(telemetry=False),
    "full telemetry": Config(),
    "full, export deferred": Config(deferred=True),
    "full, 2 workers": Config(workers=2),
    "full, Postgres": Config(postgres=True),
    "full, Postgres, 2 workers": Config(postgres=True, workers=2),
}


@dataclass
class Result:
    rps_c1: float
    rps_c8: float
    p50_ms: float
    p95_ms: float
    p95_c1_ms: float
    cpu_ms: float
    errors: int
    dropped: float | None = None


def bodies(count: int = 5000) -> list[bytes]:
    """`count` distinct triage bodies: the sample emails, each copy with its own reference number in
    the subject and body, so no cache in the server sees the same email twice in a run of this size."""
    emails = [
        json.loads(line)["email"] for line in (ROOT / "samples" / "emails.jsonl").read_text().splitlines()
    ]
    payloads = []
    for i in range(count):
        email = dict(emails[i % len(emails)])
        email["subject"] = f"{email.get('subject', '')} [ref {i}]"
        email["body"] = f"{email.get('body', '')}\n\nReference: {i}"
        payloads.append(json.dumps({"email": email, "user_id": f"user-{i % 50}"}).encode())
    return payloads


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tree_pids(root: int) -> list[int]:
    """`root` and its live descendants (uvicorn's worker processes)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                fields = (entry / "stat").read_text().rpartition(")")[2].split()
                parents[int(entry.name)] = int(fields[1])
    found, frontier = [root], [root]
    while frontier:
        children = [pid for pid, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def cpu_seconds(root: int) -> float:
    total = 0
    for pid in tree_pids(root):
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICK


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def settle(pid: int, limit_s: float = 20.0) -> float:
    """CPU seconds once the server has gone quiet (the export thread finished the last spans)."""
    deadline = time.monotonic() + limit_s
    last = cpu_seconds(pid)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = cpu_seconds(pid)
        if now - last < 0.02:
            return now
        last = now
    return last


@contextlib.contextmanager
def server(command: list[str], env: dict[str, str], log: Path) -> Iterator[tuple[str, int]]:
    port = free_port()
    with log.open("w") as out:
        process = subprocess.Popen([*command, "--port", str(port)], env=env, stdout=out, stderr=out)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while True:
                with contextlib.suppress(httpx.TransportError):
                    if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                        break
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"server did not start; see {log}")
                time.sleep(0.2)
            yield base, process.pid
        finally:
            process.terminate()
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def llmops_env(src: Path, data_dir: Path, config: Config, database_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLMOPS_", "OTEL_", "OPENAI_"))}
    env.update(
        PYTHONPATH=str(src),
        LLMOPS_DATA_DIR=str(data_dir),
        LLMOPS_PROVIDER="scripted",
        LLMOPS_API_KEYS=KEY,
        LLMOPS_TELEMETRY="true" if config.telemetry else "false",
    )
    if database_url:
        env["LLMOPS_DATABASE_URL"] = database_url
    if config.deferred:
        env.update(DEFERRED)
    return env


async def measure(base: str, pid: int, payloads: list[bytes], requests: int) -> Result:
    url, headers = f"{base}/v1/triage", {"authorization": f"Bearer {KEY}"}
    await run_load(url, payloads, headers, requests=max(requests // 10, 20), concurrency=8)  # warm up
    settle(pid)
    one = await run_load(url, payloads, headers, requests=requests // 2, concurrency=1)
    cpu_before = settle(pid)
    eight = await run_load(url, payloads, headers, requests=requests, concurrency=8)
    cpu_after = settle(pid)
    latencies = sorted(eight.latencies_s)
    return Result(
        rps_c1=len(one.latencies_s) / one.wall_s,
        rps_c8=len(latencies) / eight.wall_s,
        p50_ms=statistics.median(latencies) * 1000,
        p95_ms=latencies[int(len(latencies) * 0.95)] * 1000,
        p95_c1_ms=sorted(one.latencies_s)[int(len(one.latencies_s) * 0.95)] * 1000,
        cpu_ms=(cpu_after - cpu_before) / requests * 1000,
        errors=one.errors + eight.errors,
        dropped=spans_dropped(base),
    )


def spans_dropped(base: str) -> float | None:
    reply = httpx.get(f"{base}/metrics", headers={"authorization": f"Bearer {KEY}"}, timeout=10)
    values = re.findall(r"^llmops_spans_dropped_total(?:\{[^}]*\})? (\S+)$", reply.text, re.MULTILINE)
    return sum(float(v) for v in values) if reply.status_code == 200 and values else None


async def run_llmops(src: Path, config: Config, payloads: list[bytes], requests: int, tmp: Path) -> Result:
    data_dir = Path(tempfile.mkdtemp(dir=tmp))
    command = [sys.executable, "-m", "llmops.cli", "serve", "--workers", str(config.workers)]
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(postgres_database()) if config.postgres else None
        base, pid = stack.enter_context(
            server(command, llmops_env(src, data_dir, config, url), data_dir / "serve.log")
        )
        return await measure(base, pid, payloads, requests)


async def run_floor(payloads: list[bytes], requests: int, tmp: Path) -> Result:
    command = [sys.executable, "-m", "uvicorn", "floor_app:app", "--app-dir", str(ROOT / "bench")]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    with server(command, env, tmp / "floor.log") as (base, pid):
        result = await measure(base, pid, payloads, requests)
    result.dropped = None
    return result


async def soak(src: Path, payloads: list[bytes], requests: int, tmp: Path) -> list[float]:
    """RSS (MiB) of one worker with full telemetry at the start and after each tenth of `requests`."""
    data_dir = Path(tempfile.mkdtemp(dir=tmp))
    env = llmops_env(src, data_dir, Config(), None)
    command = [sys.executable, "-m", "llmops.cli", "serve", "--workers", "1"]
    samples = []
    with server(command, env, data_dir / "serve.log") as (base, pid):
        headers = {"authorization": f"Bearer {KEY}"}
        samples.append(rss_mib(pid))  # started, before any request
        for _ in range(10):
            await run_load(f"{base}/v1/triage", payloads, headers, requests=requests // 10, concurrency=8)
            samples.append(rss_mib(pid))
    return samples


@contextlib.contextmanager
def checkout(rev: str) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="llmops-before-"))
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(path), rev],
        check=True,
        capture_output=True,
    )
    try:
        yield path / "src"
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(path)], check=False)


def postgres_reachable() -> bool:
    engine = create_engine(POSTGRES, connect_args={"connect_timeout": 3})
    try:
        with engine.connect():
            return True
    except Exception:
        return False
    finally:
        engine.dispose()


def fmt(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def times(cpu_ms: float, floor_ms: float) -> float:
    """`cpu_ms` as a multiple of the floor's; infinite when the floor's CPU is below the clock tick
    (/proc counts CPU in 10 ms ticks, so a small run of the floor can read 0)."""
    return cpu_ms / floor_ms if floor_ms else math.inf


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--requests", type=int, default=2000, help="requests at concurrency 8 per configuration"
    )
    parser.add_argument("--before", default="HEAD~1", help="the earlier commit (a git revision); '' to skip")
    parser.add_argument("--soak", type=int, default=100_000, help="requests of the RSS soak; 0 to skip")
    parser.add_argument("--configs", nargs="*", default=list(CONFIGS), choices=list(CONFIGS))
    args = parser.parse_args()
    payloads = bodies()
    configs = [name for name in args.configs if not CONFIGS[name].postgres or postgres_reachable()]
    skipped = sorted(set(args.configs) - set(configs))
    with tempfile.TemporaryDirectory() as tmp_name, contextlib.ExitStack() as stack:
        tmp = Path(tmp_name)
        trees = {"now": ROOT / "src"}
        if args.before:
            trees = {args.before: stack.enter_context(checkout(args.before)), **trees}
        floor = await run_floor(payloads, args.requests, tmp)
        results: dict[tuple[str, str], Result] = {}
        for name in configs:  # trees alternate within a configuration, to share the machine's drift
            for tree, src in trees.items():
                results[(name, tree)] = await run_llmops(src, CONFIGS[name], payloads, args.requests, tmp)
        soaks = (
            {tree: await soak(src, payloads, args.soak, tmp) for tree, src in trees.items()}
            if args.soak
            else {}
        )

    print(
        f"Hot path: POST /v1/triage, scripted provider, {args.requests} requests at c=8 "
        f"({args.requests // 2} at c=1), {os.cpu_count()} cores; CPU = server process tree"
    )
    head = f"{'configuration':27}{'tree':>9}{'req/s c=1':>11}{'req/s c=8':>11}{'p50 c=8':>9}{'p95 c=8':>9}"
    print(head + f"{'p95 c=1':>9}{'CPU ms/req':>12}{'x floor':>9}{'dropped':>9}{'errors':>8}")
    rows = [("floor (FastAPI+pydantic)", "", floor)] + [(n, t, r) for (n, t), r in results.items()]
    for name, tree, r in rows:
        print(
            f"{name:27}{tree[:9]:>9}{r.rps_c1:11.0f}{r.rps_c8:11.0f}{r.p50_ms:9.1f}{r.p95_ms:9.1f}"
            f"{r.p95_c1_ms:9.1f}{r.cpu_ms:12.2f}{times(r.cpu_ms, floor.cpu_ms):9.1f}{fmt(r.dropped, 0):>9}{r.errors:8}"
        )
    for tree in trees:
        full, deferred = results.get(("full telemetry", tree)), results.get(("full, export deferred", tree))
        if full and deferred:
            print(
                f"export CPU per request ({tree}): {full.cpu_ms - deferred.cpu_ms:.2f} ms "
                f"(full {full.cpu_ms:.2f} - export deferred {deferred.cpu_ms:.2f})"
            )
    for tree, samples in soaks.items():
        print(
            f"RSS over {args.soak} requests ({tree}, 1 worker, full telemetry), MiB at 0 and per tenth: "
            + " ".join(f"{s:.0f}" for s in samples)
            + f"  (growth after the first tenth {samples[-1] - samples[1]:+.1f})"
        )
    if skipped:
        print(
            f"skipped (Postgres not reachable at {make_url(POSTGRES).render_as_string()}): {', '.join(skipped)}"
        )
    full = results.get(("full telemetry", "now"))
    if full:
        checks = [
            (f"CPU <= {TARGET_CPU_MS} ms/request", full.cpu_ms <= TARGET_CPU_MS),
            (f"ratio to the floor <= {TARGET_RATIO}x", times(full.cpu_ms, floor.cpu_ms) <= TARGET_RATIO),
            (f">= {TARGET_RPS} req/s at c=8", full.rps_c8 >= TARGET_RPS),
            (f"p95 <= {TARGET_P95_MS} ms at c=8", full.p95_ms <= TARGET_P95_MS),
        ]
        print(
            "targets (full telemetry, now): "
            + "; ".join(f"{t}: {'met' if ok else 'missed'}" for t, ok in checks)
        )


if __name__ == "__main__":
    asyncio.run(main())
