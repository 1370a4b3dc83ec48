"""Budgets and their usage in the database: check-and-reserve, settle, and the status alerts read.

Usage is counted in buckets (`budget_usage`): minute buckets for hour windows, hour buckets for day
and month windows. A bucket counts towards a rolling window while `bucket_start > now - window`, so
usage leaves the window one bucket at a time.

Correctness across processes sharing one database: `reserve` checks every applicable budget and adds
its reservation in one transaction that first locks the budget rows (`SELECT … FOR UPDATE` on
Postgres, `BEGIN IMMEDIATE` on SQLite), so two requests never both see the room only one of them fits
in. Every usage write is an atomic `col = col + excluded.col` upsert, in key order.

A reservation lives in its bucket until the request settles it. A process killed mid-request never
settles, so reserved amounts count only while their bucket is younger than its length plus
`RESERVATION_TTL`, a bound no live request reaches (provider timeouts and retries end far sooner);
after that they are a crashed request's leftovers and stop blocking the budget.
"""

from __future__ import annotations

import builtins
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Engine, and_, delete, func, or_, select

from llmops.budgets.models import (
    EACH,
    GRANULARITY,
    WINDOWS,
    Budget,
    BudgetExceededError,
    BudgetStatus,
    BudgetUsage,
    Granularity,
    Metric,
    Scope,
    Window,
)
from llmops.storage.dialect import insert_for
from llmops.storage.tables import budget_usage, budgets
from llmops.storage.timeutil import utc

logger = logging.getLogger("llmops.budgets")

Clock = Callable[[], datetime]
UsageKey = tuple[str, str, str, datetime]  # scope, subject, granularity, bucket_start
_VALUES = ("tokens", "cost_usd", "reserved_tokens", "reserved_cost_usd")
RESERVATION_TTL = timedelta(minutes=15)
_BUCKET_LENGTH: dict[Granularity, timedelta] = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1)}


@dataclass(frozen=True)
class Amount:
    """Tokens (input + output) and cost of one request, estimated or as the provider reported it."""

    tokens: int = 0
    cost_usd: float = 0.0

    def of(self, metric: Metric) -> float:
        return float(self.tokens) if metric == "tokens" else self.cost_usd


@dataclass(frozen=True)
class Subjects:
    """Who a request counts against: a pseudonymous user id, an API key fingerprint and the assistant
    that serves it, when known."""

    user: str | None = None
    api_key: str | None = None
    assistant: str | None = None

    def of(self, scope: str) -> str | None:
        return {"global": EACH, "user": self.user, "api_key": self.api_key, "assistant": self.assistant}.get(
            scope
        )


@dataclass(frozen=True)
class Reservation:
    """What `reserve` added, so `settle`/`release` can take exactly that back out."""

    keys: tuple[UsageKey, ...]
    amount: Amount


@dataclass(frozen=True)
class _Bucket:
    """One stored bucket, read as the used and reserved amounts of one metric."""

    start: datetime
    used: float
    reserved: float


def bucket_floor(when: datetime, granularity: Granularity) -> datetime:
    value = utc(when).replace(second=0, microsecond=0)
    return value if granularity == "minute" else value.replace(minute=0)


