"""Filling a model triage: usable model text is kept, the rest comes from the composer, and the
provenance says which is which."""

from __future__ import annotations

import json

from live import SAMPLES
from llmops.assistant.fill import fill_text
from llmops.assistant.knowledge import KnowledgeBase
from llmops.assistant.normalize import parse_email
from llmops.assistant.pipeline import build_context, retrieve_policies
from llmops.assistant.rules import rule_based_triage
from llmops.assistant.schema import Category, Email, Triage
from llmops.assistant.textquality import copy_ratio, repetition_ratio
from llmops.assistant.tools import Toolbox, plan_tool_calls

ROWS = {row["id"]: row for row in map(json.loads, (SAMPLES / "emails.jsonl").read_text().splitlines())}
PREFILL = '{"category": "urgent", "priority": 1, "summary": "'


def setting(sample_id: str):  # type: ignore[no-untyped-def]
    knowledge = KnowledgeBase.bundled()
    toolbox = Toolbox.bundled(knowledge)
    parsed = parse_email(Email.model_validate(ROWS[sample_id]["email"]))
    results = [toolbox.run(call) for call in plan_tool_calls(parsed)]
    context = build_context(retrieve_policies(knowledge, parsed), results, toolbox.owner.name)
    return parsed, context, rule_based_triage(parsed, context)


def test_ratios_tell_loops_and_pastes_from_prose() -> None:
    loop = "I'm going to roll them back to the previous status page. " * 5
    assert (
        repetition_ratio(loop) > 0.7
        and repetition_ratio("Daniel declared a SEV1 outage of the EU gateway.") == 0
    )
    body = "Since 09:14 CET the EU API gateway returns 502 for roughly 40% of requests."
    assert copy_ratio(body, body) == 1.0
    assert copy_ratio("The EU gateway has failed a third of its requests since morning.", body) == 0.0


def test_looping_or_missing_model_text_is_filled_by_the_composer() -> None:
    parsed, context, suggestion = setting("outage-api-gateway-502")
    assert suggestion.category is Category.URGENT
    model = Triage(
        category="urgent", priority=1, summary="I'm going to roll them back to the status page. " * 5
    )

    filled = fill_text(parsed, context, model, suggestion, PREFILL)

    assert filled.provenance == dict.fromkeys(
        ["category", "priority", "summary", "action_items", "draft_reply"], "rules"
    )
    assert (filled.summary, filled.action_items, filled.draft_reply) == (
        suggestion.summary, suggestion.action_items, suggestion.draft_reply,
    )  # fmt: skip
    assert filled.action_items and filled.draft_reply


def test_usable_model_text_is_kept_and_marked() -> None:
    parsed, context, suggestion = setting("outage-api-gateway-502")
    model = Triage(
        category="urgent",
        priority=1,
        summary="Daniel declared a SEV1: the EU gateway fails many requests and asks you to join the bridge.",
        action_items=["Join the incident bridge now"],
        draft_reply="Hi Daniel, joining the bridge now.",
    )

    filled = fill_text(parsed, context, model, suggestion, PREFILL)

    assert filled.provenance == {
        "category": "rules", "priority": "rules", "summary": "model", "action_items": "model", "draft_reply": "model",
    }  # fmt: skip
    assert filled.model_dump(exclude={"provenance"}) == model.model_dump(exclude={"provenance"})


def test_a_summary_repeating_the_prompts_example_is_replaced() -> None:
    parsed, context, suggestion = setting("outage-api-gateway-502")
    example = '{"summary": "Sam asks for a review of the Q3 budget by Friday.", "action_items": []}'
    model = Triage(
        category="urgent", priority=1, summary="Daniel asks for a review of the Q3 budget by Friday."
    )

    assert fill_text(parsed, context, model, suggestion, PREFILL).provenance["summary"] == "model"
    assert fill_text(parsed, context, model, suggestion, PREFILL, example).provenance["summary"] == "rules"


def test_spam_never_keeps_the_models_draft_or_steps() -> None:
    parsed, context, suggestion = setting("fraud-ceo-wire-transfer")
    model = Triage(
        category="spam", priority=2, summary="A wire transfer request from the CEO.",
        action_items=["Send the wire today"], draft_reply="Sure, sending it now.",
    )  # fmt: skip

    filled = fill_text(parsed, context, model, suggestion, None)

    assert (filled.draft_reply, filled.action_items) == ("", suggestion.action_items)
    assert filled.provenance["category"] == "model" and filled.provenance["draft_reply"] == "rules"
