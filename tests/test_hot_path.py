"""The hot path's guarantees: a full export queue drops spans (counted), never request rows; access
lines of parameterless routes are redacted as fully as any line; the benchmark stays runnable."""

from __future__ import annotations

import io
import json
import logging
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr
from sqlalchemy import func, select

from live import LiveServer
from llmops.redaction import RedactionConfig, Redactor
from llmops.redaction.remembering import RememberingRedactor
from llmops.storage.db import make_engine
from llmops.storage.tables import requests, spans
from llmops.telemetry.logging import configure_logging

ROOT = Path(__file__).resolve().parents[1]
EMAIL = {
    "email": {
        "sender": "Ana <ana@northwind.example>",
        "recipients": ["me@northwind.example"],
        "subject": "Invoice 7",
        "body": "Please pay the invoice by Friday.",
    }
}


def test_a_full_export_queue_drops_spans_and_counts_them_but_every_request_row_is_stored(
    live_server: Callable[..., LiveServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_BSP_MAX_QUEUE_SIZE", "2")
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "3600000")  # nothing leaves the queue until the flush
    server = live_server()
    with server.client() as client:
        replies = [client.post("/v1/triage", json=EMAIL) for _ in range(5)]
        metrics = client.get("/metrics").text
    assert [reply.status_code for reply in replies] == [200] * 5
    dropped = float(re.search(r"^llmops_spans_dropped_total (\S+)$", metrics, re.MULTILINE)[1])  # type: ignore[index]
    assert dropped >= 5 * 5 - 2  # at least five spans a triage, two of them queued
    server.flush()
    engine = make_engine(server.settings.resolved_database_url)
    try:
        with engine.connect() as connection:
            stored = set(connection.execute(select(requests.c.request_id)).scalars())
            stored_spans = connection.execute(select(func.count()).select_from(spans)).scalar_one()
    finally:
        engine.dispose()
    assert stored == {reply.json()["request_id"] for reply in replies}
    assert stored_spans == 2


PIECES = st.sampled_from(
    [
        "ana@example.com",
        "+44 20 7946 0958",
        "4111 1111 1111 1111",
        "sk-proj-" + "a1B2c3D4" * 6,
        "hello",
        "10.2.3.4",
    ]
)
TEXT = st.lists(st.one_of(PIECES, st.text(max_size=20)), max_size=6).map(" ".join)
JSONISH = st.recursive(
    st.one_of(TEXT, st.integers(), st.booleans(), st.none()),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.sampled_from(["content", "password", "note"]), inner, max_size=3),
    ),
    max_leaves=10,
)
CONFIGS = [
    RedactionConfig(),
    RedactionConfig(hmac_key=SecretStr("k" * 32), secrets=[SecretStr("hunter2-configured-secret")]),
]


@settings(max_examples=150, deadline=None)
@given(value=st.one_of(JSONISH, JSONISH.map(json.dumps)), which=st.sampled_from([0, 1]))
def test_the_remembering_redactor_redacts_exactly_as_the_redactor_first_time_and_from_memory(
    value: object, which: int
) -> None:
    plain, remembering = Redactor(CONFIGS[which]), RememberingRedactor(CONFIGS[which], capacity_chars=200)
    expected = plain.redact_value(value)
    assert remembering.redact_value(value) == expected
    assert remembering.redact_value(value) == expected  # the second time from memory (or after a reset)


def test_access_lines_of_parameterless_routes_are_masked_like_any_line() -> None:
    redactor = Redactor(RedactionConfig())
    stream = io.StringIO()
    handler = configure_logging("INFO", redactor, stream, plain_paths={"/v1/triage"})
    try:
        access = logging.getLogger("uvicorn.access")
        access.info(
            '%s - "%s %s HTTP/%s" %d', "203.0.113.9:5000", "POST", "/v1/triage?x=ana@example.com", "1.1", 200
        )
        access.info(
            '%s - "%s %s HTTP/%s" %d', "203.0.113.9:5000", "GET", "/v1/runs/ana@example.com", "1.1", 404
        )
    finally:
        logging.getLogger().removeHandler(handler)
    fast, full = stream.getvalue().splitlines()
    assert "203.0.113.9" not in fast and "ana@example.com" not in stream.getvalue()
    assert json.loads(fast)["message"] == redactor.redact('203.0.113.9:5000 - "POST /v1/triage HTTP/1.1" 200')
    assert "[EMAIL]" in full and "[IP_ADDRESS]" in full


def test_the_hot_path_benchmark_runs_at_a_small_size() -> None:
    """Every part of `bench/bench_hot_path.py`: the floor, an earlier commit from a git worktree, the
    export-deferred difference and the RSS soak (Postgres configurations skip themselves when the
    server is not reachable)."""
    command = [
        sys.executable,
        "bench/bench_hot_path.py",
        "--requests",
        "40",
        "--soak",
        "20",
        "--before",
        "HEAD",
        "--configs",
        "full telemetry",
        "full, export deferred",
    ]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    assert "floor (FastAPI+pydantic)" in out and "export CPU per request (now)" in out
    assert "RSS over 20 requests (HEAD" in out and "targets (full telemetry, now)" in out
    rows = [line for line in out.splitlines() if line.startswith("full telemetry")]
    assert len(rows) == 2 and all(line.split()[-1] == "0" for line in rows)  # no request failed
