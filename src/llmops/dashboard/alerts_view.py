"""The alerts page in words: each rule's condition (only the parameters its kind uses), states with a
colour, history with the details summarised, and every budget's usage now (not the raw buckets)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from llmops.budgets.models import BudgetStatus
from llmops.dashboard.format import count, duration_ms, duration_s, number, pct, when, yesno
from llmops.reporting.alerts import AlertsView

RATE_KINDS = {"error_rate", "degraded_rate", "negative_feedback_rate"}
COUNTED_KINDS = RATE_KINDS | {"latency_p95"}  # the kinds that need `min_requests` observations
HIDDEN_DETAILS = {"deliveries", "reason", "count"}


@dataclass
class RuleView:
    name: str
    kind: str
    condition: str
    window: str
    min_requests: str
    renotify: str
    enabled: str


@dataclass
class StateView:
    rule: str
    state: str
    since: str
    value: str
    notified: str


@dataclass
class EventView:
    at: str
    rule: str
    kind: str
    value: str
    threshold: str
    summary: str
    delivered: str
    attempts: str


@dataclass
class BudgetView:
    name: str
    subject: str
    used: str
    limit: str
    ratio: float
    ratio_text: str
    state: str


@dataclass
class AlertsPage:
    rules: list[RuleView]
    states: list[StateView]
    events: list[EventView]
    budgets: list[BudgetView]


def value_of(kind: str | None, value: float | None) -> str:
    """A measured value in its rule's unit: a rate as %, a latency as a duration, else a number."""
    if value is None:
        return "—"
    if kind in RATE_KINDS:
        return pct(value)
    if kind == "latency_p95":
        return duration_ms(value)
    if kind == "budget":
        return pct(value)
    return number(value)


def condition(kind: str, params: dict[str, Any]) -> str:
    if kind in RATE_KINDS:
        return f"{kind.replace('_', ' ')} above {pct(params.get('threshold'))}"
    if kind == "latency_p95":
        return (
            f"p95 above {number(params.get('factor'))}× the p95 of the {duration_s(params.get('baseline_s'))} "
            f"before, and above {duration_ms(params.get('floor_ms'))}"
        )
    if kind == "budget":
        return f"a budget past its {'hard cap' if params.get('level') == 'hard' else 'soft threshold'}"
    if kind == "eval_regression":
        pair = (params.get("baseline_version"), params.get("candidate_version"))
        return "eval compare says REGRESSION" + (f" ({pair[0]} → {pair[1]})" if all(pair) else "")
    return kind


def window(kind: str, window_s: int, params: dict[str, Any]) -> str:
    """The rule's window, and how far it widens to reach its minimum count (`5 min, widens to 1 h`)."""
    widest = params.get("max_window_s")
    if kind in COUNTED_KINDS and isinstance(widest, int) and widest > window_s:
        return f"{duration_s(window_s)}, widens to {duration_s(widest)}"
    return duration_s(window_s)


def alerts_page(data: AlertsView, budgets: list[BudgetStatus]) -> AlertsPage:
    kinds = {rule["name"]: rule["kind"] for rule in data.rules}
    rules = [
        RuleView(
            name=rule["name"],
            kind=rule["kind"],
            condition=condition(rule["kind"], _params(rule.get("params"))),
            window=window(rule["kind"], rule["window_s"], _params(rule.get("params"))),
            min_requests=number(rule["min_requests"]),
            renotify=duration_s(rule["renotify_s"]),
            enabled=yesno(rule["enabled"]),
        )
        for rule in data.rules
    ]
    states = [
        StateView(
            rule=row["rule_name"],
            state=row["state"],
            since=when(row["since"]),
            value=value_of(kinds.get(row["rule_name"]), row["last_value"]),
            notified=when(row["last_notified_at"]) if row["last_notified_at"] else "never",
        )
        for row in data.states
    ]
    events = [
        EventView(
            at=when(row["created_at"]),
            rule=row["rule_name"],
            kind=row["kind"],
            value=value_of(kinds.get(row["rule_name"]), row["value"]),
            threshold=value_of(kinds.get(row["rule_name"]), row["threshold"]),
            summary=summary(_params(row.get("details"))),
            delivered=yesno(row["delivered"]) if row["attempts"] else "not sent (no notifier)",
            attempts=number(row["attempts"]),
        )
        for row in data.events
    ]
    return AlertsPage(rules, states, events, [budget_view(status) for status in budgets])


def summary(details: dict[str, Any]) -> str:
    """An event's details as one sentence: its reason, observation count and other figures, rounded."""
    parts = [str(details["reason"])] if details.get("reason") else []
    if isinstance(details.get("count"), int):
        parts.append(count(details["count"], "observation"))
    for key, value in sorted(details.items()):
        if key in HIDDEN_DETAILS or isinstance(value, dict | list):
            continue
        if key == "window_s":
            parts.append(f"over {duration_s(value)}")
            continue
        shown = number(value, 3) if isinstance(value, int | float) else str(value)
        parts.append(f"{key.replace('_', ' ')} {shown}")
    return "; ".join(parts)


def budget_view(status: BudgetStatus) -> BudgetView:
    budget, usage = status.budget, status.usage
    money = budget.metric == "cost_usd"

    def amount(value: float) -> str:
        return f"${value:,.2f}" if money else f"{value:,.0f} tokens"

    return BudgetView(
        name=budget.label(),
        subject=status.subject or "—",
        used=amount(usage.used + usage.reserved),
        limit=amount(usage.limit),
        ratio=min(usage.ratio, 1.0),
        ratio_text=pct(usage.ratio),
        state="hard" if status.hard_exceeded else "soft" if status.soft_exceeded else "ok",
    )


def _params(raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    try:
        parsed = json.loads(raw or "{}")
    except (TypeError, ValueError):
        return {}
    return parsed if isinstance(parsed, dict) else {}
