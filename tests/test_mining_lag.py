"""A request rated and mined within seconds of its reply becomes a case with its (redacted) email,
although its spans leave the serving process through the export queue up to `OTEL_BSP_SCHEDULE_DELAY`
after the reply: the replica that takes the feedback flushes its queue before it answers, and `llmops
eval mine` waits a little longer than the export delay for a recent request rated on another replica.
Real processes (`llmops serve`, the CLI) on SQLite and Postgres; the export delay is made long so that
only those two mechanisms can bring the spans in time."""

from __future__ import annotations

import contextlib
import json
import subprocess
from pathlib import Path

import httpx

from live import TEST_KEY
from processes import LLMOPS, cli_env, run_llmops, serving

OUTAGE = {
    "sender": "PagerDuty <alerts@pagerduty-mail.example>",
    "recipients": ["oncall@northwind.example"],
    "subject": "[FIRING] Production database down: checkout failing",
    "body": "The primary database is unreachable since 09:12 UTC. Checkout returns 500 for all customers.",
}
HEADERS = {"Authorization": f"Bearer {TEST_KEY}"}
NEVER_S = "600000"  # ms: no periodic export during the test
MINER_START_S = 20  # ample for the CLI to start and read once on a busy machine


def _rated(served_by: str, rated_on: str) -> str:
    reply = httpx.post(f"{served_by}/v1/triage", json={"email": OUTAGE}, headers=HEADERS, timeout=60)
    assert reply.status_code == 200, reply.text
    request_id: str = reply.json()["request_id"]
    feedback = {"request_id": request_id, "rating": -1, "notes": "an outage, not fyi"}
    posted = httpx.post(f"{rated_on}/v1/feedback", json=feedback, headers=HEADERS, timeout=60)
    assert posted.status_code == 201, posted.text
    return request_id


def _case(stdout: str, request_id: str) -> dict[str, object]:
    cases = [json.loads(line) for line in stdout.splitlines()]
    assert [case["id"] for case in cases] == [f"mined-{request_id}"]
    case: dict[str, object] = cases[0]
    return case


def test_feedback_flushes_the_rated_requests_spans_so_mining_at_once_finds_the_email(
    tmp_path: Path, database_url: str
) -> None:
    env = cli_env(
        tmp_path, LLMOPS_DATABASE_URL=database_url, LLMOPS_API_KEYS=TEST_KEY, OTEL_BSP_SCHEDULE_DELAY=NEVER_S
    )
    with serving(tmp_path, env) as (url, _):
        request_id = _rated(url, url)
        mined = run_llmops({**env, "OTEL_BSP_SCHEDULE_DELAY": "1"}, "eval", "mine")  # no wait to speak of
        assert mined.returncode == 0, mined.stderr
    case = _case(mined.stdout, request_id)
    email = case["email"]
    assert isinstance(email, dict) and "no-content" not in str(case["tags"])
    assert email["sender"] == "PagerDuty <redacted@example.invalid>"
    assert email["subject"] == OUTAGE["subject"]
    assert "alerts@pagerduty-mail.example" not in mined.stdout


def test_mining_waits_for_the_spans_of_a_request_rated_on_another_replica(
    tmp_path: Path, database_url: str
) -> None:
    env = cli_env(
        tmp_path, LLMOPS_DATABASE_URL=database_url, LLMOPS_API_KEYS=TEST_KEY, OTEL_BSP_SCHEDULE_DELAY=NEVER_S
    )
    with serving(tmp_path, env) as (rating_replica, _):
        with serving(tmp_path, env) as (serving_replica, _):
            request_id = _rated(serving_replica, rating_replica)
            miner = subprocess.Popen(
                [*LLMOPS, "eval", "mine"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
            # A miner that does not wait finishes here; one that waits is still waiting for the spans,
            # which the serving replica exports when it stops.
            with contextlib.suppress(subprocess.TimeoutExpired):
                miner.wait(timeout=MINER_START_S)
        stdout, stderr = miner.communicate(timeout=120)
    assert miner.returncode == 0, stderr
    case = _case(stdout, request_id)
    email = case["email"]
    assert isinstance(email, dict) and email["sender"] == "PagerDuty <redacted@example.invalid>"
