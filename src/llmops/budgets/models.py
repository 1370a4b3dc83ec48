"""Budget shapes: what a cap is, how it is spelled in settings, and what the store reports about it.

The alert engine polls `BudgetStore.status()` and reads `BudgetStatus.ratio` / `soft_exceeded`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from llmops.config import split_budget_spec

Scope = Literal["global", "user", "api_key", "assistant"]
Window = Literal["hour", "day", "month"]
Metric = Literal["tokens", "cost_usd"]
Granularity = Literal["minute", "hour"]

SCOPES: tuple[Scope, ...] = ("global", "user", "api_key", "assistant")
WINDOWS: dict[Window, timedelta] = {
    "hour": timedelta(hours=1),
    "day": timedelta(days=1),
    "month": timedelta(days=30),
}
METRICS: tuple[Metric, ...] = ("tokens", "cost_usd")
# Minute buckets keep an hour window accurate to a minute; day and month windows use hour buckets.
GRANULARITY: dict[Window, Granularity] = {"hour": "minute", "day": "hour", "month": "hour"}
EACH = ""  # a user, api_key or assistant budget with this subject applies to each one separately


class Budget(BaseModel):
    """One cap. For `user`/`api_key`/`assistant`, an empty subject applies to each subject on its own;
    a set subject (a pseudonymous user id, a key fingerprint, an assistant's name) overrides it for
    that one."""

    model_config = ConfigDict(frozen=True)

    scope: Scope
    subject: str = Field(EACH, max_length=128)
    window: Window
    metric: Metric
    hard_limit: float = Field(gt=0, allow_inf_nan=False)
    soft_ratio: float = Field(0.8, gt=0, le=1)

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.scope, self.subject, self.window, self.metric)

    def label(self) -> str:
        """Scope, window and metric as users name them, e.g. `user:hour:tokens` (never a subject)."""
        return f"{self.scope}:{self.window}:{self.metric}"


class BudgetUsage(BaseModel):
    """Usage of one budget for one subject over its rolling window, right now."""

    used: float
    reserved: float
    limit: float
    ratio: float = Field(description="(used + reserved) / limit")


class BudgetStatus(BaseModel):
    """A budget with its current ratio. For an each-subject budget the subject is the one closest
    to its cap (empty when nobody has used it in the window)."""

    budget: Budget
    subject: str
    usage: BudgetUsage
    soft_exceeded: bool
    hard_exceeded: bool


class BudgetExceededError(Exception):
    """A request would take a budget over its hard cap; `retry_after_s` is when enough usage has left
    the rolling window for it to fit (the whole window when it can never fit)."""

    def __init__(self, budget: Budget, used: float, needed: float, retry_after_s: int) -> None:
        self.budget = budget
        self.used = used
        self.needed = needed
        self.retry_after_s = retry_after_s
        super().__init__(
            f"budget exceeded: {budget.label()} cap {_fmt(budget.hard_limit)} "
            f"(used {_fmt(used)}, this request needs about {_fmt(needed)}); "
            f"retry in {retry_after_s} s"
        )


def _fmt(value: float) -> str:
    return f"{value:.6g}"


def parse_budgets(spec: str, soft_ratio: float) -> list[Budget]:
    """Parse `scope:window:metric=limit[,…]`, e.g. `global:day:cost_usd=5,user:hour:tokens=20000`
    (the syntax is `config.split_budget_spec`'s). Settings-defined `user` and `api_key` budgets apply
    to each user or key separately.
    """
    return [
        Budget.model_validate(
            {
                "scope": scope,
                "window": window,
                "metric": metric,
                "hard_limit": limit,
                "soft_ratio": soft_ratio,
            }
        )
        for scope, window, metric, limit in split_budget_spec(spec)
    ]
