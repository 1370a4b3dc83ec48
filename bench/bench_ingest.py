"""OTLP ingest: llmops against Arize Phoenix, same generator, same machine, one run.

Both servers receive the same pre-encoded OTLP/HTTP protobuf bodies (`POST /v1/traces`, 512 spans a
body like the SDK's batch processor sends: traces of an agent root, a retrieval, a model call with
GenAI and OpenInference attributes and ~1 KB of messages holding an email address, and a tool call).

- sustained spans/s: `--senders` threads post `--batches` bodies as fast as each server accepts them
  (honouring 429/503 + Retry-After like an exporter); the clock stops when the last trace is visible
  in the server's query API, and the stored span count is checked against what was sent (no loss).
- spans per CPU-second: the server process's own CPU time over the same span (this machine's 2 cores
  are shared, so wall-clock rates move with the neighbours' load; CPU time much less).
- freshness: with the server idle, one small trace is exported `--probes` times; the time from the
  export's reply to the trace being visible in the query API (llmops: `GET /api/requests?request_id=`,
  Phoenix: `GET /v1/projects/{project}/spans/otlpv1?trace_id=`), median and worst.

llmops runs as `llmops serve` (one worker, SQLite, redaction on as always); with `--base REV` the
llmops of that git revision (its `src/` read with `git archive`) runs too, in the same run, for a
before/after column. `--postgres` runs each llmops configuration on a fresh Postgres database
(`LLMOPS_TEST_POSTGRES_URL`, see `scratch_postgres`) instead of SQLite. Phoenix runs as `phoenix serve` from its own venv (`--phoenix`, default
/work/peers/phoenix/bin/phoenix; `pip install arize-phoenix` into a separate venv, never the project's),
SQLite too, on its first `--phoenix-batches` exports only (it takes ~8 s per export). A server that
cannot be started is reported as such, and the others are still measured.

    python bench/bench_ingest.py [--batches 60] [--senders 4] [--probes 20] [--base REV] [--postgres]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status
from sqlalchemy import create_engine, text

from scratch_postgres import postgres_database

KEY = "llmops_bench_key_0123456789abcdefghijklmnopqrstuvwxyzABCDEFGH"
PROJECT = "bench-ingest"
SPANS_PER_TRACE = 4
PROTOBUF = {"Content-Type": "application/x-protobuf"}
SRC = Path(__file__).resolve().parents[1] / "src"


# --- the generator ----------------------------------------------------------------------------


def _kv(key: str, value: object) -> KeyValue:
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=str(value)))


def _span(trace_id: bytes, name: str, parent: bytes, start: int, ms: float, attributes: dict) -> Span:
    return Span(
        trace_id=trace_id,
        span_id=secrets.token_bytes(8),
        parent_span_id=parent,
        name=name,
        kind=Span.SPAN_KIND_INTERNAL,
        start_time_unix_nano=start,
        end_time_unix_nano=start + int(ms * 1e6),
        attributes=[_kv(k, v) for k, v in attributes.items()],
        status=Status(code=Status.STATUS_CODE_OK),
    )


def trace_spans(index: int) -> tuple[bytes, list[Span]]:
    trace_id = secrets.token_bytes(16)
    now = time.time_ns()
    user_turn = (
        f"Customer #{index} wrote from jane.doe{index}@example.com about invoice INV-{index:06d}: the "
        "delivery arrived late and the box was damaged. They ask for a refund or a replacement, "
        "and want to know when the next shipment leaves the warehouse. " * 2
    )
    reply = "I'm sorry about the delay. A replacement ships today; tracking follows by email. " * 2
    root = _span(
        trace_id,
        "invoke_agent support",
        b"",
        now,
        900,
        {
            "gen_ai.operation.name": "invoke_agent",
            "openinference.span.kind": "AGENT",
            "session.id": f"s-{index % 50}",
        },
    )
    children = [
        _span(
            trace_id,
            "retrieval kb",
            root.span_id,
            now + 1_000_000,
            20,
            {
                "gen_ai.operation.name": "retrieval",
                "gen_ai.data_source.id": "kb",
                "input.value": "refund policy",
            },
        ),
        _span(
            trace_id,
            "chat gpt-4o-mini",
            root.span_id,
            now + 30_000_000,
            800,
            {
                "gen_ai.operation.name": "chat",
                "openinference.span.kind": "LLM",
                "gen_ai.provider.name": "openai",
                "llm.model_name": "gpt-4o-mini",
                "gen_ai.request.model": "gpt-4o-mini",
                "gen_ai.usage.input_tokens": 420,
                "gen_ai.usage.output_tokens": 80,
                "llm.token_count.prompt": 420,
                "llm.token_count.completion": 80,
                "server.address": "api.openai.com",
                "llm.input_messages.0.message.role": "user",
                "llm.input_messages.0.message.content": user_turn,
                "llm.output_messages.0.message.role": "assistant",
                "llm.output_messages.0.message.content": reply,
            },
        ),
        _span(
            trace_id,
            "execute_tool lookup_order",
            root.span_id,
            now + 840_000_000,
            30,
            {
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": "lookup_order",
                "openinference.span.kind": "TOOL",
            },
        ),
    ]
    return trace_id, [*children, root]  # children end first, as an SDK exports them


def body(traces: int, start_index: int = 0) -> tuple[bytes, list[str]]:
    """One export: `traces` traces, and their ids (hex) in order."""
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    for key, value in (("service.name", PROJECT), ("openinference.project.name", PROJECT)):
        resource_spans.resource.attributes.append(_kv(key, value))
    scope = resource_spans.scope_spans.add()
    scope.scope.name = "bench"
    ids = []
    for index in range(start_index, start_index + traces):
        trace_id, spans = trace_spans(index)
        scope.spans.extend(spans)
        ids.append(trace_id.hex())
    return request.SerializeToString(), ids


# --- the servers ------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Target:
    name: str
    base_url: str
    headers: dict[str, str]
    visible: Callable[[httpx.Client, str], bool]
    stored_spans: Callable[[], int]
    process: subprocess.Popen[bytes]

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process and its worker processes (Linux /proc)."""
        return sum(_cpu_ticks(pid) for pid in _process_tree(self.process.pid)) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()


