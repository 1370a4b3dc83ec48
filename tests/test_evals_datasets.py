"""Eval datasets: the loader's errors name line and field (never content), and the golden set is sound."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmops.assistant.schema import Category
from llmops.evals.datasets import DatasetError, bundled_dataset_path, load_dataset, parse_dataset

SECRET_BODY = "Card 4111 1111 1111 1111 for Robert"


def case(case_id: str = "c1", **overrides: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "id": case_id,
        "email": {
            "sender": "a@example.com",
            "recipients": ["b@example.com"],
            "subject": "Hi",
            "body": SECRET_BODY,
        },
        "expected": {"category": "urgent", "priority": [1, 2]},
        "tags": ["outage"],
    }
    value.update(overrides)
    return value


def write(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "set.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_loads_a_good_file_with_name_hash_and_defaults(tmp_path: Path) -> None:
    path = write(tmp_path, json.dumps(case("a")), "", json.dumps(case("b", critical=True)))
    dataset = load_dataset(path)
    assert dataset.name == "set"
    assert dataset.path == path
    assert dataset.hash == hashlib.sha256(path.read_bytes()).hexdigest()
    assert [c.id for c in dataset.cases] == ["a", "b"]
    first = dataset.case("a")
    assert first.critical is False and dataset.case("b").critical is True
    assert first.expected.category is Category.URGENT
    assert first.expected.priority == (1, 2)
    assert first.expected.schema is True
    assert first.expected.must_contain == [] and first.expected.judge_rubric is None


def test_schema_expectation_reads_from_the_schema_key(tmp_path: Path) -> None:
    dataset = load_dataset(write(tmp_path, json.dumps(case(expected={"schema": False}))))
    assert dataset.cases[0].expected.schema is False


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        ([json.dumps(case("a")), json.dumps(case("a"))], r"line 2: id: duplicate of the case on line 1"),
        ([json.dumps(case("a")), '{"id": "b", '], r"line 2: invalid JSON"),
        (["[1, 2]"], r"line 1: expected a JSON object, got list"),
        (
            [json.dumps(case(email={"sender": "nobody", "recipients": ["b@example.com"]}))],
            r"line 1: email.sender",
        ),
        ([json.dumps(case(expected={"category": "maybe"}))], r"line 1: expected.category"),
        ([json.dumps(case(expected={"priority": [4, 2]}))], r"line 1: expected.priority"),
        ([json.dumps(case(expected={"priority": [0, 9]}))], r"line 1: expected.priority"),
        ([json.dumps(case(expected={"regex": ["(unclosed"]}))], r"line 1: expected.regex: .*pattern #0"),
        ([json.dumps(case(expected={"must_not_contain": ["  "]}))], r"line 1: expected.must_not_contain"),
        ([json.dumps(case(expected={"colour": "red"}))], r"line 1: expected.colour: Extra inputs"),
        ([json.dumps(case(id=""))], r"line 1: id"),
        ([json.dumps({k: v for k, v in case().items() if k != "email"})], r"line 1: email: Field required"),
        (["", "   "], r"no cases"),
    ],
)
def test_bad_lines_name_the_line_and_field_but_not_the_content(
    tmp_path: Path, lines: list[str], expected: str
) -> None:
    with pytest.raises(DatasetError, match=expected) as info:
        load_dataset(write(tmp_path, *lines))
    assert "4111" not in str(info.value) and "Robert" not in str(info.value)


def test_missing_and_non_utf8_files_are_dataset_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="cannot read"):
        load_dataset(tmp_path / "missing.jsonl")
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(b'{"id": "\xe9"}\n')
    with pytest.raises(DatasetError, match="not UTF-8"):
        load_dataset(path)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
garbage_line = st.one_of(
    st.text(max_size=80),
    json_values.map(json.dumps),
    st.fixed_dictionaries({}, optional={k: st.just(v) | json_values for k, v in case().items()}).map(
        json.dumps
    ),
    st.builds(
        lambda value, key: json.dumps(case(**{key: value})), json_values, st.sampled_from(list(case()))
    ),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(garbage_line, max_size=5), st.binary(max_size=30))
def test_only_dataset_errors_escape_on_garbage(lines: list[str], tail: bytes) -> None:
    for data in ("\n".join(lines).encode(), "\n".join(lines).encode() + tail):
        try:
            dataset = parse_dataset(data, name="garbage", path=Path("garbage.jsonl"))
        except DatasetError:
            continue
        assert dataset.cases and len({c.id for c in dataset.cases}) == len(dataset.cases)


HARD_CASE_TAGS = [
    "phishing",
    "ceo-fraud",
    "password-reset",
    "invoice-fraud",
    "newsletter",
    "german",
    "spanish",
    "french",
    "code-switching",
    "pii",
    "card-number",
    "iban",
    "ssn",
    "phone",
    "meeting",
    "calendar-conflict",
    "escalation",
    "personal",
    "outage",
]


def test_the_golden_set_covers_every_category_and_hard_case() -> None:
    dataset = load_dataset(bundled_dataset_path())
    assert dataset.name == "email_triage"
    ids = [c.id for c in dataset.cases]
    assert len(ids) >= 60 and len(set(ids)) == len(ids)
    assert {c.expected.category for c in dataset.cases} == set(Category)
    tags = Counter(tag for c in dataset.cases for tag in c.tags)
    assert [tag for tag in HARD_CASE_TAGS if tags[tag] == 0] == []
    critical = [c for c in dataset.cases if c.critical]
    assert len(critical) >= 0.1 * len(dataset.cases)
    assert all(c.expected.category in {Category.SPAM, Category.URGENT} for c in critical)
    assert all(c.expected.category is not None and c.expected.priority is not None for c in dataset.cases)
    assert any(c.expected.judge_rubric for c in dataset.cases)


def test_planted_pii_is_forbidden_in_the_triage_and_really_planted() -> None:
    dataset = load_dataset(bundled_dataset_path())
    pii_cases = [c for c in dataset.cases if "pii" in c.tags]
    assert len(pii_cases) >= 8
    for c in pii_cases:
        assert c.expected.must_not_contain, c.id
    for c in dataset.cases:
        for phrase in c.expected.must_not_contain:
            assert phrase.casefold() in c.email.body.casefold(), c.id


def test_phishing_is_never_expected_to_be_anything_but_spam() -> None:
    dataset = load_dataset(bundled_dataset_path())
    phishing = [c for c in dataset.cases if "phishing" in c.tags]
    assert len(phishing) >= 8
    assert all(c.expected.category is Category.SPAM for c in phishing)


def test_an_unknown_bundled_dataset_is_a_dataset_error() -> None:
    with pytest.raises(DatasetError, match="no bundled dataset"):
        bundled_dataset_path("nope")
