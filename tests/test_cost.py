"""Cost of a model call: genai-prices for hosted models, configured prices for ours, never a guess."""

from __future__ import annotations

import socket
import threading

import genai_prices
import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmops.config import Settings
from llmops.telemetry.cost import Cost, LocalPrices, _resolve, price_call

FREE = LocalPrices()
OPENAI_URL = "https://api.openai.com/v1"


def genai_prices_usd(model: str, input_tokens: int, output_tokens: int, cached: int = 0) -> float:
    usage = genai_prices.Usage(
        input_tokens=input_tokens, cache_read_tokens=cached, output_tokens=output_tokens
    )
    return float(genai_prices.calc_price(usage, model, provider_id="openai").total_price)


def test_gpt_4o_mini_costs_what_genai_prices_says() -> None:
    cost = price_call("openai", "gpt-4o-mini", 1200, 300, None, local_prices=FREE, base_url=OPENAI_URL)
    assert cost.usd == pytest.approx(genai_prices_usd("gpt-4o-mini", 1200, 300))
    assert cost.usd == pytest.approx((1200 * 0.15 + 300 * 0.6) / 1e6)
    assert cost.source == f"genai-prices:openai/gpt-4o-mini@{genai_prices.__version__}"


def test_cached_input_tokens_are_billed_at_the_cache_read_price() -> None:
    cached = price_call("openai", "gpt-4o-mini", 1000, 100, 800, local_prices=FREE, base_url=OPENAI_URL)
    uncached = price_call("openai", "gpt-4o-mini", 1000, 100, 0, local_prices=FREE, base_url=OPENAI_URL)
    assert cached.usd == pytest.approx(genai_prices_usd("gpt-4o-mini", 1000, 100, cached=800))
    assert cached.usd is not None and uncached.usd is not None
    assert cached.usd < uncached.usd


def test_dated_model_ids_resolve_to_the_priced_model() -> None:
    cost = price_call(
        "openai", "gpt-4o-mini-2024-07-18", 1000, 0, None, local_prices=FREE, base_url=OPENAI_URL
    )
    assert cost.source.startswith("genai-prices:openai/gpt-4o-mini@")


def test_another_openai_compatible_host_is_matched_by_model_id_alone() -> None:
    vllm = "http://127.0.0.1:8001/v1"
    assert price_call("openai", "gpt-4o-mini", 10, 10, None, local_prices=FREE, base_url=vllm).usd is not None
    ollama = price_call("openai", "llama3.2:1b", 10, 10, None, local_prices=FREE, base_url=vllm)
    assert ollama == Cost(usd=None, source="unknown")


def test_local_and_scripted_models_use_the_configured_prices() -> None:
    prices = LocalPrices(input_per_mtok=2.0, output_per_mtok=8.0)
    for provider in ("local", "scripted"):
        cost = price_call(provider, "SmolLM2-135M-Instruct", 500_000, 250_000, None, local_prices=prices)
        assert (cost.usd, cost.source) == (pytest.approx(1.0 + 2.0), "config")


def test_local_models_are_free_by_default() -> None:
    assert price_call("local", "SmolLM2-135M-Instruct", 900, 90, None, local_prices=FREE) == Cost(
        usd=0.0, source="config"
    )


def test_local_prices_come_from_settings() -> None:
    settings = Settings(_env_file=None, local_price_input_per_mtok=0.5, local_price_output_per_mtok=1.5)  # type: ignore[call-arg]
    assert LocalPrices.from_settings(settings) == LocalPrices(input_per_mtok=0.5, output_per_mtok=1.5)


def test_an_unknown_model_has_no_cost() -> None:
    cost = price_call("openai", "no-such-model-xyz", 1000, 100, None, local_prices=FREE, base_url=OPENAI_URL)
    assert cost == Cost(usd=None, source="unknown")


