"""The HTTP API end to end: a real uvicorn server on a free port, real SQLite, scripted provider."""

from __future__ import annotations

import json
from collections.abc import Callable

from sqlalchemy import select

from live import LiveServer
from llmops.assistant.schema import Category, TriageReply
from llmops.storage.db import make_engine
from llmops.storage.tables import requests, spans
from llmops.telemetry import conventions as c

EMAIL = {
    "email": {
        "sender": "Dana Ops <dana@northwind.example>",
        "recipients": ["me@northwind.example"],
        "subject": "Production database down - checkout failing",
        "body": "The primary Postgres cluster went down at 09:12. Checkout is failing for all customers. "
        "Please join the incident bridge now.",
        "headers": {"Message-ID": "<abc@northwind.example>"},
    },
    "user_id": "user-42",
}


def test_triage_returns_a_valid_reply(shared_server: LiveServer) -> None:
    server = shared_server
    with server.client() as client:
        response = client.post("/v1/triage", json=EMAIL)
    assert response.status_code == 200, response.text
    reply = TriageReply.model_validate(response.json())
    assert response.headers["x-request-id"] == reply.request_id
    assert reply.prompt_version == "email_triage_v2"
    assert reply.provider == "scripted" and reply.model == "scripted-1"
    assert reply.usage.input_tokens > 0 and reply.usage.output_tokens > 0
    assert reply.retries == 0 and reply.degraded is False
    assert reply.triage.category in set(Category)
    assert reply.latency_ms > 0


def test_request_id_is_honoured_or_generated(shared_server: LiveServer) -> None:
    server = shared_server
    with server.client() as client:
        honoured = client.post("/v1/triage", json=EMAIL, headers={"X-Request-ID": "caller-req-1"})
        replaced = client.post("/v1/triage", json=EMAIL, headers={"X-Request-ID": "bad id\twith spaces"})
    assert honoured.headers["x-request-id"] == "caller-req-1" == honoured.json()["request_id"]
    assert replaced.headers["x-request-id"] != "bad id\twith spaces"
    assert len(replaced.json()["request_id"]) == 32


