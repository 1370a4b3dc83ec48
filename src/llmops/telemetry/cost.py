"""The price of one model call: a configured price for the model (`LLMOPS_PRICES`, any provider), else
the configured local prices (local and scripted models), else genai-prices' bundled data.

A price is a fact or nothing: when no price is configured and genai-prices does not know the model, or
the usage does not add up, the cost is `None` with a `source` that says why; it is never estimated, and
tokens are never guessed.

genai-prices only fetches prices over the network when an `UpdatePrices` updater is started; llmops
never starts one, so lookups always use the data bundled with the installed package (its version is
part of `source`) and never do I/O.

A genai-prices lookup costs tens of microseconds (model matching, unit decomposition), which OTLP ingest
pays per model span. So the match for a (provider, model) is resolved once, and a flat price (no tiers,
no time-dependent prices) is kept as its per-token rates: the cost is then plain arithmetic, the same
affine function genai-prices computes. Other prices still go through genai-prices on every call.
"""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from typing import NamedTuple
from urllib.parse import urlsplit

import genai_prices
from pydantic import BaseModel, ConfigDict, Field

from llmops.config import Settings, parse_prices

CONFIG_PRICED_PROVIDERS = frozenset({"local", "scripted"})
OPENAI_HOSTS = frozenset({"api.openai.com"})

SOURCE_CONFIG = "config"
SOURCE_UNKNOWN = "unknown"
SOURCE_INVALID_USAGE = "invalid-usage"

_PER_MILLION = 1_000_000


class LocalPrices(BaseModel):
    """USD per million tokens for the models we run ourselves (local, scripted). Default: free."""

    model_config = ConfigDict(frozen=True)

    input_per_mtok: float = Field(0.0, ge=0, allow_inf_nan=False)
    output_per_mtok: float = Field(0.0, ge=0, allow_inf_nan=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalPrices:
        return cls(
            input_per_mtok=settings.local_price_input_per_mtok,
            output_per_mtok=settings.local_price_output_per_mtok,
        )


class ModelPrices(BaseModel):
    """Configured prices by model id (the upstream's `model`), for any provider: `LLMOPS_PRICES`."""

    model_config = ConfigDict(frozen=True)

    models: dict[str, LocalPrices] = Field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Settings) -> ModelPrices:
        return cls(
            models={
                model: LocalPrices(input_per_mtok=input_price, output_per_mtok=output_price)
                for model, (input_price, output_price) in parse_prices(settings.prices).items()
            }
        )


class Cost(BaseModel):
    """What one call cost, and where the price came from (`llmops.cost.price_source` on the span)."""

    model_config = ConfigDict(frozen=True)

    usd: float | None
    source: str


class _Rates(NamedTuple):
    """A flat price as USD per request and per uncached input, cached input and output token."""

    request: Decimal
    input: Decimal
    cached: Decimal
    output: Decimal

    def usd(self, input_tokens: int, output_tokens: int, cached_tokens: int) -> float:
        total = (
            self.request
            + (input_tokens - cached_tokens) * self.input
            + cached_tokens * self.cached
            + output_tokens * self.output
        )
        return float(total)


class _Match(NamedTuple):
    provider_id: str
    model_id: str
    source: str
    rates: _Rates | None  # None: the price has tiers or depends on the time, ask genai-prices each call


