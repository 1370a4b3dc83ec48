"""Prompt versions as files: every version loads, hashes are stable, schemas and prefills behave."""

from __future__ import annotations

import asyncio
import hashlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmops.assistant.schema import Triage
from llmops.prompts.registry import LIBRARY_DIR, PromptNotFound, PromptRegistry
from llmops.providers.base import ChatRequest, Message
from llmops.providers.scripted import DEFAULT_TRIAGE_REPLY, ScriptedProvider, continue_prefill

VARIABLES = {
    "sender": "Sam <sam@northwind.example>",
    "contact": "known colleague",
    "calendar": "no meeting times mentioned",
    "policies": [{"title": "Phishing", "text": "Report it."}],
    "suggestion": {"category": "spam", "priority": 2, "reason": "asks for a password"},
    "subject": "Verify your account",
    "body": "Sign in here.",
}


def test_every_version_loads_with_a_stable_content_hash() -> None:
    first, second = PromptRegistry.from_directory(), PromptRegistry.from_directory()
    ids = [version.id for version in first.versions()]
    assert ids == ["email_triage_v1", "email_triage_v2", "email_triage_v7", "email_triage_v8"]
    for version in first.versions():
        path = LIBRARY_DIR / version.name / f"v{version.version}.yaml"
        assert version.content_hash == hashlib.sha256(path.read_bytes()).hexdigest()
        assert version.content_hash == second.get(version.id).content_hash
        assert version.source == path.read_text()
        assert version.changelog and version.id == f"{version.name}_v{version.version}"
    assert first.names() == ["email_triage"]
    assert "email_triage_v7" in first and "email_triage_v9" not in first


def test_unknown_version_names_the_known_ones() -> None:
    with pytest.raises(PromptNotFound, match="email_triage_v2"):
        PromptRegistry.from_directory().get("email_triage_v99")


def test_output_schema_is_the_triage_schema() -> None:
    registry = PromptRegistry.from_directory()
    for version in registry.versions():
        assert version.output_schema() == Triage.model_json_schema()


def test_v7_prefills_the_rules_category_and_v8_does_not() -> None:
    registry = PromptRegistry.from_directory()
    v7, v8 = registry.get("email_triage_v7"), registry.get("email_triage_v8")
    assert v7.render_prefill(VARIABLES) == '{"category": "spam", "priority": 2, "summary": "'
    assert v8.render_prefill(VARIABLES) == '{"category": "'
    assert "Suggested:" in v7.render(VARIABLES)[-1].content
    assert "Suggested:" not in v8.render(VARIABLES)[-1].content
    assert "deliberately worse" in v8.changelog.lower()


@pytest.mark.parametrize(
    ("prefill", "category", "priority"),
    [
        ('{"category": "spam", "priority": 2, "summary": "', "spam", 2),
        ('{"category": "', "action_required", 2),
        ('{"category": "fyi", ', "fyi", 2),
        ('{"category": "fyi"', "fyi", 2),
        ("{", "action_required", 2),
    ],
)
def test_scripted_continuation_completes_the_prefill(prefill: str, category: str, priority: int) -> None:
    continuation = continue_prefill(prefill, DEFAULT_TRIAGE_REPLY)
    assert continuation is not None
    triage = Triage.model_validate_json(prefill + continuation)
    assert (triage.category.value, triage.priority) == (category, priority)
    assert triage.summary == json.loads(DEFAULT_TRIAGE_REPLY)["summary"]


def test_scripted_replies_that_are_not_json_ignore_the_prefill() -> None:
    assert continue_prefill('{"category": "', "plain words") is None
    assert continue_prefill("Sure: ", DEFAULT_TRIAGE_REPLY) is None
    prefill = '{"category": "spam", "priority": 2, "summary": "'
    messages = [Message(role="user", content="hi")]
    garbage = asyncio.run(
        ScriptedProvider("plain words").chat(ChatRequest(messages=messages, prefill=prefill))
    )
    assert garbage.text == "plain words"
    reply = asyncio.run(
        ScriptedProvider().chat(ChatRequest(messages=messages, prefill=prefill, max_tokens=8))
    )
    assert (
        reply.text.startswith(prefill) and reply.finish_reason == "length" and reply.usage.output_tokens == 8
    )


@given(summary=st.text(max_size=80), items=st.lists(st.text(max_size=20), max_size=3))
def test_scripted_continuation_is_valid_json_for_any_reply_text(summary: str, items: list[str]) -> None:
    reply = {"category": "fyi", "priority": 4, "summary": summary, "action_items": items, "draft_reply": ""}
    prefill = '{"category": "spam", "priority": 1, "summary": "'
    merged = json.loads(prefill + (continue_prefill(prefill, json.dumps(reply)) or ""))
    assert merged == {**reply, "category": "spam", "priority": 1}
