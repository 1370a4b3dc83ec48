"""OTLP ingest end to end: a real OpenTelemetry SDK (and raw OTLP/JSON) → a live llmops → request rows,
traces, the waterfall page and feedback, on SQLite and Postgres."""

from __future__ import annotations

import gc
import gzip
import json
import secrets
from collections.abc import Callable

import httpx
import pytest
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.trace import SpanKind, StatusCode
from opentelemetry.trace import Status as SpanStatus
from prometheus_client.parser import text_string_to_metric_families

from ingest_helpers import exporting_provider, json_body, json_span, new_ids, written
from live import LiveServer
from llmops.evals.mining import mine
from test_dashboard import sign_in

PLANTED_EMAIL = "jane.doe@example.com"
PLANTED_KEY = "sk-proj-" + "a1B2c3D4e5F6g7H8i9J0" * 3


def _request(server: LiveServer, request_id: str) -> dict:
    with server.client() as client:
        reply = client.get("/api/requests", params={"request_id": request_id})
    assert reply.status_code == 200, reply.text
    items = reply.json()["items"]
    assert len(items) == 1, items
    return items[0]


def _refused(server: LiveServer) -> dict[str, float]:
    """`llmops_ingest_spans_refused_total` from /metrics, by reason."""
    with server.client() as client:
        reply = client.get("/metrics")
    assert reply.status_code == 200
    return {
        sample.labels["llmops_ingest_refusal_reason"]: sample.value
        for family in text_string_to_metric_families(reply.text)
        for sample in family.samples
        if sample.name == "llmops_ingest_spans_refused_total"
    }


def _trace(server: LiveServer, request_id: str) -> dict:
    with server.client() as client:
        reply = client.get(f"/api/requests/{request_id}")
    assert reply.status_code == 200, reply.text
    return reply.json()


def test_sdk_export_with_genai_semconv_becomes_a_request(live_server: Callable[..., LiveServer]) -> None:
    server = live_server()
    messages = [
        {"role": "user", "parts": [{"type": "text", "content": f"mail {PLANTED_EMAIL} key {PLANTED_KEY}"}]}
    ]
    with exporting_provider(server, {"service.name": "support-bot"}, gzip=True) as provider:
        tracer = provider.get_tracer("app")
        with tracer.start_as_current_span(
            "invoke_agent support",
            kind=SpanKind.SERVER,
            attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.conversation.id": "conv-7"},
        ) as root:
            with tracer.start_as_current_span(
                "chat gpt-4o-mini",
                kind=SpanKind.CLIENT,
                attributes={
                    "gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": "openai",
                    "gen_ai.request.model": "gpt-4o-mini",
                    "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
                    "gen_ai.usage.input_tokens": 1200,
                    "gen_ai.usage.output_tokens": 300,
                    "server.address": "api.openai.com",
                    "gen_ai.input.messages": json.dumps(messages),
                    "gen_ai.output.messages": json.dumps(
                        [{"role": "assistant", "parts": [{"type": "text", "content": "Wrong answer."}]}]
                    ),
                },
            ):
                pass
            with tracer.start_as_current_span(
                "execute_tool lookup",
                attributes={"gen_ai.tool.name": "lookup", "gen_ai.operation.name": "execute_tool"},
            ):
                pass
            trace_id = format(root.get_span_context().trace_id, "032x")
    written(server)

    row = _request(server, trace_id)
    assert row["source"] == "ingest"
    assert row["assistant"] == "support-bot"
    assert row["session_id"] == "conv-7"
    assert row["status"] == "ok"
    assert (row["input_tokens"], row["output_tokens"]) == (1200, 300)
    assert row["model"] == "gpt-4o-mini-2024-07-18" and row["provider"] == "openai"
    assert row["cost_usd"] is not None and row["cost_usd"] > 0
    trace = _trace(server, trace_id)
    stored = json.dumps(trace)
    assert PLANTED_EMAIL not in stored and PLANTED_KEY not in stored
    assert len(trace["spans"]) == 3
    chat = next(span for span in trace["spans"] if span["name"].startswith("chat"))
    assert json.loads(chat["attributes"]["gen_ai.input.messages"])[0]["parts"][0]["type"] == "text"
    with sign_in(server) as browser:
        page = browser.get(f"/requests/{trace_id}")
    assert page.status_code == 200 and "execute_tool lookup" in page.text
    with server.client() as client:
        feedback = client.post("/v1/feedback", json={"request_id": trace_id, "rating": -1, "notes": "wrong"})
    assert feedback.status_code == 201, feedback.text
    with server.client() as client:
        overview = client.get("/api/overview", params={"assistant": "support-bot"})
    assert overview.status_code == 200, overview.text
    assert overview.json()["report"]["requests"] == 1
    services = server.app.state.services
    [case] = mine(services.engine, services.redactor)
    assert case.source.request_id == trace_id and case.source.bad_output == "Wrong answer."


