"""Labelling mined cases: a reviewer accepts or corrects the expected fields, and the labelled case is
appended to a dataset (`llmops eval label`, the dashboard's `/annotate` page).

A case's proposal is its own `expected` when the file already sets one, else the category and priority
of the bad output (what the caller was told). Accepting takes the proposal; a correction sets one
field (`category`, `priority` as `N` or `LOW-HIGH`, `critical`, a `must_contain` / `must_not_contain`
phrase, a `judge_rubric`). The labelled case loses the `needs-label` tag and gains `labelled`, keeps its
email (placeholders included) and its `source`. Appending locks the dataset file, so two reviewers never
write the same case twice, and refuses a case whose id the dataset already has.
"""

from __future__ import annotations

import fcntl
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from pydantic import ValidationError

from llmops.assistant.schema import Category
from llmops.evals.datasets import (
    NEEDS_LABEL,
    EvalCase,
    Expectations,
    case_line,
    field_errors,
    parse_dataset,
)

LABELLED = "labelled"
CATEGORIES = tuple(category.value for category in Category)
FIELDS = ("category", "priority", "critical", "must_contain", "must_not_contain", "judge_rubric")
_PRIORITY = re.compile(r"(?P<low>[0-9]+)(?:-(?P<high>[0-9]+))?")
_TRUE = {"true", "yes", "y", "1"}
_FALSE = {"false", "no", "n", "0", ""}


class LabelError(ValueError):
    """A label that cannot be applied: `detail` names the field, never the value; the message also
    names the case."""

    def __init__(self, detail: str, case_id: str | None = None) -> None:
        super().__init__(f"{case_id}: {detail}" if case_id else detail)
        self.detail = detail
        self.case_id = case_id


class Correction(NamedTuple):
    case_id: str
    field: str
    value: str


class Label(NamedTuple):
    expected: Expectations
    critical: bool


def parse_correction(spec: str) -> Correction:
    """`CASE_ID:FIELD=VALUE`: case ids hold no `=` and field names no `:`, so the value may hold both."""
    head, equals, value = spec.partition("=")
    case_id, colon, field = head.rpartition(":")
    if not equals or not colon or not case_id.strip():
        raise LabelError("a correction reads CASE_ID:FIELD=VALUE")
    field = field.strip()
    if field not in FIELDS:
        raise LabelError(f"a correction sets one of {', '.join(FIELDS)}")
    return Correction(case_id.strip(), field, value)


def parse_priority(text: str) -> list[int]:
    """`2` (exactly 2) or `1-2` (inclusive range) as `[low, high]`."""
    match = _PRIORITY.fullmatch(text.strip())
    if match is None:
        raise LabelError("priority: give N or LOW-HIGH, 1 most urgent")
    bounds = [int(match["low"]), int(match["high"] or match["low"])]
    if not 1 <= bounds[0] <= bounds[1] <= 5:
        raise LabelError("priority: give N or LOW-HIGH with 1 <= LOW <= HIGH <= 5")
    return bounds


def parse_flag(text: str) -> bool:
    value = text.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise LabelError("critical: give true or false")


def proposal(case: EvalCase) -> dict[str, Any]:
    """What accepting the case would expect: its own `expected`, else the bad output's category and
    priority (when the output is a triage)."""
    own = case.expected.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    if own or case.source is None or case.source.bad_output is None:
        return own
    try:
        output = json.loads(case.source.bad_output)
    except (ValueError, RecursionError):
        return {}
    if not isinstance(output, dict):
        return {}
    proposed: dict[str, Any] = {}
    if output.get("category") in CATEGORIES:
        proposed["category"] = output["category"]
    priority = output.get("priority")
    if isinstance(priority, int) and not isinstance(priority, bool) and 1 <= priority <= 5:
        proposed["priority"] = [priority, priority]
    return proposed


def corrected(
    expected: Mapping[str, Any], critical: bool, field: str, value: str
) -> tuple[dict[str, Any], bool]:
    """`expected` (as JSON) and `critical` with one field corrected."""
    updated = dict(expected)
    if field == "category":
        choice = value.strip().lower()
        if choice not in CATEGORIES:
            raise LabelError(f"category: one of {', '.join(CATEGORIES)}")
        updated["category"] = choice
    elif field == "priority":
        updated["priority"] = parse_priority(value)
    elif field == "critical":
        return updated, parse_flag(value)
    elif field in ("must_contain", "must_not_contain"):
        if not value.strip():
            raise LabelError(f"{field}: the phrase must not be blank")
        updated[field] = [*updated.get(field, []), value.strip()]
    elif field == "judge_rubric":
        updated["judge_rubric"] = value.strip()
    else:
        raise LabelError(f"a correction sets one of {', '.join(FIELDS)}")
    return updated, critical


def make_label(case: EvalCase, accept: bool, corrections: Iterable[Correction]) -> Label:
    """The expectations of `case`: the proposal when accepted (else the file's own `expected`), with
    the corrections applied in order."""
    expected = (
        proposal(case)
        if accept
        else case.expected.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    )
    critical = case.critical
    for correction in corrections:
        expected, critical = corrected(expected, critical, correction.field, correction.value)
    return Label(expectations(case.id, expected), critical)


def expectations(case_id: str, expected: Mapping[str, Any]) -> Expectations:
    try:
        validated = Expectations.model_validate(expected)
    except ValidationError as exc:
        raise LabelError(field_errors(exc), case_id) from None
    if not validated.model_dump(exclude_defaults=True):
        raise LabelError("nothing is expected yet: accept the proposal or set a field", case_id)
    return validated


def labelled(case: EvalCase, label: Label) -> EvalCase:
    """`case` with its expectations, no longer waiting for a label."""
    if not case.needs_label:
        raise LabelError("already labelled", case.id)
    if case.email is None and case.input is None:
        raise LabelError("no content was captured, so there is nothing to run", case.id)
    tags = [tag for tag in case.tags if tag != NEEDS_LABEL]
    return case.model_copy(
        update={
            "expected": label.expected,
            "critical": label.critical,
            "tags": [*tags, LABELLED] if LABELLED not in tags else tags,
        }
    )


class Appended(NamedTuple):
    added: list[str]
    present: list[str]


def dataset_ids(path: Path) -> set[str]:
    """Ids of the cases a dataset file holds (none when it does not exist yet)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return set()
    except OSError as exc:
        raise LabelError(f"cannot read dataset {path.name}: {exc.strerror or type(exc).__name__}") from None
    if not data.strip():
        return set()
    return {case.id for case in parse_dataset(data, name=path.stem, path=path).cases}


def append_cases(path: Path, cases: Sequence[EvalCase]) -> Appended:
    """Append labelled cases to the dataset at `path` (created when missing) under an exclusive lock;
    a case whose id is already there is left out. The file must load as a dataset before and after."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        data = handle.read()
        existing = parse_dataset(data, name=path.stem, path=path) if data.strip() else None
        ids = {case.id for case in existing.cases} if existing else set()
        added, present = [], []
        lines = []
        for case in cases:
            if case.needs_label:
                raise LabelError("label the case before adding it to a dataset", case.id)
            if existing is not None and case.assistant != existing.assistant:
                raise LabelError(f"the dataset holds cases of {existing.assistant!r}", case.id)
            if case.id in ids:
                present.append(case.id)
                continue
            ids.add(case.id)
            added.append(case.id)
            lines.append(case_line(case) + "\n")
        if lines:
            prefix = b"\n" if data and not data.endswith(b"\n") else b""
            handle.write(prefix + "".join(lines).encode("utf-8"))
            handle.flush()
    return Appended(added, present)
