"""Reliability under hostile conditions, against real `llmops serve` processes (scripted provider):

  fault storm   provider faults (429s, 5xxs, hangs, unusable output) under concurrent load
  sigterm       SIGTERM while requests are in flight: acknowledged requests must all be stored
  kill -9       SIGKILL while requests are in flight: the same, without any shutdown flush
  replicas      two servers on one Postgres database, each `X-Request-ID` sent to both at once
  slow clients  idle and half-sent connections, then a burst at concurrency 64
  latency       sequential triage latency (the cost of storing the request row before the reply)

It prints lost / duplicated / 5xx counts per scenario. `--before SRC` runs the same scenarios against
another source tree (e.g. a worktree of main) and prints both side by side:

    python bench/bench_reliability.py [--before /work/wt-base/src] [--quick]
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

from scratch_postgres import postgres_database

KEY = "llmops_bench_key_0123456789abcdefghijklmnopqrstuvwxyzABCDEFGH"
HEADERS = {"Authorization": f"Bearer {KEY}"}
EMAIL = {
    "email": {
        "sender": "Dana Ops <dana@northwind.example>",
        "recipients": ["me@northwind.example"],
        "subject": "Production database down - checkout failing",
        "body": "The primary Postgres cluster went down at 09:12. Checkout is failing. Join the bridge.",
    }
}
THIS_SRC = Path(__file__).resolve().parents[1] / "src"
FAULTS = {"429 x2 then ok": "429*2", "5xx forever": "500*", "hang": "timeout*", "bad output": "bad*"}


@dataclass
class Figures:
    """One scenario's outcome; `extra` holds scenario-specific numbers."""

    sent: int = 0
    acknowledged: int = 0
    lost: int = 0
    duplicated: int = 0
    server_errors: int = 0
    transport_errors: int = 0
    extra: dict[str, str] = field(default_factory=dict)

    def cells(self) -> str:
        parts = [
            f"sent {self.sent}",
            f"200 {self.acknowledged}",
            f"lost {self.lost}",
            f"dup {self.duplicated}",
            f"5xx {self.server_errors}",
            f"no reply {self.transport_errors}",
        ]
        parts += [f"{k} {v}" for k, v in self.extra.items()]
        return ", ".join(parts)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serve(
    src: Path, database_url: str, data_dir: Path, **settings: str
) -> Iterator[tuple[str, subprocess.Popen]]:
    """`llmops serve` from `src` on a free port, ready; stopped (SIGTERM) on exit if still running."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLMOPS_", "OTEL_", "OPENAI_"))}
    env.update(
        PYTHONPATH=str(src),
        LLMOPS_DATA_DIR=str(data_dir),
        LLMOPS_DATABASE_URL=database_url,
        LLMOPS_PROVIDER="scripted",
        LLMOPS_API_KEYS=KEY,
        LLMOPS_LOG_LEVEL="warning",
        LLMOPS_RETRY_INITIAL_S="0.05",
        LLMOPS_RETRY_MAX_S="0.2",
        **{f"LLMOPS_{k.upper()}": v for k, v in settings.items()},
    )
    port = free_port()
    log = (data_dir / f"serve-{port}.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "llmops.cli", "serve", "--port", str(port)], env=env, stderr=log, stdout=log
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"server did not start; see {log.name}")
        time.sleep(0.2)
    try:
        yield base, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
        log.close()


def stored_ids(database_url: str) -> set[str]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return set(connection.execute(text("SELECT request_id FROM requests")).scalars())
    finally:
        engine.dispose()


def post(client: httpx.Client, request_id: str | None = None) -> tuple[int | str, str | None]:
    headers = {"X-Request-ID": request_id} if request_id else {}
    try:
        reply = client.post("/v1/triage", json=EMAIL, headers=headers)
    except httpx.TransportError as exc:
        return type(exc).__name__, None
    body_id = reply.json().get("request_id") if reply.status_code == 200 else None
    return reply.status_code, body_id


def tally(outcomes: list[tuple[int | str, str | None]], stored: set[str] | None) -> Figures:
    ids = [request_id for status, request_id in outcomes if status == 200 and request_id]
    figures = Figures(
        sent=len(outcomes),
        acknowledged=len(ids),
        duplicated=len(ids) - len(set(ids)),
        server_errors=sum(isinstance(status, int) and status >= 500 for status, _ in outcomes),
        transport_errors=sum(isinstance(status, str) for status, _ in outcomes),
    )
    if stored is not None:
        figures.lost = len(set(ids) - stored)
    return figures


def fault_storm(src: Path, work: Path, requests: int) -> dict[str, Figures]:
    results = {}
    for label, faults in FAULTS.items():
        data = work / f"storm-{faults.replace('*', 'x')}"
        data.mkdir()
        url = f"sqlite:///{data / 'llmops.db'}"
        settings = {"scripted_faults": faults, "request_timeout_s": "2", "request_deadline_s": "3"}
        with (
            serve(src, url, data, **settings) as (base, _),
            httpx.Client(base_url=base, headers=HEADERS, timeout=300) as client,
        ):
            started = time.monotonic()
            with ThreadPoolExecutor(16) as pool:
                outcomes = list(pool.map(lambda _: post(client), range(requests)))
            elapsed = time.monotonic() - started
        figures = tally(outcomes, stored_ids(url))
        figures.extra["wall s"] = f"{elapsed:.1f}"
        results[f"storm: {label}"] = figures
    return results


def under_load_then(src: Path, work: Path, name: str, sig: signal.Signals, settle_s: float) -> Figures:
    """Keep 16 clients busy, send `sig` after `settle_s`, count acknowledged requests not stored."""
    data = work / name
    data.mkdir()
    url = f"sqlite:///{data / 'llmops.db'}"
    outcomes: list[tuple[int | str, str | None]] = []
    stop = threading.Event()
    with serve(src, url, data, scripted_latency_ms="50") as (base, process):

        def worker() -> None:
            with httpx.Client(base_url=base, headers=HEADERS, timeout=30) as client:
                while not stop.is_set():
                    outcome = post(client)
                    outcomes.append(outcome)
                    if isinstance(outcome[0], str):
                        return

        threads = [threading.Thread(target=worker) for _ in range(16)]
        for thread in threads:
            thread.start()
        time.sleep(settle_s)
        process.send_signal(sig)
        process.wait(timeout=60)
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    return tally(outcomes, stored_ids(url))


def replicas(src: Path, work: Path, pairs: int) -> Figures:
    data_a, data_b = work / "replica-a", work / "replica-b"
    data_a.mkdir()
    data_b.mkdir()
    with postgres_database() as url:
        with serve(src, url, data_a) as (base_a, _), serve(src, url, data_b) as (base_b, _):
            clients = [httpx.Client(base_url=b, headers=HEADERS, timeout=120) for b in (base_a, base_b)]
            barrier = threading.Barrier(2)

            def send(args: tuple[int, int]) -> tuple[int | str, str | None]:
                replica, pair = args
                barrier.wait(timeout=60)
                return post(clients[replica], f"shared-{pair}")

            outcomes: list[tuple[int | str, str | None]] = []
            with ThreadPoolExecutor(2) as pool:
                for pair in range(pairs):
                    outcomes += pool.map(send, [(0, pair), (1, pair)])
            for client in clients:
                client.close()
        return tally(outcomes, stored_ids(url))


def slow_clients(src: Path, work: Path, idle: int, burst: int) -> Figures:
    data = work / "slow"
    data.mkdir()
    url = f"sqlite:///{data / 'llmops.db'}"
    with serve(src, url, data, header_timeout_s="5", body_timeout_s="5") as (base, _):
        port = int(base.rsplit(":", 1)[1])
        sockets = []
        for i in range(idle):
            sock = socket.create_connection(("127.0.0.1", port), timeout=30)
            if i % 2:  # half of them send the headers and part of the body, then stop
                sock.sendall(
                    b"POST /v1/triage HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                    + KEY.encode()
                    + b"\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{"
                )
            sockets.append(sock)
        time.sleep(8)  # past both read deadlines of the fixed build
        still_open = sum(_open(sock) for sock in sockets)
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        with (
            httpx.Client(base_url=base, headers=HEADERS, timeout=120, limits=limits) as client,
            ThreadPoolExecutor(64) as pool,
        ):
            outcomes = list(pool.map(lambda _: post(client), range(burst)))
        for sock in sockets:
            sock.close()
    figures = tally(outcomes, stored_ids(url))
    figures.extra["idle/half-sent still open after 8 s"] = f"{still_open}/{idle}"
    return figures


def _open(sock: socket.socket) -> bool:
    """Whether the server still holds this connection (a closed one reads EOF after any reply)."""
    sock.setblocking(False)
    try:
        while sock.recv(65536):
            pass
    except BlockingIOError:
        return True
    except OSError:
        return False
    return False


def latency(src: Path, work: Path, count: int) -> dict[str, Figures]:
    results = {}
    for backend in ("sqlite", "postgres"):
        data = work / f"latency-{backend}"
        data.mkdir()
        database = postgres_database() if backend == "postgres" else _sqlite(data)
        with (
            database as url,
            serve(src, url, data) as (base, _),
            httpx.Client(base_url=base, headers=HEADERS, timeout=60) as client,
        ):
            for _ in range(10):
                post(client)
            samples = []
            for _ in range(count):
                started = time.perf_counter()
                post(client)
                samples.append((time.perf_counter() - started) * 1000)
        samples.sort()
        figures = Figures(sent=count, acknowledged=count)
        figures.extra = {
            "p50 ms": f"{statistics.median(samples):.1f}",
            "p95 ms": f"{samples[int(len(samples) * 0.95) - 1]:.1f}",
        }
        results[f"latency ({backend})"] = figures
    return results


@contextmanager
def _sqlite(data: Path) -> Iterator[str]:
    yield f"sqlite:///{data / 'llmops.db'}"


def run_all(src: Path, quick: bool, only: set[str]) -> dict[str, Figures]:
    scale = 1 if quick else 2
    with tempfile.TemporaryDirectory(prefix="llmops-reliability-") as tmp:
        work = Path(tmp)
        results: dict[str, Figures] = {}
        steps: list[tuple[str, Callable[[], dict[str, Figures] | Figures]]] = [
            ("fault storm", lambda: fault_storm(src, work, 40 * scale)),
            ("sigterm", lambda: under_load_then(src, work, "sigterm", signal.SIGTERM, 3)),
            ("kill -9", lambda: under_load_then(src, work, "kill9", signal.SIGKILL, 3)),
            ("replicas", lambda: replicas(src, work, 15 * scale)),
            ("slow clients", lambda: slow_clients(src, work, 200 * scale, 1000 * scale)),
            ("latency", lambda: latency(src, work, 100 * scale)),
        ]
        for name, step in steps:
            if only and name not in only:
                continue
            print(f"  {src}: {name} …", file=sys.stderr, flush=True)
            outcome = step()
            results.update(outcome if isinstance(outcome, dict) else {name: outcome})
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, help="another source tree to compare (its src/ directory)")
    parser.add_argument("--quick", action="store_true", help="smaller runs (about half the requests)")
    parser.add_argument("--only", default="", help="comma-separated scenarios, e.g. `latency,replicas`")
    args = parser.parse_args()
    only = {name.strip() for name in args.only.split(",") if name.strip()}
    runs = {"after (this tree)": run_all(THIS_SRC, args.quick, only)}
    if args.before:
        runs = {"before": run_all(args.before, args.quick, only), **runs}
    print(
        "\nReliability: lost = acknowledged (200) but not stored; dup = one id in two replies; "
        "no reply = connection reset or refused (expected once per client when a server is stopped)"
    )
    for scenario in next(iter(runs.values())):
        print(f"\n{scenario}")
        for label, results in runs.items():
            print(f"  {label:18} {results[scenario].cells()}")


if __name__ == "__main__":
    main()
