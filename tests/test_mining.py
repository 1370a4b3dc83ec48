"""Mining negative feedback into candidate eval cases: worst first, content from the trace, redacted,
and loadable as written: masked addresses become placeholders on example.invalid, never the originals."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from live import LiveServer
from llmops.assistant.schema import Email
from llmops.evals.datasets import load_dataset
from llmops.evals.mining import mine, parse_user_turn, strip_contact_note, write_jsonl
from llmops.evals.placeholders import UNKNOWN_RECIPIENT, UNKNOWN_SENDER, case_email, placeholder_sender
from llmops.feedback.store import FeedbackStore
from llmops.redaction import RedactionConfig, Redactor

EMAIL = {
    "sender": "Dana Ops <dana@northwind.example>",
    "recipients": ["me@northwind.example"],
    "subject": "Refund for card 4111 1111 1111 1111",
    "body": "Please refund me. Call 415-555-0132 or write to dana.private@example.com.",
}
PLANTED = ("4111 1111 1111 1111", "dana.private@example.com", "dana@northwind.example", "boss@example")
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _seed(server: LiveServer) -> dict[str, object]:
    """Five requests; feedback -1 (old, short), -1 (new, long), 0, 0 (short), 1. Returns the triage
    the caller received."""
    with server.client() as client:
        for n in range(5):
            reply = client.post("/v1/triage", json={"email": EMAIL}, headers={"X-Request-ID": f"r{n}"})
            assert reply.is_success
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
    triage: dict[str, object] = reply.json()["triage"]
    return triage


def test_mined_cases_are_worst_first_with_email_and_bad_output(
    live_server: Callable[..., LiveServer], tmp_path: Path
) -> None:
    server = live_server()
    replied = _seed(server)
    services = server.app.state.services

    cases = mine(services.engine, services.redactor, limit=10)

    assert [case.id for case in cases] == ["mined-r1", "mined-r0", "mined-r2", "mined-r3"]
    first = cases[0]
    assert first.tags == ["mined", "needs-label"] and first.needs_label and first.critical is False
    assert first.expected.model_dump(exclude_defaults=True) == {}
    assert first.source is not None and first.source.rating == -1
    assert first.source.prompt_version == "email_triage_v2"
    assert first.source.trace_id is not None and len(first.source.trace_id) == 32
    assert first.source.notes == "wrong category, mail me at [EMAIL]"
    assert first.email is not None
    # The masked address is a placeholder on a reserved domain; recipients are not captured on spans.
    assert first.email.sender == "Dana Ops <redacted@example.invalid>"
    assert first.email.recipients == [UNKNOWN_RECIPIENT]
    assert first.email.subject == "Refund for card [CREDIT_CARD]"
    assert first.email.body.startswith("Please refund me.") and "[EMAIL]" in first.email.body
    # The bad output is the reply the caller received.
    assert first.source.bad_output is not None and json.loads(first.source.bad_output) == replied

    # Written and read back: the file loads as a dataset as written, every case waiting for a label.
    path = tmp_path / "mined.jsonl"
    with path.open("w", encoding="utf-8") as stream:
        assert write_jsonl(cases, stream) == 4
    loaded = load_dataset(path)
    assert [case.id for case in loaded.unlabelled] == [case.id for case in cases] and not loaded.scored
    assert loaded.case("mined-r1") == first
    text = path.read_text(encoding="utf-8")
    for planted in PLANTED:
        assert planted not in text
    assert [c.id for c in mine(services.engine, services.redactor, limit=2)] == ["mined-r1", "mined-r0"]
    recent = mine(services.engine, services.redactor, since=datetime.now(UTC) - timedelta(minutes=90))
    assert [case.id for case in recent] == ["mined-r1"]


def test_no_content_capture_is_said_in_the_case(
    live_server: Callable[..., LiveServer], tmp_path: Path
) -> None:
    server = live_server(capture_content="none")
    _seed(server)
    services = server.app.state.services

    cases = mine(services.engine, services.redactor)

    assert {case.id for case in cases} == {"mined-r0", "mined-r1", "mined-r2", "mined-r3"}
    assert all(case.email is None and "no-content" in case.tags for case in cases)
    assert all(case.source and case.source.bad_output is None and case.source.trace_id for case in cases)
    stream = io.StringIO()
    write_jsonl(cases, stream)
    (tmp_path / "bare.jsonl").write_text(stream.getvalue(), encoding="utf-8")
    assert len(load_dataset(tmp_path / "bare.jsonl").unlabelled) == 4


def test_parse_user_turn_strips_the_contact_note_and_keeps_a_multiline_body() -> None:
    turn = (
        "Sender: Sam <[EMAIL]> (Known contact: Sam Lee, CFO at Northwind (colleague, VIP).)\n"
        "Calendar: none\nPolicy: x\n"
        "Suggested: category=fyi priority=4 (none)\nSubject: Hello (again)\nBody: line one\nSubject: not this\n"
    )
    assert parse_user_turn(turn) == {
        "sender": "Sam <[EMAIL]>",
        "subject": "Hello (again)",
        "body": "line one\nSubject: not this",
    }


def test_masked_addresses_become_placeholders_and_nothing_is_restored() -> None:
    keyed = Redactor(RedactionConfig(hmac_key=SecretStr("k")))
    masked = keyed.redact("Dana <dana@northwind.example>")
    assert placeholder_sender(masked).endswith("@example.invalid>") and "dana@" not in placeholder_sender(
        masked
    )
    assert placeholder_sender(masked) == placeholder_sender(keyed.redact("Dana <dana@northwind.example>"))
    assert placeholder_sender(masked) != placeholder_sender(keyed.redact("Dana <other@northwind.example>"))
    assert placeholder_sender("") == UNKNOWN_SENDER
    assert placeholder_sender("Dana Ops") == f"Dana Ops <{UNKNOWN_SENDER}>"
    assert placeholder_sender("[PHONE]") == f"[PHONE] <{UNKNOWN_SENDER}>"
    assert case_email("x" * 400, "s" * 2000, "b").subject == "s" * 1000


NO_NEWLINE = st.characters(blacklist_characters="\n", blacklist_categories=("Cs",))
PLAIN = st.text(st.characters(blacklist_characters="\n()", blacklist_categories=("Cs",)), max_size=12)
BALANCED = st.recursive(
    PLAIN, lambda inner: st.tuples(inner, inner, inner).map("{0[0]}({0[1]}){0[2]}".format)
)
LINE = st.text(NO_NEWLINE, max_size=40).map(str.strip)


@PROPERTY
@given(sender=LINE.filter(bool), contact=BALANCED, subject=LINE, body=st.text(max_size=80))
def test_a_rendered_user_turn_parses_back(sender: str, contact: str, subject: str, body: str) -> None:
    """Whatever the sender, the subject, the body and a contact note with nested parentheses, the user
    turn the prompt template renders (`Sender: {sender} ({contact})` …) parses back to them."""
    body = body.rstrip("\n")
    turn = (
        f"Sender: {sender} ({contact})\nCalendar: no meeting times mentioned\n"
        f"Suggested: category=fyi priority=4 (no signal (none))\nSubject: {subject}\nBody: {body}\n"
    )
    assert parse_user_turn(turn) == {"sender": sender, "subject": subject, "body": body}
    assert strip_contact_note(f"{sender} ({contact})") == sender


@PROPERTY
@given(
    text=st.lists(st.one_of(st.text(max_size=15), st.emails()), max_size=4).map(" ".join),
    keyed=st.booleans(),
)
def test_any_redacted_sender_becomes_a_valid_placeholder(text: str, keyed: bool) -> None:
    """A redacted sender, whatever it held, gives an `Email` that validates, with no masked address left
    and nothing the redactor masked brought back."""
    redactor = Redactor(RedactionConfig(hmac_key=SecretStr("k"))) if keyed else Redactor()
    masked = redactor.redact(text)
    email = case_email(masked, "subject", "body")
    assert Email.model_validate(email.model_dump()) == email
    assert "[EMAIL" not in email.sender
    assert all(
        address not in email.sender for address in text.split() if "@" in address and "@" not in masked
    )
