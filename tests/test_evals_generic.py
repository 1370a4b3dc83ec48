"""Evals for any assistant: datasets naming their assistant, field checks on any output, the schema
of the assistant's own output model, and the judge reading any input and output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import BaseModel

from llmops.evals.datasets import DatasetError, load_dataset
from llmops.evals.judge import judge_messages
from llmops.evals.scorers import CaseOutput, Contains, FieldEquals, SchemaValid, scorers_for

SECRET = "4111 1111 1111 1111"


class Reply(BaseModel):
    answer: str
    order: dict[str, str] | None = None


def _write(tmp_path: Path, *lines: object) -> Path:
    path = tmp_path / "cases.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")
    return path


def test_a_header_line_names_the_assistant_of_every_case(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        {"assistant": "support_desk"},
        {
            "id": "a",
            "input": {"question": "Where is NW-1002?"},
            "expected": {"fields": {"order.status": "shipped"}},
        },
        {"id": "b", "assistant": "support_desk", "input": {"question": "Refund?"}},
    )
    dataset = load_dataset(path)
    assert dataset.assistant == "support_desk"
    assert [case.payload for case in dataset.cases] == [
        {"question": "Where is NW-1002?"},
        {"question": "Refund?"},
    ]
    assert dataset.cases[0].expected.fields == {"order.status": "shipped"}


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ([{"assistant": "x"}, {"id": "a"}], "line 2: input: Field required"),
        (
            [{"id": "a", "input": {}}, {"id": "b", "assistant": "other", "input": {}}],
            "line 2: assistant: every case",
        ),
        (
            [{"id": "a", "assistant": "x", "email": {"sender": "a@b.c", "recipients": ["d@e.f"]}}],
            "`email` is the",
        ),
        ([{"id": "a", "input": {}, "expected": {"fields": {"order..status": 1}}}], "expected.fields"),
    ],
)
def test_bad_generic_cases_name_line_and_field(tmp_path: Path, lines: list[object], message: str) -> None:
    with pytest.raises(DatasetError, match=message.replace(".", r"\.").replace("`", ".")):
        load_dataset(_write(tmp_path, *lines))


def test_field_checks_name_paths_not_values(tmp_path: Path) -> None:
    dataset = load_dataset(_write(tmp_path, {"assistant": "desk"}, {"id": "a", "input": {}}))
    case = dataset.cases[0]
    output = CaseOutput(
        output={"answer": f"card {SECRET}", "order": {"status": "delayed"}, "sources": ["kb-1"]}
    )
    passed = FieldEquals({"order.status": "delayed", "sources.0": "kb-1"}).score(case, output)
    failed = FieldEquals({"order.status": "shipped", "order.eta": "soon", "answer": "x"}).score(case, output)
    assert passed.passed and passed.score == 1.0
    assert not failed.passed and failed.score == 0.0
    assert failed.reason == "3 of 3 fields differ: order.status, order.eta (missing), answer"
    assert SECRET not in failed.reason
    assert Contains(["CARD 4111111111111111"]).score(case, output).passed  # any string of the output


def test_schema_is_the_assistants_and_skipped_when_unknown(tmp_path: Path) -> None:
    dataset = load_dataset(_write(tmp_path, {"assistant": "desk"}, {"id": "a", "input": {}}))
    case = dataset.cases[0]
    assert [type(s).__name__ for s in scorers_for(case)] == []  # no model known: no schema check
    [schema] = scorers_for(case, output_model=Reply)
    assert isinstance(schema, SchemaValid)
    assert schema.score(case, CaseOutput(output={"answer": "ok"})).reason == "valid Reply"
    assert schema.score(case, CaseOutput(output={"order": {}})).reason.startswith(
        "not a valid Reply (1 errors)"
    )


def test_the_judge_reads_any_input_and_output(tmp_path: Path) -> None:
    dataset = load_dataset(
        _write(tmp_path, {"assistant": "desk"}, {"id": "a", "input": {"question": "Refund?"}})
    )
    system, user = judge_messages("Be helpful.", dataset.cases[0], {"answer": "Yes, within 5 days."})
    assert "AI assistant" in system.content and "email" not in system.content
    assert '"question": "Refund?"' in user.content and '"answer": "Yes, within 5 days."' in user.content
