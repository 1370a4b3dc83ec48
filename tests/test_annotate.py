"""The annotation page over HTTP, on SQLite and Postgres: it needs a session and a CSRF token, lists the
requests with negative feedback (redacted), appends a label to `<data_dir>/datasets/<name>.jsonl` with
the email rebuilt on the server, and answers bad input with 400/403/404 without echoing it."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx
import pytest

from live import LiveServer
from llmops.evals.datasets import load_dataset

PLANTED_EMAIL = "jane.roe@contoso-mail.example"
PLANTED_CARD = "4111 1111 1111 1111"
OUTAGE = {
    "sender": f"Jane Roe <{PLANTED_EMAIL}>",
    "recipients": ["oncall@northwind.example"],
    "subject": "Production database down",
    "body": f"Checkout is failing for everyone. Card {PLANTED_CARD} was charged twice. Join the bridge.",
}
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@contextmanager
def _signed_in(server: LiveServer) -> Iterator[tuple[httpx.Client, str]]:
    with httpx.Client(base_url=server.base_url, timeout=60) as client:
        login = client.get("/login")
        token = CSRF.search(login.text).group(1)  # type: ignore[union-attr]
        assert client.post("/login", data={"api_key": server.key, "csrf_token": token}).status_code == 303
        page = client.get("/annotate")
        assert page.status_code == 200
        yield client, CSRF.search(page.text).group(1)  # type: ignore[union-attr]


@pytest.fixture
def server(live_server: Callable[..., LiveServer]) -> tuple[LiveServer, str]:
    running = live_server()
    with running.client() as client:
        reply = client.post("/v1/triage", json={"email": OUTAGE}).json()
        running.flush()
        feedback = {"request_id": reply["request_id"], "rating": -1, "notes": f"urgent! mail {PLANTED_EMAIL}"}
        assert client.post("/v1/feedback", json=feedback).status_code == 201
    return running, f"mined-{reply['request_id']}"


def test_labels_append_to_a_dataset_and_leave_the_queue(server: tuple[LiveServer, str]) -> None:
    running, case_id = server
    assert httpx.get(f"{running.base_url}/annotate").headers["location"].startswith("/login")
    with _signed_in(running) as (client, token):
        page = client.get("/annotate").text
        assert case_id in page and "Production database down" in page and "redacted@example.invalid" in page
        assert PLANTED_EMAIL not in page and PLANTED_CARD not in page and "urgent! mail [EMAIL]" in page

        form = {"csrf_token": token, "dataset": "oncall", "case_id": case_id, "category": "urgent"}
        form |= {"priority_low": "1", "priority_high": "2", "critical": "1", "must_contain": " bridge "}
        # The form cannot carry an email: whatever else is posted is ignored.
        saved = client.post("/annotate", data=form | {"email": "x@evil.example"})
        assert saved.status_code == 303
        assert saved.headers["location"] == f"/annotate?dataset=oncall&added={case_id}"
        after = client.get(saved.headers["location"]).text
        assert f"Added {case_id} to oncall" in after and f'data-case-id="{case_id}"' not in after
        assert client.get("/annotate").text.count('data-testid="annotate-case"') == 1  # another dataset

        dataset = load_dataset(running.settings.data_dir / "datasets" / "oncall.jsonl")
        (case,) = dataset.cases
        assert (case.id, case.expected.category, case.expected.priority, case.critical) == (
            case_id,
            "urgent",
            (1, 2),
            True,
        )
        assert case.expected.must_contain == ["bridge"] and "labelled" in case.tags
        assert case.email is not None and case.email.sender == "Jane Roe <redacted@example.invalid>"
        stored = (running.settings.data_dir / "datasets" / "oncall.jsonl").read_text(encoding="utf-8")
        assert PLANTED_EMAIL not in stored and PLANTED_CARD not in stored and "evil" not in stored
        again = client.post("/annotate", data=form)
        assert again.status_code == 404 and "not waiting for a label" in again.text


def test_bad_posts_are_refused_without_echoing_them(server: tuple[LiveServer, str]) -> None:
    running, case_id = server
    form = {"dataset": "labelled", "case_id": case_id, "category": "urgent"}
    form |= {"priority_low": "1", "priority_high": "2"}
    with _signed_in(running) as (client, token):
        assert client.post("/annotate", data=form).status_code == 403
        assert client.post("/annotate", data=form | {"csrf_token": "forged"}).status_code == 403
        for changes, status, says in (
            ({"category": "lunch<script>"}, 400, "category: one of urgent"),
            ({"priority_low": "4", "priority_high": "2"}, 400, "priority: give N or LOW-HIGH"),
            ({"priority_low": "9x"}, 400, "priority: give N or LOW-HIGH"),
            ({"dataset": "../../etc/passwd"}, 400, "dataset names are lowercase"),
            ({"case_id": "mined-nope<b>"}, 404, "not waiting for a label"),
        ):
            reply = client.post("/annotate", data=form | {"csrf_token": token} | changes)
            assert reply.status_code == status and says in reply.text, (changes, reply.status_code)
            for value in changes.values():
                assert len(value) < 4 or value not in reply.text
        assert client.get("/annotate?dataset=Bad/Name").status_code == 400
    assert not (running.settings.data_dir / "datasets").exists()
