"""Alert rules: what each kind measures, and the query that measures it.

A rule turns the store into one `Measurement`: a value, the threshold it is held against, whether it
is breached, and how many observations it rests on. Below `min_requests` observations a rule is not
breached and says "not enough data", so a quiet hour never pages anyone.

- `error_rate`: share of requests that failed or whose every provider failed (the degraded reply
  from the rules), over `window_s`.
- `degraded_rate`: share of requests answered by the rule-based fallback, for any reason.
- `latency_p95`: p95 latency over the window against the p95 of the `baseline_s` before it; breached
  when above `factor` × the baseline and above `floor_ms` (only the floor without a baseline).
- `negative_feedback_rate`: share of rating −1 among feedback given in the window.
- `budget`: any budget past its soft threshold (`level: soft`) or its hard cap (`level: hard`).
- `eval_regression`: the latest runs of `baseline_version` and `candidate_version` compare as
  REGRESSION; without them the rule is driven only by `llmops eval compare`.

A rule with an `assistant` measures only that assistant's requests (and the feedback on them); without
one it measures them all. Budget and eval rules are not narrowed (budgets have their own scopes, an
eval comparison names its versions).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine, and_, func, or_, select

from llmops.evals.compare import Comparison, Verdict
from llmops.storage.tables import LIVE_TRAFFIC, feedback, requests

RuleKind = Literal[
    "budget", "latency_p95", "error_rate", "degraded_rate", "negative_feedback_rate", "eval_regression"
]
NOT_ENOUGH_DATA = "not enough data"
BASE_FIELDS = frozenset({"name", "kind", "window_s", "min_requests", "renotify_s", "enabled"})


class AlertRule(BaseModel):
    """One rule. The kind-specific fields (threshold, factor, floor_ms, baseline_s, level, versions)
    are stored as the rule's `params`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_.-]{0,127}$")
    kind: RuleKind
    window_s: int = Field(default=300, ge=1, description="Seconds the value is measured over, up to now.")
    min_requests: int = Field(default=20, ge=0, description="Observations needed before the rule may fire.")
    renotify_s: int = Field(default=3600, ge=1, description="A firing rule notifies again after this long.")
    enabled: bool = True
    threshold: float | None = Field(default=None, ge=0, description="The rate above which a rate rule fires.")
    factor: float = Field(default=2.0, gt=0, description="latency_p95: times the baseline p95.")
    floor_ms: float = Field(default=1000.0, ge=0, description="latency_p95: p95 must also exceed this.")
    baseline_s: int = Field(
        default=3600, ge=1, description="latency_p95: the baseline window before `window_s`."
    )
    level: Literal["soft", "hard"] = "soft"
    baseline_version: str | None = None
    candidate_version: str | None = None
    assistant: str | None = Field(
        default=None, min_length=1, max_length=128, description="Only this assistant's requests."
    )

    def params(self) -> dict[str, Any]:
        unset = {"assistant"} if self.assistant is None else set()
        return self.model_dump(exclude=set(BASE_FIELDS) | unset)

    def narrows(self, query: Any) -> Any:
        """`query` (over `requests`) restricted to this rule's assistant, if it names one."""
        return query if self.assistant is None else query.where(requests.c.assistant == self.assistant)


DEFAULT_RULES: tuple[AlertRule, ...] = (
    AlertRule(name="error_rate", kind="error_rate", threshold=0.05),
    AlertRule(name="degraded_rate", kind="degraded_rate", threshold=0.2),
    AlertRule(name="latency_p95", kind="latency_p95", factor=2.0, floor_ms=5000.0),
    AlertRule(
        name="negative_feedback_rate",
        kind="negative_feedback_rate",
        window_s=86_400,
        min_requests=10,
        threshold=0.3,
    ),
    AlertRule(name="budget_soft", kind="budget", min_requests=0, level="soft"),
    AlertRule(name="budget_hard", kind="budget", min_requests=0, level="hard", renotify_s=900),
    AlertRule(name="eval_regression", kind="eval_regression", min_requests=0, renotify_s=86_400),
)


