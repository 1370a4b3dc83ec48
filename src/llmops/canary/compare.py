"""The live comparison of a canary's two arms over the window since the canary started.

The arms are the request rows of the canary version and of the production version created since
the canary's start (the oldest move of the `canary` label in its current unbroken run of one version
with a positive share). Per arm: requests, error rate (the request failed, or every provider failed
and the rule-based fallback answered), median and p95 latency, cost per request, schema-valid rate
(not degraded for `invalid_output`), negative feedback rate (ratings of -1 per request) and the rate of
disagreement with the rules' suggestion (a model-answered reply whose category differs from the one the
`rule_suggestion` step stored on its trace; None for assistants without that step). Each metric has a
guardrail; an arm below the minimum number of requests makes the comparison inconclusive. Everything is
read from stored rows (requests, spans, feedback), so every replica computes the same comparison.

A model canary of the gateway (`llmops.gateway.model_canaries`) is compared the same way; its arms are the
request rows by the alias that served them (`requests.model_alias`) instead of the prompt version.

Latency has two guardrails. The p95 one catches a slower tail. On a small arm p95 is one of its
slowest few requests, so a couple of stray pauses (a GC pause, a noisy neighbour) move it, both ways:
- pauses in production can lift its p95 past a canary that is slower on every request, which the
  median guardrail then catches;
- pauses in the canary can lift its p95 over production's without the canary being worse, so the
  p95 guardrail also needs the canary to exceed production's p95 significantly more often than
  production does (one-sided Fisher exact test on the two arms' counts, `tail_alpha`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, Engine, and_, select

from llmops.canary.gate import EvalEvidence
from llmops.config import Settings
from llmops.gateway.model_canaries import MODEL_SUBJECT
from llmops.prompts.labels import CANARY, PRODUCTION, LabelStore
from llmops.storage.tables import LIVE_TRAFFIC, feedback, requests, spans
from llmops.telemetry import conventions as c

FAILED_PROVIDERS = "providers_failed"
INVALID_OUTPUT = "invalid_output"
RULE_SUGGESTION_STEP = "rule_suggestion"  # the Email Gatekeeper's step that stores the rules' category


class Guardrails(BaseModel):
    """How much worse than production the canary may be, and how much evidence a verdict needs."""

    min_requests: int = 100
    max_error_rate_delta: float = 0.02
    max_p95_ratio: float = 1.5
    p95_slack_ms: float = 50.0
    max_median_ratio: float = 1.25
    median_slack_ms: float = 25.0
    tail_alpha: float = 0.05
    max_cost_ratio: float = 1.25
    max_schema_invalid_delta: float = 0.02
    max_negative_feedback_delta: float = 0.05
    max_rule_disagreement_delta: float = 0.10

    @classmethod
    def from_settings(cls, settings: Settings) -> Guardrails:
        return cls(
            min_requests=settings.canary_min_requests,
            max_error_rate_delta=settings.canary_max_error_rate_delta,
            max_p95_ratio=settings.canary_max_p95_ratio,
            p95_slack_ms=settings.canary_p95_slack_ms,
            max_median_ratio=settings.canary_max_median_ratio,
            median_slack_ms=settings.canary_median_slack_ms,
            tail_alpha=settings.canary_tail_alpha,
            max_cost_ratio=settings.canary_max_cost_ratio,
            max_schema_invalid_delta=settings.canary_max_schema_invalid_delta,
            max_negative_feedback_delta=settings.canary_max_negative_feedback_delta,
            max_rule_disagreement_delta=settings.canary_max_rule_disagreement_delta,
        )


class ArmFigures(BaseModel):
    version: str
    requests: int
    error_rate: float | None
    median_latency_ms: float | None
    p95_latency_ms: float | None
    cost_per_request_usd: float | None
    schema_valid_rate: float | None
    negative_feedback_rate: float | None
    rule_disagreement_rate: float | None = None


class Comparison(BaseModel):
    prompt_name: str
    label_change_id: int = Field(description="The canary label's latest move when compared.")
    started_at: datetime
    traffic_share: float
    canary: ArmFigures
    production: ArmFigures
    tail_p_value: float | None = Field(
        None, description="One-sided Fisher p that the canary exceeds production's p95 more often."
    )
    inconclusive: list[str]
    failures: list[str]
    eval: EvalEvidence | None = Field(
        None, description="The canary's latest eval verdict against production (a REGRESSION never promotes)."
    )


@dataclass(frozen=True, slots=True)
class ActiveCanary:
    prompt_name: str
    version: str
    production_version: str
    traffic_share: float
    started_at: datetime
    change_id: int  # the canary label's latest history row: decisions act only if it is still the latest


def active_canary(labels: LabelStore, prompt_name: str, default_version: str) -> ActiveCanary | None:
    """The running canary of `prompt_name`, or None when its label is missing or has no share."""
    history = labels.history(prompt_name, CANARY, limit=1000)
    if not history or history[0].version_id is None or not history[0].traffic_share:
        return None
    current = history[0]
    started_at = current.changed_at
    for change in history:
        if change.version_id != current.version_id or not change.traffic_share:
            break
        started_at = change.changed_at
    production = labels.get(prompt_name, PRODUCTION)
    assert current.version_id is not None and current.traffic_share is not None
    return ActiveCanary(
        prompt_name=prompt_name,
        version=current.version_id,
        production_version=production.version_id if production else default_version,
        traffic_share=current.traffic_share,
        started_at=started_at,
        change_id=current.id,
    )


def nearest_rank(values: list[float], q: float) -> float | None:
    """The nearest-rank `q` quantile: always one of the values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def arm_filter(subject: str, version: str) -> ColumnElement[bool]:
    """Which request rows belong to an arm: by prompt version, or by the alias that served a gateway call."""
    if subject.startswith(MODEL_SUBJECT):
        return requests.c.model_alias == version
    return requests.c.prompt_version == version