def test_openinference_json_gzip_with_usage_summed_from_llm_spans(
    live_server: Callable[..., LiveServer],
) -> None:
    server = live_server()
    trace_id, root_id = new_ids()
    _, llm_a = new_ids()
    _, llm_b = new_ids()
    user_turn = f"Please reply to {PLANTED_EMAIL}"
    llm = {
        "openinference.span.kind": "LLM",
        "llm.model_name": "my-self-hosted-7b",
        "llm.provider": "openai",
        "llm.token_count.prompt": 100,
        "llm.token_count.completion": 20,
        "llm.input_messages.0.message.role": "system",
        "llm.input_messages.0.message.content": "Be brief.",
        "llm.input_messages.1.message.role": "user",
        "llm.input_messages.1.message.content": user_turn,
        "llm.output_messages.0.message.role": "assistant",
        "llm.output_messages.0.message.content": "Done.",
        "server.address": "gpu-box.internal",
    }
    spans = [
        json_span(trace_id, llm_a, "ChatCompletion", llm, parent=root_id),
        json_span(trace_id, llm_b, "ChatCompletion", llm, parent=root_id),
        json_span(
            trace_id,
            root_id,
            "agent",
            {
                "openinference.span.kind": "AGENT",
                "session.id": "s-1",
                "user.id": "alice@example.com",
                "input.value": user_turn,
            },
            duration_ms=250,
        ),
    ]
    body = gzip.compress(
        json.dumps(
            json_body({"service.name": "svc", "openinference.project.name": "rag-app"}, spans)
        ).encode()
    )
    with server.client() as client:
        reply = client.post(
            "/v1/traces",
            content=body,
            headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
        )
    assert reply.status_code == 200, reply.text
    assert reply.json() == {}
    written(server)
    row = _request(server, trace_id)
    assert row["assistant"] == "rag-app" and row["session_id"] == "s-1"
    assert (row["input_tokens"], row["output_tokens"]) == (200, 40)
    assert row["model"] == "my-self-hosted-7b"
    assert row["cost_usd"] is None  # a self-hosted model has no known price: unknown, never guessed
    assert row["latency_ms"] == pytest.approx(250)
    trace = _trace(server, trace_id)
    root = next(span for span in trace["spans"] if span["span_id"] == root_id)
    assert root["attributes"]["llmops.user_id"].startswith("u_")
    assert PLANTED_EMAIL not in json.dumps(trace) and "alice@example.com" not in json.dumps(trace)
    chat = next(span for span in trace["spans"] if span["span_id"] == llm_a)
    attributes = chat["attributes"]
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.usage.input_tokens"] == 100
    inputs = json.loads(attributes["gen_ai.input.messages"])
    assert [m["role"] for m in inputs] == ["system", "user"]
    assert inputs[1]["parts"] == [{"type": "text", "content": "Please reply to [EMAIL]"}]
    assert json.loads(attributes["gen_ai.output.messages"])[0]["parts"][0]["content"] == "Done."
    assert not any(key.startswith("llm.input_messages") for key in attributes)


def test_root_in_a_later_export_takes_usage_from_stored_spans(live_server: Callable[..., LiveServer]) -> None:
    server = live_server()
    trace_id, root_id = new_ids()
    _, child = new_ids()
    legacy = {
        "gen_ai.system": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.usage.prompt_tokens": 10,
        "gen_ai.usage.completion_tokens": 5,
        "llm.request.type": "chat",
        "gen_ai.prompt.0.role": "user",
        "gen_ai.prompt.0.content": "hello",
        "gen_ai.completion.0.role": "assistant",
        "gen_ai.completion.0.content": "hi",
    }
    with server.client() as client:
        first = json_body(
            {"service.name": "llmetry"}, [json_span(trace_id, child, "openai.chat", legacy, parent=root_id)]
        )
        assert client.post("/v1/traces", json=first).status_code == 200
        written(server)
        second = json_body(
            {"service.name": "llmetry"},
            [json_span(trace_id, root_id, "workflow", {"traceloop.span.kind": "workflow"}, status_code=2)],
        )
        assert client.post("/v1/traces", json=second).status_code == 200
    written(server)
    row = _request(server, trace_id)
    assert (row["input_tokens"], row["output_tokens"]) == (10, 5)
    assert row["provider"] == "openai" and row["model"] == "gpt-4o-mini"
    assert row["status"] == "error"
    spans = _trace(server, trace_id)["spans"]
    chat = next(span for span in spans if span["span_id"] == child)
    assert json.loads(chat["attributes"]["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": "hello"}]}
    ]
    assert chat["attributes"]["gen_ai.provider.name"] == "openai"