def test_a_reused_request_id_gets_a_fresh_one_and_no_request_is_lost(
    live_server: Callable[..., LiveServer],
) -> None:
    server = live_server()
    headers = {"X-Request-ID": "client-retry-7"}
    with server.client() as client:
        first = client.post("/v1/triage", json=EMAIL, headers=headers)
        pending = client.post("/v1/triage", json=EMAIL, headers=headers)  # first row not exported yet
        server.flush()
        stored = client.post("/v1/triage", json=EMAIL, headers=headers)  # first row in the database
    ids = [response.json()["request_id"] for response in (first, pending, stored)]
    assert [response.status_code for response in (first, pending, stored)] == [200, 200, 200]
    assert ids[0] == "client-retry-7" and len(set(ids)) == 3
    assert [response.headers["x-request-id"] for response in (first, pending, stored)] == ids
    server.flush()
    engine = make_engine(server.settings.resolved_database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(select(requests.c.request_id).where(requests.c.request_id.in_(ids)))
            assert sorted(rows.scalars()) == sorted(ids)
            roots = connection.execute(
                select(spans.c.request_id, spans.c.attributes).where(
                    spans.c.request_id.in_(ids[1:]), spans.c.name == c.ROOT_SPAN
                )
            ).all()
    finally:
        engine.dispose()
    assert len(roots) == 2
    assert {json.loads(attributes).get(c.CLIENT_REQUEST_ID) for _, attributes in roots} == {"client-retry-7"}


def test_auth_is_required_except_for_health(shared_server: LiveServer) -> None:
    server = shared_server
    with server.client(authenticated=False) as client:
        missing = client.post("/v1/triage", json=EMAIL)
        wrong = client.post("/v1/triage", json=EMAIL, headers={"Authorization": "Bearer llmops_wrong"})
        health = client.get("/healthz")
        ready = client.get("/readyz")
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    assert missing.json()["error"]["type"] == "unauthorized"
    assert wrong.status_code == 401 and wrong.json()["error"]["message"] == "invalid API key"
    assert health.status_code == 200
    assert ready.status_code == 200 and ready.json()["database"] is True


def test_bad_bodies_get_clear_errors_not_500(live_server: Callable[..., LiveServer]) -> None:
    server = live_server(max_body_bytes=4096)
    missing_sender = json.loads(json.dumps(EMAIL))
    del missing_sender["email"]["sender"]
    bad_priority_type = {"email": {**EMAIL["email"], "recipients": "not-a-list"}}
    with server.client() as client:
        r_missing = client.post("/v1/triage", json=missing_sender)
        r_type = client.post("/v1/triage", json=bad_priority_type)
        r_json = client.post("/v1/triage", content=b"{not json", headers={"Content-Type": "application/json"})
        r_extra = client.post("/v1/triage", json={**EMAIL, "surprise": 1})
        big = {"email": {**EMAIL["email"], "body": "x" * 10_000}}
        r_big = client.post("/v1/triage", json=big)
        r_chunked = client.post(
            "/v1/triage",
            content=iter([b'{"email": {"body": "', b"y" * 5000, b'"}}']),
            headers={"Content-Type": "application/json"},
        )
        r_unknown = client.get("/v1/nope")
        r_method = client.get("/v1/triage")
    assert r_missing.status_code == 422
    assert r_missing.json()["error"]["fields"][0]["field"] == "email.sender"
    assert "email.sender" in r_missing.json()["error"]["message"]
    assert r_type.status_code == 422 and r_type.json()["error"]["fields"][0]["field"] == "email.recipients"
    assert r_json.status_code == 422 and "not valid JSON" in r_json.json()["error"]["message"]
    assert r_extra.status_code == 422 and r_extra.json()["error"]["fields"][0]["field"] == "surprise"
    assert r_big.status_code == 413 and "4096" in r_big.json()["error"]["message"]
    assert r_chunked.status_code == 413
    assert r_unknown.status_code == 404 and r_unknown.json()["error"]["type"] == "not_found"
    assert r_method.status_code == 405
    for response in (r_missing, r_json, r_big, r_unknown):
        assert response.json()["request_id"] == response.headers["x-request-id"]


def test_validation_errors_never_echo_submitted_values(shared_server: LiveServer) -> None:
    server = shared_server
    secret_sender = "card 4111111111111111 no at sign"
    with server.client() as client:
        response = client.post("/v1/triage", json={"email": {**EMAIL["email"], "sender": secret_sender}})
    assert response.status_code == 422
    assert "4111111111111111" not in response.text


def test_rate_limited_provider_is_retried_then_succeeds(live_server: Callable[..., LiveServer]) -> None:
    server = live_server(scripted_faults="429*2", scripted_retry_after_s=0.05)
    with server.client() as client:
        reply = client.post("/v1/triage", json=EMAIL).json()
    assert reply["retries"] == 2
    assert reply["degraded"] is False and reply["provider"] == "scripted"


def test_failing_provider_degrades_to_rule_based_triage(live_server: Callable[..., LiveServer]) -> None:
    server = live_server(scripted_faults="500*", max_retries=2)
    with server.client() as client:
        response = client.post("/v1/triage", json=EMAIL)
    assert response.status_code == 200
    reply = response.json()
    assert reply["degraded"] is True
    assert reply["retries"] == 2
    assert reply["provider"] == "rules"
    assert reply["triage"]["category"] == "urgent"


def test_unusable_model_output_is_repaired_once_then_degrades(live_server: Callable[..., LiveServer]) -> None:
    server = live_server(scripted_reply="I am not sure what you mean.")
    with server.client() as client:
        reply = client.post("/v1/triage", json=EMAIL).json()
    assert reply["degraded"] is True
    assert reply["usage"]["input_tokens"] > 0
