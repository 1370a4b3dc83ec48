"""No 5xx from input, no content in logs, credentials before the body: on SQLite and Postgres."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable

import pytest
from sqlalchemy import text

from live import LiveServer
from llmops.redaction import RedactionConfig, Redactor
from llmops.storage.db import make_engine
from llmops.telemetry.logging import configure_logging
from test_dashboard import sign_in

EMAIL = {
    "email": {
        "sender": "Dana Ops <dana@northwind.example>",
        "recipients": ["me@northwind.example"],
        "subject": "Status",
        "body": "All good.",
    }
}
MARKER = "planted-notes-7f3a9c"


@pytest.mark.parametrize("until", ["9999-12-31T23:30:00Z", "0001-01-01", "0.5", "1700000000", "2026-13-01"])
def test_out_of_range_or_numeric_until_is_refused_with_422(
    live_server: Callable[..., LiveServer], until: str
) -> None:
    server = live_server()
    with server.client() as client:
        api = client.get("/api/overview", params={"until": until})
    assert api.status_code == 422, api.text
    assert until not in api.text
    with sign_in(server) as browser:
        page = browser.get("/", params={"until": until})
    assert page.status_code == 422


def test_a_valid_until_and_a_years_long_range_answer(live_server: Callable[..., LiveServer]) -> None:
    server = live_server()
    with server.client() as client:
        for params in ({"until": "2999-12-31T23:30:00Z"}, {"until": "1970-01-01"}, {"range": "5000w"}):
            assert client.get("/api/overview", params=params).status_code == 200, params


@pytest.mark.parametrize(
    "path",
    [
        "/api/requests/a%00b",
        "/api/requests?prompt_version=a%00b",
        "/api/overview?model=%00",
        "/v1/feedback?prompt_version=%00",
    ],
)
def test_nul_in_a_path_or_filter_is_422_not_500(live_server: Callable[..., LiveServer], path: str) -> None:
    server = live_server()
    with server.client() as client:
        reply = client.get(path)
    assert reply.status_code == 422, reply.text
    assert reply.json()["error"]["type"] == "validation_error"


def test_nul_in_feedback_notes_is_removed_and_stored(live_server: Callable[..., LiveServer]) -> None:
    server = live_server()
    with server.client() as client:
        request_id = client.post("/v1/triage", json=EMAIL).json()["request_id"]
        stored = client.post("/v1/feedback", json={"request_id": request_id, "rating": 1, "notes": "a\x00b"})
        bad_id = client.post("/v1/feedback", json={"request_id": "a\x00b", "rating": 1})
        surrogate = client.post(
            "/v1/feedback",
            content=b'{"request_id": "' + request_id.encode() + b'", "rating": 1, "notes": "\\ud800"}',
            headers={"content-type": "application/json"},
        )
    assert stored.status_code == 201 and stored.json()["notes"] == "ab"
    assert bad_id.status_code == 422 and surrogate.status_code == 422


def test_a_body_is_not_read_before_the_key_is_checked(live_server: Callable[..., LiveServer]) -> None:
    server = live_server(max_body_bytes=1024)
    with server.client(authenticated=False) as client:
        for path in ("/v1/triage", "/v1/feedback"):
            for body in (b"{not json", b"[]", b"x" * 5000):
                reply = client.post(path, content=body, headers={"content-type": "application/json"})
                assert reply.status_code == 401, (path, body[:10], reply.status_code)
                assert reply.headers["www-authenticate"] == "Bearer"
                assert reply.json()["error"]["type"] == "unauthorized"
        wrong = client.post("/v1/triage", content=b"{", headers={"Authorization": "Bearer llmops_wrong"})
        api = client.get("/api/requests")
        metrics = client.get("/metrics")
    assert wrong.status_code == 401 and api.status_code == 401 and metrics.status_code == 401


def test_a_database_error_is_logged_by_type_never_with_its_parameters(
    live_server: Callable[..., LiveServer], capfd: pytest.CaptureFixture[str]
) -> None:
    server = live_server()
    with server.client() as client:
        request_id = client.post("/v1/triage", json=EMAIL).json()["request_id"]
        engine = make_engine(server.settings.resolved_database_url)
        try:
            with engine.begin() as connection:
                connection.execute(text("DROP TABLE feedback"))
        finally:
            engine.dispose()
        failed = client.post("/v1/feedback", json={"request_id": request_id, "rating": 1, "notes": MARKER})
    with server.client() as client:  # uvicorn closes a connection whose request raised
        listed = client.get("/v1/feedback", params={"prompt_version": MARKER})
    assert failed.status_code == 500 and listed.status_code == 500
    assert failed.json()["error"] == {"type": "internal_error", "message": "internal error"}
    service_lines = [line for line in capfd.readouterr().err.splitlines() if '"logger": "httpx"' not in line]
    logs = "\n".join(service_lines)  # the test's own HTTP client logs the URL it asked for
    assert MARKER not in logs
    errors = [
        json.loads(line) for line in logs.splitlines() if line.startswith("{") and '"unhandled error"' in line
    ]
    assert len(errors) == 2
    assert all(entry["error_type"] in {"OperationalError", "ProgrammingError"} for entry in errors)
    assert "statement: " in errors[0]["exception"] and "parameters" not in errors[0]["exception"]


def test_access_lines_carry_no_query_string() -> None:
    stream = io.StringIO()
    handler = configure_logging("INFO", Redactor(RedactionConfig()), stream)
    try:
        args = ("127.0.0.1:5000", "GET", f"/api/requests?prompt_version={MARKER}", "1.1", 200)
        logging.getLogger("uvicorn.access").info('%s - "%s %s HTTP/%s" %d', *args)
    finally:
        logging.getLogger().removeHandler(handler)
    assert MARKER not in stream.getvalue() and "GET /api/requests HTTP/1.1" in stream.getvalue()


def test_exception_messages_never_reach_the_log_line() -> None:
    stream = io.StringIO()
    handler = configure_logging("INFO", Redactor(RedactionConfig()), stream)
    try:
        try:
            raise ValueError(f"bad value {MARKER}") from KeyError(MARKER)
        except ValueError:
            logging.getLogger("llmops.test").exception("failed")
    finally:
        logging.getLogger().removeHandler(handler)
    entry = json.loads(stream.getvalue())
    assert MARKER not in stream.getvalue()
    assert entry["error_type"] == "ValueError"
    assert "builtins.ValueError" in entry["exception"] and "builtins.KeyError" in entry["exception"]
