"""Model and price truth: the recorded model is the one the upstream answered as, no model name is
invented, a price can be configured for any model (self-hosted ones included), an unknown price stays
unknown, and /readyz warns when the configured model is not served upstream."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest
from pydantic import ValidationError

from fakes.openai_server import FakeOpenAIServer, FakeReply
from live import LiveServer
from llmops.config import Settings, parse_prices
from llmops.telemetry.cost import Cost, LocalPrices, ModelPrices, price_call

VALID_TRIAGE = '{"category": "urgent", "priority": 1, "summary": "Outage.", "action_items": ["Join"], "draft_reply": "On it."}'
EMAIL = {
    "email": {"sender": "a@example.com", "recipients": ["b@example.com"], "subject": "Down", "body": "Help"}
}
FREE = LocalPrices()


def _settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_openai_needs_a_model_name() -> None:
    with pytest.raises(ValidationError, match="LLMOPS_MODEL is required"):
        _settings(provider="openai")
    with pytest.raises(ValidationError, match="LLMOPS_OPENAI_MODEL is required"):
        _settings(provider="scripted", fallback_providers="openai")
    assert _settings(provider="openai", model="qwen2.5-7b").model_for("openai") == "qwen2.5-7b"
    assert _settings(provider="openai", openai_model="qwen2.5-7b").model_for("openai") == "qwen2.5-7b"


def test_prices_parse_from_pairs_and_json() -> None:
    assert parse_prices("llama3.1:8b=0.1/0.2, meta-llama/Llama-3.1-8B=1/2") == {
        "llama3.1:8b": (0.1, 0.2),
        "meta-llama/Llama-3.1-8B": (1.0, 2.0),
    }
    assert parse_prices('{"a=b": [3, 4]}') == {"a=b": (3.0, 4.0)}
    assert parse_prices("") == {}
    for bad in ("llama=1", "=1/2", "m=x/2", "m=-1/2", "m=inf/1", "[1]", '{"m": 1}', "{nope"):
        with pytest.raises(ValueError):
            parse_prices(bad)
    with pytest.raises(ValidationError, match="price"):
        _settings(prices="m=1")


def test_configured_price_wins_for_any_provider_and_unknown_stays_unknown() -> None:
    prices = ModelPrices(models={"llama3.2:1b": LocalPrices(input_per_mtok=1.0, output_per_mtok=2.0)})
    vllm = "http://gpu-box:8001/v1"
    cost = price_call(
        "openai",
        "llama3.2:1b",
        1_000_000,
        500_000,
        None,
        local_prices=FREE,
        base_url=vllm,
        model_prices=prices,
    )
    assert cost == Cost(usd=2.0, source="config")
    other = price_call(
        "openai", "llama3.2:3b", 10, 10, None, local_prices=FREE, base_url=vllm, model_prices=prices
    )
    assert other == Cost(usd=None, source="unknown")
    local = price_call("local", "llama3.2:1b", 1_000_000, 0, None, local_prices=FREE, model_prices=prices)
    assert local.usd == 1.0


def test_upstream_model_is_recorded_and_priced_from_configuration(
    live_server: Callable[..., LiveServer],
) -> None:
    answer = FakeReply.ok(
        VALID_TRIAGE, prompt_tokens=1000, completion_tokens=500, model="qwen2.5-7b-instruct-q4"
    )
    with FakeOpenAIServer(default_reply=answer, models=("qwen2.5-7b-instruct-q4",)) as upstream:
        server = live_server(
            provider="openai",
            model="qwen2.5-7b",
            openai_base_url=upstream.base_url,
            openai_api_key="sk-test",
            prices="qwen2.5-7b-instruct-q4=2/4",
        )
        with server.client() as client:
            reply = client.post("/v1/triage", json=EMAIL).json()
            ready = _ready_with_warnings(client)
        server.flush()
        with server.client() as client:
            row = client.get("/api/requests", params={"request_id": reply["request_id"]}).json()["items"][0]
    assert reply["model"] == "qwen2.5-7b-instruct-q4"
    assert reply["cost_usd"] == pytest.approx((1000 * 2 + 500 * 4) / 1e6)
    assert row["model"] == "qwen2.5-7b-instruct-q4" and row["cost_usd"] == pytest.approx(reply["cost_usd"])
    assert ready["status"] == "ready"
    assert ready["warnings"] == [
        "openai: model 'qwen2.5-7b' is not among the models the upstream lists at /models"
    ]


def _ready_with_warnings(client: httpx.Client) -> dict:
    """/readyz once the background model check has reported (it never makes the probe wait)."""
    deadline = time.monotonic() + 10
    while True:
        ready = client.get("/readyz").json()
        if ready["warnings"] or time.monotonic() > deadline:
            return ready
        time.sleep(0.05)


def test_self_hosted_model_without_a_price_has_unknown_cost(live_server: Callable[..., LiveServer]) -> None:
    answer = FakeReply.ok(VALID_TRIAGE, prompt_tokens=10, completion_tokens=5)
    with FakeOpenAIServer(default_reply=answer, models=("my-finetune",)) as upstream:
        server = live_server(provider="openai", model="my-finetune", openai_base_url=upstream.base_url)
        with server.client() as client:
            reply = client.post("/v1/triage", json=EMAIL).json()
            ready = client.get("/readyz").json()
    assert reply["model"] == "my-finetune" and reply["cost_usd"] is None
    assert ready["warnings"] == []
