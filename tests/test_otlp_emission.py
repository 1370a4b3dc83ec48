"""What llmops sends over OTLP, decoded as another tool would read it: GenAI semconv v1.41 names, messages
in the `parts` shape, the retrieval query and documents, the service and Phoenix project named by the
standard variables, span kinds as Phoenix files them, and metrics pushed only when asked for."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
from openinference.semconv.trace import OpenInferenceSpanKindValues, SpanAttributes

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


def _phoenix_kind(attributes: Mapping[str, object]) -> str | None:
    """The span kind Phoenix files a span under, by Phoenix's own code (`arize-phoenix` installed)."""
    from phoenix.trace.gen_ai.conversion import get_openinference_attributes

    synthesized = get_openinference_attributes(dict(attributes))
    kind = attributes.get(SpanAttributes.OPENINFERENCE_SPAN_KIND) or synthesized.get(
        SpanAttributes.OPENINFERENCE_SPAN_KIND
    )
    return str(kind) if kind is not None else None


def _openinference_kind(attributes: Mapping[str, object]) -> str | None:
    """Phoenix's rules (phoenix/trace/gen_ai/conversion.py `_infer_span_kind`, arize-phoenix 20.x) over
    the span kinds of OpenInference's semantic conventions: an explicit `openinference.span.kind` wins,
    else `gen_ai.operation.name` decides, else the attributes a span carries."""
    explicit = attributes.get(SpanAttributes.OPENINFERENCE_SPAN_KIND)
    if explicit is not None:
        return str(explicit)
    operation = attributes.get("gen_ai.operation.name")
    if operation is not None:
        return _KIND_OF_OPERATION.get(str(operation))
    if attributes.get("gen_ai.tool.call.id") or attributes.get("gen_ai.tool.name"):
        return OpenInferenceSpanKindValues.TOOL.value
    if attributes.get("gen_ai.retrieval.documents") or attributes.get("gen_ai.retrieval.query.text"):
        return OpenInferenceSpanKindValues.RETRIEVER.value
    if attributes.get("gen_ai.embeddings.dimension.count") is not None:
        return OpenInferenceSpanKindValues.EMBEDDING.value
    if any(
        attributes.get(key)
        for key in ("gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.request.model")
    ):
        return OpenInferenceSpanKindValues.LLM.value
    return None


_KIND_OF_OPERATION = {
    "chat": OpenInferenceSpanKindValues.LLM.value,
    "text_completion": OpenInferenceSpanKindValues.LLM.value,
    "generate_content": OpenInferenceSpanKindValues.LLM.value,
    "embeddings": OpenInferenceSpanKindValues.EMBEDDING.value,
    "execute_tool": OpenInferenceSpanKindValues.TOOL.value,
    "retrieval": OpenInferenceSpanKindValues.RETRIEVER.value,
    "invoke_agent": OpenInferenceSpanKindValues.AGENT.value,
    "create_agent": OpenInferenceSpanKindValues.AGENT.value,
}


def _phoenix_importable() -> bool:
    try:
        import phoenix.trace.gen_ai.conversion  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.parametrize(
    "reader",
    [
        pytest.param(_openinference_kind, id="openinference-semconv"),
        pytest.param(
            _phoenix_kind,
            id="phoenix",
            marks=pytest.mark.skipif(not _phoenix_importable(), reason="arize-phoenix is not importable"),
        ),
    ],
)
def test_span_kinds_read_as_phoenix_reads_them(
    tmp_path: Path, receiver: OtlpReceiver, reader: Callable[[Mapping[str, object]], str | None]
) -> None:
    """One model call is one LLM span (the root is the AGENT, not a second LLM); retrieval and tools read
    as such; every kind is one OpenInference defines, so nothing lands as an unknown kind by accident."""
    spans = _triage_once(tmp_path, receiver)
    kinds = {span.span_id: reader(span.attributes) for span in spans}
    valid = {kind.value for kind in OpenInferenceSpanKindValues}
    assert {kind for kind in kinds.values() if kind is not None} <= valid
    root = next(span for span in spans if span.parent_span_id is None)
    assert kinds[root.span_id] == "AGENT"
    by_operation: dict[str, set[str | None]] = {}
    for span in spans:
        operation = str(span.attributes.get("gen_ai.operation.name"))
        by_operation.setdefault(operation, set()).add(kinds[span.span_id])
    assert by_operation["chat"] == {"LLM"}
    assert by_operation["retrieval"] == {"RETRIEVER"}
    assert by_operation.get("execute_tool", {"TOOL"}) == {"TOOL"}
    model_calls = sum(1 for span in spans if span.attributes.get("gen_ai.operation.name") == "chat")
    assert list(kinds.values()).count("LLM") == model_calls
