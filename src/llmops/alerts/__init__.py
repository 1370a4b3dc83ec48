"""Alert rules over requests, feedback, budgets and evals; states with de-duplication; notifiers."""

from .engine import AlertEngine, AlertEvent, RuleState, run_alert_loop
from .notifiers import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    AlertMessage,
    Delivery,
    LogNotifier,
    Notifier,
    WebhookNotifier,
    build_notifiers,
    sign,
    verify_signature,
)
from .rules import (
    DEFAULT_RULES,
    AlertRule,
    BudgetStatusSource,
    Measurement,
    RuleContext,
    comparison_measurement,
    load_rules,
    measure,
)
from .setup import build_alert_engine, notify_eval_regression

__all__ = [
    "DEFAULT_RULES",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "AlertEngine",
    "AlertEvent",
    "AlertMessage",
    "AlertRule",
    "BudgetStatusSource",
    "Delivery",
    "LogNotifier",
    "Measurement",
    "Notifier",
    "RuleContext",
    "RuleState",
    "WebhookNotifier",
    "build_alert_engine",
    "build_notifiers",
    "comparison_measurement",
    "load_rules",
    "measure",
    "notify_eval_regression",
    "run_alert_loop",
    "sign",
    "verify_signature",
]
