"""Metric instruments and their Prometheus exposition: what a scrape of `/metrics` shows."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from llmops.telemetry.metrics import (
    DURATION_BUCKETS,
    OTHER,
    TOKEN_BUCKETS,
    TOTALS,
    Instruments,
    build_meter_provider,
    guard_label,
)
from llmops.telemetry.prometheus import PrometheusExposition, label_name, metric_name, unit_suffix

MODEL = {
    "gen_ai_operation_name": "chat",
    "gen_ai_provider_name": "openai",
    "gen_ai_request_model": "gpt-4o-mini",
}


@dataclass
class App:
    """What one app instance holds: its provider, its instruments, its /metrics."""

    provider: MeterProvider
    instruments: Instruments
    exposition: PrometheusExposition

    def scrape(self) -> dict[str, list[Sample]]:
        body, content_type = self.exposition.render()
        assert content_type.startswith("text/plain; version=0.0.4")
        return {family.name: family.samples for family in text_string_to_metric_families(body.decode())}


def make_app(service: str = "llmops-test") -> App:
    exposition = PrometheusExposition(process_metrics=False)
    provider = build_meter_provider(Resource.create({"service.name": service}), [exposition.reader])
    return App(provider, Instruments.from_provider(provider, routes={"/v1/triage"}), exposition)


@pytest.fixture
def app() -> App:
    made = make_app()
    yield made
    made.provider.shutdown()


def value(samples: list[Sample], name: str, **labels: str) -> float:
    matches = [
        s.value for s in samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    ]
    assert len(matches) == 1, (name, labels, matches)
    return matches[0]


def buckets(samples: list[Sample], name: str, **labels: str) -> list[tuple[str, float]]:
    return [
        (s.labels["le"], s.value)
        for s in samples
        if s.name == f"{name}_bucket" and all(s.labels.get(k) == v for k, v in labels.items())
    ]


def test_token_usage_histogram_has_counts_sums_and_semconv_buckets(app: App) -> None:
    app.instruments.record_token_usage(
        provider="openai", model="gpt-4o-mini", input_tokens=100, output_tokens=20
    )
    app.instruments.record_token_usage(
        provider="openai", model="gpt-4o-mini", input_tokens=3000, output_tokens=7
    )

    families = app.scrape()
    samples = families["gen_ai_client_token_usage"]
    name = "gen_ai_client_token_usage"
    assert value(samples, f"{name}_count", **MODEL, gen_ai_token_type="input") == 2
    assert value(samples, f"{name}_sum", **MODEL, gen_ai_token_type="input") == 3100
    assert value(samples, f"{name}_sum", **MODEL, gen_ai_token_type="output") == 27
    input_buckets = buckets(samples, name, **MODEL, gen_ai_token_type="input")
    assert [float(le) for le, _ in input_buckets[:-1]] == list(TOKEN_BUCKETS)
    # Cumulative: 100 falls in le=256, 3000 in le=4096; +Inf holds every observation.
    counts = dict(input_buckets)
    assert (counts["64.0"], counts["256.0"], counts["1024.0"], counts["4096.0"], counts["+Inf"]) == (
        0,
        1,
        1,
        2,
        2,
    )
    assert [c for _, c in input_buckets] == sorted(c for _, c in input_buckets)


def test_operation_duration_in_seconds_with_error_type_on_failures(app: App) -> None:
    app.instruments.record_operation_duration(provider="openai", model="gpt-4o-mini", seconds=0.3)
    app.instruments.record_operation_duration(
        provider="openai", model="gpt-4o-mini", seconds=1.5, error_type="timeout"
    )

    samples = app.scrape()["gen_ai_client_operation_duration_seconds"]
    name = "gen_ai_client_operation_duration_seconds"
    ok = [s for s in samples if s.name == f"{name}_count" and "error_type" not in s.labels]
    assert [s.value for s in ok] == [1]
    assert value(samples, f"{name}_sum", error_type="timeout") == pytest.approx(1.5)
    failed = dict(buckets(samples, name, error_type="timeout"))
    assert (failed["1.28"], failed["2.56"]) == (0, 1)
    assert [float(le) for le, _ in buckets(samples, name, error_type="timeout")[:-1]] == pytest.approx(
        DURATION_BUCKETS
    )


def test_service_counters_and_histograms(app: App) -> None:
    instruments = app.instruments
    instruments.record_request(
        route="/v1/triage", status_code=200, seconds=0.25, prompt_version="email_triage_v1"
    )
    instruments.record_request(
        route="/v1/triage", status_code=200, seconds=0.75, prompt_version="email_triage_v1"
    )
    instruments.record_request(route="/v1/requests/8f3a", status_code=404, seconds=0.01)
    instruments.record_cost(
        provider="openai", model="gpt-4o-mini", usd=0.000435, prompt_version="email_triage_v1"
    )
    instruments.record_cost(
        provider="openai", model="gpt-4o-mini", usd=0.000565, prompt_version="email_triage_v1"
    )
    instruments.record_cost(provider="openai", model="mystery", usd=None)
    instruments.record_error(error_type="rate_limited")
    instruments.record_retry(provider="openai", error_type="rate_limited")
    instruments.record_retry(provider="openai", error_type="rate_limited")
    instruments.record_degraded(reason="all_providers_failed")
    instruments.record_tool_duration(tool="contact_lookup", seconds=0.002)
    instruments.record_step_duration(step="retrieval", seconds=0.004)

    families = app.scrape()
    triage = {"http_route": "/v1/triage", "http_response_status_code": "200"}
    assert value(families["llmops_requests"], "llmops_requests_total", **triage) == 2
    assert value(families["llmops_requests"], "llmops_requests_total", http_route=OTHER) == 1
    duration = families["llmops_request_duration_seconds"]
    assert value(duration, "llmops_request_duration_seconds_sum", **triage) == pytest.approx(1.0)
    assert value(duration, "llmops_request_duration_seconds_count", **triage) == 2
    cost = families["llmops_cost_USD"]
    assert value(cost, "llmops_cost_USD_total", gen_ai_request_model="gpt-4o-mini") == pytest.approx(0.001)
    assert all(s.labels["gen_ai_request_model"] != "mystery" for s in cost)
    assert value(families["llmops_errors"], "llmops_errors_total", error_type="rate_limited") == 1
    assert value(families["llmops_retries"], "llmops_retries_total", gen_ai_provider_name="openai") == 2
    assert value(
        families["llmops_degraded"], "llmops_degraded_total", llmops_degraded_reason="all_providers_failed"
    )
    tool = families["llmops_tool_duration_seconds"]
    assert value(tool, "llmops_tool_duration_seconds_count", gen_ai_tool_name="contact_lookup") == 1
    step = families["llmops_step_duration_seconds"]
    assert value(step, "llmops_step_duration_seconds_sum", llmops_step="retrieval") == pytest.approx(0.004)


def test_scrapes_are_cumulative_and_repeatable(app: App) -> None:
    app.instruments.record_retry(provider="openai", error_type="timeout")
    assert value(app.scrape()["llmops_retries"], "llmops_retries_total") == 1
    assert value(app.scrape()["llmops_retries"], "llmops_retries_total") == 1
    app.instruments.record_retry(provider="openai", error_type="timeout")
    assert value(app.scrape()["llmops_retries"], "llmops_retries_total") == 2


def test_counted_requests_stay_cumulative_and_overflow_past_the_limit(app: App) -> None:
    """`llmops.requests` and `llmops.cost` are summed by `Totals`: the same series a counter exposes."""
    app.instruments.record_request(route="/v1/triage", status_code=200, seconds=0.1)
    assert value(app.scrape()["llmops_requests"], "llmops_requests_total") == 1
    app.instruments.record_request(route="/v1/triage", status_code=200, seconds=0.1)
    assert value(app.scrape()["llmops_requests"], "llmops_requests_total") == 2
    for index in range(TOTALS + 5):  # distinct models: each its own attribute set, until the limit
        app.instruments.record_cost(provider="openai", model=f"model-{index}", usd=1.0)
    cost = app.scrape()["llmops_cost_USD"]
    assert len(cost) == TOTALS + 1
    assert value(cost, "llmops_cost_USD_total", otel_metric_overflow="true") == 5


def test_process_metrics_are_exposed_by_default() -> None:
    body, _ = PrometheusExposition().render()
    assert b"process_resident_memory_bytes" in body


def test_target_info_carries_the_service_name(app: App) -> None:
    app.instruments.record_error(error_type="timeout")
    (sample,) = app.scrape()["target_info"]
    assert sample.name == "target_info"
    assert sample.labels["service_name"] == "llmops-test"


def test_two_apps_do_not_see_each_others_metrics() -> None:
    first, second = make_app("first"), make_app("second")
    try:
        first.instruments.record_error(error_type="only_first")
        second.instruments.record_error(error_type="only_second")
        first_errors = {s.labels["error_type"] for s in first.scrape()["llmops_errors"]}
        second_errors = {s.labels["error_type"] for s in second.scrape()["llmops_errors"]}
        assert (first_errors, second_errors) == ({"only_first"}, {"only_second"})
        assert first.scrape()["target_info"][0].labels["service_name"] == "first"
        assert REGISTRY.get_sample_value("llmops_errors_total", {"error_type": "only_first"}) is None
    finally:
        first.provider.shutdown()
        second.provider.shutdown()


def test_pii_in_a_label_value_becomes_other(app: App) -> None:
    app.instruments.record_cost(provider="openai", model="jane.doe@example.com", usd=0.01)
    app.instruments.record_error(error_type="could not reach bob@example.com: refused")
    body, _ = app.exposition.render()
    assert b"example.com" not in body
    families = app.scrape()
    assert value(families["llmops_cost_USD"], "llmops_cost_USD_total", gen_ai_request_model=OTHER) == 0.01
    assert value(families["llmops_errors"], "llmops_errors_total", error_type=OTHER) == 1


def test_invalid_measurements_are_dropped_not_raised(app: App) -> None:
    app.instruments.record_step_duration(step="chat", seconds=float("nan"))
    app.instruments.record_tool_duration(tool="calendar_check", seconds=-1.0)
    app.instruments.record_cost(provider="openai", model="gpt-4o-mini", usd=float("inf"))
    families = app.scrape()
    assert not {"llmops_step_duration_seconds", "llmops_tool_duration_seconds", "llmops_cost_USD"} & set(
        families
    )


def test_openmetrics_is_served_when_asked_for(app: App) -> None:
    app.instruments.record_error(error_type="timeout")
    body, content_type = app.exposition.render("application/openmetrics-text; version=1.0.0")
    assert content_type.startswith("application/openmetrics-text")
    assert body.rstrip().endswith(b"# EOF")


def test_noop_instruments_accept_every_call() -> None:
    instruments = Instruments.noop()
    instruments.record_token_usage(provider="local", model="m", input_tokens=1, output_tokens=1)
    instruments.record_request(route="/", status_code=200, seconds=0.1)
    instruments.record_cost(provider="local", model="m", usd=0.0)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("gpt-4o-mini", "gpt-4o-mini"),
        ("meta-llama/Llama-3.1-8B-Instruct", "meta-llama/Llama-3.1-8B-Instruct"),
        ("qwen2.5:7b", "qwen2.5:7b"),
        ("claude-3-5-sonnet-20241022", "claude-3-5-sonnet-20241022"),
        ("jane.doe@example.com", OTHER),
        ("x" * 65, OTHER),
        ("", OTHER),
        ("timeout: connection refused", OTHER),
        ("req-3f2b9c1d-8e4a-4b6f-9a0e-1c2d3e4f5a6b", OTHER),
        ("user_5f4dcc3b5aa765d61d8327deb882cf99", OTHER),
        ("+15551234567", OTHER),
        ("Δelta", OTHER),
    ],
)
def test_guard_label(value: str, expected: str) -> None:
    assert guard_label(value) == expected


def test_guard_label_with_a_known_set_only_passes_members() -> None:
    assert guard_label("/v1/triage", {"/v1/triage"}) == "/v1/triage"
    assert guard_label("/v1/feedback", {"/v1/triage"}) == OTHER
    assert guard_label(42) == OTHER


@given(st.text(max_size=100))
def test_guard_label_output_is_always_safe(text: str) -> None:
    label = guard_label(text)
    assert label == OTHER or (label == text and "@" not in label and " " not in label and len(label) <= 64)


@given(st.emails())
def test_guard_label_never_passes_an_email(email: str) -> None:
    assert guard_label(email) == OTHER


@pytest.mark.parametrize(
    ("unit", "suffix"),
    [
        ("s", "seconds"),
        ("{token}", ""),
        ("By", "bytes"),
        ("1", ""),
        ("By/s", "bytes_per_second"),
        ("USD", "USD"),
    ],
)
def test_unit_suffix(unit: str, suffix: str) -> None:
    assert unit_suffix(unit) == suffix


def test_names_are_sanitized_the_prometheus_way() -> None:
    assert metric_name("gen_ai.client.token.usage") == "gen_ai_client_token_usage"
    assert metric_name("2xx.count") == "_2xx_count"
    assert label_name("gen_ai.token.type") == "gen_ai_token_type"
    assert label_name("http.response.status_code") == "http_response_status_code"