@dataclass(frozen=True)
class Measurement:
    breached: bool
    value: float | None
    threshold: float | None
    count: int
    reason: str
    details: dict[str, Any] = field(default_factory=dict)


class BudgetUsageLike(Protocol):
    @property
    def ratio(self) -> float: ...


class BudgetLike(Protocol):
    @property
    def soft_ratio(self) -> float: ...

    def label(self) -> str: ...


class BudgetStatusLike(Protocol):
    @property
    def budget(self) -> BudgetLike: ...

    @property
    def usage(self) -> BudgetUsageLike: ...

    @property
    def soft_exceeded(self) -> bool: ...

    @property
    def hard_exceeded(self) -> bool: ...


class BudgetStatusSource(Protocol):
    """What the budget rule needs from `llmops.budgets.BudgetStore`."""

    def status(self) -> Sequence[BudgetStatusLike]: ...


@dataclass(frozen=True)
class RuleContext:
    engine: Engine
    now: datetime
    budgets: BudgetStatusSource | None = None


def percentile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    below = math.floor(position)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)


def _rate(rule: AlertRule, hits: int, total: int, unit: str) -> Measurement:
    threshold = rule.threshold if rule.threshold is not None else 0.0
    if total < max(rule.min_requests, 1):
        return Measurement(False, None, threshold, total, NOT_ENOUGH_DATA, {unit: total})
    value = hits / total
    breached = value > threshold
    reason = f"{hits} of {total} {unit} in {rule.window_s}s"
    return Measurement(breached, value, threshold, total, reason, {unit: total, "hits": hits})


def _request_rate(rule: AlertRule, context: RuleContext) -> Measurement:
    start = context.now - timedelta(seconds=rule.window_s)
    if rule.kind == "error_rate":
        hit = or_(requests.c.status == "error", requests.c.degraded_reason == "providers_failed")
    else:
        hit = requests.c.degraded.is_(True)
    in_window = and_(requests.c.created_at >= start, requests.c.created_at < context.now, LIVE_TRAFFIC)
    query = rule.narrows(
        select(func.count(), func.count().filter(hit)).select_from(requests).where(in_window)
    )
    with context.engine.connect() as connection:
        total, hits = connection.execute(query).one()
    return _rate(rule, int(hits or 0), int(total or 0), "requests")


def _negative_feedback(rule: AlertRule, context: RuleContext) -> Measurement:
    start = context.now - timedelta(seconds=rule.window_s)
    in_window = and_(feedback.c.created_at >= start, feedback.c.created_at < context.now)
    query = select(func.count(), func.count().filter(feedback.c.rating == -1)).where(in_window)
    source: Any = feedback
    if rule.assistant is not None:
        source = feedback.join(requests, requests.c.request_id == feedback.c.request_id)
        query = rule.narrows(query)
    with context.engine.connect() as connection:
        total, hits = connection.execute(query.select_from(source)).one()
    return _rate(rule, int(hits or 0), int(total or 0), "ratings")


def _latencies(rule: AlertRule, engine: Engine, start: datetime, end: datetime) -> list[float]:
    query = rule.narrows(
        select(requests.c.latency_ms).where(
            requests.c.created_at >= start, requests.c.created_at < end, LIVE_TRAFFIC
        )
    )
    with engine.connect() as connection:
        return [float(value) for value in connection.execute(query).scalars()]


def _latency_p95(rule: AlertRule, context: RuleContext) -> Measurement:
    start = context.now - timedelta(seconds=rule.window_s)
    current = _latencies(rule, context.engine, start, context.now)
    if len(current) < max(rule.min_requests, 1):
        return Measurement(
            False, None, rule.floor_ms, len(current), NOT_ENOUGH_DATA, {"requests": len(current)}
        )
    baseline = _latencies(rule, context.engine, start - timedelta(seconds=rule.baseline_s), start)
    p95 = percentile(current, 0.95)
    details: dict[str, Any] = {"requests": len(current), "baseline_requests": len(baseline)}
    threshold = rule.floor_ms
    if len(baseline) >= max(rule.min_requests, 1):
        baseline_p95 = percentile(baseline, 0.95)
        details["baseline_p95_ms"] = round(baseline_p95, 3)
        threshold = max(rule.factor * baseline_p95, rule.floor_ms)
    reason = f"p95 {p95:.0f} ms over {rule.window_s}s against {threshold:.0f} ms"
    return Measurement(p95 > threshold, p95, threshold, len(current), reason, details)


