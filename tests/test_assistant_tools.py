"""The three tools, the runner that never raises, and the deterministic planner."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from llmops.assistant.knowledge import KnowledgeBase
from llmops.assistant.normalize import parse_email
from llmops.assistant.schema import Email
from llmops.assistant.tools import Toolbox, ToolCall, plan_tool_calls

CET = timezone(timedelta(hours=1))


@pytest.fixture(scope="module")
def toolbox() -> Toolbox:
    return Toolbox.bundled()


def parsed(body: str, sender: str = "Mei Chen <mei.chen@northwind.example>", **headers: str):
    return parse_email(
        Email(
            sender=sender,
            recipients=["jordan.reyes@northwind.example"],
            subject="Hello",
            body=body,
            headers={"Date": "Tue, 01 Dec 2026 09:12:00 +0100", **headers},
        )
    )


def test_bundled_data(toolbox: Toolbox) -> None:
    assert len(toolbox.contacts) >= 25
    relationships = {contact.relationship for contact in toolbox.contacts}
    assert {"colleague", "manager", "customer", "vendor", "family", "friend"} <= relationships
    assert toolbox.owner is not None and toolbox.owner.email == "jordan.reyes@northwind.example"
    assert toolbox.events and all(event.start.tzinfo for event in toolbox.events)


def test_lookup_known_contact_case_insensitive(toolbox: Toolbox) -> None:
    result = toolbox.lookup_contact("  Margaret.Holt@NORTHWIND.example ")
    assert result.known and result.vip and result.internal
    assert (result.name, result.relationship) == ("Margaret Holt", "colleague")
    family = toolbox.lookup_contact("sam.reyes@mailbox.example")
    assert family.relationship == "family" and not family.internal


def test_lookup_unknown_and_impersonation(toolbox: Toolbox) -> None:
    stranger = toolbox.lookup_contact("someone@random.example")
    assert not stranger.known and stranger.impersonates is None and stranger.name is None
    by_name = toolbox.lookup_contact("ceo.office@mailbox.example", display_name='"Margaret  Holt"')
    assert by_name.impersonates == "margaret.holt@northwind.example"
    lookalike = toolbox.lookup_contact("billing@northwind-labs.example")
    assert lookalike.impersonates is not None and lookalike.impersonates.endswith("@northwind.example")
    typo = toolbox.lookup_contact("ap@heliosfreigth.example")
    assert typo.impersonates is not None and typo.impersonates.endswith("@heliosfreight.example")
    unknown_colleague = toolbox.lookup_contact("new.hire@northwind.example")
    assert unknown_colleague.internal and unknown_colleague.impersonates is None


@pytest.mark.parametrize(
    "address",
    ["it@n0rthwind.example", "ceo@northvvind.example", "hr@nortwind-hr.example", "ap@he1iosfreight.example"],
)
def test_homoglyph_and_extra_word_domains_imitate_known_organisations(toolbox: Toolbox, address: str) -> None:
    result = toolbox.lookup_contact(address)
    assert result.impersonates is not None and result.lookalike_domain


def test_brands_and_private_mailboxes(toolbox: Toolbox) -> None:
    spoof = toolbox.lookup_contact("no-reply@secure-billing.example", display_name="Microsoft 365 Billing")
    assert spoof.brand_spoof and spoof.impersonates is None
    assert not toolbox.lookup_contact(
        "account@microsoft.com", display_name="Microsoft account team"
    ).brand_spoof
    # the family writes from mailbox.example: a stranger there is a private sender, not a lookalike of Sam
    neighbour = toolbox.lookup_contact("h.becker@mailbox.example", display_name="Helga Becker")
    assert neighbour.personal_domain and neighbour.impersonates is None
    assert toolbox.lookup_contact("someone@gmail.com").personal_domain
    assert not toolbox.lookup_contact("sales@mailboxes-direct.example").impersonates
    assert not toolbox.lookup_contact("someone@random.example").personal_domain


def test_check_calendar_conflict_and_alternatives(toolbox: Toolbox) -> None:
    result = toolbox.check_calendar(datetime(2026, 12, 3, 10, 30, tzinfo=CET))
    assert not result.free
    assert [event.title for event in result.conflicts] == ["Helios Freight quarterly business review"]
    assert result.end - result.start == timedelta(minutes=30)
    assert len(result.alternatives) == 2
    for slot in result.alternatives:
        assert toolbox.check_calendar(slot, slot + timedelta(minutes=30)).free
        assert 9 <= slot.astimezone(CET).hour < 18 and slot.weekday() < 5


def test_check_calendar_free_slot_and_naive_times(toolbox: Toolbox) -> None:
    free = toolbox.check_calendar(
        datetime(2026, 12, 2, 14, 0, tzinfo=CET), datetime(2026, 12, 2, 15, 0, tzinfo=CET)
    )
    assert free.free and free.conflicts == [] and free.alternatives == []
    naive = toolbox.check_calendar(datetime(2026, 12, 10, 14, 30))
    assert naive.start.utcoffset() == timedelta(hours=1), "naive times are read in the calendar's zone"
    assert not naive.free
    utc = toolbox.check_calendar(datetime(2026, 12, 3, 9, 15, tzinfo=UTC))
    assert not utc.free, "10:15 CET is inside the 10:00-11:00 review"


def test_run_returns_json_output(toolbox: Toolbox) -> None:
    result = toolbox.run(ToolCall(id="call_1", name="search_kb", arguments={"query": "gift cards"}))
    assert result.ok and result.call_id == "call_1" and result.name == "search_kb"
    assert result.output["passages"][0]["id"] == "finance-gift-cards"
    calendar = toolbox.run(
        ToolCall(id="call_2", name="check_calendar", arguments={"start": "2026-12-03T10:30:00+01:00"})
    )
    assert calendar.ok and calendar.output["free"] is False
    assert isinstance(calendar.output["start"], str)


def test_run_never_raises(toolbox: Toolbox) -> None:
    unknown = toolbox.run(ToolCall(id="c1", name="delete_mailbox", arguments={}))
    assert unknown.error == "unknown tool 'delete_mailbox'"
    secret = "hunter2-SECRET-VALUE"
    bad = toolbox.run(ToolCall(id="c2", name="check_calendar", arguments={"start": secret}))
    assert bad.error is not None and bad.error.startswith("invalid arguments (start:")
    assert secret not in bad.error, "errors must not echo arguments (they may be email content)"
    missing = toolbox.run(ToolCall(id="c3", name="lookup_contact", arguments={}))
    assert missing.error is not None and "address" in missing.error


def test_run_reports_tool_exceptions() -> None:
    class Broken(KnowledgeBase):
        def search(self, query: str, limit: int = 3):
            raise RuntimeError("database is gone: secret detail")

    toolbox = Toolbox([], [], Broken([]))
    result = toolbox.run(ToolCall(id="x", name="search_kb", arguments={"query": "a"}))
    assert result.error == "tool failed: RuntimeError"


def test_specs_describe_every_tool(toolbox: Toolbox) -> None:
    specs = {spec.name: spec for spec in toolbox.specs()}
    assert set(specs) == {"lookup_contact", "check_calendar", "search_kb"}
    assert specs["check_calendar"].parameters["required"] == ["start"]
    assert specs["lookup_contact"].parameters["properties"]["address"]["type"] == "string"


def test_planner_for_a_benign_email() -> None:
    calls = plan_tool_calls(parsed("Thanks for the notes, all good."))
    assert [(c.id, c.name) for c in calls] == [("call_1", "lookup_contact")]
    assert calls[0].arguments == {"address": "mei.chen@northwind.example", "display_name": "Mei Chen"}


def test_planner_checks_each_proposed_time_up_to_three() -> None:
    body = "Can we meet Monday at 10:00, Tuesday at 11:00, Wednesday at 12:00 or Thursday at 13:00?"
    calls = plan_tool_calls(parsed(body))
    assert [c.name for c in calls] == ["lookup_contact"] + ["check_calendar"] * 3
    assert calls[1].arguments == {"start": "2026-12-07T10:00:00+01:00", "end": None}
    assert len({c.id for c in calls}) == len(calls)


def test_planner_searches_policies_on_risk_signals(toolbox: Toolbox) -> None:
    phishing = parsed(
        "Your mailbox is full. Verify your account at https://login.example/x within 24 hours.",
        sender="IT <it@northwind-helpdesk.example>",
        **{"Reply-To": "x@mailbox.example"},
    )
    calls = plan_tool_calls(phishing)
    assert calls[-1].name == "search_kb"
    query = calls[-1].arguments["query"]
    assert "password" in query
    assert toolbox.run(calls[-1]).output["passages"][0]["id"].startswith("security-")
    wire = plan_tool_calls(
        parsed("Please send an urgent wire transfer of EUR 40,000 today.", sender="x@unknown.example")
    )
    assert wire[-1].name == "search_kb" and "wire transfer" in wire[-1].arguments["query"]
    assert toolbox.run(wire[-1]).output["passages"][0]["id"].startswith("finance-")
