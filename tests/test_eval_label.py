"""`llmops eval label`: corrections parse whatever they hold, a case is accepted or corrected into a
dataset that loads, by flags or by answering questions, and a run lists what still needs a label."""

from __future__ import annotations

import asyncio
import json
import os
import select
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmops.evals.datasets import CaseSource, EvalCase, load_dataset
from llmops.evals.labelling import FIELDS, LabelError, parse_correction, parse_priority
from llmops.evals.mining import write_jsonl
from llmops.evals.placeholders import case_email
from llmops.evals.runner import CachedCall, EvalTarget, run_eval
from llmops.redaction import Redactor
from processes import LLMOPS, cli_env, run_llmops

PROPERTY = settings(max_examples=200, deadline=None)
CASE_ID = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,40}", fullmatch=True)
REPLY = json.dumps({"category": "fyi", "priority": 4, "summary": "A status update.", "action_items": []})


@PROPERTY
@given(case_id=CASE_ID, field=st.sampled_from(FIELDS), value=st.text())
def test_a_correction_parses_back_whatever_its_value_holds(case_id: str, field: str, value: str) -> None:
    assert parse_correction(f"{case_id}:{field}={value}") == (case_id, field, value)


@PROPERTY
@given(spec=st.text())
def test_any_correction_text_parses_or_is_a_label_error(spec: str) -> None:
    try:
        parsed = parse_correction(spec)
    except LabelError as exc:
        assert str(exc).startswith("a correction")  # fixed words: the text given is never echoed
    else:
        assert parsed.field in FIELDS and parsed.case_id and parsed.value == spec.partition("=")[2]


@PROPERTY
@given(text=st.text(max_size=8) | st.from_regex(r"\s*-?\d{1,2}(-\d{1,2})?\s*", fullmatch=True))
def test_priority_is_one_value_or_an_inclusive_range_from_1_to_5(text: str) -> None:
    try:
        low, high = parse_priority(text)
    except LabelError:
        return
    assert 1 <= low <= high <= 5
    assert text.strip() in (str(low), f"{low}-{high}")


def _case(case_id: str, **changes: Any) -> EvalCase:
    source = CaseSource(request_id=case_id.removeprefix("mined-"), rating=-1, notes="wrong", bad_output=REPLY)
    values: dict[str, Any] = {
        "id": case_id,
        "email": case_email("Ops <[EMAIL]>", "Database down", "Checkout is failing for everyone."),
        "tags": ["mined", "needs-label"],
        "source": source,
    }
    return EvalCase(**(values | changes))


@pytest.fixture
def mined(tmp_path: Path) -> Path:
    path = tmp_path / "mined.jsonl"
    with path.open("w", encoding="utf-8") as stream:
        write_jsonl([_case("mined-a"), _case("mined-b"), _case("mined-c", email=None)], stream)
    return path


def test_flags_accept_or_correct_cases_into_a_dataset_that_loads(tmp_path: Path, mined: Path) -> None:
    env = cli_env(tmp_path)
    dataset = tmp_path / "labelled.jsonl"
    args = ["eval", "label", str(mined), "--dataset", str(dataset)]

    result = run_llmops(env, *args, "--accept", "mined-a", "--set", "mined-b:category=URGENT", "--set",
                        "mined-b:priority=1", "--set", "mined-b:must_contain=database")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Labelled 2 case(s)" in result.stderr and "1 still need a label" in result.stderr
    loaded = load_dataset(dataset)
    assert [case.id for case in loaded.scored] == ["mined-a", "mined-b"] and not loaded.unlabelled
    accepted, corrected = loaded.cases
    # Accepting takes the reply's own category and priority; a correction starts from nothing.
    assert accepted.expected.category == "fyi" and accepted.expected.priority == (4, 4)
    assert corrected.expected.category == "urgent" and corrected.expected.priority == (1, 1)
    assert corrected.expected.must_contain == ["database"] and corrected.tags == ["mined", "labelled"]
    assert corrected.email is not None and corrected.email.sender == "Ops <redacted@example.invalid>"
    assert corrected.source is not None and corrected.source.notes == "wrong"

    again = run_llmops(env, *args, "--accept", "mined-a")
    assert again.returncode == 0 and "mined-a: already in labelled.jsonl" in again.stderr
    assert len(load_dataset(dataset).cases) == 2

    for bad, says in (
        (["--set", "mined-b:category=lunch"], "category: one of urgent"),
        (["--set", "mined-b:priority=0-9"], "priority: give N or LOW-HIGH"),
        (["--set", "mined-b:colour=red"], "a correction sets one of"),
        (["--accept", "mined-zzz"], "mined-zzz: no such case"),
        (["--accept", "mined-c"], "mined-c: no content was captured"),
        (["--set", "mined-c"], "CASE_ID:FIELD=VALUE"),
    ):
        refused = run_llmops(
            env, "eval", "label", str(mined), "--dataset", str(tmp_path / "other.jsonl"), *bad
        )
        assert refused.returncode == 2 and says in refused.stderr, (bad, refused.stderr)
        assert "lunch" not in refused.stderr and "red\n" not in refused.stderr
    assert not (tmp_path / "other.jsonl").exists()


