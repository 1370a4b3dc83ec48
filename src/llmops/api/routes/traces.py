"""POST /v1/traces: OTLP/HTTP trace export (protobuf or JSON, optionally gzip), authenticated by API key.

Answers as the OTLP spec asks: 200 with an `ExportTraceServiceResponse` in the request's encoding
(partial success names the rejected spans), 400 for a body that is not OTLP, 413 over the size limit,
415 for another media type or encoding, 503 + Retry-After when the ingest queue is full. Errors to a
protobuf request are a `google.rpc.Status`; to a JSON request, the one JSON error shape.
"""

from __future__ import annotations

import json

from fastapi import APIRouter, Request, Response
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from llmops.api.errors import error_response
from llmops.ingest import Accepted, Busy, IngestError
from llmops.ingest.decode import PROTOBUF
from llmops.service import services_of

router = APIRouter(tags=["ingest"])
ROUTE = "/v1/traces"

# google.rpc.Code for each HTTP status the route answers with (the Status message carries both).
_RPC_CODES = {400: 3, 413: 8, 415: 3, 503: 14}


@router.post(ROUTE, summary="Receive OpenTelemetry traces (OTLP/HTTP)", status_code=200)
async def export_traces(request: Request) -> Response:
    services = services_of(request)
    body = await request.body()
    headers = request.headers
    protobuf = (headers.get("content-type") or "").split(";", 1)[0].strip().lower() == PROTOBUF
    try:
        accepted = await services.ingest.receive(
            body, headers.get("content-type"), headers.get("content-encoding")
        )
    except IngestError as exc:
        return _error(request, exc.status, str(exc), protobuf)
    except Busy as exc:
        return _error(request, 503, str(exc), protobuf, {"Retry-After": str(exc.retry_after_s)})
    return _success(accepted)


def _success(accepted: Accepted) -> Response:
    reply = ExportTraceServiceResponse()
    message = f"{accepted.rejected} spans had malformed trace or span ids" if accepted.rejected else ""
    if accepted.rejected:
        reply.partial_success.rejected_spans = accepted.rejected
        reply.partial_success.error_message = message
    if accepted.media_type == PROTOBUF:
        return Response(reply.SerializeToString(), media_type=PROTOBUF)
    partial = (
        {"rejectedSpans": str(accepted.rejected), "errorMessage": message} if accepted.rejected else None
    )
    return Response(
        b"{}" if partial is None else _json({"partialSuccess": partial}), media_type="application/json"
    )


def _error(
    request: Request, status: int, message: str, protobuf: bool, headers: dict[str, str] | None = None
) -> Response:
    if protobuf:
        body = Status(code=_RPC_CODES.get(status, 2), message=message).SerializeToString()
        return Response(body, status_code=status, media_type=PROTOBUF, headers=headers)
    return error_response(status, message, getattr(request.state, "request_id", None), headers=headers)


def _json(value: object) -> bytes:
    return json.dumps(value).encode()
