"""Helpers for the ingest tests: a real OpenTelemetry SDK exporting to a live llmops, OTLP/JSON bodies."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from live import LiveServer


@contextmanager
def exporting_provider(
    server: LiveServer, resource: dict[str, str], *, gzip: bool = False, key: str | None = None
) -> Iterator[TracerProvider]:
    """A TracerProvider whose spans go to the server's /v1/traces, flushed and shut down at the end."""
    exporter = OTLPSpanExporter(
        endpoint=f"{server.base_url}/v1/traces",
        headers={"Authorization": f"Bearer {key or server.key}"},
        compression=Compression.Gzip if gzip else Compression.NoCompression,
    )
    provider = TracerProvider(resource=Resource.create(resource))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    try:
        yield provider
    finally:
        assert provider.force_flush(30_000)
        provider.shutdown()


def written(server: LiveServer) -> None:
    """Wait until the ingest writer has stored everything accepted so far."""
    assert server.app.state.services.ingest.writer.flush(30)


def new_ids() -> tuple[str, str]:
    return secrets.token_hex(16), secrets.token_hex(8)


def attribute(key: str, value: object) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    if isinstance(value, float):
        return {"key": key, "value": {"doubleValue": value}}
    return {"key": key, "value": {"stringValue": str(value)}}


def json_span(
    trace_id: str,
    span_id: str,
    name: str,
    attributes: dict[str, object],
    *,
    parent: str | None = None,
    start_ns: int = 1_700_000_000_000_000_000,
    duration_ms: float = 10.0,
    status_code: int = 1,
    events: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    span: dict[str, Any] = {
        "traceId": trace_id,
        "spanId": span_id,
        "name": name,
        "kind": 1,
        "startTimeUnixNano": str(start_ns),
        "endTimeUnixNano": str(start_ns + int(duration_ms * 1e6)),
        "attributes": [attribute(k, v) for k, v in attributes.items()],
        "status": {"code": status_code},
    }
    if parent:
        span["parentSpanId"] = parent
    if events:
        span["events"] = events
    return span


def json_body(resource: dict[str, object], spans: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": [attribute(k, v) for k, v in resource.items()]},
                "scopeSpans": [{"scope": {"name": "test"}, "spans": spans}],
            }
        ]
    }
