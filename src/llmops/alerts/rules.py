"""Alert rules: what each kind measures, and the query that measures it.

A rule turns the store into one `Measurement`: a value, the threshold it is held against, whether it
is breached, and how many observations it rests on. Below `min_requests` observations a rule is not
breached and says "not enough data", so a quiet hour never pages anyone.

A window that holds fewer than `min_requests` observations widens back, up to `max_window_s`, until it
holds the latest `min_requests` (`widened_start`). A fixed five-minute window with a floor of 20 can
never fire on a deployment that serves fewer than 20 requests in five minutes (the default local model
serves about that many at best), however many of them fail; the rate or p95 of the latest 20 requests
is as meaningful at low traffic as the last five minutes are at high traffic. At high traffic the
window is `window_s` as configured; a deployment too quiet to reach `min_requests` in `max_window_s`
still says "not enough data". The same widening applies to the rating count of
`negative_feedback_rate`.

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
from llmops.storage.timeutil import utc

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
    max_window_s: int = Field(
        default=3600,
        ge=0,
        description="How far back the window may widen to hold `min_requests` observations (never "
        "narrower than `window_s`; 0 or `window_s`: never widens).",
    )
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

    def live_requests(self) -> list[Any]:
        """The conditions on `requests` for the rows this rule measures: live traffic, of its assistant
        if it names one."""
        return [LIVE_TRAFFIC] + ([] if self.assistant is None else [requests.c.assistant == self.assistant])


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


def widened_start(
    rule: AlertRule, context: RuleContext, created_at: Any, source: Any, *conditions: Any
) -> datetime:
    """The window's start: `now − window_s`, or earlier, back to at most `now − max_window_s`, so that
    the window holds the latest `min_requests` observations (rows of `source` matching `conditions`,
    timed by `created_at`). Without enough observations even then, the widest start."""
    start = context.now - timedelta(seconds=rule.window_s)
    widest = context.now - timedelta(seconds=max(rule.window_s, rule.max_window_s))
    if widest >= start or rule.min_requests < 1:
        return start
    nth = (
        select(created_at)
        .select_from(source)
        .where(created_at >= widest, created_at < context.now, *conditions)
        .order_by(created_at.desc())
        .offset(rule.min_requests - 1)
        .limit(1)
    )
    with context.engine.connect() as connection:
        found = connection.execute(nth).scalar()
    return widest if found is None else min(start, utc(found))


def _seconds(context: RuleContext, start: datetime) -> int:
    return round((context.now - start).total_seconds())


def _rate(rule: AlertRule, hits: int, total: int, unit: str, window_s: int) -> Measurement:
    threshold = rule.threshold if rule.threshold is not None else 0.0
    details: dict[str, Any] = {unit: total, "window_s": window_s}
    if total < max(rule.min_requests, 1):
        return Measurement(False, None, threshold, total, NOT_ENOUGH_DATA, details)
    value = hits / total
    breached = value > threshold
    reason = f"{hits} of {total} {unit.removesuffix('s') if total == 1 else unit} in {window_s}s"
    return Measurement(breached, value, threshold, total, reason, details | {"hits": hits})


def _request_rate(rule: AlertRule, context: RuleContext) -> Measurement:
    if rule.kind == "error_rate":
        hit = or_(requests.c.status == "error", requests.c.degraded_reason == "providers_failed")
    else:
        hit = requests.c.degraded.is_(True)
    mine = rule.live_requests()
    start = widened_start(rule, context, requests.c.created_at, requests, *mine)
    in_window = and_(requests.c.created_at >= start, requests.c.created_at < context.now, *mine)
    query = select(func.count(), func.count().filter(hit)).select_from(requests).where(in_window)
    with context.engine.connect() as connection:
        total, hits = connection.execute(query).one()
    return _rate(rule, int(hits or 0), int(total or 0), "requests", _seconds(context, start))


def _negative_feedback(rule: AlertRule, context: RuleContext) -> Measurement:
    source: Any = feedback
    mine: list[Any] = []
    if rule.assistant is not None:
        source = feedback.join(requests, requests.c.request_id == feedback.c.request_id)
        mine = [requests.c.assistant == rule.assistant]
    start = widened_start(rule, context, feedback.c.created_at, source, *mine)
    in_window = and_(feedback.c.created_at >= start, feedback.c.created_at < context.now, *mine)
    query = select(func.count(), func.count().filter(feedback.c.rating == -1)).where(in_window)
    with context.engine.connect() as connection:
        total, hits = connection.execute(query.select_from(source)).one()
    return _rate(rule, int(hits or 0), int(total or 0), "ratings", _seconds(context, start))


def _latencies(rule: AlertRule, engine: Engine, start: datetime, end: datetime) -> list[float]:
    query = select(requests.c.latency_ms).where(
        requests.c.created_at >= start, requests.c.created_at < end, *rule.live_requests()
    )
    with engine.connect() as connection:
        return [float(value) for value in connection.execute(query).scalars()]


def _latency_p95(rule: AlertRule, context: RuleContext) -> Measurement:
    mine = rule.live_requests()
    start = widened_start(rule, context, requests.c.created_at, requests, *mine)
    window_s = _seconds(context, start)
    current = _latencies(rule, context.engine, start, context.now)
    details: dict[str, Any] = {"requests": len(current), "window_s": window_s}
    if len(current) < max(rule.min_requests, 1):
        return Measurement(False, None, rule.floor_ms, len(current), NOT_ENOUGH_DATA, details)
    baseline = _latencies(rule, context.engine, start - timedelta(seconds=rule.baseline_s), start)
    p95 = percentile(current, 0.95)
    details["baseline_requests"] = len(baseline)
    threshold = rule.floor_ms
    if len(baseline) >= max(rule.min_requests, 1):
        baseline_p95 = percentile(baseline, 0.95)
        details["baseline_p95_ms"] = round(baseline_p95, 3)
        threshold = max(rule.factor * baseline_p95, rule.floor_ms)
    reason = f"p95 {p95:.0f} ms over {window_s}s against {threshold:.0f} ms"
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
