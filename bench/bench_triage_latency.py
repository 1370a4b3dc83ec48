"""Triage latency, end to end through the app (in-process ASGI, full telemetry on): the real local model
against the scripted provider, plus the local model's load time, in one run.

    python bench/bench_triage_latency.py [--local 20] [--scripted 300]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from inprocess import bench_settings, in_process, sample_emails


async def measure(provider: str, emails: list[dict], count: int, data_dir: Path) -> dict[str, float]:
    started = time.perf_counter()
    async with in_process(bench_settings(data_dir, provider=provider)) as (app, client):
        startup = time.perf_counter() - started
        load = getattr(app.state.services.chain.primary, "load_seconds", 0.0)
        latencies, degraded, output_tokens = [], 0, []
        for i in range(count):
            t0 = time.perf_counter()
            reply = (await client.post("/v1/triage", json={"email": emails[i % len(emails)]})).json()
            latencies.append(time.perf_counter() - t0)
            degraded += reply["degraded"]
            output_tokens.append(reply["usage"]["output_tokens"])
    latencies.sort()
    return {
        "startup_s": startup,
        "load_s": load,
        "median_ms": statistics.median(latencies) * 1000,
        "p95_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.95))] * 1000,
        "degraded": degraded,
        "count": count,
        "output_tokens": statistics.median(output_tokens),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--local", type=int, default=20, help="requests to the local model")
    parser.add_argument("--scripted", type=int, default=300, help="requests to the scripted provider")
    args = parser.parse_args()
    emails = sample_emails()
    with tempfile.TemporaryDirectory() as tmp:
        results = {
            "scripted": await measure("scripted", emails, args.scripted, Path(tmp) / "scripted"),
            "local": await measure("local", emails, args.local, Path(tmp) / "local"),
        }
    print("Triage latency through the app (in-process ASGI, telemetry on)")
    print(
        f"{'provider':10}{'requests':>10}{'startup s':>11}{'model load s':>14}{'median ms':>11}{'p95 ms':>10}"
        f"{'out tok':>9}{'degraded':>10}"
    )
    for name, r in results.items():
        print(
            f"{name:10}{r['count']:10d}{r['startup_s']:11.2f}{r['load_s']:14.2f}{r['median_ms']:11.1f}"
            f"{r['p95_ms']:10.1f}{r['output_tokens']:9.0f}{r['degraded']:10d}"
        )


if __name__ == "__main__":
    asyncio.run(main())