def test_an_unknown_provider_has_no_cost() -> None:
    assert price_call("acme", "gpt-4o-mini", 1, 1, None, local_prices=FREE).source == "unknown"


@pytest.mark.parametrize(
    ("input_tokens", "output_tokens", "cached"), [(-1, 0, None), (0, -5, None), (10, 1, 11)]
)
def test_usage_that_does_not_add_up_has_no_cost(
    input_tokens: int, output_tokens: int, cached: int | None
) -> None:
    for provider in ("openai", "local"):
        cost = price_call(provider, "gpt-4o-mini", input_tokens, output_tokens, cached, local_prices=FREE)
        assert cost == Cost(usd=None, source="invalid-usage")


def test_pricing_never_touches_the_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("network I/O during pricing")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    _resolve.cache_clear()
    cost = price_call("openai", "gpt-4o", 1000, 1000, None, local_prices=FREE, base_url=OPENAI_URL)
    assert cost.usd is not None
    assert cost.source.endswith(f"@{genai_prices.__version__}"), "prices must come from the bundled data"
    assert not [thread for thread in threading.enumerate() if thread.name.startswith("genai_prices")]


def test_lookups_are_cached_per_provider_and_model() -> None:
    _resolve.cache_clear()
    for _ in range(3):
        price_call("openai", "gpt-4o-mini", 10, 10, None, local_prices=FREE, base_url=OPENAI_URL)
        price_call("openai", "no-such-model-xyz", 10, 10, None, local_prices=FREE, base_url=OPENAI_URL)
    info = _resolve.cache_info()
    assert (info.misses, info.hits) == (2, 4)


@given(
    provider=st.sampled_from(["openai", "local", "scripted", "anthropic", "other"]),
    model=st.text(max_size=80),
    input_tokens=st.integers(min_value=-10, max_value=10**9),
    output_tokens=st.integers(min_value=-10, max_value=10**9),
    cached=st.none() | st.integers(min_value=-10, max_value=10**9),
)
def test_pricing_never_raises_and_never_goes_negative(
    provider: str, model: str, input_tokens: int, output_tokens: int, cached: int | None
) -> None:
    cost = price_call(
        provider, model, input_tokens, output_tokens, cached, local_prices=FREE, base_url=OPENAI_URL
    )
    assert cost.usd is None or cost.usd >= 0
    assert (cost.usd is None) == (cost.source in {"unknown", "invalid-usage"})


# Every model genai-prices bundles for these providers: flat prices are computed from cached rates,
# tiered and time-dependent ones by genai-prices itself; both must give genai-prices' own answer.
_BUNDLED = [
    (provider.id, model.id)
    for provider in genai_prices.data_snapshot.get_snapshot().providers
    if provider.id in {"openai", "anthropic", "google", "mistral", "groq", "deepseek"}
    for model in provider.models
]


@given(
    priced=st.sampled_from(_BUNDLED),
    input_tokens=st.integers(min_value=0, max_value=2_000_000),
    output_tokens=st.integers(min_value=0, max_value=200_000),
    cached_share=st.floats(min_value=0, max_value=1),
)
def test_cost_is_what_genai_prices_computes_for_every_bundled_model(
    priced: tuple[str, str], input_tokens: int, output_tokens: int, cached_share: float
) -> None:
    provider, model = priced
    cached = int(input_tokens * cached_share)
    usage = genai_prices.Usage(
        input_tokens=input_tokens, cache_read_tokens=cached, output_tokens=output_tokens
    )
    try:
        expected: float | None = float(
            genai_prices.calc_price(usage, model, provider_id=provider).total_price
        )
    except (LookupError, ValueError):
        expected = None
    cost = price_call(
        provider, model, input_tokens, output_tokens, cached, local_prices=FREE, base_url=OPENAI_URL
    )
    if expected is None:
        assert cost.usd is None
    else:
        assert cost.usd == pytest.approx(expected, rel=1e-9, abs=1e-12)
