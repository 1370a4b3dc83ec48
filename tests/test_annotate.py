"""The annotation page over HTTP, on SQLite and Postgres: it needs a session and a CSRF token, lists the
requests with negative feedback (redacted), stores a label in the database's dataset with the email
rebuilt on the server, and answers bad input with 400/403/404 without echoing it. Labels made on two
replicas land in one dataset, which `llmops eval export` writes for `llmops eval run --dataset`."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from live import LiveServer
from llmops.evals.case_store import stored_cases
from llmops.evals.datasets import load_dataset
from llmops.storage.db import make_engine
from processes import cli_env, run_llmops

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
        form |= {
            "priority_low": "1",
            "priority_high": "2",
            "critical": "1",
            "must_contain": f" bridge {PLANTED_EMAIL} ",
        }
        # The form cannot carry an email: whatever else is posted is ignored.
        saved = client.post("/annotate", data=form | {"email": "x@evil.example"})
        assert saved.status_code == 303
        assert saved.headers["location"] == f"/annotate?dataset=oncall&added={case_id}"
        after = client.get(saved.headers["location"]).text
        assert f"Added {case_id} to oncall" in after and f'data-case-id="{case_id}"' not in after
        assert client.get("/annotate").text.count('data-testid="annotate-case"') == 1  # another dataset

        (case,) = _stored(running, "oncall")
        assert (case.id, case.expected.category, case.expected.priority, case.critical) == (
            case_id,
            "urgent",
            (1, 2),
            True,
        )
        assert case.expected.must_contain == ["bridge [EMAIL]"] and "labelled" in case.tags
        assert case.email is not None and case.email.sender == "Jane Roe <redacted@example.invalid>"
        stored = "".join(case.model_dump_json() for case in _stored(running, "oncall"))
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
    assert _stored(running, "labelled") == []


def _stored(server: LiveServer, name: str) -> list[object]:
    engine = make_engine(server.settings.resolved_database_url)
    try:
        return list(stored_cases(engine, name))
    finally:
        engine.dispose()


def _rated(server: LiveServer, subject: str) -> str:
    with server.client() as client:
        reply = client.post("/v1/triage", json={"email": OUTAGE | {"subject": subject}}).json()
        feedback = {"request_id": reply["request_id"], "rating": -1, "notes": "wrong"}
        assert client.post("/v1/feedback", json=feedback).status_code == 201
    return f"mined-{reply['request_id']}"


def _label(server: LiveServer, case_id: str) -> None:
    with _signed_in(server) as (client, token):
        form = {"csrf_token": token, "dataset": "team", "case_id": case_id, "category": "urgent"}
        form |= {"priority_low": "1", "priority_high": "1"}
        assert client.post("/annotate", data=form).status_code == 303


def test_labels_made_on_two_replicas_export_as_one_dataset_that_runs(
    live_server: Callable[..., LiveServer], tmp_path: Path
) -> None:
    first, second = live_server(), live_server()  # two replicas on one database
    on_first, on_second = _rated(first, "Database down"), _rated(second, "Checkout down")
    _label(first, on_first)
    with _signed_in(second) as (client, _):  # the second replica's queue leaves out the first's label
        page = client.get("/annotate?dataset=team").text
        assert f'data-case-id="{on_first}"' not in page and f'data-case-id="{on_second}"' in page
        assert "1 case so far" in page
    _label(second, on_second)

    env = cli_env(tmp_path, LLMOPS_DATABASE_URL=first.settings.resolved_database_url)
    exported = tmp_path / "team.jsonl"
    result = run_llmops(env, "eval", "export", "team", "--output", str(exported))
    assert result.returncode == 0, result.stderr
    assert [case.id for case in load_dataset(exported).cases] == [on_first, on_second]
    assert PLANTED_EMAIL not in exported.read_text(encoding="utf-8")
    run = run_llmops(env, "eval", "run", "--dataset", str(exported))
    assert run.returncode == 0, run.stderr
    assert "/2)" in run.stdout.split("pass rate", 1)[1].splitlines()[0]  # both cases scored
    assert run_llmops(env, "eval", "export", "nothing-here").returncode == 2
