"""The one prompt router: which version of a prompt serves one request.

In order: the caller's explicit version; else the `canary` label's version when the request's routing
key falls inside the canary's traffic share; else the `production` label's version; else the
configured default. Both labels of a prompt are read in one query and cached together for `ttl_s`
seconds (0 reads on every request), off the event loop, so a label move reaches every replica sharing
the database within that time and without a restart.

Canary assignment is sticky: a key (the pseudonymous user id, else the request id) hashes to a stable
point in [0, 1) and is in the canary when that point is below the share, so the same user always lands
in the same arm and raising the share only adds users. Serving never fails on a label: a label naming
a version this process does not have, or a database error, falls back (with a warning) to the last
known labels, else to the default.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from llmops.prompts.labels import CANARY, PRODUCTION, LabelStore
from llmops.prompts.registry import PromptNotFound

logger = logging.getLogger("llmops.prompts")

_SCALE = float(1 << 64)


def assignment_point(key: str) -> float:
    """A stable point in [0, 1) for `key`: the first 8 bytes of its SHA-256 over 2**64."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / _SCALE


def in_canary(key: str, share: float) -> bool:
    return assignment_point(key) < share


@dataclass(frozen=True, slots=True)
class Route:
    """The version that serves a request, and whether it is the canary arm."""

    version: str
    canary: bool = False


@dataclass(frozen=True, slots=True)
class _Labels:
    production: str | None
    canary: tuple[str, float] | None


class PromptRouter:
    """Routes requests of each prompt by its `production` and `canary` labels, with one cache."""

    def __init__(
        self,
        labels: LabelStore,
        defaults: Mapping[str, str],
        *,
        ttl_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl_s < 0:
            raise ValueError("ttl_s must be >= 0")
        for version in defaults.values():
            if not labels.known(version):
                raise PromptNotFound(f"unknown default version {version!r}")
        self.labels = labels
        self.defaults = dict(defaults)
        self.ttl_s = ttl_s
        self._clock = clock
        self._cache: dict[str, tuple[float, _Labels]] = {}
        self._lock = asyncio.Lock()

    async def route(self, prompt_name: str, routing_key: str, explicit: str | None = None) -> Route:
        """The route for one request; an explicit version must exist (`PromptNotFound` otherwise)."""
        if explicit is not None:
            self.labels.registry.get(explicit)
            return Route(explicit)
        labels = await self._labels(prompt_name)
        if labels.canary is not None and in_canary(routing_key, labels.canary[1]):
            return Route(labels.canary[0], canary=True)
        return Route(labels.production or self.defaults[prompt_name])

    async def production(self, prompt_name: str) -> str:
        """The version serving `prompt_name`'s production traffic now."""
        return (await self._labels(prompt_name)).production or self.defaults[prompt_name]

    async def _labels(self, prompt_name: str) -> _Labels:
        if (cached := self._fresh(prompt_name)) is not None:
            return cached
        async with self._lock:
            if (cached := self._fresh(prompt_name)) is not None:
                return cached
            labels = await asyncio.to_thread(self._lookup, prompt_name)
            self._cache[prompt_name] = (self._clock(), labels)
            return labels

    def _fresh(self, prompt_name: str) -> _Labels | None:
        entry = self._cache.get(prompt_name)
        if entry is None or self.ttl_s == 0:
            return None
        fetched_at, labels = entry
        return labels if self._clock() - fetched_at < self.ttl_s else None

    def _lookup(self, prompt_name: str) -> _Labels:
        try:
            records = {record.label: record for record in self.labels.labels(prompt_name)}
        except Exception as exc:
            logger.warning("prompt label lookup failed", extra={"error_type": type(exc).__name__})
            entry = self._cache.get(prompt_name)
            return entry[1] if entry else _Labels(None, None)
        production = records.get(PRODUCTION)
        production_version = None
        if production is not None:
            if self.labels.known(production.version_id):
                production_version = production.version_id
            else:
                logger.warning(
                    "prompt label points at an unknown version; serving the default",
                    extra={"prompt_label": PRODUCTION, "prompt_version": production.version_id},
                )
        canary = records.get(CANARY)
        canary_route = None
        if canary is not None and canary.traffic_share:
            if self.labels.known(canary.version_id):
                canary_route = (canary.version_id, canary.traffic_share)
            else:
                logger.warning(
                    "canary label points at an unknown version; routing nothing to it",
                    extra={"prompt_label": CANARY, "prompt_version": canary.version_id},
                )
        return _Labels(production_version, canary_route)