def _budget(rule: AlertRule, context: RuleContext) -> Measurement | None:
    if context.budgets is None:
        return None
    statuses = list(context.budgets.status())
    if not statuses:
        return Measurement(False, None, None, 0, "no budgets defined")
    crossed = [s for s in statuses if (s.hard_exceeded if rule.level == "hard" else s.soft_exceeded)]
    fullest = max(statuses, key=lambda s: s.usage.ratio)
    shown = max(crossed, key=lambda s: s.usage.ratio) if crossed else fullest
    threshold = 1.0 if rule.level == "hard" else shown.budget.soft_ratio
    labels = sorted({s.budget.label() for s in crossed})
    reason = f"{len(crossed)} budget(s) past the {rule.level} threshold" if crossed else "all budgets within"
    return Measurement(
        bool(crossed), shown.usage.ratio, threshold, len(statuses), reason, {"budgets": labels}
    )


def comparison_measurement(comparison: Comparison) -> Measurement:
    """An eval comparison as a measurement: breached on REGRESSION, valued by the mean score change."""
    details = {
        "baseline_run": comparison.baseline.id,
        "candidate_run": comparison.candidate.id,
        "baseline_version": comparison.baseline.prompt_version,
        "candidate_version": comparison.candidate.prompt_version,
        "verdict": comparison.verdict.value,
        "regressions": [case.case_id for case in comparison.regressions][:20],
    }
    reason = f"{comparison.verdict.value}: {comparison.candidate.prompt_version} vs {comparison.baseline.prompt_version}"
    return Measurement(
        comparison.verdict is Verdict.REGRESSION,
        comparison.bootstrap.mean_difference,
        -comparison.margin,
        comparison.paired,
        reason,
        details,
    )


def _eval_regression(rule: AlertRule, context: RuleContext) -> Measurement | None:
    if not (rule.baseline_version and rule.candidate_version):
        return None
    from llmops.evals.compare import compare_runs
    from llmops.evals.store import RunNotFound, resolve_run

    try:
        baseline = resolve_run(context.engine, rule.baseline_version)
        candidate = resolve_run(context.engine, rule.candidate_version)
    except RunNotFound:
        return Measurement(False, None, None, 0, NOT_ENOUGH_DATA)
    return comparison_measurement(compare_runs(baseline, candidate))


def measure(rule: AlertRule, context: RuleContext) -> Measurement | None:
    """The rule's measurement now, or None when it has nothing to evaluate on a schedule."""
    if rule.kind in ("error_rate", "degraded_rate"):
        return _request_rate(rule, context)
    if rule.kind == "negative_feedback_rate":
        return _negative_feedback(rule, context)
    if rule.kind == "latency_p95":
        return _latency_p95(rule, context)
    if rule.kind == "budget":
        return _budget(rule, context)
    return _eval_regression(rule, context)


class RulesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rules: list[AlertRule]


def load_rules(path: str) -> list[AlertRule]:
    """Rules from a YAML or JSON file (`{"rules": [...]}`), or the defaults for an empty path.

    Raises ValueError naming the file and the invalid fields, never their values."""
    if not path:
        return list(DEFAULT_RULES)
    from pathlib import Path

    import yaml
    from pydantic import ValidationError

    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        parsed = RulesFile.model_validate(raw)
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"cannot read alert rules file {path}: {type(exc).__name__}") from None
    except ValidationError as exc:
        fields = ", ".join(".".join(str(part) for part in error["loc"]) for error in exc.errors())
        raise ValueError(f"invalid alert rules file {path}: {fields}") from None
    names = [rule.name for rule in parsed.rules]
    if len(names) != len(set(names)):
        raise ValueError(f"invalid alert rules file {path}: duplicate rule names")
    return parsed.rules
