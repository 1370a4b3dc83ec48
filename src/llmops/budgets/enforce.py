"""Budget enforcement around one request: reserve an estimate before the model call, settle after.

When the caller knows the prompt the model call will be sent (the triage renders it first), the
reservation is that prompt's tokens (characters / 4) plus the call's `max_tokens`: an upper bound for
one call that admits as many requests as actually fit a cap. When only the input is known, the
estimate falls back to its characters / 4 plus `PROMPT_OVERHEAD_TOKENS` (system prompt, examples,
tool results and policies) plus `LLMOPS_MAX_OUTPUT_TOKENS`, and never less than the running average
of what requests in this process actually used. Either way the hold is settled from the usage the
provider reported (a repair call can make that more than the reservation; the next request sees it).
The cost estimate prices those tokens for the primary provider's model, falling back to the running
average cost per token when the price is unknown.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from llmops.budgets.store import Amount, BudgetStore, Reservation, Subjects
from llmops.config import Settings
from llmops.telemetry.cost import LocalPrices, ModelPrices, price_call

logger = logging.getLogger("llmops.budgets")

PROMPT_OVERHEAD_TOKENS = 1024
Planned = tuple[int, int | None]  # (prompt or input characters, max_tokens when the prompt is known)
CHARS_PER_TOKEN = 4
_EMA_WEIGHT = 0.2


@dataclass
class Hold:
    """A request's reservation; `record` the usage the provider reported before the hold ends."""

    reservation: Reservation | None
    actual: Amount | None = None

    def record(self, tokens: int, cost_usd: float | None) -> None:
        self.actual = Amount(tokens=tokens, cost_usd=cost_usd or 0.0)


class BudgetEnforcer:
    """Reserves, settles and releases against the store, off the event loop."""

    def __init__(self, store: BudgetStore, settings: Settings) -> None:
        self.store = store
        self._provider = settings.provider
        self._model = settings.model_for(settings.provider)
        self._base_url = settings.openai_base_url if settings.provider == "openai" else None
        self._prices = LocalPrices.from_settings(settings)
        self._model_prices = ModelPrices.from_settings(settings)
        self._max_output = settings.max_output_tokens
        self._mean_tokens = 0.0
        self._mean_cost_per_token = 0.0
        self._lock = threading.Lock()

    def estimate(self, input_chars: int, max_tokens: int | None = None) -> Amount:
        """Tokens and cost to reserve: for a known prompt of `input_chars` characters sent with
        `max_tokens`, or (no `max_tokens`) for an input the prompt will be built around."""
        if max_tokens is not None:
            output = max_tokens
            tokens = math.ceil(input_chars / CHARS_PER_TOKEN) + output
        else:
            output = self._max_output
            input_tokens = math.ceil(input_chars / CHARS_PER_TOKEN) + PROMPT_OVERHEAD_TOKENS
            tokens = max(input_tokens + output, math.ceil(self._mean_tokens))
        cost = price_call(
            self._provider,
            self._model,
            tokens - output,
            output,
            None,
            local_prices=self._prices,
            base_url=self._base_url,
            model_prices=self._model_prices,
        ).usd
        return Amount(
            tokens=tokens, cost_usd=cost if cost is not None else tokens * self._mean_cost_per_token
        )

    @asynccontextmanager
    async def hold(self, subjects: Subjects, plan: Callable[[], Planned]) -> AsyncIterator[Hold]:
        """Reserve for one request (raises `BudgetExceededError`); `plan()` sizes it: (prompt characters,
        the call's `max_tokens`), or (input characters, None) when the prompt is not known yet. It runs
        off the event loop, and only when a budget exists. Then settle what the request `record`ed, or
        release the reservation when it recorded nothing or failed."""
        reservation = None
        if not self.store.known_empty():  # without budgets, no thread hop per request
            reservation = await asyncio.to_thread(self._reserve, subjects, plan)
        hold = Hold(reservation)
        try:
            yield hold
        finally:
            if reservation is not None:
                await asyncio.to_thread(self._settle, reservation, hold.actual)

    def _reserve(self, subjects: Subjects, plan: Callable[[], Planned]) -> Reservation | None:
        if not self.store.has_budgets():
            return None
        return self.store.reserve(subjects, self.estimate(*plan()))

    def _settle(self, reservation: Reservation, actual: Amount | None) -> None:
        try:
            if actual is None:
                self.store.release(reservation)
                return
            self.store.settle(reservation, actual)
        except Exception as exc:
            # The reservation then stays counted until it leaves the window: safe, never an overshoot.
            logger.error("budget settle failed", extra={"error_type": type(exc).__name__})
            return
        self._learn(actual)

    def _learn(self, actual: Amount) -> None:
        with self._lock:
            self._mean_tokens += _EMA_WEIGHT * (actual.tokens - self._mean_tokens)
            if actual.tokens:
                per_token = actual.cost_usd / actual.tokens
                self._mean_cost_per_token += _EMA_WEIGHT * (per_token - self._mean_cost_per_token)