class BudgetStore:
    """Budgets (rows of `budgets`) and their bucketed usage; `clock` is injectable for tests."""

    def __init__(self, engine: Engine, clock: Clock | None = None, cache_ttl_s: float = 5.0) -> None:
        self._engine = engine
        self._clock = clock or (lambda: datetime.now(UTC))
        self._cache_ttl_s = cache_ttl_s
        self._any: bool = False
        self._checked_at = float("-inf")
        self._lock = threading.Lock()

    # Budget definitions

    def list(self) -> list[Budget]:
        with self._engine.connect() as connection:
            rows = connection.execute(
                select(budgets).order_by(budgets.c.scope, budgets.c.subject, budgets.c.id)
            )
            return [_budget(row) for row in rows.mappings()]

    def set(self, items: Iterable[Budget]) -> None:
        """Create or replace budgets (by scope, subject, window and metric)."""
        now = self._clock()
        rows = [
            {**item.model_dump(), "created_at": now, "updated_at": now}
            for item in sorted(items, key=lambda item: item.key)
        ]
        if not rows:
            return
        with self._engine.begin() as connection:
            statement = insert_for(connection, budgets)
            statement = statement.on_conflict_do_update(
                index_elements=["scope", "subject", "window", "metric"],
                set_={
                    "hard_limit": statement.excluded.hard_limit,
                    "soft_ratio": statement.excluded.soft_ratio,
                    "updated_at": statement.excluded.updated_at,
                },
            )
            connection.execute(statement, rows)
        self._checked_at = float("-inf")

    def remove(self, scope: str, subject: str, window: str, metric: str) -> bool:
        with self._engine.begin() as connection:
            result = connection.execute(
                delete(budgets).where(
                    budgets.c.scope == scope,
                    budgets.c.subject == subject,
                    budgets.c.window == window,
                    budgets.c.metric == metric,
                )
            )
        self._checked_at = float("-inf")
        return result.rowcount > 0

    def known_empty(self) -> bool:
        """True when a fresh cached answer says no budget exists: callers may skip the thread hop."""
        return not self._any and time.monotonic() - self._checked_at <= self._cache_ttl_s

    def has_budgets(self) -> bool:
        """Whether any budget exists, cached for `cache_ttl_s` so a service without budgets pays nothing."""
        now = time.monotonic()
        with self._lock:
            if now - self._checked_at > self._cache_ttl_s:
                with self._engine.connect() as connection:
                    self._any = connection.execute(select(func.count()).select_from(budgets)).scalar_one() > 0
                self._checked_at = now
            return self._any

    # Enforcement

    def reserve(self, subjects: Subjects, amount: Amount) -> Reservation:
        """Check every budget that applies to `subjects` and reserve `amount` against them, atomically.

        Raises `BudgetExceededError` for the first budget the request would take over its hard cap.
        """
        now = self._clock()
        with self._serialised() as connection:
            applicable = _resolve(_lock_budgets(connection, subjects), subjects)
            if not applicable:
                return Reservation((), amount)
            history = _buckets(connection, applicable, now)
            for budget, subject in applicable:
                rows = _in_window(history[(budget.scope, subject, GRANULARITY[budget.window])], budget, now)
                used = sum(row.used + row.reserved for row in rows)
                needed = amount.of(budget.metric)
                if _over(used, needed, budget.hard_limit):
                    raise BudgetExceededError(
                        budget,
                        used,
                        needed,
                        _retry_after(rows, used, needed, budget.hard_limit, WINDOWS[budget.window], now),
                    )
                _note_soft_crossing(budget, used, needed)
            keys = tuple(
                sorted(
                    {
                        (
                            budget.scope,
                            subject,
                            GRANULARITY[budget.window],
                            bucket_floor(now, GRANULARITY[budget.window]),
                        )
                        for budget, subject in applicable
                    }
                )
            )
            _apply(connection, {key: (0, 0.0, amount.tokens, amount.cost_usd) for key in keys})
        return Reservation(keys, amount)

    def settle(self, reservation: Reservation, actual: Amount) -> None:
        """Replace a reservation with the usage the provider reported, counted in the current bucket."""
        if not reservation.keys:
            return
        now = self._clock()
        deltas: dict[UsageKey, tuple[float, float, float, float]] = {}
        for key in reservation.keys:
            released = (0, 0.0, -reservation.amount.tokens, -reservation.amount.cost_usd)
            current = (key[0], key[1], key[2], bucket_floor(now, key[2]))  # type: ignore[arg-type]
            deltas[key] = _add(deltas.get(key), released)
            deltas[current] = _add(deltas.get(current), (actual.tokens, actual.cost_usd, 0, 0.0))
        with self._engine.begin() as connection:
            _apply(connection, deltas)

    def release(self, reservation: Reservation) -> None:
        """Take a reservation back out: the request failed before it used anything."""
        self.settle(reservation, Amount())

    # What alerts and the CLI read

    def usage(self, scope: Scope, subject: str, window: Window, metric: Metric) -> BudgetUsage:
        """Usage of the budget for (scope, window, metric) that applies to `subject` (its own, else the
        each-subject one). Raises `LookupError` when no budget applies."""
        with self._engine.connect() as connection:
            rows = connection.execute(
                select(budgets).where(
                    budgets.c.scope == scope,
                    budgets.c.subject.in_([subject, EACH]),
                    budgets.c.window == window,
                    budgets.c.metric == metric,
                )
            ).mappings()
            found = sorted((_budget(row) for row in rows), key=lambda b: b.subject != subject)
            if not found:
                raise LookupError(f"no {scope}:{window}:{metric} budget applies")
            return self._usage(connection, found[0], subject)

    def status(self) -> builtins.list[BudgetStatus]:
        """Every budget with its current ratio; an each-subject budget reports its fullest subject."""
        statuses = []
        with self._engine.connect() as connection:
            defined = [_budget(row) for row in connection.execute(select(budgets)).mappings()]
            overridden = {(b.scope, b.subject, b.window, b.metric) for b in defined if b.subject != EACH}
            for budget in sorted(defined, key=lambda b: b.key):
                if budget.scope == "global" or budget.subject != EACH:
                    subjects = [budget.subject]
                else:
                    subjects = [
                        s
                        for s in _active_subjects(connection, budget, self._clock())
                        if (budget.scope, s, budget.window, budget.metric) not in overridden
                    ] or [EACH]
                usages = [(s, self._usage(connection, budget, s)) for s in subjects]
                subject, usage = max(usages, key=lambda pair: pair[1].ratio)
                statuses.append(
                    BudgetStatus(
                        budget=budget,
                        subject=subject,
                        usage=usage,
                        soft_exceeded=usage.ratio >= budget.soft_ratio,
                        hard_exceeded=usage.ratio >= 1.0,
                    )
                )
        return statuses

    def _usage(self, connection: Connection, budget: Budget, subject: str) -> BudgetUsage:
        now = self._clock()
        history = _buckets(connection, [(budget, subject)], now)
        rows = _in_window(history[(budget.scope, subject, GRANULARITY[budget.window])], budget, now)
        used = sum(row.used for row in rows)
        reserved = sum(row.reserved for row in rows)
        return BudgetUsage(
            used=used, reserved=reserved, limit=budget.hard_limit, ratio=(used + reserved) / budget.hard_limit
        )

    @contextmanager
    def _serialised(self) -> Iterator[Connection]:
        """A transaction that holds the write lock from its start on SQLite (`BEGIN IMMEDIATE`); on
        Postgres the budget rows are locked by `_lock_budgets` instead."""
        with self._engine.connect() as connection:
            if connection.dialect.name == "sqlite":
                connection.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                yield connection
            except BaseException:
                connection.rollback()
                raise
            connection.commit()