def arm_figures(
    engine: Engine, version: str, since: datetime, subject: str = ""
) -> tuple[ArmFigures, list[float]]:
    """The arm's figures and its latencies (for the tail test; not stored with the figures)."""
    r = requests.c
    in_arm = and_(arm_filter(subject, version), r.created_at >= since, LIVE_TRAFFIC)
    query = (
        select(r.status, r.degraded, r.degraded_reason, r.latency_ms, r.cost_usd, feedback.c.rating)
        .select_from(requests.outerjoin(feedback, feedback.c.request_id == r.request_id))
        .where(in_arm)
    )
    with engine.connect() as connection:
        rows = connection.execute(query).all()
        suggested = connection.execute(
            select(r.category, spans.c.attributes)
            .select_from(requests.join(spans, spans.c.trace_id == r.trace_id))
            .where(in_arm, spans.c.name == RULE_SUGGESTION_STEP, r.degraded.is_(False))
        ).all()
    n = len(rows)
    if n == 0:
        empty = ArmFigures(
            version=version,
            requests=0,
            error_rate=None,
            median_latency_ms=None,
            p95_latency_ms=None,
            cost_per_request_usd=None,
            schema_valid_rate=None,
            negative_feedback_rate=None,
        )
        return empty, []
    errors = sum(1 for row in rows if row.status == "error" or row.degraded_reason == FAILED_PROVIDERS)
    invalid = sum(1 for row in rows if row.degraded and row.degraded_reason == INVALID_OUTPUT)
    costs = [row.cost_usd for row in rows if row.cost_usd is not None]
    latencies = [row.latency_ms for row in rows]
    figures = ArmFigures(
        version=version,
        requests=n,
        error_rate=errors / n,
        median_latency_ms=nearest_rank(latencies, 0.5),
        p95_latency_ms=nearest_rank(latencies, 0.95),
        cost_per_request_usd=sum(costs) / len(costs) if costs else None,
        schema_valid_rate=1 - invalid / n,
        negative_feedback_rate=sum(1 for row in rows if row.rating == -1) / n,
        rule_disagreement_rate=_disagreement(suggested),
    )
    return figures, latencies


def _disagreement(rows: Sequence[Any]) -> float | None:
    """Share of model-answered replies whose category is not the rules' suggestion stored on the trace."""
    pairs = [(row.category, json.loads(row.attributes).get(c.CATEGORY)) for row in rows]
    known = [(category, rules) for category, rules in pairs if category and rules]
    return sum(1 for category, rules in known if category != rules) / len(known) if known else None


def exceeds_more_often(canary: list[float], production: list[float], threshold: float) -> float:
    """One-sided Fisher exact p-value that canary latencies exceed `threshold` more often than
    production's: P(X >= observed) for the hypergeometric count of exceedances in the canary arm."""
    above_canary = sum(1 for value in canary if value > threshold)
    above = above_canary + sum(1 for value in production if value > threshold)
    n_canary, total = len(canary), len(canary) + len(production)
    if above_canary == 0:
        return 1.0
    logs = [
        _log_comb(above, x) + _log_comb(total - above, n_canary - x) - _log_comb(total, n_canary)
        for x in range(above_canary, min(above, n_canary) + 1)
    ]
    return min(1.0, math.fsum(math.exp(value) for value in logs))


