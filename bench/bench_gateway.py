"""The gateway's overhead, side by side in one run: direct to the upstream, through llmops, through LiteLLM.

All three talk to the same fast fake upstream (`fake_upstream.py`, raw asyncio, its own process).
llmops runs as `llmops serve` (one worker, SQLite, telemetry and redacted content capture on: the
defaults). LiteLLM's proxy runs from its own venv (`/work/peers/litellm`, `pip install 'litellm[proxy]'`)
with its documented minimal config (a `model_list` entry and a master key), one worker; without that
venv the script says "LiteLLM not installed" and measures the other two.

For each scenario (non-streaming and streaming, concurrency 1, 16 and 64) every target gets the same
number of requests from a lean keep-alive client (`httpload.py`), `--rounds` times in turn (the
figures are the medians: a busy machine's load shifts between one target's turn and the next):
latency p50/p95, the latency added over direct calls, throughput, and the CPU the server process (all
its threads and children) spent per call, read from /proc. The event loop thread's share is shown
apart: the rest is the span exporter, `to_thread` work and the metric readers. "(wait)" is the time
per call the event loop thread was ready to run but waited for a CPU (the kernel's run-queue delay,
/proc schedstat): on a busy machine it, not the gateway's own work, is most of the latency added at
concurrency 16 and 64. `--before SRC` adds llmops run from another source tree (e.g. `git archive
<commit> src`), so a change is measured against the previous commit in the same run. `--profile` also
runs llmops under cProfile for one non-streaming scenario and prints where the event loop's time
goes. `--postgres` stores llmops' rows in a scratch Postgres database (one per llmops target,
`scratch_postgres.py`) instead of SQLite.

    python bench/bench_gateway.py [--requests 400] [--rounds 3] [--before /tmp/base/src] [--postgres]
                                  [--profile]

The machine has 2 cores shared with the client and the upstream: figures at concurrency 16 and 64 are
saturated throughput, not idle latency. One run; compare within it, not across machines.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import pstats
import signal
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

from httpload import run_load
from scratch_postgres import postgres_database

HERE = Path(__file__).resolve().parent
LITELLM = Path(os.environ.get("LITELLM_VENV", "/work/peers/litellm")) / "bin" / "litellm"
KEY = "llmops_bench_key_0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"
LITELLM_KEY = "sk-litellm-master-bench"
UPSTREAM_KEY = "sk-upstream-bench-key"
MODEL = "gpt-4o-mini"
CONCURRENCY = (1, 16, 64)
TICKS = os.sysconf("SC_CLK_TCK")
PROFILED = "llmops/|fastapi/routing|starlette/middleware|opentelemetry/sdk|aiohttp/client.py|httptools_impl"
MESSAGES = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Write twenty words about observability for language model applications."},
]


@dataclass
class Target:
    name: str
    url: str
    headers: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    started_s: float | None = None
    rss_mib: float | None = None


@dataclass
class Measure:
    p50_ms: float
    p95_ms: float
    rps: float
    cpu_ms: float | None
    loop_cpu_ms: float | None
    loop_wait_ms: float | None
    errors: int


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stat_ticks(path: Path) -> int:
    fields = path.read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)


def _tree(pid: int) -> list[int]:
    """`pid` and every descendant."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry.name))
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        queue.extend(children.get(current, []))
    return found


def cpu_seconds(pid: int) -> tuple[float, float, float]:
    """CPU seconds of the whole process tree and of the main thread of `pid` (the event loop), and the
    seconds that thread waited on the run queue for a CPU."""
    total = 0
    for member in _tree(pid):
        with contextlib.suppress(OSError):
            total += _stat_ticks(Path(f"/proc/{member}/stat"))
    main = _stat_ticks(Path(f"/proc/{pid}/task/{pid}/stat"))
    waited_ns = int(Path(f"/proc/{pid}/task/{pid}/schedstat").read_text().split()[1])
    return total / TICKS, main / TICKS, waited_ns / 1e9


def rss_mib(pid: int) -> float:
    total = 0
    for member in _tree(pid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total / 1024


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout_s: float = 180) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout_s:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited with {process.returncode} before it was ready")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1).status_code == 200:
                return time.perf_counter() - started
        time.sleep(0.05)
    raise RuntimeError(f"{url} was not ready within {timeout_s:g}s")


def start(
    command: list[str], env: dict[str, str], ready_url: str, log: Path
) -> tuple[subprocess.Popen[bytes], float]:
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    wait_ready(ready_url, process)
    return process, time.perf_counter() - started


def llmops_command(profile: Path | None) -> list[str]:
    if profile is not None:
        return [sys.executable, str(HERE / "profile_serve.py"), str(profile)]
    return [sys.executable, "-m", "llmops.cli", "serve"]


