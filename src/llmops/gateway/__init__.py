"""The OpenAI-compatible gateway: `/v1/chat/completions`, `/v1/embeddings` and `/v1/models` for any app.

An app that speaks OpenAI's protocol points its `base_url` at llmops and sends an llmops key; the
gateway forwards to the configured upstreams (`upstreams.py`) with llmops' own keys, and every call
becomes a trace and a request row like the assistant's (`proxy.py`), under the same retries, breakers,
budgets and redaction, plus per-key rate limits (`ratelimit.py`) and an optional cache (`cache.py`).
"""

from __future__ import annotations

from sqlalchemy import Engine

from llmops.budgets.enforce import BudgetEnforcer
from llmops.config import Settings
from llmops.gateway.bodies import Caller
from llmops.gateway.cache import ResponseCache
from llmops.gateway.errors import GatewayError
from llmops.gateway.model_canaries import ModelCanaries
from llmops.gateway.proxy import Gateway, Persist, Reply
from llmops.gateway.ratelimit import RateLimiter
from llmops.gateway.streaming import StreamReply
from llmops.gateway.upstreams import GatewayConfigError, build_routes, upstream_secrets
from llmops.providers.registry import retry_policy
from llmops.telemetry.runtime import Telemetry

__all__ = [
    "Caller",
    "Gateway",
    "GatewayConfigError",
    "GatewayError",
    "Reply",
    "StreamReply",
    "build_gateway",
    "upstream_secrets",
]


def build_gateway(
    settings: Settings,
    telemetry: Telemetry,
    budgets: BudgetEnforcer,
    persist: Persist | None = None,
    engine: Engine | None = None,
) -> Gateway:
    """The gateway as configured; raises `GatewayConfigError` naming what is wrong in its configuration.
    `persist` stores a call's request row before its reply (the service's `RowWriter.store`); with
    `engine`, model canaries route by their stored state (`model_canaries`), else by the configuration."""
    cache = None
    if settings.gateway_cache_ttl_s > 0:
        cache = ResponseCache(settings.gateway_cache_ttl_s, settings.gateway_cache_max_entries)
    routes = build_routes(settings)
    canaries = (
        ModelCanaries(engine, routes, ttl_s=settings.prompt_label_ttl_s) if engine is not None else None
    )
    return Gateway(
        routes,
        telemetry,
        budgets,
        policy=retry_policy(settings),
        breaker_failure_threshold=settings.breaker_failure_threshold,
        breaker_reset_s=settings.breaker_reset_s,
        limiter=RateLimiter(settings.gateway_requests_per_minute, settings.gateway_tokens_per_minute),
        cache=cache,
        persist=persist,
        canaries=canaries,
    )