def _log_comb(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def compare(
    engine: Engine, canary: ActiveCanary, guardrails: Guardrails, evidence: EvalEvidence | None = None
) -> Comparison:
    subject = canary.prompt_name
    canary_arm, canary_latencies = arm_figures(engine, canary.version, canary.started_at, subject)
    production_arm, production_latencies = arm_figures(
        engine, canary.production_version, canary.started_at, subject
    )
    arms = {"canary": canary_arm, "production": production_arm}
    tail_p = None
    if canary_latencies and production_arm.p95_latency_ms is not None:
        tail_p = exceeds_more_often(canary_latencies, production_latencies, production_arm.p95_latency_ms)
    inconclusive = [
        f"{name} arm has {arm.requests} of the {guardrails.min_requests} requests needed"
        for name, arm in arms.items()
        if arm.requests < guardrails.min_requests
    ]
    failures = [] if inconclusive else guardrail_failures(canary_arm, production_arm, guardrails, tail_p)
    return Comparison(
        prompt_name=canary.prompt_name,
        label_change_id=canary.change_id,
        started_at=canary.started_at,
        traffic_share=canary.traffic_share,
        canary=canary_arm,
        production=production_arm,
        tail_p_value=tail_p,
        inconclusive=inconclusive,
        failures=failures,
        eval=evidence,
    )


def guardrail_failures(
    canary: ArmFigures, production: ArmFigures, g: Guardrails, tail_p_value: float | None = None
) -> list[str]:
    """One line per guardrail the canary breaks; empty when it is at least as good as allowed.
    `tail_p_value` (from `exceeds_more_often`) gates the p95 guardrail; None leaves it ungated."""
    failures = []
    if _worse_by(canary.error_rate, production.error_rate, g.max_error_rate_delta):
        failures.append(
            f"error rate {canary.error_rate:.3f} vs {production.error_rate:.3f} "
            f"(allowed +{g.max_error_rate_delta})"
        )
    for name, canary_ms, production_ms, ratio, slack in (
        ("p95", canary.p95_latency_ms, production.p95_latency_ms, g.max_p95_ratio, g.p95_slack_ms),
        (
            "median",
            canary.median_latency_ms,
            production.median_latency_ms,
            g.max_median_ratio,
            g.median_slack_ms,
        ),
    ):
        if canary_ms is None or production_ms is None:
            continue
        if not (canary_ms > production_ms * ratio and canary_ms - production_ms > slack):
            continue
        if name == "p95" and tail_p_value is not None and tail_p_value >= g.tail_alpha:
            continue  # a few slow requests, not a slower tail: p95 of a small arm is that noisy
        failures.append(
            f"{name} latency {canary_ms:.1f} ms vs {production_ms:.1f} ms (allowed x{ratio}, or +{slack} ms)"
        )
    canary_cost, production_cost = canary.cost_per_request_usd, production.cost_per_request_usd
    if (
        canary_cost is not None
        and production_cost is not None
        and canary_cost > production_cost * g.max_cost_ratio + 1e-12
    ):
        failures.append(
            f"cost per request {canary_cost:.6f} vs {production_cost:.6f} USD (allowed x{g.max_cost_ratio})"
        )
    if _worse_by(production.schema_valid_rate, canary.schema_valid_rate, g.max_schema_invalid_delta):
        failures.append(
            f"schema-valid rate {canary.schema_valid_rate:.3f} vs {production.schema_valid_rate:.3f} "
            f"(allowed -{g.max_schema_invalid_delta})"
        )
    if _worse_by(
        canary.negative_feedback_rate, production.negative_feedback_rate, g.max_negative_feedback_delta
    ):
        failures.append(
            f"negative feedback rate {canary.negative_feedback_rate:.3f} vs "
            f"{production.negative_feedback_rate:.3f} (allowed +{g.max_negative_feedback_delta})"
        )
    if _worse_by(
        canary.rule_disagreement_rate, production.rule_disagreement_rate, g.max_rule_disagreement_delta
    ):
        failures.append(
            f"disagreement with the rules' suggestion {canary.rule_disagreement_rate:.3f} vs "
            f"{production.rule_disagreement_rate:.3f} (allowed +{g.max_rule_disagreement_delta})"
        )
    return failures


def _worse_by(high: float | None, low: float | None, allowed: float) -> bool:
    return high is not None and low is not None and high - low > allowed