def start_llmops(
    upstream: str,
    work: Path,
    profile: Path | None = None,
    src: Path | None = None,
    name: str = "llmops",
    database_url: str | None = None,
) -> Target:
    """`llmops serve` from this checkout, or from the source tree `src` (put first on the path); its
    rows in `database_url` when given, else in SQLite under its data directory."""
    port = free_port()
    path = {"PYTHONPATH": os.pathsep.join(filter(None, [str(src), os.environ.get("PYTHONPATH")]))}
    env = {
        **os.environ,
        **(path if src is not None else {}),
        **({"LLMOPS_DATABASE_URL": database_url} if database_url is not None else {}),
        "LLMOPS_PORT": str(port),
        "LLMOPS_DATA_DIR": str(work / f"llmops-{port}"),
        "LLMOPS_API_KEYS": KEY,
        "LLMOPS_PROVIDER": "scripted",
        "LLMOPS_LOG_LEVEL": "warning",
        "OPENAI_BASE_URL": upstream,
        "OPENAI_API_KEY": UPSTREAM_KEY,
    }
    process, seconds = start(
        llmops_command(profile), env, f"http://127.0.0.1:{port}/healthz", work / f"{name}.log"
    )
    return Target(
        name,
        f"http://127.0.0.1:{port}/v1/chat/completions",
        {"authorization": f"Bearer {KEY}"},
        process,
        seconds,
        rss_mib(process.pid),
    )


def start_litellm(upstream: str, work: Path) -> Target | None:
    if not LITELLM.exists():
        print(f"LiteLLM not installed (no {LITELLM}): measuring direct calls and llmops only.\n")
        return None
    config = work / "litellm.yaml"
    config.write_text(
        json.dumps(  # YAML is a superset of JSON
            {
                "model_list": [
                    {
                        "model_name": MODEL,
                        "litellm_params": {
                            "model": f"openai/{MODEL}",
                            "api_base": upstream,
                            "api_key": UPSTREAM_KEY,
                        },
                    }
                ],
                "general_settings": {"master_key": LITELLM_KEY},
            }
        )
    )
    port = free_port()
    env = {**os.environ, "LITELLM_LOG": "ERROR"}
    command = [str(LITELLM), "--config", str(config), "--port", str(port), "--num_workers", "1"]
    process, seconds = start(command, env, f"http://127.0.0.1:{port}/health/liveliness", work / "litellm.log")
    return Target(
        "LiteLLM",
        f"http://127.0.0.1:{port}/v1/chat/completions",
        {"authorization": f"Bearer {LITELLM_KEY}"},
        process,
        seconds,
        rss_mib(process.pid),
    )


def body(stream: bool) -> bytes:
    return json.dumps({"model": MODEL, "messages": MESSAGES, "stream": stream, "max_tokens": 64}).encode()


def measure(target: Target, stream: bool, concurrency: int, requests: int) -> Measure:
    payload = body(stream)
    asyncio.run(
        run_load(target.url, payload, target.headers, requests=min(50, requests), concurrency=concurrency)
    )
    pid = target.process.pid if target.process else None
    before = cpu_seconds(pid) if pid else None
    result = asyncio.run(
        run_load(target.url, payload, target.headers, requests=requests, concurrency=concurrency)
    )
    after = cpu_seconds(pid) if pid else None
    latencies = sorted(result.latencies_s)
    cpu = loop = wait = None
    if before and after:
        cpu, loop, wait = ((end - start) * 1000 / requests for start, end in zip(before, after, strict=True))
    return Measure(
        p50_ms=statistics.median(latencies) * 1000,
        p95_ms=latencies[int(len(latencies) * 0.95) - 1] * 1000,
        rps=requests / result.wall_s,
        cpu_ms=cpu,
        loop_cpu_ms=loop,
        loop_wait_ms=wait,
        errors=result.errors,
    )


def median_of(rounds: list[Measure]) -> Measure:
    """Each figure's median over the rounds (a round measures every target once, in turn)."""

    def mid(values: list[float | None]) -> float | None:
        known = [value for value in values if value is not None]
        return statistics.median(known) if known else None

    return Measure(
        p50_ms=statistics.median(m.p50_ms for m in rounds),
        p95_ms=statistics.median(m.p95_ms for m in rounds),
        rps=statistics.median(m.rps for m in rounds),
        cpu_ms=mid([m.cpu_ms for m in rounds]),
        loop_cpu_ms=mid([m.loop_cpu_ms for m in rounds]),
        loop_wait_ms=mid([m.loop_wait_ms for m in rounds]),
        errors=sum(m.errors for m in rounds),
    )