def _budget(row: object) -> Budget:
    return Budget.model_validate({name: row[name] for name in Budget.model_fields})  # type: ignore[index]


def _lock_budgets(connection: Connection, subjects: Subjects) -> list[Budget]:
    condition = [budgets.c.scope == "global"]
    for scope in ("user", "api_key", "assistant"):
        subject = subjects.of(scope)
        if subject:
            condition.append(and_(budgets.c.scope == scope, budgets.c.subject.in_([EACH, subject])))
    query = select(budgets).where(or_(*condition)).order_by(budgets.c.id)
    if connection.dialect.name == "postgresql":
        query = query.with_for_update()
    return [_budget(row) for row in connection.execute(query).mappings()]


def _resolve(found: Sequence[Budget], subjects: Subjects) -> list[tuple[Budget, str]]:
    """The budgets that apply, each with the subject it counts: a subject's own budget replaces the
    each-subject one for the same scope, window and metric."""
    chosen: dict[tuple[str, str, str], Budget] = {}
    for budget in found:
        slot = (budget.scope, budget.window, budget.metric)
        if slot not in chosen or budget.subject != EACH:
            chosen[slot] = budget
    return [(budget, subjects.of(budget.scope) or EACH) for _, budget in sorted(chosen.items())]


def _buckets(
    connection: Connection, applicable: Sequence[tuple[Budget, str]], now: datetime
) -> dict[tuple[str, str, str], list[dict[str, object]]]:
    """Bucket rows per (scope, subject, granularity) back to the longest window any budget needs."""
    span: dict[tuple[str, str, str], timedelta] = {}
    for budget, subject in applicable:
        key = (budget.scope, subject, GRANULARITY[budget.window])
        span[key] = max(span.get(key, timedelta(0)), WINDOWS[budget.window])
    result: dict[tuple[str, str, str], list[dict[str, object]]] = {}
    for (scope, subject, gran), length in span.items():
        rows = connection.execute(
            select(budget_usage)
            .where(
                budget_usage.c.scope == scope,
                budget_usage.c.subject == subject,
                budget_usage.c.granularity == gran,
                budget_usage.c.bucket_start > now - length,
            )
            .order_by(budget_usage.c.bucket_start)
        ).mappings()
        result[(scope, subject, gran)] = [dict(row) for row in rows]
    return result


