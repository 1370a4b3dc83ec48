"""Wire the OpenTelemetry SDK for one app, inside the worker process that serves it.

Spans: one `BoundedSpanProcessor` (off the request path; a full queue drops spans and counts them) →
`RedactingExporter` → the store, and OTLP/HTTP when the standard `OTEL_EXPORTER_OTLP_ENDPOINT` /
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set.
Metrics: a per-app Prometheus exposition for `/metrics`, plus OTLP only when asked for explicitly
(`OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`, or `OTEL_METRICS_EXPORTER=otlp` with the shared endpoint):
many trace backends (Phoenix, Langfuse) take no metrics and would answer every push with 405.
Nothing here touches OpenTelemetry's process-global providers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON
from sqlalchemy import Engine

from llmops import __version__
from llmops.config import Settings
from llmops.redaction import Redactor
from llmops.telemetry.cost import LocalPrices, ModelPrices
from llmops.telemetry.metrics import Instruments, build_meter_provider
from llmops.telemetry.prometheus import PrometheusExposition
from llmops.telemetry.redacting_exporter import RedactingExporter
from llmops.telemetry.runtime import Telemetry
from llmops.telemetry.span_queue import BoundedSpanProcessor
from llmops.telemetry.store_exporter import StoreExporter

INSTRUMENTATION_SCOPE = "llmops"
OTLP_TRACES_ENV = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
OPENINFERENCE_PROJECT_NAME = "openinference.project.name"  # Phoenix files traces under this project


@dataclass
class TelemetrySetup:
    """The SDK objects one app owns; `shutdown` flushes pending spans and stops exporters."""

    telemetry: Telemetry
    exposition: PrometheusExposition | None
    tracer_provider: TracerProvider | None
    meter_provider: MeterProvider | None

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        if self.tracer_provider is None:
            return True
        return self.tracer_provider.force_flush(timeout_millis)

    def shutdown(self) -> None:
        if self.tracer_provider is not None:
            self.tracer_provider.shutdown()
        if self.meter_provider is not None:
            self.meter_provider.shutdown()


def telemetry_disabled(settings: Settings) -> bool:
    return not settings.telemetry or os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"


def build_resource() -> Resource:
    """`OTEL_SERVICE_NAME` / `OTEL_RESOURCE_ATTRIBUTES` win; otherwise the service is called llmops.

    Phoenix files traces by `openinference.project.name` (else project `default`): unless
    `OTEL_RESOURCE_ATTRIBUTES` sets it, it is the service name."""
    resource = Resource.create({SERVICE_VERSION: __version__})
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: "llmops"}))
    if OPENINFERENCE_PROJECT_NAME not in resource.attributes:
        resource = resource.merge(Resource({OPENINFERENCE_PROJECT_NAME: resource.attributes[SERVICE_NAME]}))
    return resource


def metrics_push_configured() -> bool:
    """OTLP metrics only when explicitly asked for: a metrics endpoint, or `OTEL_METRICS_EXPORTER=otlp`."""
    exporters = {
        name.strip().lower()
        for name in os.environ.get("OTEL_METRICS_EXPORTER", "").split(",")
        if name.strip()
    }
    if "none" in exporters:
        return False
    if os.environ.get("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"):
        return True
    return "otlp" in exporters and bool(os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"))


def setup_telemetry(
    settings: Settings, engine: Engine, redactor: Redactor, pseudonym_key: bytes, routes: set[str]
) -> TelemetrySetup:
    if telemetry_disabled(settings):
        return TelemetrySetup(Telemetry.noop(), None, None, None)
    resource = build_resource()
    exporters: list[SpanExporter] = [StoreExporter(engine)]
    if _configured(OTLP_TRACES_ENV) and os.environ.get("OTEL_TRACES_EXPORTER", "otlp") != "none":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporters.append(OTLPSpanExporter())
    exposition = PrometheusExposition()
    readers: list[MetricReader] = [exposition.reader]
    if metrics_push_configured():
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

        readers.append(PeriodicExportingMetricReader(OTLPMetricExporter()))
    meter_provider = build_meter_provider(resource, readers)
    instruments = Instruments.from_provider(meter_provider, routes=routes)

    tracer_provider = TracerProvider(
        resource=resource, sampler=None if os.environ.get("OTEL_TRACES_SAMPLER") else ALWAYS_ON
    )
    export = RedactingExporter(redactor, exporters)
    tracer_provider.add_span_processor(BoundedSpanProcessor(export, instruments.record_span_dropped))

    telemetry = Telemetry(
        tracer=tracer_provider.get_tracer(INSTRUMENTATION_SCOPE, __version__),
        instruments=instruments,
        capture_content=settings.capture_content == "redacted",
        local_prices=LocalPrices.from_settings(settings),
        model_prices=ModelPrices.from_settings(settings),
        openai_base_url=settings.openai_base_url,
        pseudonym_key=pseudonym_key,
    )
    return TelemetrySetup(telemetry, exposition, tracer_provider, meter_provider)


def _configured(names: tuple[str, ...]) -> bool:
    return any(os.environ.get(name) for name in names)
