"""Parsing model output: lenient where intent is clear, strict where it is not, never a stray exception."""

from __future__ import annotations

import contextlib
import json
import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmops.assistant.output import (
    TriageParseError,
    coerce_action_items,
    coerce_priority,
    collapse_repetition,
    map_category,
    merge_with_fallback,
    parse_triage,
)
from llmops.assistant.schema import Category, Triage

VALID = {
    "category": "action_required",
    "priority": 2,
    "summary": "Customer asks for an ETA on the failing export.",
    "action_items": ["Reply to Ana", "Open a ticket"],
    "draft_reply": "Hi Ana,\n\nWe're on it.",
}


def test_plain_json() -> None:
    assert parse_triage(json.dumps(VALID)) == Triage.model_validate(VALID)


def test_json_inside_prose_and_fences() -> None:
    text = f"Sure! Here is my triage of the email:\n```json\n{json.dumps(VALID, indent=2)}\n```\nLet me know."
    assert parse_triage(text) == Triage.model_validate(VALID)


def test_braces_in_prose_before_the_object_are_skipped() -> None:
    text = 'The {sender} wants something. {"category": "fyi", "summary": "Weekly update."}'
    assert parse_triage(text).category is Category.FYI


def test_broken_json_is_repaired() -> None:
    trailing = (
        '{"category": "urgent", "priority": 1, "summary": "API down", "action_items": ["page on-call",],}'
    )
    single = "{'category': 'spam', 'priority': '2', 'summary': 'Fake CEO asks for a wire', }"
    truncated = (
        '{"category": "fyi", "priority": 4, "summary": "Newsletter about Postgres", "action_items": ["Re'
    )
    assert parse_triage(trailing).action_items == ["page on-call"]
    assert parse_triage(single).category is Category.SPAM
    cut = parse_triage(truncated)
    assert (cut.category, cut.summary) == (Category.FYI, "Newsletter about Postgres")


def test_key_synonyms_and_wrapping() -> None:
    text = '{"triage": {"Label": "URGENT", "urgency": "high", "TL;DR": "x", "tldr": "Outage in EU", ' \
           '"actionItems": "- join bridge\\n- update status page", "Reply": null}}'  # fmt: skip
    result = parse_triage(text)
    assert result == Triage(
        category=Category.URGENT, priority=2, summary="Outage in EU",
        action_items=["join bridge", "update status page"], draft_reply="",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("Urgent", Category.URGENT), ("action required", Category.ACTION_REQUIRED),
        ("Action-Required", Category.ACTION_REQUIRED), ("ACTION_REQUIRED", Category.ACTION_REQUIRED),
        ("newsletter", Category.FYI), ("FYI.", Category.FYI), ("phishing", Category.SPAM),
        ("Scam", Category.SPAM), ("family", Category.PERSONAL), (["personal"], Category.PERSONAL),
        ("category: spam (phishing)", Category.SPAM), ("banana", None), (3, None), (None, None),
    ],
)  # fmt: skip
def test_category_synonyms(label: object, expected: Category | None) -> None:
    assert map_category(label) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1, 1), (5, 5), (0, 1), (9, 5), (2.6, 3), ("2", 2), ("P2", 2), ("2/5", 2), ("priority: 4", 4),
        ("high", 2), ("HIGHEST", 1), ("medium", 3), ("low", 4), ("very low", 5), ("critical", 1),
        (True, None), ("soon", None), (None, None), (float("nan"), None),
    ],
)  # fmt: skip
def test_priority_coercion(value: object, expected: int | None) -> None:
    assert coerce_priority(value) == expected


def test_action_item_coercion() -> None:
    assert coerce_action_items("1. call back\n2) send summary\n\n• done") == [
        "call back",
        "send summary",
        "done",
    ]
    assert coerce_action_items("call back; send summary") == ["call back", "send summary"]
    assert coerce_action_items([{"task": "call"}, 7, None, "", {"x": "y"}]) == ["call", "7", "y"]
    assert len(coerce_action_items([f"item {i}" for i in range(20)])) == 10
    assert len(coerce_action_items(["x" * 1000])[0]) <= 300


def test_missing_priority_defaults_from_category_and_long_fields_are_cut() -> None:
    result = parse_triage(
        json.dumps({"category": "urgent", "summary": "s " * 500, "draft_reply": "d" * 5000})
    )
    assert result.priority == 1
    assert len(result.summary) <= 600 and len(result.draft_reply) <= 2000


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("I think this is spam.", "no JSON object"),
        ('{"summary": "Outage"}', "category is missing"),
        ('{"category": "banana", "summary": "x"}', "category is not one of"),
        ('{"category": "fyi"}', "summary is missing"),
        ('{"category": "fyi", "summary": "   "}', "summary is missing"),
        ('{"category": "fyi", "summary": "ok", "draft_reply": {"a": 1}}', "draft_reply must be a string"),
        ("[1, 2, 3]", "no JSON object"),
    ],
)
def test_unusable_output_is_rejected_with_problems(text: str, problem: str) -> None:
    with pytest.raises(TriageParseError) as info:
        parse_triage(text)
    assert any(problem in item for item in info.value.problems)


