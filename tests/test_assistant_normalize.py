"""Normalisation of emails: text extraction, reply chains, signatures, headers and signals."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from llmops.assistant import signals
from llmops.assistant.htmltext import html_to_text, looks_like_html
from llmops.assistant.normalize import clean_text, parse_email, truncate
from llmops.assistant.schema import Email
from llmops.assistant.signals import guess_language, registered_domain
from llmops.assistant.timeexpr import find_times

CET = timezone(timedelta(hours=1))
DATE = "Tue, 01 Dec 2026 09:12:00 +0100"


def email(
    body: str = "Hello", subject: str = "Hi", sender: str = "Ann <ann@example.org>", **headers: str
) -> Email:
    return Email(sender=sender, recipients=["Jordan <jordan.reyes@northwind.example>"], subject=subject,
                 body=body, headers={"Date": DATE, **headers})  # fmt: skip


def test_sender_recipients_and_headers_are_split_and_lowercased() -> None:
    parsed = parse_email(
        email(sender='"Okafor, Daniel" <Daniel.Okafor@Northwind.Example>', **{"X-Priority": "1"})
    )
    assert parsed.sender_name == "Okafor, Daniel"
    assert parsed.sender_address == "daniel.okafor@northwind.example"
    assert parsed.sender_domain == "northwind.example"
    assert parsed.sender_display == "Okafor, Daniel <daniel.okafor@northwind.example>"
    assert parsed.recipients == ["jordan.reyes@northwind.example"]
    assert parsed.headers["x-priority"] == "1"
    assert parsed.internal
    assert parsed.date == datetime(2026, 12, 1, 9, 12, tzinfo=CET)


def test_subject_prefixes_in_several_languages_are_noted_and_removed() -> None:
    parsed = parse_email(email(subject="RE: AW: Fwd: WG:  Budget 2027"))
    assert parsed.subject == "Budget 2027"
    assert parsed.subject_prefixes == ["re", "re", "fwd", "fwd"]
    assert parsed.is_reply and parsed.is_forward


def test_html_body_becomes_text_with_entities_unescaped_and_scripts_dropped() -> None:
    html = (
        "<html><head><style>p{color:red}</style><script>alert('x')</script></head><body>"
        "<p>Caf&eacute; &amp; <b>bar</b>&nbsp;today</p><ul><li>one</li><li>two</li></ul>"
        "<p>Line<br>break</p></body></html>"
    )
    parsed = parse_email(email(html))
    assert parsed.body == "Café & bar today\n\n- one\n- two\n\nLine\nbreak"
    assert "alert" not in parsed.body and "color" not in parsed.body


def test_html_links_keep_text_and_target_and_mismatch_is_flagged() -> None:
    html = '<p>Open <a href="http://198.51.100.7/x">https://sso.northwind.example/login</a> or ' \
           '<a href="https://docs.northwind.example/a">the docs</a></p>'  # fmt: skip
    text, links = html_to_text(html)
    assert "https://sso.northwind.example/login" in text
    assert [(link.href, link.text) for link in links] == [
        ("http://198.51.100.7/x", "https://sso.northwind.example/login"),
        ("https://docs.northwind.example/a", "the docs"),
    ]
    signals = parse_email(email(html)).signals
    assert signals.link_text_mismatch and signals.suspicious_links
    by_url = {link.url: link for link in signals.links}
    assert by_url["http://198.51.100.7/x"].text_mismatch
    assert not by_url["https://docs.northwind.example/a"].text_mismatch
    assert len(signals.links) == 2, "the link text must not be counted again as a plain-text URL"


def test_plain_text_is_not_mistaken_for_html() -> None:
    assert not looks_like_html("if a < b and c > d then")
    assert looks_like_html("<div>hi</div>")


def test_gmail_style_quote_and_signature_are_moved_aside() -> None:
    body = (
        "Hi Jordan,\n\nCould you approve CR-2291 by Wednesday?\n\nThanks,\nLukas\n\n"
        "On Mon, Nov 30, 2026 at 5:12 PM Jordan Reyes <jordan.reyes@northwind.example> wrote:\n"
        "> Looks good overall.\n>\n> Two comments."
    )
    parsed = parse_email(email(body, subject="Re: plan"))
    assert parsed.body == "Hi Jordan,\n\nCould you approve CR-2291 by Wednesday?"
    assert parsed.signature == "Thanks,\nLukas"
    assert parsed.quoted.startswith("On Mon, Nov 30, 2026") and "> Two comments." in parsed.quoted


def test_other_reply_headers_are_recognised() -> None:
    german = (
        "Passt für mich.\n\nAm 30.11.2026 um 17:12 schrieb Jordan <jordan.reyes@northwind.example>:\n> Frage"
    )
    outlook = "Done.\n\nFrom: Jordan Reyes\nSent: Monday, November 30, 2026 5:12 PM\nTo: Lukas\n\nOld text"
    for body, new in ((german, "Passt für mich."), (outlook, "Done.")):
        parsed = parse_email(email(body))
        assert parsed.body == new
        assert parsed.quoted


def test_html_blockquote_is_treated_as_a_quote() -> None:
    html = "<div>Sounds good.</div><div>On Mon, Nov 30 Jordan wrote:<blockquote>old &amp; quoted</blockquote>"
    parsed = parse_email(email(html))
    assert parsed.body == "Sounds good."
    assert "> old & quoted" in parsed.quoted


def test_forwarded_content_stays_in_the_body() -> None:
    body = "FYI, see below.\n\n---------- Forwarded message ---------\nFrom: V <v@x.example>\n\nNew IBAN."
    parsed = parse_email(email(body, subject="Fwd: bank details"))
    assert "New IBAN." in parsed.body
    assert parsed.quoted == ""


def test_dash_dash_signature_delimiter() -> None:
    parsed = parse_email(email("The deploy is done.\n\n-- \nDaniel Okafor\nSRE Lead"))
    assert parsed.body == "The deploy is done."
    assert parsed.signature.startswith("--")


def test_clean_text_normalises_unicode_and_whitespace() -> None:
    raw = "Pay\u200bment   due\t now\r\n\r\n\r\n\r\nＮｅｘｔ ﬁle"
    assert clean_text(raw) == "Payment due now\n\nNext file"


def test_reply_to_on_another_domain_and_failed_authentication() -> None:
    signals = parse_email(
        email(
            sender="Margaret Holt <margaret.holt@northwind-labs.example>",
            **{"Reply-To": "m.holt@mailbox.example", "Authentication-Results": "mx; spf=fail; dmarc=fail"},
        )
    ).signals
    assert signals.reply_to_mismatch and signals.auth_failed
    same = parse_email(
        email(sender="a@mail.northwind.example", **{"Reply-To": "b@northwind.example"})
    ).signals
    assert not same.reply_to_mismatch


def test_request_signals() -> None:
    def signals(text: str):
        return parse_email(email(text)).signals

    assert signals("Your mailbox is full. Sign in to keep your email.").credential_request
    assert signals("Please reply with the MFA code you just received.").credential_request
    assert not signals("Thanks for the password manager demo yesterday.").credential_request
    assert signals("Can you buy 5 Apple gift cards and send me the codes?").gift_card_request
    assert signals("Please pay invoice 42 by bank transfer.").payment_request
    assert signals("Our bank details have changed, new IBAN below.").bank_detail_change
    assert signals("Keep this confidential, I'm in a meeting.").secrecy_request
    assert signals("This is urgent, please act immediately.").urgency_words == ["urgent", "immediately"]
    assert signals("It is not urgent.").urgency_words == []
    attached = signals("See the attached invoice.zip and report.pdf")
    assert attached.attachment_mentioned and attached.risky_attachment
    assert attached.attachment_names == ["invoice.zip", "report.pdf"]
    assert not signals("Log in at https://x.example/login.html").attachment_names


def test_bulk_markers_and_automated_senders() -> None:
    assert parse_email(email(**{"List-Unsubscribe": "<mailto:u@x.example>"})).signals.bulk
    assert parse_email(email("News.\n\nUnsubscribe here: https://x.example/u")).signals.bulk
    assert parse_email(email(sender="no-reply@alerts.northwind.example")).signals.automated
    assert parse_email(email(**{"Auto-Submitted": "auto-replied"})).signals.automated
    assert not parse_email(email()).signals.bulk


def test_language_guess() -> None:
    assert guess_language("Please review the attached plan and let me know what you think of it.") == "en"
    assert (
        guess_language("Können wir uns bitte am Donnerstag treffen? Ich habe eine Frage zu dem Plan.") == "de"
    )
    assert guess_language("¿Podemos vernos el jueves? Gracias por la ayuda con el informe de ventas.") == "es"
    assert (
        guess_language("Merci pour votre message, nous allons regarder le problème dans la journée.") == "fr"
    )
    assert guess_language("OK") == "unknown"


def test_meeting_times_resolve_against_the_date_header() -> None:
    parsed = parse_email(email("Can we meet on Thursday at 3pm? Or Friday, 10:00-11:00 CET works too."))
    starts = [(t.start, t.end) for t in parsed.signals.meeting_times]
    assert starts == [
        (datetime(2026, 12, 3, 15, 0, tzinfo=CET), None),
        (datetime(2026, 12, 4, 10, 0, tzinfo=CET), datetime(2026, 12, 4, 11, 0, tzinfo=CET)),
    ]
    assert parsed.signals.meeting_request


def test_times_outside_meeting_sentences_are_not_proposed() -> None:
    parsed = parse_email(email("Errors started at 09:14 and stopped at 09:40. The rollback fixed it."))
    assert parsed.signals.meeting_times == []


def test_rescheduling_proposes_only_the_new_time() -> None:
    parsed = parse_email(
        email("Could we move the review from Thursday 10:00 to Friday, December 4 at 13:00?")
    )
    assert [t.start for t in parsed.signals.meeting_times] == [datetime(2026, 12, 4, 13, 0, tzinfo=CET)]


def test_find_times_in_four_languages() -> None:
    ref = datetime(2026, 12, 1, 9, 12, tzinfo=CET)

    def first(text: str) -> datetime:
        return find_times(text, ref)[0].start

    assert first("Können wir uns am 3. Dezember um 14 Uhr treffen?") == datetime(
        2026, 12, 3, 14, 0, tzinfo=CET
    )
    assert first("¿Podemos vernos el jueves a las 10:00?") == datetime(2026, 12, 3, 10, 0, tzinfo=CET)
    assert first("On se voit demain à 14h30 ?") == datetime(2026, 12, 2, 14, 30, tzinfo=CET)
    assert first("Guten Morgen! Hast du morgen um 11 Uhr Zeit?") == datetime(2026, 12, 2, 11, 0, tzinfo=CET)
    assert first("How about 2026-12-09 at 9:30am UTC?") == datetime(2026, 12, 9, 9, 30, tzinfo=UTC)
    assert first("Lunch on January 5 at noon?").date().isoformat() == "2027-01-05"
    assert find_times("The error rate was 12.50 percent, version 3.2 shipped.", ref) == []


def test_registered_domain_and_truncate() -> None:
    assert registered_domain("mail.northwind.example") == "northwind.example"
    assert registered_domain("a.b.example.co.uk") == "example.co.uk"
    assert registered_domain("198.51.100.7") == "198.51.100.7"
    assert truncate("short", 10) == "short"
    cut = truncate("one two three four five six", 15)
    assert len(cut) <= 15 and cut.endswith("…")


def test_signal_notes_describe_without_content() -> None:
    parsed = parse_email(
        email("Verify your account now: https://x.example", **{"Reply-To": "z@other.example"})
    )
    notes = parsed.signal_notes()
    assert "Reply-To goes to a different domain than the sender" in notes
    assert not any("x.example" in note for note in notes)


emails = st.builds(
    Email,
    sender=st.emails().map(str),
    recipients=st.lists(st.emails().map(str), min_size=1, max_size=3),
    subject=st.text(max_size=200),
    body=st.one_of(st.text(max_size=2000), st.text(alphabet="<>/ab =\"'&;#pdivhref:.\n>", max_size=2000)),
    headers=st.dictionaries(
        st.sampled_from(["Date", "Reply-To", "List-Unsubscribe", "Content-Type", "Authentication-Results"]),
        st.text(max_size=80),
    ),
)


@settings(max_examples=150, deadline=None)
@given(emails)
def test_parse_email_never_fails_on_valid_emails(value: Email) -> None:
    parsed = parse_email(value)
    assert parsed.sender_address
    assert len(parsed.signals.meeting_times) <= 5


def test_signal_patterns_searched_in_lower_case_hold_no_capital_letter() -> None:
    """The word patterns run on lower-cased text without re.IGNORECASE: a capital letter in one would
    never match, silently."""
    lowered = [
        value
        for value in vars(signals).values()
        if isinstance(value, re.Pattern) and not value.flags & re.IGNORECASE
    ]
    assert len(lowered) >= 10
    for pattern in lowered:
        assert not re.search(r"(?<!\\)[^\W\d_a-zß-ÿ]", re.sub(r"\\.", "", pattern.pattern)), pattern.pattern


def test_signals_found_in_capitalised_mail() -> None:
    signals_of = parse_email(
        Email(
            sender="Chef <ceo@northwind-labs.example>",
            recipients=["me@northwind.example"],
            subject="URGENT: WIRE TRANSFER",
            body="KEEP THIS CONFIDENTIAL. Please make a WIRE TRANSFER to our NEW BANK ACCOUNT today. "
            "Can we MEET on Thursday at 3pm? UNSUBSCRIBE",
        )
    ).signals
    assert signals_of.payment_request and signals_of.bank_detail_change and signals_of.secrecy_request
    assert signals_of.meeting_request and signals_of.bulk
