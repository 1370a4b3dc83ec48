"""What budgets and canary routing add per request, in one run: the same app (telemetry on, scripted
provider, zero latency) without them, with three budgets applying to every request (global, per user,
per API key), with a canary at a 50% share, and with both. Driven in-process through ASGI; rounds
alternate between configurations to cancel drift.

    python bench/bench_guards.py [--requests 300] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from inprocess import bench_settings, in_process, sample_emails

BUDGETS = "global:day:tokens=1000000000,user:hour:tokens=1000000000,api_key:month:cost_usd=100000"
MODES = ("neither", "budgets", "canary 50%", "budgets + canary")


async def run_round(mode: str, emails: list[dict], requests: int, data_dir: Path) -> float:
    """Median request latency (ms) for one configuration."""
    settings = bench_settings(data_dir, provider="scripted", budgets=BUDGETS if "budgets" in mode else "")
    latencies: list[float] = []
    async with in_process(settings) as (app, client):
        if "canary" in mode:
            await asyncio.to_thread(
                app.state.services.canaries["email_triage"].start,
                "email_triage_v7",
                0.5,
                by="bench",
                reason="overhead benchmark",
            )
        for email in emails[:5]:
            await client.post("/v1/triage", json={"email": email, "user_id": "warmup"})
        for i in range(requests):
            body = {"email": emails[i % len(emails)], "user_id": f"user-{i % 50}"}
            t0 = time.perf_counter()
            response = await client.post("/v1/triage", json=body)
            latencies.append(time.perf_counter() - t0)
            assert response.status_code == 200, response.text
    return statistics.median(latencies) * 1000


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    emails = sample_emails()
    results: dict[str, list[float]] = {mode: [] for mode in MODES}
    with tempfile.TemporaryDirectory() as tmp:
        for round_no in range(args.rounds):
            for index, mode in enumerate(MODES):
                results[mode].append(
                    await run_round(mode, emails, args.requests, Path(tmp) / f"r{round_no}-{index}")
                )
    base = statistics.median(results["neither"])
    print(
        f"Budget and canary overhead, SQLite, {args.requests} requests x {args.rounds} rounds, in-process ASGI"
    )
    print(f"{'configuration':20}{'median latency ms':>19}{'added ms':>10}")
    for mode in MODES:
        value = statistics.median(results[mode])
        print(f"{mode:20}{value:19.3f}{value - base:10.3f}")


if __name__ == "__main__":
    asyncio.run(main())
