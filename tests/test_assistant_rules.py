"""The rule-based fallback: accuracy on the samples, and the shape of what it writes."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from llmops.assistant.category_model import CategoryModel
from llmops.assistant.normalize import ParsedEmail, parse_email
from llmops.assistant.rules import TriageContext, rule_based_triage, rule_suggestion
from llmops.assistant.schema import Category, Email, Triage
from llmops.assistant.tools import Toolbox, ToolResult, plan_tool_calls
from llmops.evals.datasets import bundled_dataset_path, load_dataset

SAMPLES = Path(__file__).resolve().parents[1] / "samples" / "emails.jsonl"
CATEGORY_FLOOR = 0.85
PRIORITY_FLOOR = 0.75
DEV_CATEGORY_FLOOR = 0.95


@cache
def toolbox() -> Toolbox:
    return Toolbox.bundled()


def samples() -> list[dict[str, Any]]:
    return [json.loads(line) for line in SAMPLES.read_text("utf-8").splitlines() if line.strip()]


def triage(email: Email) -> tuple[ParsedEmail, TriageContext, Triage]:
    parsed = parse_email(email)
    results = [toolbox().run(call) for call in plan_tool_calls(parsed)]
    passages = toolbox().knowledge.search(f"{parsed.subject} {parsed.body[:400]}", limit=2)
    context = TriageContext.from_results(passages=passages, tool_results=results, owner_name="Jordan Reyes")
    return parsed, context, rule_based_triage(parsed, context)


@cache
def outcomes() -> list[tuple[dict[str, Any], Triage]]:
    return [(sample, triage(Email.model_validate(sample["email"]))[2]) for sample in samples()]


def test_category_accuracy_on_samples_meets_the_floor() -> None:
    results = outcomes()
    correct = [s["id"] for s, t in results if t.category.value == s["expected"]["category"]]
    accuracy = len(correct) / len(results)
    wrong = sorted({s["id"] for s, _ in results} - set(correct))
    assert accuracy >= CATEGORY_FLOOR, f"accuracy {accuracy:.0%}, wrong: {wrong}"


def test_priority_within_expected_range_meets_the_floor() -> None:
    results = outcomes()
    inside = [
        s for s, t in results if s["expected"]["priority"][0] <= t.priority <= s["expected"]["priority"][1]
    ]
    assert len(inside) / len(results) >= PRIORITY_FLOOR


@pytest.mark.parametrize("sample", samples(), ids=lambda sample: sample["id"])
def test_every_sample_gets_a_complete_valid_triage(sample: dict[str, Any]) -> None:
    parsed, _, result = triage(Email.model_validate(sample["email"]))
    Triage.model_validate(result.model_dump())
    assert 0 < len(result.summary) <= 200
    assert len(result.action_items) <= 6
    if result.category is Category.SPAM:
        assert result.draft_reply == "", "never draft a reply to spam or phishing"
    if parsed.signals.bulk:
        assert result.draft_reply == ""


def by_id(sample_id: str) -> Triage:
    return next(t for s, t in outcomes() if s["id"] == sample_id)


def test_phishing_gets_protective_steps_only() -> None:
    result = by_id("fraud-ceo-wire-transfer")
    assert result.category is Category.SPAM and result.priority == 2
    assert result.summary.startswith("Suspected phishing:")
    assert any("security@northwind.example" in item for item in result.action_items)
    assert not any("wire" in item.lower() for item in result.action_items)


def test_calendar_clash_proposes_alternatives_in_the_senders_language() -> None:
    result = by_id("meeting-request-clash-de")
    assert result.category is Category.ACTION_REQUIRED
    assert any("clashes with 'Board meeting prep" in item for item in result.action_items)
    assert result.draft_reply.startswith("Hallo Lukas,")
    assert "10.12. um 14:30 Uhr" in result.draft_reply and result.draft_reply.endswith("Viele Grüße\nJordan")


def test_free_slot_is_accepted() -> None:
    result = by_id("meeting-request-roadmap-free")
    assert any(item.startswith("Accept the meeting on Wed 02 Dec 14:00") for item in result.action_items)
    assert "Wed 02 Dec, 14:00 works for me" in result.draft_reply


def test_family_emergency_is_personal_and_top_priority() -> None:
    result = by_id("family-emergency-hospital")
    assert (result.category, result.priority) == (Category.PERSONAL, 1)


def test_vip_customer_outage_is_urgent() -> None:
    result = by_id("customer-escalation-helios-vip")
    assert (result.category, result.priority) == (Category.URGENT, 1)
    assert any("cs-escalations@northwind.example" in item for item in result.action_items)


def test_card_numbers_trigger_the_pii_step() -> None:
    result = by_id("customer-card-number-fr")
    assert any(item.startswith("Do not forward the card details") for item in result.action_items)


def test_context_collects_tool_results_and_survives_failures() -> None:
    box = toolbox()
    good = box.run(plan_tool_calls(parse_email(Email.model_validate(samples()[0]["email"])))[0])
    failed = ToolResult(call_id="call_2", name="check_calendar", error="tool failed: TimeoutError")
    malformed = ToolResult(call_id="call_3", name="search_kb", output={"passages": "nope"})
    context = TriageContext.from_results(tool_results=[good, failed, malformed])
    assert context.contact is not None and context.contact.known
    assert context.failed_tools == ["check_calendar", "search_kb"]
    assert context.describe_contact().startswith("Known contact: Daniel Okafor")
    assert context.describe_calendar() == "No meeting time proposed."


def test_rules_work_without_any_tool_results() -> None:
    email = Email(
        sender="x@unknown.example", recipients=["jordan.reyes@northwind.example"], subject="", body=""
    )
    result = rule_based_triage(parse_email(email), TriageContext())
    assert result.summary and result.category in Category
    assert TriageContext().describe_contact() == "Sender could not be looked up."


def test_describe_for_prompts() -> None:
    sample = next(s for s in samples() if s["id"] == "fraud-gift-cards-ceo")
    parsed, context, _ = triage(Email.model_validate(sample["email"]))
    assert "WARNING: imitates the known contact margaret.holt@northwind.example" in context.describe_contact()
    suggestion = rule_suggestion(parsed, context)
    reasons = suggestion.reason
    assert suggestion.triage == rule_based_triage(parsed, context)
    assert "asks for gift cards" in reasons
    assert "Apple" not in reasons, "reasons describe signals, not content"
    clash = next(s for s in samples() if s["id"] == "meeting-request-clash-maison-verte")
    _, clash_context, _ = triage(Email.model_validate(clash["email"]))
    assert clash_context.describe_calendar().startswith("Thu 03 Dec 10:30: busy ('Helios Freight")


def test_the_suggestion_on_the_dev_split_keeps_the_floor_and_misses_nothing_dangerous() -> None:
    """The split the rules are tuned on and the text model is trained on (never the sealed test split,
    which only the benchmark reads): the category the default setup files, rules and model fused."""
    cases = load_dataset(bundled_dataset_path("email_triage_dev")).cases
    model = CategoryModel.bundled()
    results = []
    for case in cases:
        parsed, context, _ = triage(case.email)
        results.append((case, rule_suggestion(parsed, context, model).triage))
    right = sum(result.category is case.expected.category for case, result in results)
    dangerous = [
        case.id for case, result in results if case.critical and result.category is not case.expected.category
    ]
    assert right / len(cases) >= DEV_CATEGORY_FLOOR
    assert dangerous == []


@pytest.mark.parametrize(
    ("sender", "headers", "subject", "body", "expected"),
    [
        (  # a known vendor's real address, but spoofed: authentication failed, replies go elsewhere
            "Jonas Krüger <j.krueger@printworks.example>",
            {
                "Authentication-Results": "mx; spf=fail; dmarc=fail",
                "Reply-To": "billing@printworks-pay.example",
            },
            "Open balance",
            "Hello, our bank account has changed. Please pay the open invoice to the new IBAN today.",
            Category.SPAM,
        ),
        (  # an outage in French from a colleague who also asks for something
            "Claire Dubois <claire.dubois@northwind.example>",
            {},
            "Le portail client est en panne",
            "Jordan, le portail est indisponible depuis 8 h pour tous les clients. Tu peux regarder ?",
            Category.URGENT,
        ),
        (  # the same alert system, resolved
            "Northwind Alerts <no-reply@alerts.northwind.example>",
            {"Auto-Submitted": "auto-generated"},
            "[RESOLVED] api error rate critical",
            "The alert api_error_rate is resolved. Error rate back to normal at 0.1 %.",
            Category.FYI,
        ),
        (  # a stranger on a family member's mail provider, about private life
            "Helga Becker <h.becker@mailbox.example>",
            {},
            "Ihr Paket",
            "Hallo Herr Reyes, ich habe ein Paket für Sie angenommen. Holen Sie es gern am Wochenende ab.",
            Category.PERSONAL,
        ),
        (  # an alert's shape: a monitoring sender, a firing state and a severity field, in production
            "Checkly <notify@checkly-mail.example>",
            {"Auto-Submitted": "auto-generated"},
            "Check failed: public API",
            "State: failing\nSeverity: high\nEnvironment: production\nLocation: eu-west-1",
            Category.URGENT,
        ),
        (  # the same shape at warning level is noise
            "Checkly <notify@checkly-mail.example>",
            {"Auto-Submitted": "auto-generated"},
            "Check degraded: public API",
            "State: failing\nSeverity: warning\nEnvironment: production\nLocation: eu-west-1",
            Category.FYI,
        ),
        (  # and so is a firing alert on a staging system
            "Alertmanager <alertmanager@observability.northwind.example>",
            {"Auto-Submitted": "auto-generated"},
            "[FIRING:1] QueueDepthHigh",
            "severity = critical\nenvironment = staging\nqueue = invoices",
            Category.FYI,
        ),
        (  # severity and state as the cells of an HTML table
            "Monitoring <monitoring@observability.northwind.example>",
            {"Content-Type": "text/html"},
            "Alerta: pasarela de pagos",
            "<html><body><table><tr><td>Estado</td><td>activa</td></tr><tr><td>Severidad</td>"
            "<td>crítica</td></tr><tr><td>Entorno</td><td>producción</td></tr></table></body></html>",
            Category.URGENT,
        ),
        (  # a system beside a negation, now, and customers feel it: no outage word at all
            "Carmen Ruiz <carmen.ruiz@northwind.example>",
            {},
            "terminals in the Valencia stores",
            "Since opening time none of the terminals in the Valencia stores print receipts, customers are queuing.",
            Category.URGENT,
        ),
        (  # an all-clear that asks for something is a request
            "Ana Souza <ana.souza@bluefinretail.example>",
            {},
            "after yesterday",
            "Thanks, everything has been back to normal since last night. Could you send us the timeline by Friday?",
            Category.ACTION_REQUIRED,
        ),
        (  # money asked from a "new number" of someone who is not in the contacts
            "Mia <mia.reyes.2012@gmail.com>",
            {},
            "it's me, new number",
            "Hi dad, my phone broke and this is my new email. Can you do a bank transfer of 450 euros today?",
            Category.SPAM,
        ),
        (  # a doctor's practice asking to book an appointment is private life, not a work meeting
            "Praxis Dr. Lindner <empfang@praxis-lindner.example>",
            {},
            "Ihre Befunde",
            "Guten Tag, Ihre Laborwerte sind da. Können Sie am Donnerstag um 9 Uhr in die Praxis kommen?",
            Category.PERSONAL,
        ),
    ],
)
def test_signals_that_carry_over(
    sender: str, headers: dict[str, str], subject: str, body: str, expected: Category
) -> None:
    email = Email(
        sender=sender,
        recipients=["jordan.reyes@northwind.example"],
        subject=subject,
        body=body,
        headers=headers,
    )
    assert triage(email)[2].category is expected
