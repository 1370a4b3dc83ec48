"""Telemetry overhead per request: full telemetry (spans for every step, redacting export to the store,
metrics) against telemetry disabled, on the scripted provider with zero latency, in one run.

The app is driven in-process through its ASGI interface (no sockets), so the figures are the service's
own cost. Three configurations, alternated round by round to cancel drift:

- disabled: `LLMOPS_TELEMETRY=false`;
- full, export deferred: every span, metric and content capture, with the batch processor's export
  held until the round ends, so the latency shows the instrumentation on the request path alone;
- full, export concurrent: the default batch processor, whose worker thread redacts and stores spans
  while requests run (on 2 cores it competes with them for the GIL).

Each round reports the median request latency and the wall time per request including a final flush,
so the export work is always counted in the second figure.

    python bench/bench_telemetry.py [--requests 400] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

from inprocess import bench_settings, in_process, sample_emails

DEFERRED_EXPORT = {
    "OTEL_BSP_SCHEDULE_DELAY": "3600000",
    "OTEL_BSP_MAX_QUEUE_SIZE": "1000000",
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "1000000",
}
MODES = ("disabled", "full, export deferred", "full, export concurrent")


async def run_round(mode: str, emails: list[dict], requests: int, data_dir: Path) -> tuple[float, float]:
    """Median in-request latency (ms) and wall time per request including the flush of exports (ms)."""
    for name, value in DEFERRED_EXPORT.items():
        if mode == "full, export deferred":
            os.environ[name] = value
        else:
            os.environ.pop(name, None)
    latencies: list[float] = []
    async with in_process(bench_settings(data_dir, provider="scripted", telemetry=mode != "disabled")) as (
        app,
        client,
    ):
        for email in emails[:5]:  # warm up
            await client.post("/v1/triage", json={"email": email})
        started = time.perf_counter()
        for i in range(requests):
            t0 = time.perf_counter()
            response = await client.post(
                "/v1/triage", json={"email": emails[i % len(emails)], "user_id": "u1"}
            )
            latencies.append(time.perf_counter() - t0)
            assert response.status_code == 200
        await asyncio.to_thread(app.state.services.telemetry_setup.force_flush)
        wall = time.perf_counter() - started
    return statistics.median(latencies) * 1000, wall / requests * 1000


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    emails = sample_emails()
    results: dict[str, list[tuple[float, float]]] = {mode: [] for mode in MODES}
    with tempfile.TemporaryDirectory() as tmp:
        for round_no in range(args.rounds):
            for index, mode in enumerate(MODES):
                data_dir = Path(tmp) / f"r{round_no}-{index}"
                results[mode].append(await run_round(mode, emails, args.requests, data_dir))
    latency = {mode: statistics.median(r[0] for r in rows) for mode, rows in results.items()}
    wall = {mode: statistics.median(r[1] for r in rows) for mode, rows in results.items()}
    print(
        f"Telemetry overhead, scripted provider, {args.requests} requests x {args.rounds} rounds, in-process ASGI"
    )
    print(f"{'configuration':26}{'median latency ms':>19}{'added':>9}{'wall/request ms':>17}{'added':>9}")
    for mode in MODES:
        print(
            f"{mode:26}{latency[mode]:19.3f}{latency[mode] - latency['disabled']:9.3f}"
            f"{wall[mode]:17.3f}{wall[mode] - wall['disabled']:9.3f}"
        )
    added = latency["full, export deferred"] - latency["disabled"]
    print(
        f"target: under 0.5 ms added on the request path -> {'meets' if added < 0.5 else 'misses'} ({added:.3f} ms)"
    )


if __name__ == "__main__":
    asyncio.run(main())
