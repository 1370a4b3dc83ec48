"""Alert states and their transitions: ok → firing → resolved → ok, de-duplicated across replicas.

Each rule has one `alert_states` row. A transition is a conditional UPDATE that names the state it
read (`state`, `since` and, for a re-notification, `last_notified_at`); only the replica whose UPDATE
changes the row notifies, so replicas sharing a database never double-notify. A firing rule notifies
again only once `renotify_s` has passed (a `renotify` event). Every transition and notification is an
`alert_events` row with the value, the threshold, redacted details and the delivery result.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import Engine, Row, insert, select, update
from sqlalchemy.exc import IntegrityError

from llmops.alerts.notifiers import AlertMessage, Delivery, Notifier
from llmops.alerts.rules import AlertRule, BudgetStatusSource, Measurement, RuleContext, measure
from llmops.redaction import Redactor
from llmops.storage.dialect import insert_for
from llmops.storage.tables import alert_events, alert_rules, alert_states
from llmops.storage.timeutil import utc

logger = logging.getLogger("llmops.alerts")

State = Literal["ok", "firing", "resolved"]
EventKind = Literal["firing", "renotify", "resolved", "ok", "test"]


class AlertEvent(BaseModel):
    rule: str
    kind: str
    value: float | None
    threshold: float | None
    details: dict[str, Any]
    created_at: datetime
    delivered: bool
    attempts: int
    error: str | None


class RuleState(BaseModel):
    rule: str
    kind: str
    state: str
    since: datetime | None
    value: float | None
    last_notified_at: datetime | None


def _now() -> datetime:
    return datetime.now(UTC)


class AlertEngine:
    """Evaluates rules against the store and notifies on transitions. Blocking: run it in a thread."""

    def __init__(
        self,
        engine: Engine,
        rules: Sequence[AlertRule],
        notifiers: Sequence[Notifier],
        redactor: Redactor,
        *,
        budgets: BudgetStatusSource | None = None,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.engine = engine
        self.rules = list(rules)
        self.notifiers = list(notifiers)
        self.budgets = budgets
        self.clock = clock
        self._redactor = redactor
        self._synced = False

    def rule(self, name: str) -> AlertRule:
        for rule in self.rules:
            if rule.name == name:
                return rule
        raise KeyError(name)

    def sync_rules(self) -> None:
        """Store the configured rules (the dashboard and CLI read them) and an `ok` state for new ones."""
        now = self.clock()
        with self.engine.begin() as connection:
            for rule in self.rules:
                values = {
                    "kind": rule.kind,
                    "params": json.dumps(rule.params(), sort_keys=True),
                    "window_s": rule.window_s,
                    "min_requests": rule.min_requests,
                    "renotify_s": rule.renotify_s,
                    "enabled": rule.enabled,
                }
                statement = insert_for(connection, alert_rules).values(
                    name=rule.name, created_at=now, **values
                )
                connection.execute(statement.on_conflict_do_update(index_elements=["name"], set_=values))
                connection.execute(
                    insert_for(connection, alert_states)
                    .values(rule_name=rule.name, state="ok", since=now)
                    .on_conflict_do_nothing(index_elements=["rule_name"])
                )
            configured = [rule.name for rule in self.rules]
            connection.execute(
                update(alert_rules).where(alert_rules.c.name.not_in(configured)).values(enabled=False)
            )
        self._synced = True

    def evaluate(self) -> list[AlertEvent]:
        """Measure every enabled rule once and apply the result; a failing rule is logged and skipped."""
        if not self._synced:
            self.sync_rules()
        events = []
        context = RuleContext(engine=self.engine, now=self.clock(), budgets=self.budgets)
        for rule in self.rules:
            if not rule.enabled:
                continue
            try:
                measurement = measure(rule, context)
                event = self.apply(rule, measurement) if measurement is not None else None
            except Exception as exc:
                logger.error(
                    "alert rule evaluation failed",
                    extra={"alert_rule": rule.name, "error_type": type(exc).__name__},
                )
                continue
            if event is not None:
                events.append(event)
        return events

    def _read_state(self, name: str) -> Row[Any]:
        with self.engine.connect() as connection:
            row = connection.execute(select(alert_states).where(alert_states.c.rule_name == name)).first()
        if row is not None:
            return row
        try:
            with self.engine.begin() as connection:
                connection.execute(
                    insert(alert_states).values(rule_name=name, state="ok", since=self.clock())
                )
        except IntegrityError:
            pass  # another replica created it first
        return self._read_state(name)

    def _swap(self, current: Row[Any], **values: Any) -> bool:
        """Conditional update: applies only if the row still holds what we read."""
        notified = alert_states.c.last_notified_at
        statement = update(alert_states).where(
            alert_states.c.rule_name == current.rule_name,
            alert_states.c.state == current.state,
            alert_states.c.since == current.since,
            notified.is_(None) if current.last_notified_at is None else notified == current.last_notified_at,
        )
        with self.engine.begin() as connection:
            return connection.execute(statement.values(**values)).rowcount == 1

    def apply(self, rule: AlertRule, measurement: Measurement) -> AlertEvent | None:
        """Move the rule's state for one measurement; returns the event it produced, if any."""
        now = self.clock()
        current = self._read_state(rule.name)
        last_notified = utc(current.last_notified_at) if current.last_notified_at else None
        kind: EventKind | None = None
        values: dict[str, Any] = {"last_value": measurement.value}
        if measurement.breached and current.state != "firing":
            kind, values = "firing", {**values, "state": "firing", "since": now, "last_notified_at": now}
        elif measurement.breached and (
            last_notified is None or now - last_notified >= timedelta(seconds=rule.renotify_s)
        ):
            kind, values = "renotify", {**values, "last_notified_at": now}
        elif not measurement.breached and current.state == "firing":
            kind, values = "resolved", {**values, "state": "resolved", "since": now, "last_notified_at": now}
        elif not measurement.breached and current.state == "resolved":
            kind, values = "ok", {**values, "state": "ok", "since": now}
        if not self._swap(current, **values) or kind is None:
            return None
        state = str(values.get("state", current.state))
        notify = kind != "ok"
        return self._record(rule, kind, state, measurement, now, notify=notify)

    def _message(
        self, rule: AlertRule, event: str, state: str, measurement: Measurement, now: datetime
    ) -> AlertMessage:
        return AlertMessage(
            rule=rule.name,
            rule_kind=rule.kind,
            event=event,
            state=state,
            value=measurement.value,
            threshold=measurement.threshold,
            reason=measurement.reason,
            details=measurement.details,
            at=now.isoformat(),
        )

    def _send(self, message: AlertMessage) -> list[Delivery]:
        deliveries = []
        for notifier in self.notifiers:
            try:
                deliveries.append(notifier.send(message))
            except Exception as exc:  # a notifier must not raise; never let one break the loop
                deliveries.append(
                    Delivery(notifier=notifier.name, delivered=False, attempts=1, error=type(exc).__name__)
                )
        return deliveries

    def _record(
        self,
        rule: AlertRule,
        kind: EventKind,
        state: str,
        measurement: Measurement,
        now: datetime,
        *,
        notify: bool,
    ) -> AlertEvent:
        deliveries = self._send(self._message(rule, kind, state, measurement, now)) if notify else []
        errors = sorted({d.error for d in deliveries if d.error})
        details = self._redactor.redact_value(
            {
                "reason": measurement.reason,
                "count": measurement.count,
                **measurement.details,
                "deliveries": [d.model_dump() for d in deliveries],
            }
        )
        assert isinstance(details, dict)
        event = AlertEvent(
            rule=rule.name,
            kind=kind,
            value=measurement.value,
            threshold=measurement.threshold,
            details=details,
            created_at=now,
            delivered=bool(deliveries) and all(d.delivered for d in deliveries),
            attempts=max((d.attempts for d in deliveries), default=0),
            error=",".join(errors) or None,
        )
        with self.engine.begin() as connection:
            connection.execute(
                insert(alert_events).values(
                    rule_name=event.rule,
                    kind=event.kind,
                    value=event.value,
                    threshold=event.threshold,
                    details=json.dumps(event.details, sort_keys=True),
                    created_at=now,
                    delivered=event.delivered,
                    attempts=event.attempts,
                    error=event.error,
                )
            )
        return event

    def send_test(self, rule_name: str | None = None) -> AlertEvent:
        """A test notification through every notifier, recorded as a `test` event; no state changes."""
        if not self._synced:
            self.sync_rules()
        rule = self.rule(rule_name) if rule_name else self.rules[0]
        measurement = Measurement(False, None, None, 0, "test notification", {"test": True})
        return self._record(rule, "test", "test", measurement, self.clock(), notify=True)

    def states(self) -> list[RuleState]:
        """Every configured rule with its stored state (`ok` before the first evaluation)."""
        with self.engine.connect() as connection:
            rows = {row.rule_name: row for row in connection.execute(select(alert_states))}
        result = []
        for rule in self.rules:
            row = rows.get(rule.name)
            result.append(
                RuleState(
                    rule=rule.name,
                    kind=rule.kind,
                    state=row.state if row else "ok",
                    since=utc(row.since) if row else None,
                    value=row.last_value if row else None,
                    last_notified_at=utc(row.last_notified_at) if row and row.last_notified_at else None,
                )
            )
        return result

    def history(self, rule: str | None = None, limit: int = 50) -> list[AlertEvent]:
        """Events newest first."""
        query = (
            select(alert_events)
            .order_by(alert_events.c.created_at.desc(), alert_events.c.id.desc())
            .limit(limit)
        )
        if rule:
            query = query.where(alert_events.c.rule_name == rule)
        with self.engine.connect() as connection:
            rows = connection.execute(query).all()
        return [
            AlertEvent(
                rule=row.rule_name,
                kind=row.kind,
                value=row.value,
                threshold=row.threshold,
                details=json.loads(row.details),
                created_at=utc(row.created_at),
                delivered=row.delivered,
                attempts=row.attempts,
                error=row.error,
            )
            for row in rows
        ]


async def run_alert_loop(alerts: AlertEngine, interval_s: float) -> None:
    """The server's periodic evaluation, off the event loop, forever; failures are logged, not raised."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            await asyncio.to_thread(alerts.evaluate)
        except Exception as exc:
            logger.error("alert evaluation failed", extra={"error_type": type(exc).__name__})
