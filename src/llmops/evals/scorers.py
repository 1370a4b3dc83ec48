"""Scorers: one check of one output against one expectation, each a `ScoreResult`.

Scorers read the output as JSON (a dict), so they work on any assistant's output model; `category`
and `priority` are the Email Gatekeeper's, `fields` checks any field by its dotted path. Every scorer
is deterministic except the LLM judge (`llmops.evals.judge`). A scorer never raises on a bad output:
a missing output, a wrong type or an errored call is a failed result with a reason. Reasons name
fields and phrase positions, never output or input text, because eval reports are stored and shown.
A failed result also says, in the expectation's own terms, what was `expected` and what was `got`
(`category: expected spam, got action_required`; counts, ranges and positions for the others), so
reports explain a failure instead of only flagging it. A case passes when all its scorers pass; its
score is the mean of theirs (`score_case`).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Sequence
from typing import Any, Protocol, runtime_checkable

from pydantic import AliasChoices, BaseModel, Field, ValidationError

from llmops.assistant.schema import Category, Triage
from llmops.evals.datasets import GATEKEEPER, EvalCase
from llmops.reporting.render import dollars, seconds

MAX_ERROR_CHARS = 200
# Separators a model may add or drop when it echoes an IBAN, a card or a phone number.
_SEPARATORS = re.compile(r"[\s\-./()]+")


class ScoreResult(BaseModel):
    name: str
    passed: bool
    score: float = Field(ge=0.0, le=1.0)
    reason: str
    expected: str | None = Field(
        None, description="What the expectation asked for: a category, a range, a count; never case text."
    )
    got: str | None = Field(None, description="What came back, in the same terms; never output text.")

    def explanation(self) -> str:
        """`category: expected spam, got action_required`; the reason when the scorer does not say both
        (results stored before scorers said them, scorers that do not)."""
        if self.expected is not None and self.got is not None:
            return f"{self.name}: expected {self.expected}, got {self.got}"
        return f"{self.name}: {self.reason}"


class CaseOutput(BaseModel):
    """What the system under test produced for one case, as the runner observed it."""

    output: dict[str, Any] | None = Field(
        None, validation_alias=AliasChoices("output", "triage"), description="The output as JSON."
    )
    latency_ms: float | None = None
    cost_usd: float | None = None
    error: str | None = None
    degraded: bool = False


class CaseScore(BaseModel):
    case_id: str
    passed: bool
    score: float = Field(ge=0.0, le=1.0)
    critical: bool
    results: list[ScoreResult]


@runtime_checkable
class Scorer(Protocol):
    name: str

    def score(self, case: EvalCase, output: CaseOutput) -> ScoreResult: ...


def error_result(name: str, error: str, expected: str | None = None) -> ScoreResult:
    """The failed result every scorer gives an output whose call errored."""
    shown = f"error: {error[:MAX_ERROR_CHARS]}"
    return ScoreResult(name=name, passed=False, score=0.0, reason=shown, expected=expected, got=shown)


class BaseScorer:
    """Handles the shared cases (errored call, no output) so subclasses score only real output."""

    name: str = "scorer"
    needs_output: bool = True

    def score(self, case: EvalCase, output: CaseOutput) -> ScoreResult:
        if output.error is not None:
            return error_result(self.name, output.error, self.expectation())
        if self.needs_output and output.output is None:
            return self.result(False, 0.0, "no output", got="no output")
        return self.check(case, output)

    def check(self, case: EvalCase, output: CaseOutput) -> ScoreResult:
        raise NotImplementedError

    def expectation(self) -> str | None:
        """What this scorer asks for, as a report shows it (`spam`, `1–2`, `all 3 phrases`)."""
        return None

    def result(self, passed: bool, score: float, reason: str, *, got: str | None = None) -> ScoreResult:
        """A result; `got` (what came back, in the expectation's terms) is kept for failures only."""
        return ScoreResult(
            name=self.name,
            passed=passed,
            score=min(1.0, max(0.0, score)),
            reason=reason,
            expected=self.expectation(),
            got=None if passed else got,
        )


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "\n".join(_text(item) for item in value)
    if isinstance(value, dict):
        return "\n".join(_text(item) for item in value.values())
    return "" if value is None else str(value)


_TRIAGE_PROSE = ("summary", "action_items", "draft_reply")


def _written_text(output: dict[str, Any]) -> str:
    """The prose a reader sees: a triage's summary, action items and draft reply; any other output's
    strings, wherever they are."""
    if any(key in output for key in _TRIAGE_PROSE):
        return "\n".join(_text(output.get(key)) for key in _TRIAGE_PROSE)
    return _text(output)


def field_value(output: dict[str, Any], path: str) -> tuple[bool, Any]:
    """(found, value) at a dotted path (`order.status`, `sources.0`) of the output JSON."""
    value: Any = output
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return False, None
    return True, value


def _compact(text: str) -> str:
    return _SEPARATORS.sub("", text.casefold())


def _contains(haystack: str, phrase: str) -> bool:
    """Case-insensitive; also matches with spaces and separators removed, so `DE89 3704…` and
    `DE893704…` count as the same value."""
    if phrase.casefold() in haystack.casefold():
        return True
    compact = _compact(phrase)
    return bool(compact) and compact in _compact(haystack)


def _positions(indices: Sequence[int]) -> str:
    return ", ".join(f"#{index}" for index in indices)


def _count(value: int, noun: str) -> str:
    return f"{value} {noun}" + ("" if value == 1 else "s")


class CategoryMatch(BaseScorer):
    name = "category"

    def __init__(self, expected: Category) -> None:
        self.expected = Category(expected)

    def expectation(self) -> str:
        return self.expected.value

    def check(self, case: EvalCase, output: CaseOutput) -> ScoreResult:
        assert output.output is not None
        actual = output.output.get("category")
        if actual == self.expected.value:
            return self.result(True, 1.0, f"category is {self.expected.value}")
        shown = actual if isinstance(actual, str) and actual in set(Category) else "not a category"
        return self.result(False, 0.0, f"expected {self.expected.value}, got {shown}", got=shown)


class PriorityInRange(BaseScorer):
    """Passes inside the inclusive range; outside, the score drops by a quarter per step of distance."""

    name = "priority"

    def __init__(self, low: int, high: int) -> None:
        if not low <= high:
            raise ValueError("low must not exceed high")
        self.low, self.high = low, high

    def expectation(self) -> str:
        return str(self.low) if self.low == self.high else f"{self.low}–{self.high}"

    def check(self, case: EvalCase, output: CaseOutput) -> ScoreResult:
        assert output.output is not None
        actual = output.output.get("priority")
        if isinstance(actual, bool) or not isinstance(actual, int | float):
            return self.result(False, 0.0, "priority is missing or not a number", got="no number")
        wanted = f"[{self.low}, {self.high}]"
        if self.low <= actual <= self.high:
            return self.result(True, 1.0, f"priority {actual:g} is in {wanted}")
        distance = self.low - actual if actual < self.low else actual - self.high
        return self.result(
            False,
            1.0 - distance / 4,
            f"priority {actual:g} is {distance:g} outside {wanted}",
            got=f"{actual:g}",
        )


class Contains(BaseScorer):
    """Every phrase must appear in the summary, action items or draft reply; score is the share found."""

    name = "contains"

    def __init__(self, phrases: Sequence[str]) -> None:
        self.phrases = list(phrases)

    def expectation(self) -> str:
        return f"all {_count(len(self.phrases), 'phrase')} in the written text"

    def check(self, case: EvalCase, output: CaseOutput) -> ScoreResult:
        assert output.output is not None
        text = _written_text(output.output)
        missing = [i for i, phrase in enumerate(self.phrases) if not _contains(text, phrase)]
        total = len(self.phrases)
        score = (total - len(missing)) / total if total else 1.0
        if missing:
            return self.result(
                False,
                score,
                f"missing {len(missing)} of {total} phrases: {_positions(missing)}",
                got=f"{total - len(missing)} of {total} (missing {_positions(missing)})",
            )
        return self.result(True, 1.0, f"all {total} phrases present")


class NotContains(BaseScorer):
    """No phrase may appear anywhere in the triage; the reason names phrase positions, not values,
    because forbidden phrases are often planted personal data."""

    name = "not_contains"

    def __init__(self, phrases: Sequence[str]) -> None:
        self.phrases = list(phrases)

    def expectation(self) -> str:
        return f"none of {_count(len(self.phrases), 'forbidden phrase')}"

    def check(self, case: EvalCase, output: CaseOutput) -> ScoreResult:
        assert output.output is not None
        text = _text(output.output)
        found = [i for i, phrase in enumerate(self.phrases) if _contains(text, phrase)]
        total = len(self.phrases)
        score = (total - len(found)) / total if total else 1.0
        if found:
            return self.result(
                False,
                score,
                f"{len(found)} of {total} forbidden phrases found: {_positions(found)}",
                got=f"{len(found)} ({_positions(found)})",
            )
        return self.result(True, 1.0, f"none of {total} forbidden phrases found")


class RegexMatch(BaseScorer):
    """Every pattern must match (re.search) the summary (an output without one: its written text);
    score is the share that matched."""

    name = "regex"

    def __init__(self, patterns: Sequence[str]) -> None:
        self.patterns = [re.compile(pattern) for pattern in patterns]

    def expectation(self) -> str:
        return f"all {_count(len(self.patterns), 'pattern')} to match the summary"

    def check(self, case: EvalCase, output: CaseOutput) -> ScoreResult:
        assert output.output is not None
        out = output.output
        summary = _text(out.get("summary")) if "summary" in out else _written_text(out)
        failed = [i for i, pattern in enumerate(self.patterns) if pattern.search(summary) is None]
        total = len(self.patterns)
        score = (total - len(failed)) / total if total else 1.0
        if failed:
            return self.result(
                False,
                score,
                f"{len(failed)} of {total} patterns did not match: {_positions(failed)}",
                got=f"{total - len(failed)} of {total} (no match for {_positions(failed)})",
            )
        return self.result(True, 1.0, f"all {total} patterns matched")


class SchemaValid(BaseScorer):
    """The output validates as the assistant's output model (a `Triage` unless told otherwise); the
    reason lists the failing fields (not their values)."""

    name = "schema"

    def __init__(self, model: type[BaseModel] = Triage) -> None:
        self.model = model
        self.what = "triage" if model is Triage else model.__name__

    def expectation(self) -> str:
        return f"a valid {self.what}"

    def check(self, case: EvalCase, output: CaseOutput) -> ScoreResult:
        try:
            self.model.model_validate(output.output)
        except ValidationError as exc:
            errors = exc.errors(include_url=False, include_input=False, include_context=False)
            fields = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(root)'}: {e['msg']}" for e in errors[:5])
            return self.result(
                False,
                0.0,
                f"not a valid {self.what} ({len(errors)} errors): {fields}",
                got=f"{_count(len(errors), 'error')} ({fields})",
            )
        return self.result(True, 1.0, f"valid {self.what}")


class FieldEquals(BaseScorer):
    """Each output field (dotted path) equals its expected value; score is the share that did. The
    reason names the paths that differ, not the values (outputs may hold personal data)."""

    name = "fields"

    def __init__(self, expected: dict[str, Any]) -> None:
        self.expected = dict(expected)

    def expectation(self) -> str:
        return f"{', '.join(self.expected)} as in the dataset"

    def check(self, case: EvalCase, output: CaseOutput) -> ScoreResult:
        assert output.output is not None
        wrong = []
        for path, wanted in self.expected.items():
            found, actual = field_value(output.output, path)
            if not found or actual != wanted:
                wrong.append(path if found else f"{path} (missing)")
        total = len(self.expected)
        if wrong:
            return self.result(
                False,
                (total - len(wrong)) / total,
                f"{len(wrong)} of {total} fields differ: {', '.join(wrong)}",
                got=f"other values for {', '.join(wrong)}",
            )
        return self.result(True, 1.0, f"all {total} fields as expected")


class LengthAtMost(BaseScorer):
    """The summary is at most `max_chars` characters; longer ones score max/actual."""

    name = "summary_length"

    def __init__(self, max_chars: int) -> None:
        self.max_chars = max_chars

    def expectation(self) -> str:
        return f"at most {self.max_chars:,} characters"

    def check(self, case: EvalCase, output: CaseOutput) -> ScoreResult:
        assert output.output is not None
        length = len(_text(output.output.get("summary")))
        if length <= self.max_chars:
            return self.result(True, 1.0, f"summary has {length} <= {self.max_chars} characters")
        return self.result(
            False,
            self.max_chars / length,
            f"summary has {length} > {self.max_chars} characters",
            got=f"{length:,} characters",
        )


class LatencyCeiling(BaseScorer):
    """Latency at most `max_ms`; slower calls score max/actual, an unmeasured latency fails."""

    name = "latency"
    needs_output = False

    def __init__(self, max_ms: float) -> None:
        self.max_ms = max_ms

    def expectation(self) -> str:
        return f"at most {seconds(self.max_ms)}"

    def check(self, case: EvalCase, output: CaseOutput) -> ScoreResult:
        if output.latency_ms is None:
            return self.result(
                False, 0.0, f"latency was not measured; ceiling {self.max_ms:g} ms", got="no measurement"
            )
        if output.latency_ms <= self.max_ms:
            return self.result(True, 1.0, f"{output.latency_ms:.1f} ms <= {self.max_ms:g} ms")
        return self.result(
            False,
            self.max_ms / output.latency_ms,
            f"{output.latency_ms:.1f} ms > {self.max_ms:g} ms",
            got=seconds(output.latency_ms),
        )


class CostCeiling(BaseScorer):
    """Cost at most `max_usd`. An unknown cost (no price for the model) passes only without a ceiling:
    with one it cannot be shown to hold, so it fails."""

    name = "cost"
    needs_output = False

    def __init__(self, max_usd: float | None) -> None:
        self.max_usd = max_usd

    def expectation(self) -> str:
        return "any cost" if self.max_usd is None else f"at most {dollars(self.max_usd)}"

    def check(self, case: EvalCase, output: CaseOutput) -> ScoreResult:
        cost = output.cost_usd
        if self.max_usd is None:
            known = "unknown" if cost is None else f"{cost:.6f} USD"
            return self.result(True, 1.0, f"no cost ceiling (cost {known})")
        if cost is None:
            return self.result(
                False,
                0.0,
                f"cost unknown, so the {self.max_usd:g} USD ceiling cannot be checked",
                got="an unknown cost",
            )
        if cost <= self.max_usd:
            return self.result(True, 1.0, f"{cost:.6f} USD <= {self.max_usd:g} USD")
        return self.result(
            False, self.max_usd / cost, f"{cost:.6f} USD > {self.max_usd:g} USD", got=dollars(cost)
        )


def scorers_for(
    case: EvalCase, judge: Scorer | None = None, output_model: type[BaseModel] | None = None
) -> list[Scorer]:
    """The scorers a case's expectations ask for. The schema check needs the assistant's output
    model (the Email Gatekeeper's is known; another assistant's comes from its target). The judge joins
    only when the case has a rubric and a judge is given; runs without a judge skip rubric checks."""
    expected = case.expected
    scorers: list[Scorer] = []
    model = output_model or (Triage if case.assistant == GATEKEEPER else None)
    if expected.schema and model is not None:
        scorers.append(SchemaValid(model))
    if expected.fields:
        scorers.append(FieldEquals(expected.fields))
    if expected.category is not None:
        scorers.append(CategoryMatch(expected.category))
    if expected.priority is not None:
        scorers.append(PriorityInRange(*expected.priority))
    if expected.must_contain:
        scorers.append(Contains(expected.must_contain))
    if expected.must_not_contain:
        scorers.append(NotContains(expected.must_not_contain))
    if expected.regex:
        scorers.append(RegexMatch(expected.regex))
    if expected.max_summary_chars is not None:
        scorers.append(LengthAtMost(expected.max_summary_chars))
    if expected.max_latency_ms is not None:
        scorers.append(LatencyCeiling(expected.max_latency_ms))
    if expected.max_cost_usd is not None:
        scorers.append(CostCeiling(expected.max_cost_usd))
    if expected.judge_rubric is not None and judge is not None:
        scorers.append(judge)
    return scorers


def aggregate(case: EvalCase, output: CaseOutput, results: list[ScoreResult]) -> CaseScore:
    """All must pass; the score is their mean. With no scorers, only an error fails the case."""
    if results:
        passed = all(result.passed for result in results)
        score = sum(result.score for result in results) / len(results)
    else:
        passed = output.error is None
        score = 1.0 if passed else 0.0
    return CaseScore(case_id=case.id, passed=passed, score=score, critical=case.critical, results=results)


def score_case(case: EvalCase, output: CaseOutput, scorers: Sequence[Scorer]) -> CaseScore:
    """Score one case synchronously (an LLM judge runs its own event loop; use `ascore_case` in async code)."""
    return aggregate(case, output, [scorer.score(case, output) for scorer in scorers])


async def ascore_case(case: EvalCase, output: CaseOutput, scorers: Sequence[Scorer]) -> CaseScore:
    """Score one case from async code: scorers with an `ascore` coroutine (the LLM judge) are awaited."""
    results: list[ScoreResult] = []
    for scorer in scorers:
        ascore = getattr(scorer, "ascore", None)
        if ascore is not None and inspect.iscoroutinefunction(ascore):
            pending: Awaitable[ScoreResult] = ascore(case, output)
            results.append(await pending)
        else:
            results.append(scorer.score(case, output))
    return aggregate(case, output, results)
