"""Sticky canary assignment: which requests the `canary` label's version serves.

A request's key (the pseudonymous user id, else the request id) hashes to a stable point in [0, 1);
it is in the canary when the point is below the label's `traffic_share`. The same user therefore
always lands in the same arm, and raising the share only adds users (nobody flips back). A canary
label with no share, a share of 0 or a version this process does not have routes nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from llmops.prompts.labels import CANARY, DEFAULT_PROMPT, LabelStore

logger = logging.getLogger("llmops.canary")

_SCALE = float(1 << 64)


def assignment_point(key: str) -> float:
    """A stable point in [0, 1) for `key`: the first 8 bytes of its SHA-256 over 2**64."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / _SCALE


def in_canary(key: str, share: float) -> bool:
    return assignment_point(key) < share


@dataclass(frozen=True, slots=True)
class CanaryRoute:
    """`version` is the canary version when the request is in the canary, else None (serve production)."""

    version: str | None

    @property
    def canary(self) -> bool:
        return self.version is not None


_PRODUCTION = CanaryRoute(None)


class CanaryRouter:
    """Routes requests by the `canary` label, cached for `ttl_s` seconds like the prompt resolver."""

    def __init__(
        self,
        labels: LabelStore,
        *,
        prompt_name: str = DEFAULT_PROMPT,
        ttl_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl_s < 0:
            raise ValueError("ttl_s must be >= 0")
        self.labels = labels
        self.prompt_name = prompt_name
        self.ttl_s = ttl_s
        self._clock = clock
        self._cached: tuple[float, tuple[str, float] | None] | None = None
        self._lock = asyncio.Lock()

    async def route(self, key: str) -> CanaryRoute:
        canary = await self._canary()
        if canary is None:
            return _PRODUCTION
        version, share = canary
        return CanaryRoute(version) if in_canary(key, share) else _PRODUCTION

    async def _canary(self) -> tuple[str, float] | None:
        if (cached := self._fresh()) is not None:
            return cached[1]
        async with self._lock:
            if (cached := self._fresh()) is not None:
                return cached[1]
            canary = await asyncio.to_thread(self._lookup)
            self._cached = (self._clock(), canary)
            return canary

    def _fresh(self) -> tuple[float, tuple[str, float] | None] | None:
        if self._cached is None or self.ttl_s == 0:
            return None
        return self._cached if self._clock() - self._cached[0] < self.ttl_s else None

    def _lookup(self) -> tuple[str, float] | None:
        try:
            record = self.labels.get(self.prompt_name, CANARY)
        except Exception as exc:
            logger.warning("canary label lookup failed", extra={"error_type": type(exc).__name__})
            return self._cached[1] if self._cached else None
        if record is None or not record.traffic_share:
            return None
        if record.version_id not in self.labels.registry:
            logger.warning(
                "canary label points at an unknown version; routing nothing to it",
                extra={"prompt_version": record.version_id},
            )
            return None
        return record.version_id, record.traffic_share