def test_legacy_content_events_become_messages(live_server: Callable[..., LiveServer]) -> None:
    server = live_server()
    trace_id, root_id = new_ids()
    events = [
        {"name": "gen_ai.content.prompt", "timeUnixNano": "1700000000000000001", "attributes": [
            {"key": "gen_ai.prompt", "value": {"stringValue": json.dumps([{"role": "user", "content": "ping"}])}}
        ]},
        {"name": "gen_ai.content.completion", "timeUnixNano": "1700000000000000002", "attributes": [
            {"key": "gen_ai.completion", "value": {"stringValue": json.dumps([{"role": "assistant", "content": "pong"}])}}
        ]},
    ]  # fmt: skip
    span = json_span(
        trace_id,
        root_id,
        "chat m",
        {"gen_ai.operation.name": "chat", "gen_ai.request.model": "m"},
        events=events,
    )
    with server.client() as client:
        assert client.post("/v1/traces", json=json_body({"service.name": "old"}, [span])).status_code == 200
    written(server)
    attributes = _trace(server, trace_id)["spans"][0]["attributes"]
    assert json.loads(attributes["gen_ai.input.messages"])[0]["parts"][0]["content"] == "ping"
    assert json.loads(attributes["gen_ai.output.messages"])[0]["parts"][0]["content"] == "pong"


def test_spec_responses(live_server: Callable[..., LiveServer]) -> None:
    server = live_server(ingest_max_body_bytes=4096)
    trace_id, span_id = new_ids()
    good = json_span(trace_id, span_id, "ok", {})
    bad = json_span("zz" * 16, span_id, "bad ids", {})
    assert _refused(server) == {"queue_full": 0, "invalid_span": 0, "store_failed": 0}
    with server.client(authenticated=False) as anonymous:
        assert anonymous.post("/v1/traces", json=json_body({}, [good])).status_code == 401
    with server.client() as client:
        partial = client.post("/v1/traces", json=json_body({}, [good, bad]))
        assert partial.status_code == 200
        assert partial.json()["partialSuccess"]["rejectedSpans"] == "1"
        assert (
            client.post("/v1/traces", content=b"x", headers={"Content-Type": "text/plain"}).status_code == 415
        )
        not_json = client.post("/v1/traces", content=b"{nope", headers={"Content-Type": "application/json"})
        assert not_json.status_code == 400 and "nope" not in not_json.text
        wrong_shape = client.post("/v1/traces", json={"resourceSpans": [{"scopeSpans": "x"}]})
        assert wrong_shape.status_code == 400
        protobuf = client.post(
            "/v1/traces", content=b"\xff\xff\xff", headers={"Content-Type": "application/x-protobuf"}
        )
        assert protobuf.status_code == 400
        assert Status.FromString(protobuf.content).message
        empty = client.post("/v1/traces", content=b"", headers={"Content-Type": "application/x-protobuf"})
        assert empty.status_code == 200 and ExportTraceServiceResponse.FromString(empty.content) is not None
        too_big = client.post("/v1/traces", content=b"0" * 5000, headers={"Content-Type": "application/json"})
        assert too_big.status_code == 413
        bomb = gzip.compress(b" " * 100_000)
        inflated = client.post(
            "/v1/traces",
            content=bomb,
            headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
        )
        assert inflated.status_code == 413
        deflate = client.post(
            "/v1/traces",
            content=b"{}",
            headers={"Content-Type": "application/json", "Content-Encoding": "br"},
        )
        assert deflate.status_code == 415
    assert _refused(server) == {"queue_full": 0, "invalid_span": 1, "store_failed": 0}


