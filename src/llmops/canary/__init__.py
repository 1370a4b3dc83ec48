"""Canary releases of prompt versions: sticky routing, a live comparison of the two arms, and a
controller that promotes, rolls back or holds and records every decision."""

from llmops.canary.compare import ArmFigures, Comparison, Guardrails, active_canary, compare
from llmops.canary.controller import CanaryController, Decision
from llmops.canary.routing import CanaryRoute, CanaryRouter, assignment_point, in_canary

__all__ = [
    "ArmFigures",
    "CanaryController",
    "CanaryRoute",
    "CanaryRouter",
    "Comparison",
    "Decision",
    "Guardrails",
    "active_canary",
    "assignment_point",
    "compare",
    "in_canary",
]