def _in_window(rows: Sequence[dict[str, object]], budget: Budget, now: datetime) -> list[_Bucket]:
    """The buckets still inside `budget`'s rolling window, oldest first, read for its metric; reserved
    amounts only while a request could still be settling them."""
    cutoff = now - WINDOWS[budget.window]
    live_since = now - _BUCKET_LENGTH[GRANULARITY[budget.window]] - RESERVATION_TTL
    reserved = f"reserved_{budget.metric}"
    return [
        _Bucket(start, float(row[budget.metric]), float(row[reserved]) if start > live_since else 0.0)  # type: ignore[arg-type]
        for row in rows
        if (start := utc(row["bucket_start"])) > cutoff  # type: ignore[arg-type]
    ]


def _active_subjects(connection: Connection, budget: Budget, now: datetime) -> list[str]:
    query = (
        select(budget_usage.c.subject)
        .where(
            budget_usage.c.scope == budget.scope,
            budget_usage.c.granularity == GRANULARITY[budget.window],
            budget_usage.c.bucket_start > now - WINDOWS[budget.window],
        )
        .distinct()
    )
    return [row[0] for row in connection.execute(query)]


def _over(used: float, needed: float, limit: float) -> bool:
    return used >= limit or used + needed > limit


def _retry_after(
    rows: Sequence[_Bucket], used: float, needed: float, limit: float, window: timedelta, now: datetime
) -> int:
    """Seconds until enough of the window's oldest buckets have left it for `needed` to fit."""
    freed = 0.0
    for row in rows:
        freed += row.used + row.reserved
        if not _over(used - freed, needed, limit):
            return max(1, math.ceil((row.start + window - now).total_seconds()))
    return max(1, math.ceil(window.total_seconds()))


def _note_soft_crossing(budget: Budget, used: float, needed: float) -> None:
    soft = budget.soft_ratio * budget.hard_limit
    if used < soft <= used + needed:
        logger.warning(
            "budget soft threshold crossed",
            extra={"budget": budget.label(), "soft_ratio": budget.soft_ratio, "scope": budget.scope},
        )


def _add(
    left: tuple[float, float, float, float] | None, right: tuple[float, float, float, float]
) -> tuple[float, float, float, float]:
    if left is None:
        return right
    return (left[0] + right[0], left[1] + right[1], left[2] + right[2], left[3] + right[3])


def _apply(connection: Connection, deltas: dict[UsageKey, tuple[float, float, float, float]]) -> None:
    """Add deltas to usage buckets with one atomic upsert, rows in key order (the shared lock order)."""
    if not deltas:
        return
    rows = [
        {
            "scope": key[0],
            "subject": key[1],
            "granularity": key[2],
            "bucket_start": key[3],
            "tokens": int(values[0]),
            "cost_usd": values[1],
            "reserved_tokens": int(values[2]),
            "reserved_cost_usd": values[3],
        }
        for key, values in sorted(deltas.items())
    ]
    statement = insert_for(connection, budget_usage)
    statement = statement.on_conflict_do_update(
        index_elements=["scope", "subject", "granularity", "bucket_start"],
        set_={name: budget_usage.c[name] + statement.excluded[name] for name in _VALUES},
    )
    connection.execute(statement, rows)
