"""Mining negative feedback into candidate eval cases: worst first, content from the trace, redacted."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from live import LiveServer
from llmops.evals.mining import mine, parse_user_turn
from llmops.feedback.store import FeedbackStore

EMAIL = {
    "sender": "Dana Ops <dana@northwind.example>",
    "recipients": ["me@northwind.example"],
    "subject": "Refund for card 4111 1111 1111 1111",
    "body": "Please refund me. Call 415-555-0132 or write to dana.private@example.com.",
}


def _seed(server: LiveServer) -> None:
    """Five requests; feedback -1 (old, short), -1 (new, long), 0, 0 (short), 1."""
    with server.client() as client:
        for n in range(5):
            assert client.post(
                "/v1/triage", json={"email": EMAIL}, headers={"X-Request-ID": f"r{n}"}
            ).is_success
    server.flush()
    store = FeedbackStore(server.app.state.services.engine)
    now = datetime.now(UTC)
    ratings = [
        ("r0", -1, "wrong", now - timedelta(hours=3)),
        ("r1", -1, "wrong category, mail me at boss@example.com", now - timedelta(hours=1)),
        ("r2", 0, "summary too long for this email", now - timedelta(hours=2)),
        ("r3", 0, None, now - timedelta(hours=2)),
        ("r4", 1, "great", now),
    ]
    for request_id, rating, notes, at in ratings:
        store.upsert(request_id, rating, notes, at)


def test_mined_cases_are_worst_first_with_email_and_bad_output(
    live_server: Callable[..., LiveServer],
) -> None:
    server = live_server()
    _seed(server)
    services = server.app.state.services

    cases = mine(services.engine, services.redactor, limit=10)

    assert [case.id for case in cases] == ["mined-r1", "mined-r0", "mined-r2", "mined-r3"]
    first = cases[0]
    assert first.tags == ["mined", "needs-label"] and first.expected == {} and first.critical is False
    assert first.source.rating == -1 and first.source.prompt_version == "email_triage_v2"
    assert first.source.trace_id is not None and len(first.source.trace_id) == 32
    assert first.source.notes == "wrong category, mail me at [EMAIL]"
    assert first.email is not None
    assert first.email["sender"] == "Dana Ops <[EMAIL]>"
    assert first.email["subject"] == "Refund for card [CREDIT_CARD]"
    assert first.email["body"].startswith("Please refund me.") and "[EMAIL]" in first.email["body"]
    assert first.source.bad_output is not None and '"summary"' in first.source.bad_output
    dumped = "".join(case.model_dump_json() for case in cases)
    for planted in (
        "4111 1111 1111 1111",
        "dana.private@example.com",
        "dana@northwind.example",
        "boss@example",
    ):
        assert planted not in dumped
    assert [c.id for c in mine(services.engine, services.redactor, limit=2)] == ["mined-r1", "mined-r0"]
    recent = mine(services.engine, services.redactor, since=datetime.now(UTC) - timedelta(minutes=90))
    assert [case.id for case in recent] == ["mined-r1"]


def test_no_content_capture_is_said_in_the_case(live_server: Callable[..., LiveServer]) -> None:
    server = live_server(capture_content="none")
    _seed(server)
    services = server.app.state.services

    cases = mine(services.engine, services.redactor)

    assert {case.id for case in cases} == {"mined-r0", "mined-r1", "mined-r2", "mined-r3"}
    assert all(case.email is None and "no-content" in case.tags for case in cases)
    assert all(case.source.bad_output is None and case.source.trace_id for case in cases)


def test_parse_user_turn_strips_the_contact_note_and_keeps_a_multiline_body() -> None:
    turn = (
        "Sender: Sam <[EMAIL]> (known colleague)\nCalendar: none\nPolicy: x\n"
        "Suggested: category=fyi priority=4 (none)\nSubject: Hello (again)\nBody: line one\nSubject: not this\n"
    )
    assert parse_user_turn(turn) == {
        "sender": "Sam <[EMAIL]>",
        "recipients": [],
        "subject": "Hello (again)",
        "body": "line one\nSubject: not this",
    }
