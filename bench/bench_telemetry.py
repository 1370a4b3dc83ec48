"""Telemetry overhead per request: full telemetry (spans for every step, redacting export to the store,
metrics) against telemetry disabled, on the scripted provider with zero latency, in one run.

The app is driven in-process through its ASGI interface (no sockets), so the figures are the service's
own cost. Rounds alternate between the two configurations to cancel drift; each round reports the
median request latency, and the export thread's work is included because rounds end with a flush.

    python bench/bench_telemetry.py [--requests 400] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from llmops.api.app import create_app
from llmops.config import Settings

KEY = "llmops_bench_key_0123456789abcdefghijklmnopqrstuvwxyzABCDEFGH"
SAMPLES = Path(__file__).resolve().parents[1] / "samples" / "emails.jsonl"


async def run_round(
    telemetry: bool, emails: list[dict], requests: int, data_dir: Path
) -> tuple[float, float]:
    """Median in-request latency (ms) and wall time per request including the flush of exports (ms)."""
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=data_dir,
        api_keys=KEY,
        provider="scripted",
        telemetry=telemetry,
    )
    app = create_app(settings)
    latencies: list[float] = []
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {KEY}"}
        async with httpx.AsyncClient(transport=transport, base_url="http://bench", headers=headers) as client:
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
    emails = [json.loads(line)["email"] for line in SAMPLES.read_text().splitlines()]
    results: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
    with tempfile.TemporaryDirectory() as tmp:
        for round_no in range(args.rounds):
            for telemetry in (False, True):
                data_dir = Path(tmp) / f"r{round_no}-{telemetry}"
                results[telemetry].append(await run_round(telemetry, emails, args.requests, data_dir))
    off_lat = statistics.median(r[0] for r in results[False])
    on_lat = statistics.median(r[0] for r in results[True])
    off_wall = statistics.median(r[1] for r in results[False])
    on_wall = statistics.median(r[1] for r in results[True])
    print(
        f"Telemetry overhead, scripted provider, {args.requests} requests x {args.rounds} rounds, in-process ASGI"
    )
    print(f"{'':32}{'disabled':>12}{'full':>12}{'added':>12}")
    print(f"{'median request latency (ms)':32}{off_lat:12.3f}{on_lat:12.3f}{on_lat - off_lat:12.3f}")
    print(f"{'wall per request incl. export':32}{off_wall:12.3f}{on_wall:12.3f}{on_wall - off_wall:12.3f}")
    verdict = "meets" if on_lat - off_lat < 0.5 else "misses"
    print(f"target: under 0.5 ms added per request on the request path -> {verdict}")


if __name__ == "__main__":
    asyncio.run(main())
