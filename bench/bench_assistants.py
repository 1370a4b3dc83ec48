"""The plugin layer's cost per request: the Email Gatekeeper on its own route (`POST /v1/triage`)
against the same assistant on the generic route (`POST /v1/assistants/email_gatekeeper/runs`), next
to a no-op assistant (the platform's fixed cost: auth, root span, budget hold, prompt routing,
RunContext, reply, request row) and the Support Desk. One app, scripted provider, in-process ASGI,
requests interleaved so drift hits every route alike.

    python bench/bench_assistants.py [--requests 300]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from pydantic import BaseModel

from inprocess import bench_settings, in_process, sample_emails
from llmops.sdk import Assistant, RunContext


class Ping(BaseModel):
    text: str = "ping"


class Pong(BaseModel):
    text: str


class Noop(Assistant[Ping, Pong]):
    """Does nothing: what is left is llmops's own work around an assistant."""

    name = "noop"
    description = "Answers without a model (benchmark baseline)."
    input_model = Ping
    output_model = Pong
    prompt_name = "email_triage"  # any prompt: it is routed, never rendered
    example = Ping()

    async def run(self, input: Ping, ctx: RunContext) -> Pong:
        return Pong(text=input.text)


async def measure(count: int, data_dir: Path) -> dict[str, list[float]]:
    emails = sample_emails()
    settings = bench_settings(data_dir, provider="scripted", assistants="bench_assistants:Noop")
    async with in_process(settings) as (_, client):
        routes = {
            "POST /v1/triage": lambda i: ("/v1/triage", {"email": emails[i % len(emails)]}),
            "POST /v1/assistants/email_gatekeeper/runs": lambda i: (
                "/v1/assistants/email_gatekeeper/runs",
                {"input": emails[i % len(emails)]},
            ),
            "POST /v1/assistants/noop/runs": lambda i: (
                "/v1/assistants/noop/runs",
                {"input": {"text": "ping"}},
            ),
            "POST /v1/assistants/support_desk/runs": lambda i: (
                "/v1/assistants/support_desk/runs",
                {"input": {"question": "Where is my order NW-1002?"}},
            ),
        }
        listed = (await client.get("/v1/assistants")).json()["assistants"]
        if "support_desk" not in {a["name"] for a in listed}:
            del routes[
                "POST /v1/assistants/support_desk/runs"
            ]  # not installed (pip install -e examples/support_desk)
        timings: dict[str, list[float]] = {name: [] for name in routes}
        for i in range(count + 20):
            for name, build in routes.items():
                path, body = build(i)
                started = time.perf_counter()
                response = await client.post(path, json=body)
                elapsed = time.perf_counter() - started
                assert response.status_code == 200, (name, response.status_code)
                if i >= 20:  # warm-up
                    timings[name].append(elapsed * 1000)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="requests per route")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        timings = asyncio.run(measure(args.requests, Path(tmp)))
    base = statistics.median(timings["POST /v1/triage"])
    print(f"Assistants as plugins: {args.requests} requests per route (in-process ASGI, scripted provider)")
    print(f"{'route':44}{'median ms':>11}{'p95 ms':>9}{'vs /v1/triage':>15}")
    for name, values in timings.items():
        values.sort()
        median = statistics.median(values)
        p95 = values[min(len(values) - 1, int(len(values) * 0.95))]
        print(f"{name:44}{median:>11.2f}{p95:>9.2f}{median - base:>+14.2f}ms")


if __name__ == "__main__":
    main()
