"""The sample emails are well-formed and cover what the Gatekeeper must handle."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from llmops.assistant.schema import Category, Email

ROOT = Path(__file__).resolve().parents[1]


def load() -> list[dict]:
    return [json.loads(line) for line in (ROOT / "samples" / "emails.jsonl").read_text("utf-8").splitlines()]


def test_samples_are_valid_and_unique() -> None:
    samples = load()
    assert len(samples) >= 36
    assert len({s["id"] for s in samples}) == len(samples)
    for sample in samples:
        assert set(sample) == {"id", "email", "expected", "tags"}
        email = Email.model_validate(sample["email"])
        assert "Date" in email.headers
        assert Category(sample["expected"]["category"])
        low, high = sample["expected"]["priority"]
        assert 1 <= low <= high <= 5
        assert sample["tags"]


def test_samples_cover_every_category_and_the_hard_cases() -> None:
    samples = load()
    categories = Counter(s["expected"]["category"] for s in samples)
    assert all(categories[c.value] >= 5 for c in Category)
    tags = Counter(tag for s in samples for tag in s["tags"])
    needed = """outage invoice phishing ceo-fraud gift-cards newsletter meeting calendar-conflict customer
        family friend hr security-alert html reply-chain pii iban card-number german spanish french
        urgent-looking"""
    for tag in needed.split():
        assert tags[tag] >= 1, tag
    assert tags["html"] >= 3 and tags["mixed-language"] >= 5


def test_samples_readme_describes_the_files() -> None:
    readme = (ROOT / "samples" / "README.md").read_text("utf-8")
    assert "emails.jsonl" in readme
    for eml in (ROOT / "samples" / "eml").glob("*.eml"):
        assert eml.name in readme