def test_full_queue_answers_503_with_retry_after_and_loses_nothing(
    live_server: Callable[..., LiveServer], database_url: str
) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("holds an exclusive SQLite lock to stall the writer")
    server = live_server(ingest_queue_spans=2)
    services = server.app.state.services
    traces = [new_ids() for _ in range(3)]
    bodies = [json_body({"service.name": "q"}, [json_span(t, s, "root", {})]) for t, s in traces]
    locker = services.engine.raw_connection()
    try:
        locker.execute("BEGIN EXCLUSIVE")
        with server.client() as client:
            assert client.post("/v1/traces", json=bodies[0]).status_code == 200
            assert client.post("/v1/traces", json=bodies[1]).status_code == 200
            refused = client.post("/v1/traces", json=bodies[2])
        assert refused.status_code == 503
        assert refused.headers["Retry-After"] == "1"
    finally:
        locker.rollback()
        locker.close()
    written(server)
    assert _refused(server)["queue_full"] == 1
    with server.client() as client:
        assert client.post("/v1/traces", json=bodies[2]).status_code == 200
    written(server)
    for trace_id, _ in traces:
        assert _request(server, trace_id)["source"] == "ingest"


def test_openinference_instrumented_openai_sdk(live_server: Callable[..., LiveServer]) -> None:
    openai = pytest.importorskip("openai")
    instrumentation = pytest.importorskip("openinference.instrumentation.openai")
    from fakes.openai_server import FakeOpenAIServer, FakeReply

    server = live_server()
    instrumentor = instrumentation.OpenAIInstrumentor()
    reply = FakeReply.ok("triaged", prompt_tokens=42, completion_tokens=8)
    with (
        FakeOpenAIServer(reply) as upstream,
        exporting_provider(server, {"openinference.project.name": "oi-app"}) as provider,
    ):
        instrumentor.instrument(tracer_provider=provider)
        try:
            client = openai.OpenAI(base_url=upstream.base_url, api_key="sk-test", max_retries=0)
            tracer = provider.get_tracer("app")
            with tracer.start_as_current_span(
                "handle", attributes={"openinference.span.kind": "CHAIN"}
            ) as root:
                client.chat.completions.create(
                    model="local-llama",
                    messages=[{"role": "user", "content": f"hi from {PLANTED_EMAIL}"}],
                )
                root.set_status(SpanStatus(StatusCode.OK))
                trace_id = format(root.get_span_context().trace_id, "032x")
        finally:
            instrumentor.uninstrument()
    written(server)
    row = _request(server, trace_id)
    assert row["assistant"] == "oi-app"
    assert (row["input_tokens"], row["output_tokens"]) == (42, 8)
    assert row["model"]
    trace = _trace(server, trace_id)
    assert PLANTED_EMAIL not in json.dumps(trace)
    llm = next(span for span in trace["spans"] if span["attributes"].get("gen_ai.operation.name") == "chat")
    assert llm["attributes"]["gen_ai.usage.input_tokens"] == 42


def test_bad_bodies_never_5xx(live_server: Callable[..., LiveServer]) -> None:
    server = live_server()
    deep: dict = {"stringValue": "bottom"}
    for _ in range(60):
        deep = {"arrayValue": {"values": [deep]}}
    odd = [
        {"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": 5}]}]}]},
        {"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "a" * 32, "spanId": "b" * 16, "startTimeUnixNano": "soon"}]}]}]},
        {"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "a" * 32, "spanId": "b" * 16, "attributes": [{"key": "k", "value": {"weird": 1}}]}]}]}]},
        {"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "a" * 32, "spanId": "b" * 16, "kind": 99, "attributes": [{"key": "k", "value": {"arrayValue": {"values": [{"kvlistValue": {"values": [{"key": "x", "value": {"intValue": "7"}}]}}]}}}]}]}]}]},
        {"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "a" * 32, "spanId": "b" * 16, "startTimeUnixNano": "9" * 30}]}]}]},
        {"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "a" * 32, "spanId": "b" * 16, "endTimeUnixNano": -5}]}]}]},
        {"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "a" * 32, "spanId": "c" * 16, "attributes": [{"key": "deep", "value": deep}]}]}]}]},
        [],
        "text",
    ]  # fmt: skip
    with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {server.key}"}) as client:
        for body in odd:
            reply = client.post("/v1/traces", json=body)
            assert reply.status_code in (200, 400), reply.text
        infinite = b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "%s", "spanId": "%s", "flags": 1e400}]}]}]}'
        reply = client.post(
            "/v1/traces",
            content=infinite % (b"a" * 32, b"b" * 16),
            headers={"Content-Type": "application/json"},
        )
        assert reply.status_code == 400
        nested = b'{"resourceSpans": ' + b"[" * 5000 + b"]" * 5000 + b"}"
        reply = client.post("/v1/traces", content=nested, headers={"Content-Type": "application/json"})
        assert reply.status_code == 400
    written(server)


