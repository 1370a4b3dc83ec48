"""Wiring: an alert engine from settings, and the eval-compare hook."""

from __future__ import annotations

import logging

from sqlalchemy import Engine

from llmops.alerts.engine import AlertEngine, AlertEvent
from llmops.alerts.notifiers import build_notifiers
from llmops.alerts.rules import AlertRule, BudgetStatusSource, comparison_measurement, load_rules
from llmops.config import Settings
from llmops.evals.compare import Comparison
from llmops.redaction import Redactor

logger = logging.getLogger("llmops.alerts")


def build_alert_engine(
    settings: Settings, engine: Engine, redactor: Redactor, budgets: BudgetStatusSource | None = None
) -> AlertEngine:
    """The engine the server and the CLI use: rules from `LLMOPS_ALERT_RULES`, the configured notifiers."""
    return AlertEngine(
        engine,
        load_rules(settings.alert_rules),
        build_notifiers(settings, redactor),
        redactor,
        budgets=budgets,
    )


def notify_eval_regression(
    settings: Settings, engine: Engine, redactor: Redactor, comparison: Comparison
) -> list[AlertEvent]:
    """Apply a comparison to the `eval_regression` rules: a REGRESSION fires (or re-notifies); another
    verdict resolves only an alert fired by the same pair (baseline version, candidate version), so a
    sanity compare of a version with itself, or of another pair, leaves a firing alert firing. Rules
    pinned to other versions are left alone. Never raises."""
    try:
        alerts = build_alert_engine(settings, engine, redactor)
        measurement = comparison_measurement(comparison)
        events = []
        for rule in alerts.rules:
            pinned = rule.baseline_version, rule.candidate_version
            compared = comparison.baseline.prompt_version, comparison.candidate.prompt_version
            if rule.kind != "eval_regression" or not rule.enabled or (any(pinned) and pinned != compared):
                continue
            if not measurement.breached and _fired_by_another_pair(alerts, rule, compared):
                continue
            alerts.sync_rules()
            event = alerts.apply(rule, measurement)
            if event is not None:
                events.append(event)
        return events
    except Exception as exc:
        logger.error("eval regression alert failed", extra={"error_type": type(exc).__name__})
        return []


def _fired_by_another_pair(alerts: AlertEngine, rule: AlertRule, compared: tuple[str, str]) -> bool:
    """True when `rule` is firing for a pair of versions other than `compared`."""
    state = next((s for s in alerts.states() if s.rule == rule.name), None)
    if state is None or state.state != "firing":
        return False
    fired = next((e for e in alerts.history(rule.name, limit=50) if e.kind in ("firing", "renotify")), None)
    if fired is None:
        return False
    return (fired.details.get("baseline_version"), fired.details.get("candidate_version")) != compared