def test_problems_never_quote_the_output() -> None:
    secret = "IBAN DE89370400440532013000"
    with pytest.raises(TriageParseError) as info:
        parse_triage(json.dumps({"category": secret, "summary": ""}))
    assert secret not in str(info.value) and not any(secret in p for p in info.value.problems)


def test_merge_with_fallback_keeps_what_the_model_got_right() -> None:
    fallback = Triage(category=Category.FYI, priority=4, summary="From rules.", action_items=["a"])
    with pytest.raises(TriageParseError) as info:
        parse_triage('{"category": "urgent", "priority": 1, "action_items": ["page on-call"]}')
    merged = merge_with_fallback(info.value.partial, fallback)
    assert merged == Triage(
        category=Category.URGENT, priority=1, summary="From rules.", action_items=["page on-call"]
    )
    assert merge_with_fallback({}, fallback) == fallback


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=500))
def test_arbitrary_text_raises_only_triage_parse_error(text: str) -> None:
    try:
        result = parse_triage(text)
    except TriageParseError as exc:
        assert exc.problems
    else:
        assert isinstance(result, Triage)


json_like = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=15,
)
keys = st.sampled_from(
    ["category", "priority", "summary", "action_items", "draft_reply", "Category", "reply"]
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(keys, json_like, max_size=5), st.sampled_from(["", "Here:\n```json\n", "x {", "{{"]))
def test_json_shaped_garbage_raises_only_triage_parse_error(data: dict, prefix: str) -> None:
    with contextlib.suppress(TriageParseError):
        parse_triage(prefix + json.dumps(data))


# Valid triages as a capable model writes them: no clause repeated, no duplicate action item.
clean_text = (
    st.text(min_size=1, max_size=200)
    .map(str.strip)
    .filter(bool)
    .filter(lambda t: collapse_repetition(t) == t)
)
triages = st.builds(
    Triage,
    category=st.sampled_from(Category),
    priority=st.integers(min_value=1, max_value=5),
    summary=clean_text,
    action_items=st.lists(
        clean_text, max_size=10, unique_by=lambda t: re.sub(r"[\W_]+", " ", t.lower()).strip()
    ),
    draft_reply=st.text(max_size=300).filter(lambda t: collapse_repetition(t) == t),
)
prose = st.text(alphabet=st.characters(blacklist_characters="{}"), max_size=80)


@settings(max_examples=300, deadline=None)
@given(triages, prose, prose, st.booleans(), st.booleans())
def test_valid_triage_round_trips(
    triage: Triage, before: str, after: str, fenced: bool, ascii_only: bool
) -> None:
    payload = json.dumps(triage.model_dump(mode="json"), ensure_ascii=ascii_only)
    assert parse_triage(payload) == triage
    wrapped = f"{before}\n```json\n{payload}\n```\n{after}" if fenced else f"{before} {payload} {after}"
    assert parse_triage(wrapped) == triage


@pytest.mark.parametrize(
    "text", ["{" * 20_000, '{"' * 10_000, "{'" * 10_000, "[" * 5_000 + '{"category": "fyi"']
)
def test_pathological_output_is_rejected_quickly(text: str) -> None:
    started = time.perf_counter()
    with pytest.raises(TriageParseError):
        parse_triage(text)
    assert time.perf_counter() - started < 2.0


@given(
    st.lists(
        st.sampled_from(["Priority: 2,", "Join the bridge.", "Call Dana;", "now"]), min_size=1, max_size=30
    )
)
def test_collapse_repetition_keeps_each_clause_once(clauses: list[str]) -> None:
    text = " ".join(clauses)
    collapsed = collapse_repetition(text)
    assert len(collapsed) <= len(text)
    assert collapse_repetition(collapsed) == collapsed
    for clause in set(clauses):
        assert clause.rstrip(",;") in collapsed


def test_looping_model_output_is_collapsed() -> None:
    looping = '{"category": "urgent", "priority": 2, "summary": "Severity: critical, Priority: 2, Priority: 2, Priority: 2,", "action_items": ["Join the bridge", "Join the bridge"]}'
    triage = parse_triage(looping)
    assert triage.summary == "Severity: critical, Priority: 2"
    assert triage.action_items == ["Join the bridge"]
