"""The labelled triage corpus (issue 11): a sealed test split and a dev split, both loadable, big enough,
covering every category and language, labelled within each category's priority policy, and honest: no
case shared, copied or near-copied between the splits or from the old golden set and the samples the
rules were tuned on (word 5-shingle Jaccard similarity of bodies below 0.5).

docs/triage-labels.md is the labelling guide the cases follow.
"""

from __future__ import annotations

import itertools
import json
import re
from collections import Counter
from functools import cache
from pathlib import Path

import pytest

from llmops.assistant.schema import Category
from llmops.evals.datasets import Dataset, bundled_dataset_path, load_dataset

ROOT = Path(__file__).resolve().parents[1]
SPLITS = ("email_triage_test", "email_triage_dev")
LANGUAGES = ("en", "de", "es", "fr")
SHINGLE = 5
NEAR_DUPLICATE = 0.5

# The priorities each category allows (docs/triage-labels.md); an expected range must fit inside.
PRIORITY_POLICY = {
    Category.URGENT: (1, 2),
    Category.ACTION_REQUIRED: (1, 4),
    Category.FYI: (3, 5),
    Category.SPAM: (1, 5),
    Category.PERSONAL: (1, 5),
}
# Kind tags that make a case dangerous: it must be critical and filed as spam.
FRAUD_TAGS = {"phishing", "bec", "ceo-fraud", "invoice-fraud"}


@cache
def split(name: str) -> Dataset:
    return load_dataset(bundled_dataset_path(name))


def corpus() -> list:
    return [case for name in SPLITS for case in split(name).cases]


def language(tags: list[str]) -> str:
    found = [tag.removeprefix("lang:") for tag in tags if tag.startswith("lang:")]
    assert len(found) == 1, tags
    return found[0]


def shingles(text: str) -> frozenset[int]:
    words = re.findall(r"\w+", text.lower())
    return frozenset(hash(tuple(words[i : i + SHINGLE])) for i in range(max(1, len(words) - SHINGLE + 1)))


def jaccard(a: frozenset[int], b: frozenset[int]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def old_cases() -> list[tuple[str, str]]:
    """(id, body) of the old golden set and of the samples the rules were tuned on."""
    golden = [(case.id, case.email.body) for case in load_dataset(bundled_dataset_path()).cases]
    lines = (ROOT / "samples" / "emails.jsonl").read_text("utf-8").splitlines()
    samples = [(raw["id"], raw["email"]["body"]) for raw in map(json.loads, filter(str.strip, lines))]
    return golden + samples


@pytest.mark.parametrize("name", SPLITS)
def test_each_split_loads_and_is_big_enough(name: str) -> None:
    dataset = split(name)
    assert len(dataset.cases) >= 150
    categories = Counter(case.expected.category for case in dataset.cases)
    assert all(categories[category] >= 10 for category in Category), categories


def test_the_corpus_covers_categories_and_languages() -> None:
    cases = corpus()
    assert len(cases) >= 300
    categories = Counter(case.expected.category for case in cases)
    assert all(categories[category] >= 20 for category in Category), categories
    languages = Counter(language(case.tags) for case in cases)
    assert set(languages) <= set(LANGUAGES)
    assert all(languages[lang] >= 30 for lang in LANGUAGES), languages
    assert languages["en"] <= 0.65 * len(cases)


def test_every_case_is_labelled_within_policy() -> None:
    for case in corpus():
        expected = case.expected
        assert expected.category is not None and expected.priority is not None, case.id
        low, high = PRIORITY_POLICY[expected.category]
        assert low <= expected.priority[0] <= expected.priority[1] <= high, case.id
        assert [tag for tag in case.tags if not tag.startswith("lang:")], case.id
        if case.critical:
            assert expected.category in {Category.URGENT, Category.SPAM}, case.id
        if FRAUD_TAGS & set(case.tags):
            assert case.critical and expected.category is Category.SPAM, case.id
        for phrase in expected.must_not_contain:  # planted in the email, so a leak is detectable
            assert phrase in case.email.body or phrase in case.email.subject, case.id


def test_dangerous_cases_are_marked_critical_in_both_splits() -> None:
    for name in SPLITS:
        critical = Counter(case.expected.category for case in split(name).cases if case.critical)
        assert critical[Category.URGENT] >= 10 and critical[Category.SPAM] >= 10, (name, critical)


def test_no_case_is_shared_copied_or_near_copied() -> None:
    labelled = [(name, case.id, case.email.body) for name in SPLITS for case in split(name).cases]
    old = old_cases()
    new_ids = [case_id for _, case_id, _ in labelled]
    assert len(set(new_ids)) == len(new_ids)
    assert not set(new_ids) & {case_id for case_id, _ in old}

    def normalised(body: str) -> str:
        return " ".join(body.lower().split())

    bodies = Counter(normalised(body) for _, _, body in labelled)
    assert max(bodies.values()) == 1
    assert not set(bodies) & {normalised(body) for _, body in old}

    new = [(f"{name}:{case_id}", shingles(body)) for name, case_id, body in labelled]
    reference = [(f"old:{case_id}", shingles(body)) for case_id, body in old]
    near = [
        (first, second, round(score, 2))
        for (first, a), (second, b) in [
            *itertools.combinations(new, 2),  # within and across the splits
            *itertools.product(new, reference),  # against the golden set and the samples
        ]
        if (score := jaccard(a, b)) >= NEAR_DUPLICATE
    ]
    assert near == []


def test_the_near_duplicate_check_catches_a_light_paraphrase() -> None:
    body = split("email_triage_test").cases[0].email.body
    edited = body.replace("Jordan", "Sam", 1).replace("minutes", "mins") + "\nThanks!"
    assert jaccard(shingles(body), shingles(edited)) >= NEAR_DUPLICATE
