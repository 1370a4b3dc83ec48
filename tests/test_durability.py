"""Acknowledged means recorded: the request row is durable before the reply, ids are unique across
replicas, and the rollups count every request exactly once however the row and its spans arrive."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from opentelemetry.sdk.trace.export import SpanExportResult
from sqlalchemy import Engine, func, select

from fakes import FakeOpenAIServer, FakeReply
from live import TEST_KEY, LiveServer
from llmops.redaction import RedactionConfig, Redactor
from llmops.service.recording import RowWriter
from llmops.storage.db import make_engine
from llmops.storage.tables import request_rollups, requests, spans, step_rollups
from llmops.telemetry import conventions as c
from llmops.telemetry.request_writer import root_request_record, store_request
from llmops.telemetry.store_exporter import StoreExporter
from processes import cli_env, serving
from store_traces import Req, capture

T0 = datetime(2026, 3, 10, 9, 15, tzinfo=UTC)
EMAIL = {
    "email": {
        "sender": "Dana Ops <dana@northwind.example>",
        "recipients": ["me@northwind.example"],
        "subject": "Production database down",
        "body": "The primary cluster went down at 09:12. Please join the incident bridge now.",
    }
}


def _scalar(engine: Engine, query):  # type: ignore[no-untyped-def]
    with engine.connect() as connection:
        return connection.execute(query).scalar_one()


def _request_ids(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return set(connection.execute(select(requests.c.request_id)).scalars())
    finally:
        engine.dispose()


def test_a_row_written_before_the_reply_is_counted_once_and_still_anchors_its_spans(
    migrated_engine: Engine,
) -> None:
    redactor = Redactor(RedactionConfig())
    batch = capture(
        [Req(T0 + timedelta(seconds=i), f"req-{i}", tools=[("lookup_contact", 5)]) for i in range(3)]
    )
    roots = [span for span in batch if span.parent is None]
    for root in roots:
        record = root_request_record(root, redactor)
        assert record is not None
        assert store_request(migrated_engine, record) == record.request_id
        assert store_request(migrated_engine, record) == record.request_id  # idempotent per span

    assert _scalar(migrated_engine, select(func.sum(request_rollups.c.requests))) == 3
    assert StoreExporter(migrated_engine).export(batch) is SpanExportResult.SUCCESS
    assert _scalar(migrated_engine, select(func.count()).select_from(requests)) == 3
    assert _scalar(migrated_engine, select(func.sum(request_rollups.c.requests))) == 3
    assert _scalar(migrated_engine, select(func.sum(step_rollups.c.calls))) == 3
    unattributed = select(func.count()).select_from(spans).where(spans.c.request_id.is_(None))
    assert _scalar(migrated_engine, unattributed) == 0


def test_a_taken_id_gets_a_fresh_one_and_the_exporter_follows_the_stored_row(
    migrated_engine: Engine,
) -> None:
    redactor = Redactor(RedactionConfig())
    first, second = (
        capture([Req(T0, "shared-id", tools=[("lookup_contact", 5)])]),
        capture([Req(T0 + timedelta(seconds=1), "shared-id", tools=[("check_calendar", 5)])]),
    )
    ids = []
    for batch in (first, second):
        record = root_request_record(batch[-1], redactor)
        assert record is not None
        ids.append(store_request(migrated_engine, record))
    assert ids[0] == "shared-id" and ids[1] != "shared-id" and len(ids[1]) == 32

    exporter = StoreExporter(migrated_engine)
    assert exporter.export(first + second) is SpanExportResult.SUCCESS
    with migrated_engine.connect() as connection:
        owners = dict(connection.execute(select(spans.c.name, spans.c.request_id)).all())
    assert owners["execute_tool lookup_contact"] == ids[0]
    assert owners["execute_tool check_calendar"] == ids[1]
    assert _scalar(migrated_engine, select(func.sum(request_rollups.c.requests))) == 2


def test_rows_stored_together_each_keep_their_own_outcome(migrated_engine: Engine) -> None:
    """Group commit: concurrent rows go out in shared transactions, and each caller learns its own
    id: its own, a fresh one when another row of the batch holds it, its first one when stored twice."""
    writer = RowWriter(migrated_engine, Redactor(RedactionConfig()))
    roots = capture([Req(T0, f"req-{i}") for i in range(20)] + [Req(T0, "req-0")])

    async def store_all() -> list[str | None]:
        return await asyncio.gather(*(writer.store(root) for root in [*roots, roots[0]]))

    ids = asyncio.run(store_all())
    assert ids[:20] == [f"req-{i}" for i in range(20)]
    assert ids[20] not in ids[:20] and len(ids[20] or "") == 32
    assert ids[21] == "req-0"
    assert _request_ids(migrated_engine.url.render_as_string(hide_password=False)) == set(ids)
    assert _scalar(migrated_engine, select(func.sum(request_rollups.c.requests))) == 21


def test_the_request_row_passes_the_redactor(migrated_engine: Engine) -> None:
    redactor = Redactor(RedactionConfig())
    leaked = "alice.smith@example.com"
    (root,) = capture([Req(T0, "req-r", attributes={c.DEGRADED_REASON: f"bounced {leaked}"})])
    record = root_request_record(root, redactor)
    assert record is not None and record.degraded_reason is not None
    assert leaked not in record.degraded_reason
    (secret_id,) = capture([Req(T0, leaked)])
    masked = root_request_record(secret_id, redactor)
    assert masked is not None and masked.request_id != leaked and len(masked.request_id) == 32


def test_acknowledged_triage_rows_are_stored_before_the_reply(
    live_server: Callable[..., LiveServer],
) -> None:
    server = live_server()
    with server.client() as client:
        replies = [client.post("/v1/triage", json=EMAIL) for _ in range(5)]
    assert [reply.status_code for reply in replies] == [200] * 5
    # No flush: the batch processor still holds the spans, the rows are there already.
    assert {reply.json()["request_id"] for reply in replies} <= _request_ids(
        server.settings.resolved_database_url
    )
    server.flush()
    engine = make_engine(server.settings.resolved_database_url)
    try:
        assert _scalar(engine, select(func.sum(request_rollups.c.requests))) == 5
    finally:
        engine.dispose()


def test_rows_are_stored_with_telemetry_off(live_server: Callable[..., LiveServer]) -> None:
    """Tracing off stores no spans, but every request keeps its row, figures and all: assistant runs
    and gateway calls (JSON, streamed, embeddings, and a failed one)."""
    with FakeOpenAIServer() as upstream:
        server = live_server(
            telemetry=False, openai_base_url=upstream.base_url, openai_api_key="sk-upstream-test"
        )
        chat = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say hello"}]}
        with server.client() as client:
            replies = [client.post("/v1/triage", json=EMAIL) for _ in range(3)]
            assert client.get("/metrics").status_code == 404  # metrics are off too
            gateway = [
                client.post("/v1/chat/completions", json=chat),
                client.post("/v1/embeddings", json={"model": "gpt-4o-mini", "input": "hello"}),
            ]
            with client.stream("POST", "/v1/chat/completions", json={**chat, "stream": True}) as stream:
                stream.read()  # the row is stored before the reply is closed
            upstream.script(FakeReply(status=400, raw_body="{}"))
            failed = client.post("/v1/chat/completions", json=chat)
    assert [reply.status_code for reply in replies + gateway] == [200] * 5
    assert stream.status_code == 200 and failed.status_code == 400
    engine = make_engine(server.settings.resolved_database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                select(
                    requests.c.request_id,
                    requests.c.source,
                    requests.c.status,
                    requests.c.input_tokens,
                    requests.c.category,
                    requests.c.http_status,
                )
            ).all()
        triage = [row for row in rows if row.source != "gateway"]
        assert {row.request_id for row in triage} == {reply.json()["request_id"] for reply in replies}
        assert all(row.status == "ok" and row.input_tokens > 0 and row.category for row in triage)
        proxied = {row.request_id: row for row in rows if row.source == "gateway"}
        sent = [reply.headers["x-request-id"] for reply in (*gateway, stream, failed)]
        assert set(proxied) == set(sent)
        assert [(proxied[i].status, proxied[i].http_status) for i in sent] == [("ok", 200)] * 3 + [
            ("error", 400)
        ]
        assert all(proxied[i].input_tokens > 0 for i in sent[:3])
        assert _scalar(engine, select(func.count()).select_from(spans)) == 0
        assert _scalar(engine, select(func.sum(request_rollups.c.requests))) == 7
    finally:
        engine.dispose()


def test_one_id_sent_to_two_replicas_at_once_is_stored_twice_under_distinct_ids(
    live_server: Callable[..., LiveServer],
) -> None:
    replicas = [live_server(), live_server()]  # one database, two servers
    barrier = threading.Barrier(2)

    def send(args: tuple[int, int]) -> httpx.Response:
        replica, pair = args
        with replicas[replica].client() as client:
            barrier.wait(timeout=30)
            return client.post("/v1/triage", json=EMAIL, headers={"X-Request-ID": f"dup-{pair}"})

    with ThreadPoolExecutor(2) as pool:
        replies = [reply for pair in range(8) for reply in pool.map(send, [(0, pair), (1, pair)])]
    assert [reply.status_code for reply in replies] == [200] * 16
    ids = [reply.json()["request_id"] for reply in replies]
    assert len(set(ids)) == 16
    assert [reply.headers["x-request-id"] for reply in replies] == ids
    assert set(ids) <= _request_ids(replicas[0].settings.resolved_database_url)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_nothing_acknowledged_is_lost_to_kill_9(tmp_path: Path, database_url: str) -> None:
    env = cli_env(
        tmp_path, LLMOPS_DATABASE_URL=database_url, LLMOPS_API_KEYS=TEST_KEY, OTEL_BSP_SCHEDULE_DELAY="30000"
    )
    acknowledged: list[str] = []
    with serving(tmp_path, env) as (base, process):
        headers = {"Authorization": f"Bearer {TEST_KEY}"}
        with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
            for _ in range(20):
                reply = client.post("/v1/triage", json=EMAIL)
                assert reply.status_code == 200
                acknowledged.append(reply.json()["request_id"])
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    assert set(acknowledged) <= _request_ids(database_url)
