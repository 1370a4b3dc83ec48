"""Per-key rate limits: requests and tokens per minute, as token buckets, answered with OpenAI's headers.

Each API key has a requests bucket and a tokens bucket that hold up to a minute's allowance and refill
continuously. A request takes 1 request and its token estimate (input characters / 4 plus its
`max_tokens`); when it is done, the estimate is corrected to the tokens the upstream reported, so a
bucket may go below zero and the next request waits longer. A refused request gets 429 with
`Retry-After` (whole seconds until it fits); every reply carries `x-ratelimit-limit-requests`,
`x-ratelimit-remaining-requests`, `x-ratelimit-reset-requests` and the same three for tokens, as OpenAI
sends them. Buckets live in the worker process: with N workers or replicas a key gets up to N times the
limit. Hand-written: a token bucket is a few lines, and the libraries that offer one do not give the
remaining and reset figures these headers need.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from llmops.gateway.errors import GatewayError, retry_after

Clock = Callable[[], float]


class _Bucket:
    __slots__ = ("capacity", "level", "rate", "updated")

    def __init__(self, per_minute: int, now: float) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.level = self.capacity
        self.updated = now

    def refill(self, now: float) -> None:
        self.level = min(self.capacity, self.level + (now - self.updated) * self.rate)
        self.updated = now

    def wait_for(self, amount: float) -> float:
        """Seconds until `amount` fits (0 now); a request larger than the capacity waits for a full bucket."""
        needed = min(amount, self.capacity) - self.level
        return 0.0 if needed <= 0 else needed / self.rate

    def reset_s(self) -> float:
        return max(self.capacity - self.level, 0.0) / self.rate


def _duration(seconds: float) -> str:
    """OpenAI's reset format: `1s`, `6m0s`, `250ms`."""
    if seconds < 1:
        return f"{math.ceil(seconds * 1000)}ms"
    whole = math.ceil(seconds)
    minutes, secs = divmod(whole, 60)
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"


@dataclass(frozen=True, slots=True)
class Admission:
    """A request let through: what it took, and the headers to send back."""

    key: str
    tokens: int
    headers: dict[str, str]


class RateLimiter:
    """Limits per key; 0 turns a limit off (and with both off `admit` costs nothing)."""

    def __init__(self, requests_per_minute: int, tokens_per_minute: int, clock: Clock = time.monotonic):
        self.rpm = requests_per_minute
        self.tpm = tokens_per_minute
        self._clock = clock
        self._requests: dict[str, _Bucket] = {}
        self._tokens: dict[str, _Bucket] = {}

    @property
    def enabled(self) -> bool:
        return bool(self.rpm or self.tpm)

    def admit(self, key: str, tokens: int) -> Admission:
        """Take one request and `tokens` from `key`'s buckets, or raise a 429 `GatewayError`."""
        if not self.enabled:
            return Admission(key, 0, {})
        now = self._clock()
        buckets = self._buckets(key, now)
        waits = [
            (kind, bucket.wait_for(amount))
            for kind, bucket, amount in (("requests", buckets[0], 1), ("tokens", buckets[1], tokens))
            if bucket is not None
        ]
        kind, wait = max(waits, key=lambda item: item[1])
        if wait > 0:
            headers = self._headers(buckets)
            headers["Retry-After"] = retry_after(wait)
            raise GatewayError(
                429,
                f"Rate limit reached for {kind} per minute on this API key. Try again in {headers['Retry-After']}s.",
                type=kind,
                code="rate_limit_exceeded",
                headers=headers,
            )
        if buckets[0] is not None:
            buckets[0].level -= 1
        if buckets[1] is not None:
            buckets[1].level -= tokens
        return Admission(key, tokens, self._headers(buckets))

    def settle(self, admission: Admission, actual_tokens: int | None) -> None:
        """Correct the token estimate to what the upstream reported (None: the call failed, give it back)."""
        if not self.tpm or not admission.key:
            return
        bucket = self._tokens.get(admission.key)
        if bucket is not None:
            bucket.refill(self._clock())
            bucket.level += admission.tokens - (actual_tokens or 0)

    def _buckets(self, key: str, now: float) -> tuple[_Bucket | None, _Bucket | None]:
        found: list[_Bucket | None] = []
        for limit, table in ((self.rpm, self._requests), (self.tpm, self._tokens)):
            if not limit:
                found.append(None)
                continue
            bucket = table.get(key)
            if bucket is None:
                bucket = table[key] = _Bucket(limit, now)
            else:
                bucket.refill(now)
            found.append(bucket)
        return found[0], found[1]

    @staticmethod
    def _headers(buckets: tuple[_Bucket | None, _Bucket | None]) -> dict[str, str]:
        headers: dict[str, str] = {}
        for kind, bucket in zip(("requests", "tokens"), buckets, strict=True):
            if bucket is None:
                continue
            headers[f"x-ratelimit-limit-{kind}"] = str(int(bucket.capacity))
            headers[f"x-ratelimit-remaining-{kind}"] = str(max(int(bucket.level), 0))
            headers[f"x-ratelimit-reset-{kind}"] = _duration(bucket.reset_s())
        return headers
