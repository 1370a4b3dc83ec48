"""What llmops sends over OTLP, decoded as another tool would read it: GenAI semconv v1.41 names, messages
in the `parts` shape, the retrieval query and documents, the service and Phoenix project named by the
standard variables, and metrics pushed only when asked for."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fakes.otlp_receiver import OtlpReceiver
from live import SAMPLES, TEST_KEY, serve
from llmops.config import Settings
from llmops.ingest.decode import RawSpan, decode_protobuf


def _settings(tmp_path: Path) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path / "data",
        api_keys=TEST_KEY,
        provider="scripted",
        capture_content="redacted",
    )


def _triage_once(tmp_path: Path, receiver: OtlpReceiver) -> list[RawSpan]:
    email = json.loads((SAMPLES / "emails.jsonl").read_text().splitlines()[0])["email"]
    running = serve(_settings(tmp_path))
    server = next(running)
    try:
        with server.client() as client:
            reply = client.post("/v1/triage", json={"email": email})
        assert reply.status_code == 200, reply.text
        server.flush()
        setup = server.app.state.services.telemetry_setup
        if setup.meter_provider is not None:
            setup.meter_provider.force_flush()
    finally:
        next(running, None)
    return decode_protobuf(receiver.received("/v1/traces")).spans


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> OtlpReceiver:
    with OtlpReceiver() as running:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", running.endpoint)
        for name in (
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
            "OTEL_METRICS_EXPORTER",
            "OTEL_RESOURCE_ATTRIBUTES",
        ):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("OTEL_SERVICE_NAME", "mail-triage")
        yield running


def test_spans_read_correctly_by_semconv_readers(tmp_path: Path, receiver: OtlpReceiver) -> None:
    spans = _triage_once(tmp_path, receiver)
    assert spans, "the OTLP receiver got no spans"
    resource = spans[0].resource
    assert resource["service.name"] == "mail-triage"
    assert resource["openinference.project.name"] == "mail-triage"
    root = next(span for span in spans if span.parent_span_id is None)
    assert root.attributes["gen_ai.operation.name"] == "invoke_agent"
    assert root.attributes["gen_ai.agent.name"] == "email_gatekeeper"

    chat = next(span for span in spans if span.attributes.get("gen_ai.operation.name") == "chat")
    for key in ("gen_ai.provider.name", "gen_ai.request.model", "gen_ai.response.model"):
        assert chat.attributes[key]
    assert chat.attributes["gen_ai.usage.input_tokens"] > 0
    inputs = json.loads(str(chat.attributes["gen_ai.input.messages"]))
    outputs = json.loads(str(chat.attributes["gen_ai.output.messages"]))
    for message in (*inputs, *outputs):
        assert set(message) >= {"role", "parts"} and "content" not in message
        assert all(part["type"] == "text" and isinstance(part["content"], str) for part in message["parts"])
    assert outputs[0]["role"] == "assistant" and outputs[0]["finish_reason"]

    retrieval = next(span for span in spans if span.attributes.get("gen_ai.operation.name") == "retrieval")
    assert retrieval.attributes["gen_ai.data_source.id"]
    assert isinstance(retrieval.attributes["gen_ai.retrieval.query.text"], str)
    documents = json.loads(str(retrieval.attributes["gen_ai.retrieval.documents"]))
    assert documents and all({"id", "score"} <= set(doc) for doc in documents)
    assert retrieval.attributes["gen_ai.retrieval.top_k"] == 2


def test_metrics_are_not_pushed_to_a_traces_only_endpoint(tmp_path: Path, receiver: OtlpReceiver) -> None:
    _triage_once(tmp_path, receiver)
    assert receiver.received("/v1/traces")
    assert not receiver.received("/v1/metrics")


def test_metrics_are_pushed_when_asked_for(
    tmp_path: Path, receiver: OtlpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_METRICS_EXPORTER", "otlp")
    _triage_once(tmp_path, receiver)
    assert receiver.received("/v1/metrics")
