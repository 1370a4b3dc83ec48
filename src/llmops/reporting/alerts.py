"""Alert rules, states and events, and budgets with their usage, as stored (none of them hold content)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Engine, select

from llmops.storage.tables import alert_events, alert_rules, alert_states, budget_usage, budgets
from llmops.storage.timeutil import utc


class AlertsView(BaseModel):
    rules: list[dict[str, Any]]
    states: list[dict[str, Any]]
    events: list[dict[str, Any]]
    budgets: list[dict[str, Any]]
    budget_usage: list[dict[str, Any]]


def alerts_view(engine: Engine, limit: int = 100) -> AlertsView:
    """Alert rules, current states, recent events and budgets, as stored (none of them hold content)."""
    with engine.connect() as connection:

        def rows(query: Any) -> list[dict[str, Any]]:
            return [_jsonable(dict(row)) for row in connection.execute(query).mappings()]

        return AlertsView(
            rules=rows(select(alert_rules).order_by(alert_rules.c.name)),
            states=rows(select(alert_states).order_by(alert_states.c.rule_name)),
            events=rows(select(alert_events).order_by(alert_events.c.created_at.desc()).limit(limit)),
            budgets=rows(select(budgets).order_by(budgets.c.scope, budgets.c.subject)),
            budget_usage=rows(select(budget_usage).order_by(budget_usage.c.bucket_start.desc()).limit(limit)),
        )


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {
        key: utc(value).isoformat() if isinstance(value, datetime) else value for key, value in row.items()
    }