def _process_tree(pid: int) -> list[int]:
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        for child in task.read_text().split():
            pids += _process_tree(int(child))
    return pids


def _cpu_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])  # utime, stime


def _wait_ready(url: str, process: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"exited with code {process.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"not ready after {timeout_s:.0f}s")


def _count(database: Path, table: str) -> int:
    with sqlite3.connect(database) as connection:
        return int(connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # noqa: S608


def source_at(rev: str, into: Path) -> Path:
    """The `src/` folder of git revision `rev`, extracted under `into`."""
    archive = subprocess.run(
        ["git", "-C", str(SRC.parent), "archive", rev, "src"], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into / "src"


def _count_postgres(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(text("SELECT count(*) FROM spans")).scalar_one())
    finally:
        engine.dispose()


def start_llmops(workdir: Path, workers: int = 1, src: Path = SRC, database_url: str | None = None) -> Target:
    port = _free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(src),
        "LLMOPS_DATA_DIR": str(workdir),
        "LLMOPS_API_KEYS": KEY,
        "LLMOPS_PROVIDER": "scripted",
        "LLMOPS_PORT": str(port),
        "LLMOPS_LOG_LEVEL": "warning",
        "LLMOPS_WORKERS": str(workers),
        **({"LLMOPS_DATABASE_URL": database_url} if database_url else {}),
    }
    log = (workdir / "llmops.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "llmops.cli", "serve"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    _wait_ready(f"{base}/healthz", process, 120)
    headers = {"Authorization": f"Bearer {KEY}"}

    def visible(client: httpx.Client, trace_id: str) -> bool:
        reply = client.get(f"{base}/api/requests", params={"request_id": trace_id}, headers=headers)
        return reply.status_code == 200 and bool(reply.json()["items"])

    name = "llmops" if workers == 1 else f"llmops x{workers}"
    if database_url:
        return Target(name, base, headers, visible, lambda: _count_postgres(database_url), process)
    return Target(name, base, headers, visible, lambda: _count(workdir / "llmops.db", "spans"), process)


def start_phoenix(workdir: Path, executable: str) -> Target:
    port = _free_port()
    env = {
        **os.environ,
        "PHOENIX_WORKING_DIR": str(workdir),
        "PHOENIX_PORT": str(port),
        "PHOENIX_GRPC_PORT": str(_free_port()),
        "PHOENIX_TELEMETRY_ENABLED": "false",
    }
    env.pop("PYTHONPATH", None)
    log = (workdir / "phoenix.log").open("wb")
    process = subprocess.Popen([executable, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    _wait_ready(f"{base}/healthz", process, 600)

    def visible(client: httpx.Client, trace_id: str) -> bool:
        reply = client.get(
            f"{base}/v1/projects/{PROJECT}/spans/otlpv1", params={"trace_id": trace_id, "limit": 1}
        )
        return reply.status_code == 200 and bool(reply.json().get("data"))

    return Target("phoenix", base, {}, visible, lambda: _count(workdir / "phoenix.db", "spans"), process)


# --- the measurements -------------------------------------------------------------------------


def export(client: httpx.Client, target: Target, payload: bytes) -> tuple[int, float]:
    """POST until accepted (an exporter retries 429/503 after Retry-After); (refusals, reply time)."""
    refusals = 0
    while True:
        reply = client.post(
            f"{target.base_url}/v1/traces", content=payload, headers={**PROTOBUF, **target.headers}
        )
        if reply.status_code == 200:
            return refusals, time.perf_counter()
        if reply.status_code in (429, 503):
            refusals += 1
            time.sleep(float(reply.headers.get("Retry-After", "1")))
            continue
        raise RuntimeError(f"{target.name} answered {reply.status_code}: {reply.text[:200]}")


def wait_visible(
    client: httpx.Client, target: Target, trace_id: str, timeout_s: float, poll_s: float
) -> float:
    deadline = time.perf_counter() + timeout_s
    while time.perf_counter() < deadline:
        if target.visible(client, trace_id):
            return time.perf_counter()
        time.sleep(poll_s)
    raise RuntimeError(f"{target.name}: trace not visible after {timeout_s:.0f}s")


@dataclass
class Result:
    spans_per_s: float
    accepted_per_s: float
    stored: int
    sent: int
    refusals: int
    fresh_median_s: float
    fresh_max_s: float
    spans_per_cpu_s: float


def measure(target: Target, bodies: list[tuple[bytes, list[str]]], senders: int, probes: int) -> Result:
    sent = sum(len(ids) for _, ids in bodies) * SPANS_PER_TRACE
    before = target.stored_spans()
    queue = list(bodies)
    lock = threading.Lock()
    refusals = [0]

    def sender() -> None:
        with httpx.Client(timeout=120) as client:
            while True:
                with lock:
                    if not queue:
                        return
                    payload, _ = queue.pop(0)
                refused, _ = export(client, target, payload)
                with lock:
                    refusals[0] += refused

    cpu_before = target.cpu_seconds()
    started = time.perf_counter()
    threads = [threading.Thread(target=sender) for _ in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    accepted = time.perf_counter()
    with httpx.Client(timeout=30) as client:
        wait_visible(client, target, bodies[-1][1][-1], 600, 0.05)
        done = time.perf_counter()
        cpu = target.cpu_seconds() - cpu_before
        stored = wait_stored(target, before + sent)
        freshness = []
        for probe in range(probes):
            payload, ids = body(1, 10_000_000 + probe)
            _, replied = export(client, target, payload)
            freshness.append(wait_visible(client, target, ids[0], 300, 0.01) - replied)
    return Result(
        spans_per_s=sent / (done - started),
        accepted_per_s=sent / (accepted - started),
        stored=stored - before,
        sent=sent,
        refusals=refusals[0],
        fresh_median_s=statistics.median(freshness),
        fresh_max_s=max(freshness),
        spans_per_cpu_s=sent / cpu if cpu > 0 else float("nan"),
    )


def wait_stored(target: Target, expected: int, timeout_s: float = 120) -> int:
    """The stored span count once it reaches `expected` (or stops growing)."""
    deadline = time.monotonic() + timeout_s
    count = target.stored_spans()
    while count < expected and time.monotonic() < deadline:
        time.sleep(0.5)
        count = target.stored_spans()
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=60, help="exports of 512 spans each")
    parser.add_argument("--senders", type=int, default=4, help="concurrent exporting threads")
    parser.add_argument("--probes", type=int, default=20, help="single-trace exports timed to visibility")
    parser.add_argument("--phoenix", default="/work/peers/phoenix/bin/phoenix", help="the phoenix executable")
    parser.add_argument(
        "--workers", type=int, default=2, help="also run llmops with this many workers (1: skip)"
    )
    parser.add_argument("--phoenix-batches", type=int, default=6, help="exports sent to Phoenix (slow)")
    parser.add_argument("--base", help="also run llmops at this git revision (before/after, one run)")
    parser.add_argument("--postgres", action="store_true", help="llmops on Postgres instead of SQLite")
    args = parser.parse_args()

    traces_per_body = 512 // SPANS_PER_TRACE
    bodies = [body(traces_per_body, i * traces_per_body) for i in range(args.batches)]
    size = sum(len(payload) for payload, _ in bodies) / len(bodies)
    print(
        f"database: {'Postgres' if args.postgres else 'SQLite'}; "
        f"generator: {args.batches} exports x 512 spans ({traces_per_body} traces, {size / 1024:.0f} KiB each), "
        f"{args.senders} senders, {args.probes} freshness probes; cpus: {os.cpu_count()}"
    )
    results: dict[str, Result | str] = {}
    starters: list[tuple[str, Callable[[Path, str | None], Target]]] = []
    if args.base:
        starters.append((f"{args.base} (base)", lambda d, u: start_llmops(d, 1, source_at(args.base, d), u)))
    starters.append(("llmops", lambda d, u: start_llmops(d, 1, SRC, u)))
    if args.workers > 1:
        if args.base:
            starters.append(
                (
                    f"{args.base} x{args.workers}",
                    lambda d, u: start_llmops(d, args.workers, source_at(args.base, d), u),
                )
            )
        starters.append((f"llmops x{args.workers}", lambda d, u: start_llmops(d, args.workers, SRC, u)))
    starters.append(("phoenix", lambda d, _: start_phoenix(d, args.phoenix)))
    for name, start in starters:
        if name == "phoenix" and not Path(args.phoenix).exists():
            results[name] = f"not installed ({args.phoenix})"
            continue
        with contextlib.ExitStack() as stack:
            workdir = stack.enter_context(tempfile.TemporaryDirectory(prefix=f"bench-ingest-{name}-"))
            url = stack.enter_context(postgres_database()) if args.postgres and name != "phoenix" else None
            try:
                target = start(Path(workdir), url)
            except RuntimeError as exc:
                results[name] = f"did not start: {exc}"
                continue
            try:
                with httpx.Client(timeout=60) as client:  # warm up: first export creates the project
                    payload, ids = body(4, 20_000_000)
                    export(client, target, payload)
                    wait_visible(client, target, ids[-1], 300, 0.05)
                sent = bodies[: args.phoenix_batches] if name == "phoenix" else bodies
                results[name] = measure(target, sent, args.senders, args.probes)
            except RuntimeError as exc:
                results[name] = f"failed: {exc}"
            finally:
                target.stop()
    print()
    print(f"{'':16} {'spans/s (to visible)':>21} {'accepted/s':>11} {'spans/CPU-s':>12} {'stored/sent':>14} "
          f"{'503s':>5} {'fresh p50':>10} {'fresh max':>10}  {'µs CPU/span':>11}")  # fmt: skip
    for name, result in results.items():
        if isinstance(result, str):
            print(f"{name:16} {result}")
            continue
        print(
            f"{name:16} {result.spans_per_s:>21,.0f} {result.accepted_per_s:>11,.0f} "
            f"{result.spans_per_cpu_s:>12,.0f} {f'{result.stored}/{result.sent}':>14} {result.refusals:>5} "
            f"{result.fresh_median_s:>9.3f}s {result.fresh_max_s:>9.3f}s  {1e6 / result.spans_per_cpu_s:>7.0f}"
        )
    verdict(results)


def verdict(results: dict[str, Result | str]) -> None:
    """Issue 15's targets for this tree's configurations: ≥ 10,000 spans/s with redaction on, ≥ 100×
    Phoenix's rate in the same run, every trace visible within 2 s of its export."""
    phoenix = results.get("phoenix")
    print("\nTargets (>= 10,000 spans/s, >= 100x Phoenix in this run, visible <= 2 s):")
    for name, result in results.items():
        if not name.startswith("llmops") or isinstance(result, str):
            continue
        line = f"  {name}: {result.spans_per_s:,.0f} spans/s " + (
            "ok" if result.spans_per_s >= 10_000 else "MISSED"
        )
        if isinstance(phoenix, Result):
            ratio = result.spans_per_s / phoenix.spans_per_s
            line += f"; {ratio:,.0f}x Phoenix " + ("ok" if ratio >= 100 else "MISSED")
        line += f"; visible within {result.fresh_max_s:.3f} s " + (
            "ok" if result.fresh_max_s <= 2 else "MISSED"
        )
        print(line)


if __name__ == "__main__":
    main()
