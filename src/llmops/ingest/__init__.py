"""OTLP trace ingest: apps instrumented with OpenTelemetry (GenAI semconv, OpenInference, OpenLLMetry)
send their traces to `POST /v1/traces` and get llmops' reports, dashboard, alerts, evals and masking.

decode (OTLP protobuf/JSON → raw spans) → mapping (conventions, redaction via scrub, request rows)
→ writer (bounded queue, one background thread, the store). `IngestReceiver` is the one entry point.
"""

from llmops.ingest.decode import DecodeError, IngestError, PayloadTooLarge, UnsupportedMediaType
from llmops.ingest.receiver import Accepted, Busy, IngestReceiver, build_receiver

__all__ = [
    "Accepted",
    "Busy",
    "DecodeError",
    "IngestError",
    "IngestReceiver",
    "PayloadTooLarge",
    "UnsupportedMediaType",
    "build_receiver",
]
