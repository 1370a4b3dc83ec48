"""Eval datasets: JSONL files of inputs with what a good output must (and must not) contain.

One case per line: `{"id", "assistant"?, "input", "expected", "tags", "critical", "source"?}`, where
`input` is the assistant's input as JSON. The Email Gatekeeper's sets use `email` instead of `input`
(and need no `assistant`). A first line of only `{"assistant": "NAME"}` names the assistant of every
case. All cases of a dataset belong to one assistant: a run serves one prompt version.

Cases mined from feedback (`llmops eval mine`, `llmops eval candidates`) load as written: `source` says
where one came from, and a case tagged `needs-label` (whose input may be null when no content was
captured) is listed by a run but not scored until `llmops eval label` gives it its expectations.

Loading validates every line and fails with a `DatasetError` naming the line number and the field,
never the line's content (datasets hold emails and planted personal data). The dataset's hash is the
sha256 of the file's bytes, so an eval run records exactly which version of the cases it scored.
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
GATEKEEPER = "email_gatekeeper"  # whose cases say `email`
NEEDS_LABEL = "needs-label"
_LINE_ORDER = ("id", "assistant", "email", "input", "expected", "tags", "critical", "source")


class DatasetError(ValueError):
    """A dataset file that cannot be loaded; the message names the line and field, not the content."""


class Expectations(BaseModel):
    """What the output of the case must satisfy; every unset expectation is simply not scored.

    `category` and `priority` are the Email Gatekeeper's (sugar for field checks on its triage);
    `fields` checks any output field by its dotted path (`{"order.status": "shipped"}`)."""

    model_config = ConfigDict(extra="forbid")

    category: Category | None = None
    priority: tuple[int, int] | None = Field(None, description="Inclusive range, 1 most urgent.")
    fields: dict[str, Any] = Field(
        default_factory=dict,
        description="Output fields (dotted paths into the output JSON) and the value each must equal.",
    )
    must_contain: list[str] = Field(
        default_factory=list,
        description="Case-insensitive phrases required in the written text (a triage's summary + action "
        "items + draft reply; any other output's strings).",
    )
    must_not_contain: list[str] = Field(
        default_factory=list,
        description="Case-insensitive content forbidden anywhere in the output (planted PII, lures).",
    )
    regex: list[str] = Field(
        default_factory=list, description="Patterns that must match the summary (else the written text)."
    )
    schema_: bool = Field(True, alias="schema", description="The output must validate as the assistant's.")
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

    @field_validator("fields")
    @classmethod
    def _paths_not_blank(cls, value: dict[str, Any]) -> dict[str, Any]:
        if any(not path.strip() or any(not part for part in path.split(".")) for path in value):
            raise ValueError("field paths must be dotted names like `order.status`")
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


class CaseSource(BaseModel):
    """Where a mined case came from: the request, its trace, the feedback and what the caller got.

    Provenance for the person labelling the case; never scored. Every text is redacted."""

    model_config = ConfigDict(extra="forbid")

    request_id: str = Field(min_length=1, max_length=128)
    trace_id: str | None = None
    prompt_version: str | None = None
    rating: int | None = Field(None, ge=-1, le=1)
    notes: str | None = None
    bad_output: str | None = Field(None, description="What the caller received (else the last model output).")
    judge_score: float | None = Field(None, description="The lowest judge score stored for the request.")
    reason: str | None = Field(None, description="Why active learning picked it.")


class EvalCase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")
    assistant: str = Field(GATEKEEPER, min_length=1, max_length=64)
    email: Email | None = Field(None, description="The Email Gatekeeper's input (instead of `input`).")
    input: dict[str, Any] | None = Field(None, description="The assistant's input, as JSON.")
    expected: Expectations = Field(default_factory=Expectations)
    tags: list[str] = Field(default_factory=list)
    critical: bool = Field(False, description="A failure here is a regression whatever the mean says.")
    source: CaseSource | None = Field(None, description="Where a mined case came from.")

    @model_validator(mode="after")
    def _one_input(self) -> EvalCase:
        if self.email is None and self.input is None and self.needs_label:
            return self  # no content was captured: listed, never run
        if (self.email is None) == (self.input is None):
            raise ValueError("give exactly one of `input` and `email`")
        if self.email is not None and self.assistant != GATEKEEPER:
            raise ValueError(f"`email` is the {GATEKEEPER} input: use `input` for {self.assistant!r}")
        return self

    @property
    def needs_label(self) -> bool:
        """Mined and not labelled yet: a run lists it and does not score it."""
        return NEEDS_LABEL in self.tags

    @property
    def payload(self) -> dict[str, Any]:
        """The input as JSON, whichever way the case gave it."""
        if self.email is not None:
            return self.email.model_dump(mode="json")
        assert self.input is not None
        return self.input


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

    @property
    def assistant(self) -> str:
        """The assistant every case belongs to (a loaded dataset has exactly one)."""
        return self.cases[0].assistant if self.cases else GATEKEEPER

    @property
    def scored(self) -> list[EvalCase]:
        """The cases a run scores: all but those waiting for a label."""
        return [case for case in self.cases if not case.needs_label]

    @property
    def unlabelled(self) -> list[EvalCase]:
        return [case for case in self.cases if case.needs_label]

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


def field_errors(exc: ValidationError) -> str:
    """Where and why, without the offending input (which may be email content)."""
    parts = []
    for error in exc.errors(include_url=False, include_input=False, include_context=False):
        location = ".".join(str(part) for part in error["loc"]) or "(case)"
        parts.append(f"{location}: {error['msg']}")
    return "; ".join(parts)


def _json_object(line: str, line_number: int) -> dict[str, Any]:
    try:
        raw: Any = json.loads(line)
    except json.JSONDecodeError as exc:
        raise DatasetError(f"line {line_number}: invalid JSON ({exc.msg} at column {exc.colno})") from None
    except RecursionError:
        raise DatasetError(f"line {line_number}: invalid JSON (nested too deeply)") from None
    if not isinstance(raw, dict):
        raise DatasetError(f"line {line_number}: expected a JSON object, got {type(raw).__name__}")
    return raw


def parse_case(line: str, line_number: int, assistant: str | None = None) -> EvalCase:
    """One JSONL line as a case (of `assistant` unless it names its own), or a DatasetError naming
    the line number and the bad fields."""
    raw = _json_object(line, line_number)
    if assistant is not None:
        raw.setdefault("assistant", assistant)
    if "input" not in raw and "email" not in raw and NEEDS_LABEL not in _tags(raw):
        needed = "email" if raw.get("assistant", GATEKEEPER) == GATEKEEPER else "input"
        raise DatasetError(f"line {line_number}: {needed}: Field required")
    try:
        return EvalCase.model_validate(raw)
    except ValidationError as exc:
        raise DatasetError(f"line {line_number}: {field_errors(exc)}") from None


def _tags(raw: dict[str, Any]) -> list[Any]:
    tags = raw.get("tags")
    return tags if isinstance(tags, list) else []


def case_line(case: EvalCase) -> str:
    """A case as one JSONL line in the shape it loads from (defaults left out, `expected` kept)."""
    data = case.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    data["expected"] = case.expected.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    if case.email is None and case.input is None:
        data["email"] = None
    ordered = {key: data[key] for key in _LINE_ORDER if key in data}
    return json.dumps(ordered, ensure_ascii=False, separators=(",", ":"))


def _header(line: str, line_number: int) -> str | None:
    """The assistant a header line (`{"assistant": "NAME"}` and nothing else) names, else None."""
    raw = _json_object(line, line_number)
    if set(raw) != {"assistant"}:
        return None
    if not isinstance(raw["assistant"], str) or not raw["assistant"].strip():
        raise DatasetError(f"line {line_number}: assistant: must be a non-empty string")
    return raw["assistant"].strip()


def parse_dataset(data: bytes, *, name: str, path: Path) -> Dataset:
    """Parse JSONL bytes into a dataset; blank lines are skipped, ids must be unique."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{name}: not UTF-8 (byte {exc.start})") from None
    cases: list[EvalCase] = []
    first_seen: dict[str, int] = {}
    assistant: str | None = None
    for line_number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if not cases and assistant is None and (named := _header(line, line_number)) is not None:
            assistant = named
            continue
        case = parse_case(line, line_number, assistant)
        if cases and case.assistant != cases[0].assistant:
            raise DatasetError(
                f"line {line_number}: assistant: every case of a dataset must belong to "
                f"{cases[0].assistant!r} (one run serves one prompt version)"
            )
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
