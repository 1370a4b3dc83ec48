"""A circuit breaker per provider: stop calling one that keeps failing, probe it again later.

Hand-written: no well-kept asyncio circuit-breaker library fits (the maintained ones are synchronous
or tied to a framework), and the state machine is small. Every state change is a warning log line.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from enum import StrEnum

from llmops.providers.errors import CircuitOpen

Clock = Callable[[], float]
logger = logging.getLogger("llmops.providers")


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Stops calling a provider that keeps failing, then probes it with one trial call.

    closed → open after `failure_threshold` consecutive failed calls; open → half-open once `reset_s`
    has passed, admitting a single trial; the trial's success closes the breaker, its failure opens it
    again for another `reset_s`. Callers use `acquire()` before a call, then exactly one of
    `record_success()`, `record_failure()` or `release()` (the call ended without a verdict, e.g. it
    was cancelled). Not thread-safe: use it from one event loop.
    """

    def __init__(
        self, name: str, *, failure_threshold: int = 5, reset_s: float = 30.0, clock: Clock = time.monotonic
    ):
        if failure_threshold < 1 or reset_s <= 0:
            raise ValueError("failure_threshold must be >= 1 and reset_s > 0")
        self.name = name
        self.failure_threshold = failure_threshold
        self.reset_s = reset_s
        self._clock = clock
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._trial_in_flight = False

    @property
    def state(self) -> BreakerState:
        return self._state

    @property
    def consecutive_failures(self) -> int:
        return self._failures

    def _move(self, state: BreakerState) -> None:
        if state is not self._state:
            logger.warning(
                "circuit breaker changed state",
                extra={"provider": self.name, "from_state": self._state.value, "to_state": state.value},
            )
        self._state = state

    def acquire(self) -> None:
        """Admit a call or raise CircuitOpen; moves open → half-open when the reset time has passed."""
        if self._state is BreakerState.OPEN and self._clock() - self._opened_at >= self.reset_s:
            self._move(BreakerState.HALF_OPEN)
            self._trial_in_flight = False
        if self._state is BreakerState.CLOSED:
            return
        if self._state is BreakerState.HALF_OPEN and not self._trial_in_flight:
            self._trial_in_flight = True
            return
        raise CircuitOpen(f"{self.name} circuit is {self._state.value}", provider=self.name)

    def record_success(self) -> None:
        self._move(BreakerState.CLOSED)
        self._failures = 0
        self._trial_in_flight = False

    def record_failure(self) -> None:
        self._failures += 1
        if self._state is BreakerState.HALF_OPEN or (
            self._state is BreakerState.CLOSED and self._failures >= self.failure_threshold
        ):
            self._move(BreakerState.OPEN)
            self._opened_at = self._clock()
            self._trial_in_flight = False

    def release(self) -> None:
        if self._state is BreakerState.HALF_OPEN:
            self._trial_in_flight = False
