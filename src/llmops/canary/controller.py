"""Decide a canary's fate — promote, roll back or hold — act on it, and record it.

Promote moves `production` to the canary version and clears the canary (share 0); rollback clears
the canary. Hold changes nothing: the comparison is inconclusive (an arm below the minimum number of
requests). A canary whose latest eval verdict against production is REGRESSION (`canary.gate`) is
never promoted: once its arms are conclusive it is rolled back, whatever its live figures. Starting
one is refused unless forced, and a forced start records who forced it and why in the label's
history. Every decision, automatic or by hand, is stored in `canary_decisions` with the figures it
was made on. The server runs `run_once` every `LLMOPS_CANARY_INTERVAL_S`; `llmops canary evaluate`
runs it on demand.

Every replica runs the controller; they need no leader. A promote or rollback clears the canary label
only if it has not moved since the comparison read it (compare-and-set on the label's history), so when
two replicas decide at once one acts and records, the other finds the label moved and does nothing.
The automatic controller records a hold at most once per `hold_every` for the same canary, so a canary
waiting for traffic does not write a row per interval per replica.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Engine, insert, select

from llmops.canary.compare import ActiveCanary, Comparison, Guardrails, active_canary, compare
from llmops.canary.gate import EvalEvidence, EvalRegressionError, VerdictReader
from llmops.prompts.labels import (
    CANARY,
    DEFAULT_PROMPT,
    MAX_REASON_CHARS,
    PRODUCTION,
    LabelMovedError,
    LabelStore,
)
from llmops.storage.tables import canary_decisions
from llmops.storage.timeutil import utc

logger = logging.getLogger("llmops.canary")

CONTROLLER = "canary-controller"


class Decision(StrEnum):
    PROMOTE = "promote"
    ROLLBACK = "rollback"
    HOLD = "hold"


class DecisionRecord(BaseModel):
    id: int
    prompt_name: str
    canary_version: str
    production_version: str
    decision: Decision
    figures: dict[str, Any]
    decided_by: str
    created_at: datetime


class NoCanaryError(LookupError):
    """There is no running canary (no `canary` label with a positive traffic share)."""


def decide(comparison: Comparison) -> Decision:
    if comparison.inconclusive:
        return Decision.HOLD
    return Decision.ROLLBACK if comparison.failures else Decision.PROMOTE


class ForceWithoutReasonError(ValueError):
    """A forced start must say why: the reason is recorded with who forced it."""


class CanaryController:
    """Compares the arms of `prompt_name`'s canary and acts on the verdict."""

    def __init__(
        self,
        engine: Engine,
        labels: LabelStore,
        guardrails: Guardrails,
        default_version: str,
        *,
        prompt_name: str = DEFAULT_PROMPT,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        hold_every: timedelta = timedelta(minutes=10),
    ) -> None:
        self.engine = engine
        self.labels = labels
        self.guardrails = guardrails
        self.default_version = default_version
        self.prompt_name = prompt_name
        self._clock = clock
        self.hold_every = hold_every
        self.verdicts = VerdictReader(engine)

    def active(self) -> ActiveCanary | None:
        return active_canary(self.labels, self.prompt_name, self.default_version)

    def production_version(self) -> str:
        production = self.labels.get(self.prompt_name, PRODUCTION)
        return production.version_id if production else self.default_version

    def start(
        self,
        version: str,
        share: float,
        *,
        by: str,
        reason: str = "",
        evidence: EvalEvidence | None = None,
        force: bool = False,
    ) -> ActiveCanary:
        """Serve `version` to `share` of users; raising the share of a running canary keeps its window.

        `evidence` is the version's eval verdict against production (`llmops canary start` runs it): a
        REGRESSION raises `EvalRegressionError` unless `force`, and a forced start needs a reason."""
        if not 0.0 < share <= 1.0:
            raise ValueError("the canary share must be above 0 and at most 1")
        if version == self.production_version():
            raise ValueError(f"{version} is already production: a canary needs another version to compare")
        if evidence is not None and evidence.regression:
            if not force:
                raise EvalRegressionError(evidence)
            if not reason.strip():
                raise ForceWithoutReasonError(
                    "a forced start past an eval REGRESSION needs a reason (--reason)"
                )
            reason = f"forced past {evidence.line()}; why: {reason}"[:MAX_REASON_CHARS]
        self.labels.set(self.prompt_name, CANARY, version, by=by, reason=reason, traffic_share=share)
        canary = self.active()
        assert canary is not None
        return canary

    def compare(self) -> Comparison:
        canary = self.active()
        if canary is None:
            raise NoCanaryError(f"no canary is running for {self.prompt_name}")
        evidence = self.verdicts.latest_verdict(canary.production_version, canary.version)
        comparison = compare(self.engine, canary, self.guardrails, evidence)
        if evidence is not None and evidence.regression and not comparison.inconclusive:
            comparison.failures.append(f"never promoted: {evidence.line()}")
        return comparison

    def run_once(self, *, by: str = CONTROLLER) -> DecisionRecord | None:
        """Compare, decide, act and record; None when nothing was recorded: no canary is running, the
        automatic controller held again within `hold_every`, or another replica acted first."""
        try:
            comparison = self.compare()
        except NoCanaryError:
            return None
        decision = decide(comparison)
        if decision is Decision.HOLD and by == CONTROLLER and self._held_recently(comparison):
            return None
        try:
            return self.apply(decision, comparison, by=by)
        except LabelMovedError:
            logger.info("canary moved while deciding", extra={"decision": str(decision)})
            return None

    def _held_recently(self, comparison: Comparison) -> bool:
        latest = self.decisions(limit=1)
        if not latest:
            return False
        last = latest[0]
        return (
            last.decision is Decision.HOLD
            and last.figures.get("label_change_id") == comparison.label_change_id
            and last.created_at > self._clock() - self.hold_every
        )

    def decide_by_hand(self, decision: Decision, *, by: str, reason: str = "") -> DecisionRecord:
        """`llmops canary promote|rollback`: act regardless of the guardrails, recording the figures;
        `LabelMovedError` when the canary moved between the comparison and the act."""
        comparison = self.compare()
        return self.apply(decision, comparison, by=by, reason=reason)

    def apply(
        self, decision: Decision, comparison: Comparison, *, by: str, reason: str = ""
    ) -> DecisionRecord:
        canary, production = comparison.canary.version, comparison.production.version
        why = reason or "; ".join(comparison.failures or comparison.inconclusive) or "guardrails passed"
        if decision is not Decision.HOLD:
            self.labels.set(
                self.prompt_name,
                CANARY,
                canary,
                by=by,
                reason=f"canary {decision}: {why}"[:MAX_REASON_CHARS],
                traffic_share=0.0,
                expected_change_id=comparison.label_change_id,
            )
        if decision is Decision.PROMOTE:
            self.labels.set(
                self.prompt_name,
                PRODUCTION,
                canary,
                by=by,
                reason=f"canary promoted: {why}"[:MAX_REASON_CHARS],
            )
        record = self._store(decision, comparison, by, reason)
        if decision is not Decision.HOLD:
            logger.warning(
                "canary decision",
                extra={"decision": str(decision), "prompt_version": canary, "production_version": production},
            )
        return record

    def decisions(self, limit: int = 20) -> list[DecisionRecord]:
        """The latest decisions for this prompt, newest first."""
        d = canary_decisions.c
        query = (
            select(canary_decisions)
            .where(d.prompt_name == self.prompt_name)
            .order_by(d.created_at.desc(), d.id.desc())
            .limit(limit)
        )
        with self.engine.connect() as connection:
            return [_record(row) for row in connection.execute(query)]

    def _store(self, decision: Decision, comparison: Comparison, by: str, reason: str) -> DecisionRecord:
        figures = comparison.model_dump(mode="json")
        if reason:
            figures["reason"] = reason
        values = {
            "prompt_name": self.prompt_name,
            "canary_version": comparison.canary.version,
            "production_version": comparison.production.version,
            "decision": str(decision),
            "figures": json.dumps(figures, separators=(",", ":")),
            "decided_by": by,
            "created_at": self._clock(),
        }
        with self.engine.begin() as connection:
            key = connection.execute(insert(canary_decisions).values(**values)).inserted_primary_key
        assert key is not None
        return DecisionRecord(id=int(key[0]), **{**values, "figures": figures, "decision": decision})


def _record(row: Any) -> DecisionRecord:
    m = row._mapping
    return DecisionRecord(
        id=int(m["id"]),
        prompt_name=m["prompt_name"],
        canary_version=m["canary_version"],
        production_version=m["production_version"],
        decision=Decision(m["decision"]),
        figures=json.loads(m["figures"]),
        decided_by=m["decided_by"],
        created_at=utc(m["created_at"]),
    )


async def run_controller(controller: CanaryController, interval_s: float) -> None:
    """The server's periodic canary job, off the event loop, forever; failures are logged, not raised."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            await asyncio.to_thread(controller.run_once)
        except Exception as exc:
            logger.error("canary controller run failed", extra={"error_type": type(exc).__name__})
