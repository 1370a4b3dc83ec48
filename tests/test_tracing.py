"""One request, one trace: a span for every step, tool and model call, stored and exposed as metrics."""

from __future__ import annotations

import json
from collections.abc import Callable

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from live import SAMPLES, LiveServer
from llmops.assistant.normalize import parse_email
from llmops.assistant.schema import Email
from llmops.assistant.tools import plan_tool_calls
from llmops.storage.db import make_engine
from llmops.storage.tables import requests, spans

SAMPLE_ROWS = [json.loads(line) for line in (SAMPLES / "emails.jsonl").read_text().splitlines()]
CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"


def _trace(server: LiveServer, request_id: str) -> tuple[dict, list[dict]]:
    engine = make_engine(server.settings.resolved_database_url)
    try:
        with engine.connect() as connection:
            row = (
                connection.execute(select(requests).where(requests.c.request_id == request_id))
                .mappings()
                .one()
            )
            rows = (
                connection.execute(select(spans).where(spans.c.trace_id == row["trace_id"])).mappings().all()
            )
    finally:
        engine.dispose()
    return dict(row), [dict(r) | {"attributes": json.loads(r["attributes"])} for r in rows]


def test_every_sample_email_gives_one_trace_covering_every_step(
    live_server: Callable[..., LiveServer],
) -> None:
    server = live_server()
    with server.client() as client:
        replies = [
            client.post("/v1/triage", json={"email": s["email"], "user_id": "u-1"}).json()
            for s in SAMPLE_ROWS
        ]
    server.flush()
    for sample, reply in zip(SAMPLE_ROWS, replies, strict=True):
        row, trace = _trace(server, reply["request_id"])
        by_id = {span["span_id"]: span for span in trace}
        [root] = [span for span in trace if span["parent_span_id"] is None]
        assert root["name"] == "POST /v1/triage" and root["kind"] == "SERVER"
        assert all(span["parent_span_id"] in by_id for span in trace if span is not root), "orphan span"
        names = [span["name"] for span in trace]
        expected_tools = [
            call.name for call in plan_tool_calls(parse_email(Email.model_validate(sample["email"])))
        ]
        assert sorted(
            n.removeprefix("execute_tool ") for n in names if n.startswith("execute_tool ")
        ) == sorted(expected_tools), sample["id"]
        for step in ("parse_email", "retrieval northwind-policies", "rule_suggestion", "validate_output"):
            assert step in names, (sample["id"], step)
        [chat] = [span for span in trace if span["name"] == "chat scripted-1"]
        assert chat["kind"] == "CLIENT"
        assert chat["attributes"]["gen_ai.operation.name"] == "chat"
        assert chat["attributes"]["gen_ai.provider.name"] == "scripted"
        assert chat["attributes"]["gen_ai.usage.input_tokens"] == reply["usage"]["input_tokens"]
        assert chat["attributes"]["gen_ai.response.finish_reasons"] == ["stop"]
        tool_spans = [span for span in trace if span["name"].startswith("execute_tool ")]
        assert all(span["attributes"]["gen_ai.tool.call.id"] for span in tool_spans)
        assert row["prompt_version"] == reply["prompt_version"]
        assert (row["input_tokens"], row["output_tokens"]) == tuple(reply["usage"].values())
        assert row["user_id"].startswith("u_") and "u-1" not in json.dumps(root["attributes"])
        assert root["attributes"]["llmops.request_id"] == reply["request_id"]


def test_incoming_traceparent_joins_the_callers_trace(live_server: Callable[..., LiveServer]) -> None:
    server = live_server()
    headers = {"traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"}
    with server.client() as client:
        reply = client.post("/v1/triage", json={"email": SAMPLE_ROWS[0]["email"]}, headers=headers).json()
    server.flush()
    row, trace = _trace(server, reply["request_id"])
    assert row["trace_id"] == CALLER_TRACE
    [root] = [span for span in trace if span["name"] == "POST /v1/triage"]
    assert root["parent_span_id"] == CALLER_SPAN


def test_retries_are_visible_on_the_model_span(live_server: Callable[..., LiveServer]) -> None:
    server = live_server(scripted_faults="429*2", scripted_retry_after_s=0.01)
    with server.client() as client:
        reply = client.post("/v1/triage", json={"email": SAMPLE_ROWS[0]["email"]}).json()
    server.flush()
    row, trace = _trace(server, reply["request_id"])
    [chat] = [span for span in trace if span["name"].startswith("chat ")]
    events = json.loads(chat["events"])
    assert [event["name"] for event in events] == ["retry", "retry"]
    assert chat["attributes"]["llmops.retry.count"] == 2 == row["retries"]


def test_metrics_show_tokens_and_cost_of_requests(live_server: Callable[..., LiveServer]) -> None:
    server = live_server(local_price_input_per_mtok=1000.0, local_price_output_per_mtok=2000.0)
    with server.client() as client:
        replies = [client.post("/v1/triage", json={"email": s["email"]}).json() for s in SAMPLE_ROWS[:3]]
        unauthenticated = client.get("/metrics", headers={"Authorization": ""})
        text = client.get("/metrics").text
    assert unauthenticated.status_code == 401
    families = {family.name: family for family in text_string_to_metric_families(text)}
    tokens = {
        s.labels["gen_ai_token_type"]: s.value
        for s in families["gen_ai_client_token_usage"].samples
        if s.name.endswith("_sum")
    }
    assert tokens["input"] == sum(r["usage"]["input_tokens"] for r in replies)
    assert tokens["output"] == sum(r["usage"]["output_tokens"] for r in replies)
    [cost] = [s.value for s in families["llmops_cost_USD"].samples if s.name.endswith("_total")]
    expected = sum(r["usage"]["input_tokens"] * 1e-3 + r["usage"]["output_tokens"] * 2e-3 for r in replies)
    assert abs(cost - expected) < 1e-9
    requests_total = [
        s for s in families["llmops_requests"].samples if s.labels["http_route"] == "/v1/triage"
    ]
    assert sum(s.value for s in requests_total) == 3, families["llmops_requests"].samples
    for family in families.values():
        for sample in family.samples:
            assert not any("@" in value or len(value) > 64 for value in sample.labels.values())
