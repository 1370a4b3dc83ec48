"""Eval datasets: JSONL files of emails with what a good triage must (and must not) contain.

One case per line: `{"id", "email", "expected", "tags", "critical"}`. Loading validates every line and
fails with a `DatasetError` naming the line number and the field, never the line's content (datasets
hold emails and planted personal data). The dataset's hash is the sha256 of the file's bytes, so an
eval run records exactly which version of the cases it scored.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from llmops.assistant.schema import Category, Email

BUNDLED_DIR = Path(__file__).resolve().parent / "data"
GOLDEN_NAME = "email_triage"


class DatasetError(ValueError):
    """A dataset file that cannot be loaded; the message names the line and field, not the content."""


class Expectations(BaseModel):
    """What a triage of the case must satisfy; every unset expectation is simply not scored."""

    model_config = ConfigDict(extra="forbid")

    category: Category | None = None
    priority: tuple[int, int] | None = Field(None, description="Inclusive range, 1 most urgent.")
    must_contain: list[str] = Field(
        default_factory=list,
        description="Case-insensitive phrases required in summary + action items + draft reply.",
    )
    must_not_contain: list[str] = Field(
        default_factory=list,
        description="Case-insensitive content forbidden anywhere in the triage (planted PII, lures).",
    )
    regex: list[str] = Field(default_factory=list, description="Patterns that must match the summary.")
    schema_: bool = Field(True, alias="schema", description="The output must validate as a Triage.")
    max_summary_chars: int | None = Field(None, ge=1)
    max_latency_ms: float | None = Field(None, gt=0)
    max_cost_usd: float | None = Field(None, ge=0)
    judge_rubric: str | None = Field(None, min_length=1)

    @property
    def schema(self) -> bool:  # type: ignore[override]  # BaseModel.schema is the deprecated v1 API
        return self.schema_

    @field_validator("priority")
    @classmethod
    def _priority_range(cls, value: tuple[int, int] | None) -> tuple[int, int] | None:
        if value is not None and not 1 <= value[0] <= value[1] <= 5:
            raise ValueError("priority must be [low, high] with 1 <= low <= high <= 5")
        return value

    @field_validator("must_contain", "must_not_contain")
    @classmethod
    def _phrases_not_blank(cls, value: list[str]) -> list[str]:
        if any(not phrase.strip() for phrase in value):
            raise ValueError("phrases must not be blank")
        return value

    @field_validator("regex")
    @classmethod
    def _patterns_compile(cls, value: list[str]) -> list[str]:
        for position, pattern in enumerate(value):
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"pattern #{position} does not compile: {exc.msg}") from None
        return value


class EvalCase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")
    email: Email
    expected: Expectations = Field(default_factory=Expectations)
    tags: list[str] = Field(default_factory=list)
    critical: bool = Field(False, description="A failure here is a regression whatever the mean says.")


class Dataset(BaseModel):
    name: str
    path: Path
    hash: str = Field(description="sha256 of the file's bytes, hex.")
    cases: list[EvalCase]

    @model_validator(mode="after")
    def _unique_ids(self) -> Dataset:
        ids = [case.id for case in self.cases]
        if len(ids) != len(set(ids)):
            raise ValueError("case ids must be unique")
        return self

    def case(self, case_id: str) -> EvalCase:
        for case in self.cases:
            if case.id == case_id:
                return case
        raise KeyError(case_id)


def bundled_dataset_path(name: str = GOLDEN_NAME) -> Path:
    """Path of a dataset shipped in the package (the Email Gatekeeper golden set by default)."""
    path = BUNDLED_DIR / f"{name}.jsonl"
    if not path.is_file():
        raise DatasetError(f"no bundled dataset named {name!r}")
    return path


def _field_errors(exc: ValidationError) -> str:
    """Where and why, without the offending input (which may be email content)."""
    parts = []
    for error in exc.errors(include_url=False, include_input=False, include_context=False):
        location = ".".join(str(part) for part in error["loc"]) or "(case)"
        parts.append(f"{location}: {error['msg']}")
    return "; ".join(parts)


def parse_case(line: str, line_number: int) -> EvalCase:
    """One JSONL line as a case, or a DatasetError naming the line number and the bad fields."""
    try:
        raw: Any = json.loads(line)
    except json.JSONDecodeError as exc:
        raise DatasetError(f"line {line_number}: invalid JSON ({exc.msg} at column {exc.colno})") from None
    except RecursionError:
        raise DatasetError(f"line {line_number}: invalid JSON (nested too deeply)") from None
    if not isinstance(raw, dict):
        raise DatasetError(f"line {line_number}: expected a JSON object, got {type(raw).__name__}")
    try:
        return EvalCase.model_validate(raw)
    except ValidationError as exc:
        raise DatasetError(f"line {line_number}: {_field_errors(exc)}") from None


def parse_dataset(data: bytes, *, name: str, path: Path) -> Dataset:
    """Parse JSONL bytes into a dataset; blank lines are skipped, ids must be unique."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{name}: not UTF-8 (byte {exc.start})") from None
    cases: list[EvalCase] = []
    first_seen: dict[str, int] = {}
    for line_number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        case = parse_case(line, line_number)
        if case.id in first_seen:
            raise DatasetError(f"line {line_number}: id: duplicate of the case on line {first_seen[case.id]}")
        first_seen[case.id] = line_number
        cases.append(case)
    if not cases:
        raise DatasetError(f"{name}: the dataset has no cases")
    return Dataset(name=name, path=path, hash=hashlib.sha256(data).hexdigest(), cases=cases)


def load_dataset(path: str | Path) -> Dataset:
    """Load and validate a JSONL dataset; any problem is a DatasetError naming the line and field."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DatasetError(f"cannot read dataset {path}: {exc.strerror or type(exc).__name__}") from None
    return parse_dataset(data, name=path.stem, path=path)