def stop(process: subprocess.Popen[bytes] | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def upstream_server() -> Iterator[Target]:
    port = free_port()
    process = subprocess.Popen([sys.executable, str(HERE / "fake_upstream.py"), "--port", str(port)])
    try:
        for _ in range(200):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
            time.sleep(0.02)
        yield Target("direct", f"http://127.0.0.1:{port}/v1/chat/completions", {}, process)
    finally:
        stop(process)


def fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def report(results: dict[tuple[bool, int], dict[str, Measure]], targets: list[Target]) -> None:
    print(
        f"{'scenario':<16}{'target':<9}{'p50 ms':>8}{'p95 ms':>8}{'+p50 ms':>9}{'+p95 ms':>9}{'req/s':>8}"
        f"{'CPU ms/call':>13}{'(loop)':>8}{'(wait)':>8}{'errors':>8}"
    )
    for (stream, concurrency), row in results.items():
        direct = row["direct"]
        label = f"{'stream' if stream else 'json'} c={concurrency}"
        for target in targets:
            m = row[target.name]
            added = target.name != "direct"
            print(
                f"{label:<16}{target.name:<9}{m.p50_ms:>8.2f}{m.p95_ms:>8.2f}"
                f"{fmt(m.p50_ms - direct.p50_ms if added else None):>9}{fmt(m.p95_ms - direct.p95_ms if added else None):>9}"
                f"{m.rps:>8.0f}{fmt(m.cpu_ms):>13}{fmt(m.loop_cpu_ms):>8}{fmt(m.loop_wait_ms):>8}{m.errors:>8}"
            )
    print()
    for target in targets:
        if target.started_s is not None:
            print(
                f"{target.name}: ready in {target.started_s:.1f} s, {target.rss_mib:.0f} MiB resident after start"
            )


def verdict(results: dict[tuple[bool, int], dict[str, Measure]], has_litellm: bool) -> None:
    print("\nTargets:")
    for (stream, concurrency), row in results.items():
        ours, direct = row["llmops"], row["direct"]
        added = ours.p50_ms - direct.p50_ms
        cap = 3.0 if stream else 1.5
        line = f"  {'stream' if stream else 'json'} c={concurrency}: CPU {fmt(ours.cpu_ms)} ms/call (target ≤ {cap})"
        line += " ok" if ours.cpu_ms is not None and ours.cpu_ms <= cap else " MISSED"
        if has_litellm:
            theirs = row["LiteLLM"].p50_ms - direct.p50_ms
            ratio = added / theirs if theirs > 0 else float("inf")
            line += f"; added p50 {added:.2f} ms vs LiteLLM {theirs:.2f} ms = {ratio:.2f}× (target ≤ 0.33)"
            line += " ok" if ratio <= 1 / 3 else " MISSED"
        if concurrency == 16:
            line += f"; added p50 at c=16 {added:.2f} ms (target ≤ 2)" + (" ok" if added <= 2 else " MISSED")
        print(line)


def profile_llmops(upstream: str, work: Path, requests: int) -> None:
    profile = work / "llmops.prof"
    target = start_llmops(upstream, work, profile)
    try:
        measure(target, False, 16, requests)
    finally:
        stop(target.process)
    stats = pstats.Stats(str(profile))
    print(
        "\nWhere llmops' event loop thread spends CPU (cProfile on thread CPU time, json c=16, startup"
        " included; the profiler inflates every figure, compare shares):"
    )
    stats.sort_stats("cumulative").print_stats(PROFILED, 45)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=400, help="requests per target and scenario")
    parser.add_argument("--profile", action="store_true", help="also profile llmops under cProfile")
    parser.add_argument("--before", type=Path, help="also measure llmops from this source tree (its src/)")
    parser.add_argument("--postgres", action="store_true", help="llmops stores rows in Postgres, not SQLite")
    parser.add_argument(
        "--rounds", type=int, default=1, help="measure every target this many times in turn; print medians"
    )
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory())
        direct = stack.enter_context(upstream_server())

        def database() -> str | None:
            return stack.enter_context(postgres_database()) if args.postgres else None

        work = Path(tmp)
        upstream = direct.url.rsplit("/chat/completions", 1)[0]
        before = (
            start_llmops(upstream, work, src=args.before, name="before", database_url=database())
            if args.before
            else None
        )
        ours = start_llmops(upstream, work, database_url=database())
        theirs = start_litellm(upstream, work)
        targets = [direct, *([before] if before else []), ours, *([theirs] if theirs else [])]
        results: dict[tuple[bool, int], dict[str, Measure]] = {}
        try:
            for stream in (False, True):
                for concurrency in CONCURRENCY:
                    count = min(args.requests, 200) if concurrency == 1 else args.requests
                    rounds: dict[str, list[Measure]] = {target.name: [] for target in targets}
                    for _ in range(args.rounds):
                        for target in targets:
                            rounds[target.name].append(measure(target, stream, concurrency, count))
                    results[(stream, concurrency)] = {name: median_of(got) for name, got in rounds.items()}
                    print(f"measured {'stream' if stream else 'json'} c={concurrency}", file=sys.stderr)
        finally:
            for target in targets[1:]:
                stop(target.process)
        print(
            f"\nOne run, {args.requests} requests per target and scenario (200 at c=1), medians of"
            f" {args.rounds} round(s) taken in turn; upstream: {upstream}\n"
        )
        report(results, targets)
        verdict(results, theirs is not None)
        if args.profile:
            profile_llmops(upstream, work, args.requests)


if __name__ == "__main__":
    main()