def test_questions_on_a_terminal_label_case_by_case(tmp_path: Path, mined: Path) -> None:
    dataset = tmp_path / "labelled.jsonl"
    answers = "\n".join(["spam", "9", "2-3", "y", "s", ""]) + "\n"  # a, then a bad priority, then skip b
    result = run_llmops(
        cli_env(tmp_path),
        "eval",
        "label",
        str(mined),
        "--dataset",
        str(dataset),
        "--interactive",
        input=answers,
    )
    assert result.returncode == 0, result.stderr
    assert "[1/2] mined-a (rating -1)" in result.stdout and "Subject: Database down" in result.stdout
    assert "category (urgent, action_required" in result.stdout and "[fyi]" in result.stdout
    assert "priority: give N or LOW-HIGH" in result.stdout
    (case,) = load_dataset(dataset).cases
    assert (case.id, case.expected.category, case.expected.priority, case.critical) == (
        "mined-a",
        "spam",
        (2, 3),
        True,
    )


def test_on_a_terminal_it_asks_without_being_told(tmp_path: Path, mined: Path) -> None:
    """With a terminal for stdin and no flags, the questions come by default; end of input stops."""
    dataset = tmp_path / "labelled.jsonl"
    controller, terminal = os.openpty()
    process = subprocess.Popen(
        [*LLMOPS, "eval", "label", str(mined), "--dataset", str(dataset)],
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        env=cli_env(tmp_path),
    )
    os.close(terminal)
    os.write(controller, b"urgent\n1-2\nn\n\x04")  # label a, then end of input at b
    seen = b""
    while select.select([controller], [], [], 60)[0]:
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # the terminal closed: the process ended
            break
        if not chunk:
            break
        seen += chunk
    os.close(controller)
    assert process.wait(timeout=60) == 0, seen.decode(errors="replace")
    assert b"[2/2] mined-b" in seen and b"Labelled 1 case(s)" in seen
    (case,) = load_dataset(dataset).cases
    assert (case.id, case.expected.category, case.expected.priority, case.critical) == (
        "mined-a",
        "urgent",
        (1, 2),
        False,
    )


class _Fixed(EvalTarget):
    """A system that always answers the same triage."""

    name = prompt_version = "fixed"

    def identity(self) -> tuple[str, str, str]:
        return "fixed", "fixed", "fixed"

    async def call(self, payload: dict[str, Any]) -> CachedCall:
        return CachedCall(output=json.loads(REPLY) | {"draft_reply": ""}, prompt_version="fixed")


def test_a_run_lists_unlabelled_cases_without_scoring_them(tmp_path: Path, mined: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    labelled = _case("team-1", tags=[], expected={"category": "fyi"})
    with path.open("w", encoding="utf-8") as stream:
        write_jsonl([labelled], stream)
    path.write_text(path.read_text() + mined.read_text(), encoding="utf-8")

    run = asyncio.run(run_eval(load_dataset(path), _Fixed(), redactor=Redactor()))

    assert [result.case_id for result in run.results] == ["team-1"] and run.passed == 1
    assert run.unlabelled == ["mined-a", "mined-b", "mined-c"]
    assert run.summary()["unlabelled"] == run.unlabelled
    assert run.warnings == [
        "3 case(s) need a label and were not scored: mined-a, mined-b, mined-c "
        "(label them with `llmops eval label`)"
    ]
    with pytest.raises(ValueError, match="needs a label"):
        asyncio.run(run_eval(load_dataset(mined), _Fixed(), redactor=Redactor()))
