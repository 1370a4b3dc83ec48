"""Feedback over HTTP, on SQLite and Postgres: the replace rule, 404/422, redaction, joins, pagination."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select

from live import LiveServer
from llmops.storage.tables import feedback, requests

EMAIL = {
    "email": {
        "sender": "Dana Ops <dana@northwind.example>",
        "recipients": ["me@northwind.example"],
        "subject": "Production database down - checkout failing",
        "body": "Checkout is failing for all customers. Please join the incident bridge now.",
    }
}
PLANTED = "wrong category; reach me at carol.secret@example.com, card 4111 1111 1111 1111"


def _triage(server: LiveServer, request_id: str | None = None) -> str:
    headers = {"X-Request-ID": request_id} if request_id else {}
    with server.client() as client:
        response = client.post("/v1/triage", json=EMAIL, headers=headers)
    assert response.status_code == 200, response.text
    return str(response.json()["request_id"])


def test_first_feedback_is_201_and_a_repeat_replaces_it(live_server: Callable[..., LiveServer]) -> None:
    server = live_server()
    request_id = _triage(server)
    with server.client() as client:
        # No flush: the request row may not be stored yet; the route flushes before answering 404.
        first = client.post("/v1/feedback", json={"request_id": request_id, "rating": -1, "notes": "bad"})
        second = client.post("/v1/feedback", json={"request_id": request_id, "rating": 1})
        third = client.post("/v1/feedback", json={"request_id": request_id, "rating": 0, "notes": "meh"})
    assert first.status_code == 201, first.text
    assert first.json()["revisions"] == 0 and first.json()["notes"] == "bad"
    assert second.status_code == 200 and third.status_code == 200
    assert second.json()["rating"] == 1 and second.json()["notes"] is None
    stored = third.json()
    assert (stored["rating"], stored["notes"], stored["revisions"]) == (0, "meh", 2)
    assert stored["created_at"] == first.json()["created_at"]
    assert stored["updated_at"] > first.json()["updated_at"]
    with server.app.state.services.engine.connect() as connection:
        assert len(connection.execute(select(feedback)).all()) == 1


def test_unknown_request_is_404_and_bad_bodies_are_422(live_server: Callable[..., LiveServer]) -> None:
    server = live_server()
    request_id = _triage(server)
    with server.client() as client:
        unknown = client.post("/v1/feedback", json={"request_id": "no-such-request", "rating": 1})
        bad_rating = client.post("/v1/feedback", json={"request_id": request_id, "rating": 2})
        bool_rating = client.post("/v1/feedback", json={"request_id": request_id, "rating": True})
        extra = client.post("/v1/feedback", json={"request_id": request_id, "rating": 1, "stars": 5})
        long_notes = client.post(
            "/v1/feedback", json={"request_id": request_id, "rating": 1, "notes": "x" * 4001}
        )
        unauthenticated = server.client(authenticated=False).post(
            "/v1/feedback", json={"request_id": request_id, "rating": 1}
        )
    assert unknown.status_code == 404
    assert unknown.json()["error"]["type"] == "not_found"
    assert "no request with this request_id" in unknown.json()["error"]["message"]
    for response, field in [
        (bad_rating, "rating"),
        (bool_rating, "rating"),
        (extra, "stars"),
        (long_notes, "notes"),
    ]:
        assert response.status_code == 422, response.text
        assert [f["field"] for f in response.json()["error"]["fields"]] == [field]
    assert unauthenticated.status_code == 401


def test_notes_are_stored_redacted(live_server: Callable[..., LiveServer]) -> None:
    server = live_server()
    request_id = _triage(server)
    with server.client() as client:
        response = client.post(
            "/v1/feedback", json={"request_id": request_id, "rating": -1, "notes": PLANTED}
        )
    assert response.status_code == 201
    assert "[EMAIL]" in response.json()["notes"] and "[CREDIT_CARD]" in response.json()["notes"]
    with server.app.state.services.engine.connect() as connection:
        [notes] = connection.execute(select(feedback.c.notes)).scalars()
    assert "[EMAIL]" in notes and "[CREDIT_CARD]" in notes
    assert "carol.secret@example.com" not in notes and "4111 1111 1111 1111" not in notes
    assert "4111111111111111" not in notes


def test_list_joins_requests_filters_and_paginates(live_server: Callable[..., LiveServer]) -> None:
    server = live_server()
    ids = [_triage(server, f"req-{n}") for n in range(5)]
    server.flush()
    with server.client() as client:
        for n, request_id in enumerate(ids):
            rating = -1 if n % 2 == 0 else 1
            assert (
                client.post("/v1/feedback", json={"request_id": request_id, "rating": rating}).status_code
                == 201
            )
        negative = client.get("/v1/feedback", params={"rating": -1})
        other_version = client.get("/v1/feedback", params={"prompt_version": "email_triage_v1"})
        recent = client.get("/v1/feedback", params={"since": "1h"})
        pages, cursor = [], None
        while True:
            params: dict[str, str | int] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            page = client.get("/v1/feedback", params=params)
            assert page.status_code == 200, page.text
            pages.append([item["request_id"] for item in page.json()["items"]])
            cursor = page.json()["next_cursor"]
            if cursor is None:
                break
        bad_since = client.get("/v1/feedback", params={"since": "soon"})
        bad_cursor = client.get("/v1/feedback", params={"cursor": "not-a-cursor"})
        bad_limit = client.get("/v1/feedback", params={"limit": 0})
    assert negative.status_code == 200
    items = negative.json()["items"]
    assert [item["request_id"] for item in items] == ["req-4", "req-2", "req-0"]
    with server.app.state.services.engine.connect() as connection:
        trace_ids = dict(connection.execute(select(requests.c.request_id, requests.c.trace_id)).all())
    for item in items:
        assert item["prompt_version"] == "email_triage_v2"
        assert (item["model"], item["provider"]) == ("scripted-1", "scripted")
        assert item["trace_id"] == trace_ids[item["request_id"]] and len(item["trace_id"]) == 32
        assert item["request_created_at"] is not None and item["category"]
    assert other_version.json()["items"] == []
    assert len(recent.json()["items"]) == 5
    assert pages == [["req-4", "req-3"], ["req-2", "req-1"], ["req-0"]]
    assert bad_since.status_code == 422 and "since" in bad_since.json()["error"]["message"]
    assert "soon" not in bad_since.json()["error"]["message"]
    assert bad_cursor.status_code == 422 and "cursor" in bad_cursor.json()["error"]["message"]
    assert bad_limit.status_code == 422
