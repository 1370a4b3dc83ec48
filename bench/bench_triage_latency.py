"""Triage latency with the real local model, this checkout against an earlier commit, side by side in one run.

Each side is a worker process running the app in-process (ASGI, full telemetry) on its own source tree:
this checkout, and `--before` (default `HEAD~1`) exported with `git archive` and put first on the
worker's import path. The parent hands them the same emails in turn (before, after, before, …) so both
see the same load on a shared machine. Per side: wall p50/p95, process CPU per request (what the model
costs when nothing else competes: ~CPU/threads is its wall time on an idle machine), prompt and output
tokens, finish reasons, degraded replies, and whether urgent/action_required replies carried action
items and a draft. The scripted provider's figure shows what the service adds around the model.

    python bench/bench_triage_latency.py [--requests 12] [--before HEAD~1] [--scripted 200]

`--model NAME` (repeatable, bundled local models) compares models instead of commits: one side per model,
all on this checkout, the same emails alternating between them.

    python bench/bench_triage_latency.py --requests 8 --scripted 0 \
        --model SmolLM2-135M-Instruct --model Qwen2.5-Coder-1.5B-Instruct
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any, TextIO

from inprocess import bench_settings, in_process, sample_emails

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_COUNT = len(sample_emails())
MODEL_CACHE = ROOT / ".llmops" / "models"  # joined chunked GGUFs, reused across runs


async def worker(provider: str, model: str | None) -> None:
    """Serve triage requests for email indices read from stdin; one JSON line of figures per request."""
    emails = sample_emails()
    chosen: dict[str, object] = {}
    if model:
        from llmops.providers.bundled import bundled_model_path

        chosen = {"model": model, "local_model_path": bundled_model_path(model, MODEL_CACHE)}
    with tempfile.TemporaryDirectory() as tmp:
        async with in_process(
            bench_settings(
                Path(tmp), provider=provider, request_timeout_s=3600, request_deadline_s=3600, **chosen
            )
        ) as (
            _,
            client,
        ):
            print(json.dumps({"ready": True}), flush=True)
            for line in sys.stdin:
                email = emails[int(line) % len(emails)]
                cpu, started = time.process_time(), time.perf_counter()
                reply = (await client.post("/v1/triage", json={"email": email})).json()
                triage = reply["triage"]
                figures = {
                    "wall": time.perf_counter() - started,
                    "cpu": time.process_time() - cpu,
                    "input_tokens": reply["usage"]["input_tokens"],
                    "output_tokens": reply["usage"]["output_tokens"],
                    "degraded": reply["degraded"],
                    "category": triage["category"],
                    "items": bool(triage["action_items"]),
                    "draft": bool(triage["draft_reply"]),
                    "model_fields": [k for k, v in triage.get("provenance", {}).items() if v == "model"],
                }
                print(json.dumps(figures), flush=True)


class Side:
    """One worker process and the figures it reported."""

    def __init__(self, name: str, source: Path, provider: str, model: str | None = None) -> None:
        self.name = name
        env = {**os.environ, "PYTHONPATH": f"{source / 'src'}{os.pathsep}{ROOT / 'bench'}"}
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--worker", provider, *(["--model", model] if model else [])],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=ROOT,
        )
        self.results: list[dict[str, Any]] = []
        self._read()  # the ready line: the model is loaded

    def _read(self) -> dict[str, Any]:
        stdout: TextIO | None = self.process.stdout
        assert stdout is not None
        line = stdout.readline()
        if not line:
            raise RuntimeError(f"the {self.name} worker exited")
        parsed: dict[str, Any] = json.loads(line)
        return parsed

    def triage(self, index: int) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(f"{index}\n")
        self.process.stdin.flush()
        self.results.append(self._read())

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=60)


def export(revision: str, into: Path) -> Path:
    """The source tree of `revision` (git archive), to import the earlier code from."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", revision, "src"], cwd=ROOT, check=True, capture_output=True
    ).stdout
    tar_path = into / "before.tar"
    tar_path.write_bytes(archive)
    with tarfile.open(tar_path) as tar:
        tar.extractall(into / "before", filter="data")
    return into / "before"


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def row(name: str, results: list[dict[str, Any]]) -> str:
    wall = [r["wall"] for r in results]
    acting = [r for r in results if r["category"] in ("urgent", "action_required")]
    finished = Counter(len(r["model_fields"]) for r in results)
    return (
        f"{name[:30]:30}{len(results):5d}{statistics.median(wall):9.2f}{quantile(wall, 0.95):9.2f}"
        f"{statistics.median(r['cpu'] for r in results):9.2f}"
        f"{statistics.median(r['input_tokens'] for r in results):8.0f}"
        f"{statistics.median(r['output_tokens'] for r in results):8.0f}"
        f"{sum(r['degraded'] for r in results):6d}"
        f"{sum(r['items'] and r['draft'] for r in acting):>6d}/{len(acting):<4d}"
        f"  {dict(sorted(finished.items()))}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=12, help="emails per side (samples in order)")
    parser.add_argument("--before", default="HEAD~1", help="the git revision to compare against")
    parser.add_argument(
        "--scripted", type=int, default=200, help="requests to the scripted provider (0: skip)"
    )
    parser.add_argument(
        "--provider", default="local", help="the provider both sides run (scripted: a quick check)"
    )
    parser.add_argument(
        "--model", action="append", help="bundled local models to compare (repeatable) instead of commits"
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        asyncio.run(worker(args.worker, args.model[0] if args.model else None))
        return
    with tempfile.TemporaryDirectory() as tmp:
        if args.model:
            sides = [Side(model, ROOT, args.provider, model) for model in args.model]
        else:
            sides = [
                Side(f"before {args.before}", export(args.before, Path(tmp)), args.provider),
                Side("after (this tree)", ROOT, args.provider),
            ]
        try:
            for index in range(args.requests):
                for side in sides:
                    side.triage(index * SAMPLE_COUNT // args.requests)  # spread over the categories
        finally:
            for side in sides:
                side.close()
        scripted = None
        if args.scripted:
            scripted = Side("scripted (after)", ROOT, "scripted")
            for index in range(args.scripted):
                scripted.triage(index)
            scripted.close()
    print(f"Triage through the app ({args.provider}), {args.requests} sample emails per side, alternating")
    print("(cpu s: the worker process's CPU per request, model threads included)")
    print(
        f"{'side':30}{'n':>5}{'p50 s':>9}{'p95 s':>9}{'cpu s':>9}{'in tok':>8}{'out tok':>8}{'degr':>6}"
        f"{'act+draft':>11}  model-written fields per reply (count: replies)"
    )
    for side in sides:
        print(row(side.name, side.results))
    if scripted is not None:
        print(row(scripted.name, scripted.results))
    print(
        f"load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs"
    )


if __name__ == "__main__":
    main()