def price_call(
    provider: str,
    model: str,
    input_tokens: int,
    output_tokens: int,
    cached_tokens: int | None,
    *,
    local_prices: LocalPrices,
    base_url: str | None = None,
    model_prices: ModelPrices | None = None,
) -> Cost:
    """The cost of one call from the usage the provider reported.

    `input_tokens` includes `cached_tokens` (as OpenAI reports them); cached tokens are billed at the
    model's cache-read price where genai-prices has one. `base_url` is the OpenAI-compatible endpoint
    the call went to: OpenAI's own host is priced as OpenAI, any other host by model id alone.
    A price configured for `model` in `model_prices` wins over everything else.
    Never raises for an unknown model or odd usage: the answer is then `usd=None`.
    """
    cached = cached_tokens or 0
    if min(input_tokens, output_tokens, cached) < 0 or cached > input_tokens:
        return Cost(usd=None, source=SOURCE_INVALID_USAGE)
    configured = model_prices.models.get(model) if model_prices is not None else None
    if configured is None and provider in CONFIG_PRICED_PROVIDERS:
        configured = local_prices
    if configured is not None:
        billed = input_tokens * configured.input_per_mtok + output_tokens * configured.output_per_mtok
        return Cost(usd=billed / _PER_MILLION, source=SOURCE_CONFIG)
    match = _resolve(_provider_hint(provider, base_url), model)
    if match is None:
        return Cost(usd=None, source=SOURCE_UNKNOWN)
    if match.rates is not None:
        return Cost(usd=match.rates.usd(input_tokens, output_tokens, cached), source=match.source)
    usage = genai_prices.Usage(
        input_tokens=input_tokens, cache_read_tokens=cached, output_tokens=output_tokens
    )
    try:
        calculation = genai_prices.calc_price(usage, model, provider_id=match.provider_id)
    except (LookupError, ValueError):
        # The data found the model a moment ago; a failure now is genai-prices rejecting this usage.
        return Cost(usd=None, source=SOURCE_INVALID_USAGE)
    return Cost(usd=float(calculation.total_price), source=match.source)


def _provider_hint(provider: str, base_url: str | None) -> str | None:
    """The genai-prices provider id to look in, or None to match on the model id alone.

    Our `openai` provider speaks a protocol, not a vendor: vLLM, Ollama or LiteLLM behind it are not
    OpenAI, so only OpenAI's own host maps to genai-prices' `openai`.
    """
    if provider == "openai":
        host = urlsplit(base_url).hostname if base_url else None
        return "openai" if host in OPENAI_HOSTS else None
    return provider


@lru_cache(maxsize=256)
def _resolve(provider_id: str | None, model: str) -> _Match | None:
    """Which genai-prices provider and model price this (provider, model); None when none does.

    Cached because the bundled data never changes in a running process; bounded because model ids
    come from configuration and provider replies.
    """
    try:
        calculation = genai_prices.calc_price(genai_prices.Usage(), model, provider_id=provider_id)
    except LookupError:
        return None
    return _Match(
        provider_id=calculation.provider.id,
        model_id=calculation.model.id,
        source=_source(calculation),
        rates=_flat_rates(calculation),
    )


def _flat_rates(calculation: genai_prices.types.PriceCalculation) -> _Rates | None:
    """The per-token rates of a price that is one affine function of the usage; None for any other."""
    prices = calculation.model.prices
    if not isinstance(prices, genai_prices.types.ModelPrice) or any(
        isinstance(value, genai_prices.types.TieredPrices) for value in vars(prices).values()
    ):
        return None

    def total(input_tokens: int, cached: int, output_tokens: int) -> Decimal:
        usage = genai_prices.Usage(
            input_tokens=input_tokens, cache_read_tokens=cached, output_tokens=output_tokens
        )
        return calculation.model_price.calc_price(usage)["total_price"]

    try:
        request = total(0, 0, 0)
        return _Rates(
            request=request,
            input=total(1, 0, 0) - request,
            cached=total(1, 1, 0) - request,
            output=total(0, 0, 1) - request,
        )
    except (LookupError, ValueError):
        return None


def _source(calculation: genai_prices.types.PriceCalculation) -> str:
    """`genai-prices:openai/gpt-4o-mini@0.2.3`: the package version pins the bundled price data."""
    if calculation.auto_update_timestamp is not None:
        version = f"fetched-{calculation.auto_update_timestamp.isoformat()}"
    else:
        version = genai_prices.__version__
    return f"genai-prices:{calculation.provider.id}/{calculation.model.id}@{version}"