def test_everything_received_is_redacted_before_it_is_kept(live_server: Callable[..., LiveServer]) -> None:
    server = live_server()
    trace_id, root_id = new_ids()
    attributes = {
        f"note.{PLANTED_EMAIL}": "key holds an address",
        "openai_api_key": "not-a-known-format-but-a-credential-key",
        "input.value": f"call me at {PLANTED_EMAIL}, key {PLANTED_KEY}",
        "nested": "x",
    }
    events = [
        {
            "name": f"exception for {PLANTED_EMAIL}",
            "timeUnixNano": "1700000000000000001",
            "attributes": [{"key": "exception.message", "value": {"stringValue": f"failed: {PLANTED_KEY}"}}],
        }
    ]
    span = json_span(trace_id, root_id, f"handle {PLANTED_EMAIL}", attributes, events=events, status_code=2)
    span["status"]["message"] = f"boom {PLANTED_KEY}"
    span["attributes"].append(
        {
            "key": "doc",
            "value": {"kvlistValue": {"values": [{"key": "to", "value": {"stringValue": PLANTED_EMAIL}}]}},
        }
    )
    with server.client() as client:
        reply = client.post("/v1/traces", json=json_body({"service.name": "svc"}, [span]))
    assert reply.status_code == 200
    written(server)
    trace = _trace(server, trace_id)
    stored = json.dumps(trace)
    for planted in (PLANTED_EMAIL, PLANTED_KEY, "not-a-known-format-but-a-credential-key"):
        assert planted not in stored
    [stored_span] = trace["spans"]
    assert "[EMAIL]" in stored_span["name"] and "[EMAIL]" in stored_span["events"][0]["name"]
    assert stored_span["status_message"] and PLANTED_KEY not in stored_span["status_message"]
    assert stored_span["attributes"]["doc"] == {"to": "[EMAIL]"}


def test_a_server_span_under_a_remote_parent_is_a_request(live_server: Callable[..., LiveServer]) -> None:
    server = live_server()
    trace_id, entry = new_ids()
    _, upstream = new_ids()  # the caller's span, in another service: never sent here
    span = json_span(trace_id, entry, "GET /answer", {"gen_ai.usage.input_tokens": 3}, parent=upstream)
    span["kind"] = 2  # SERVER
    with server.client() as client:
        assert client.post("/v1/traces", json=json_body({"service.name": "api"}, [span])).status_code == 200
    written(server)
    row = _request(server, f"{trace_id}-{entry}")
    assert row["assistant"] == "api" and row["input_tokens"] == 3


def test_raw_span_content_does_not_outlive_the_export(live_server: Callable[..., LiveServer]) -> None:
    """Ingested content is redacted inside the request and only the redacted form is kept: after the
    export, no dictionary or list anywhere in the server process holds the raw value (the service's
    redactor, which remembers what it redacted for its own spans, must not remember ingested ones)."""
    server = live_server()
    token = secrets.token_hex(12)
    planted = f"please write to {token}@example.com about the refund, or call me"
    trace_id, span_id = new_ids()
    body = json_body(
        {"service.name": "leak-check"}, [json_span(trace_id, span_id, "root", {"input.value": planted})]
    )
    with server.client() as client:
        assert client.post("/v1/traces", json=body).status_code == 200
    written(server)
    stored = _trace(server, trace_id)
    assert token not in json.dumps(stored)
    del body, planted
    gc.collect()
    assert len(_strings_holding(token)) == 0, "the raw value is still held in the process"


def _strings_holding(token: str) -> list[str]:
    """Every string reachable from a live object that contains `token` (and is not just the token).

    Walks referents from every object the collector tracks, so containers it does not track (a dict
    holding only strings) are searched too, and reads dictionaries' keys itself."""
    found: list[str] = []
    seen: set[int] = set()
    pending = gc.get_objects()
    while pending:
        item = pending.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, str):
            if token in item and item != token:
                found.append(item)
        elif isinstance(item, dict):  # the collector does not visit string keys
            pending.extend(item.keys())
            pending.extend(item.values())
        elif not isinstance(item, int | float | bytes | type):
            pending.extend(gc.get_referents(item))
    return found
