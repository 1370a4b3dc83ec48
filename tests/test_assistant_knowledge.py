"""Policy retrieval: relevant passages first, and free text can never break the FTS5 query."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmops.assistant.knowledge import KnowledgeBase, build_match_query, parse_policy


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase.bundled()


def test_bundled_policies_load(kb: KnowledgeBase) -> None:
    assert 20 <= len(kb) <= 40
    doc = kb.get("finance-payment-approval-limits")
    assert doc is not None and doc.title == "Payment approval limits"
    assert "wire transfer approval" in doc.tags
    assert KnowledgeBase.bundled() is kb, "the bundled index is built once per process"


@pytest.mark.parametrize(
    ("query", "expected_first"),
    [
        ("wire transfer approval", {"finance-wire-transfer-verification", "finance-payment-approval-limits"}),
        ("who approves a payment of EUR 30,000?", {"finance-payment-approval-limits"}),
        ("your mailbox is full, verify your password", {"security-credentials-never-by-email"}),
        ("production outage, page the on-call engineer", {"incident-escalation-on-call"}),
        ("CEO asks me to buy gift cards", {"finance-gift-cards"}),
        ("vendor sent new bank details IBAN", {"finance-vendor-bank-details"}),
        ("please sign this NDA", {"legal-nda-contracts"}),
        ("how many vacation days can I carry over", {"hr-pto-leave"}),
        ("customer complaint about response time SLA", {"customer-escalations-sla"}),
        ("Überweisung dringend", {"finance-wire-transfer-verification"}),
        ("reunión el jueves", {"meetings-scheduling"}),
    ],
)
def test_relevant_policy_ranks_first(kb: KnowledgeBase, query: str, expected_first: set[str]) -> None:
    results = kb.search(query)
    assert results, query
    assert results[0].id in expected_first
    assert [p.score for p in results] == sorted((p.score for p in results), reverse=True)
    assert len(results) <= 3


def test_limit_and_empty_queries(kb: KnowledgeBase) -> None:
    assert len(kb.search("payment invoice approval wire", limit=5)) == 5
    assert kb.search("", limit=3) == []
    assert kb.search("the and of to", limit=3) == []
    assert kb.search("payment", limit=0) == []


@pytest.mark.parametrize(
    "query",
    ['"', "'", "*", "NEAR(a b)", "a AND OR NOT", "title:foo", "^start", "(unbalanced", "col:*", "a - b + c",
     "{x y}", '"""', "\x00", "wire\"transfer'; DROP TABLE policies; --"],
)  # fmt: skip
def test_fts_syntax_in_user_text_never_errors(kb: KnowledgeBase, query: str) -> None:
    kb.search(query)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_any_text_is_a_valid_query(text: str) -> None:
    KnowledgeBase.bundled().search(text)
    match = build_match_query(text)
    assert match is None or all(term.startswith('"') and term.endswith('"') for term in match.split(" OR "))


def test_concurrent_searches_from_threads(kb: KnowledgeBase) -> None:
    queries = ["wire transfer", "phishing", "outage on-call", "PTO", "NDA", "gift cards"] * 20
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(kb.search, queries))
    assert all(results)
    assert results[0][0].id == kb.search("wire transfer")[0].id


def test_custom_directory_and_policy_format(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text(
        "# Coffee machine\nTags: kitchen, coffee\n\nDescale it\nevery week.\n\nSecond para."
    )
    (tmp_path / "b.md").write_text("# Parking\n\nPark in the garage.")
    custom = KnowledgeBase.from_directory(tmp_path)
    assert len(custom) == 2
    assert custom.search("coffee")[0].id == "a"
    doc = parse_policy("a", (tmp_path / "a.md").read_text())
    assert doc.tags == ["kitchen", "coffee"]
    assert doc.text == "Descale it every week.\n\nSecond para."
    custom.close()
