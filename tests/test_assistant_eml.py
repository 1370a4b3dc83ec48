"""Reading .eml files: the CLI's way in. The bundled samples parse, and junk never crashes."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmops.assistant.normalize import parse_email, parse_eml

EML = Path(__file__).resolve().parents[1] / "samples" / "eml"


def test_bundled_eml_samples_are_present() -> None:
    assert sorted(path.name for path in EML.glob("*.eml")) == [
        "meeting-request-de.eml",
        "outage-sev1.eml",
        "phishing-mailbox-quota.eml",
    ]


def test_plain_text_message() -> None:
    email = parse_eml((EML / "outage-sev1.eml").read_bytes())
    assert email.sender == "Daniel Okafor <daniel.okafor@northwind.example>"
    assert email.recipients == ["jordan.reyes@northwind.example"]
    assert email.subject == "SEV1: checkout API down for EU customers"
    assert email.headers["Date"] == "Tue, 01 Dec 2026 09:31:00 +0100"
    assert email.headers["Cc"] == "Priya Raman <priya.raman@northwind.example>"
    assert "Production outage since 09:14 CET" in email.body


def test_multipart_alternative_prefers_the_text_part() -> None:
    email = parse_eml((EML / "meeting-request-de.eml").read_bytes())
    assert email.headers["Content-Type"] == "text/plain"
    assert "<p>" not in email.body
    assert "können wir uns am Donnerstag, 10. Dezember um 14:30 Uhr" in email.body
    parsed = parse_email(email)
    assert [t.start.isoformat() for t in parsed.signals.meeting_times] == ["2026-12-10T14:30:00+01:00"]


def test_html_only_message_falls_back_to_html_and_keeps_link_signals() -> None:
    email = parse_eml((EML / "phishing-mailbox-quota.eml").read_bytes())
    assert email.headers["Content-Type"] == "text/html"
    parsed = parse_email(email)
    assert "your account will be suspended" in parsed.body
    signals = parsed.signals
    assert signals.link_text_mismatch and signals.reply_to_mismatch and signals.auth_failed
    assert signals.credential_request


def test_encoded_headers_are_decoded() -> None:
    raw = (
        b"From: =?utf-8?q?J=C3=BCrgen_M=C3=BCller?= <juergen@example.org>\r\n"
        b"To: jordan.reyes@northwind.example\r\n"
        b"Subject: =?utf-8?b?w5xiZXJ3ZWlzdW5n?=\r\n"
        b"Content-Type: text/plain; charset=latin-1\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\n"
        b"Gr\xfc\xdfe\r\n"
    )
    email = parse_eml(raw)
    assert email.sender == "Jürgen Müller <juergen@example.org>"
    assert email.subject == "Überweisung"
    assert email.body.strip() == "Grüße"


def test_missing_sender_or_recipient_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="From"):
        parse_eml(b"To: a@example.org\r\n\r\nhi")
    with pytest.raises(ValueError, match="recipient"):
        parse_eml(b"From: a@example.org\r\n\r\nhi")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        st.binary(max_size=2000),
        st.builds(
            lambda headers, body: (headers + "\r\n\r\n" + body).encode("utf-8", "surrogatepass"),
            st.text(alphabet='From:To:Subject <>@=?\r\n;bcharset"multipart/alternative-', max_size=300),
            st.text(max_size=300),
        ),
    )
)
def test_arbitrary_bytes_give_an_email_or_a_value_error(data: bytes) -> None:
    with contextlib.suppress(ValueError):
        parse_eml(data)
