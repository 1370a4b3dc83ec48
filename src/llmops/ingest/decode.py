"""OTLP/HTTP trace bodies (protobuf or JSON, optionally gzip) → `RawSpan`s, in one place.

Both encodings decode to the same plain model, so everything after this module is one code path.
Nothing here redacts: raw spans live only inside the request that carried them (see `receiver`).
Spans whose ids are malformed are counted as rejected (OTLP partial success), not fatal; a body
that is not OTLP at all is a `DecodeError` (400). Error messages never quote the body.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.message import DecodeError as ProtobufDecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from llmops.ingest import conventions as ic

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
CONTENT_TYPES = (PROTOBUF, JSON)

Attributes = dict[str, object]
MAX_DEPTH = 32  # nested array/kvlist values deeper than this are replaced by a marker
TOO_DEEP = "[TOO_DEEP]"
MAX_NANOS = 2**64 - 1  # the largest OTLP timestamp (year 2554)


class IngestError(Exception):
    """A body the receiver cannot take; `status` is the HTTP status the route answers with."""

    status = 400


class DecodeError(IngestError):
    status = 400


class PayloadTooLarge(IngestError):
    status = 413


class UnsupportedMediaType(IngestError):
    status = 415


@dataclass(slots=True)
class RawSpan:
    """One span as received; ids are lowercase hex, times Unix nanoseconds; `resource` is shared."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    kind: str
    start_ns: int
    end_ns: int
    status_code: str
    status_message: str | None
    attributes: Attributes
    events: list[tuple[str, int, Attributes]]
    resource: Attributes
    remote_parent: bool = False


@dataclass(slots=True)
class Decoded:
    spans: list[RawSpan] = field(default_factory=list)
    rejected: int = 0


def media_type(content_type: str | None) -> str:
    """The OTLP encoding a `Content-Type` names; anything else is 415."""
    base = (content_type or "").split(";", 1)[0].strip().lower()
    if base not in CONTENT_TYPES:
        raise UnsupportedMediaType("Content-Type must be application/x-protobuf or application/json")
    return base


def decompress(body: bytes, encoding: str | None, limit: int) -> bytes:
    """The body without its `Content-Encoding` (gzip or none), never inflated past `limit` bytes."""
    encoding = (encoding or "identity").strip().lower()
    if encoding == "identity":
        return body
    if encoding != "gzip":
        raise UnsupportedMediaType("Content-Encoding must be gzip or absent")
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        data = inflater.decompress(body, limit + 1)
    except zlib.error:
        raise DecodeError("body is not valid gzip") from None
    if len(data) > limit or inflater.unconsumed_tail:
        raise PayloadTooLarge(f"decompressed body exceeds the limit of {limit} bytes")
    if not inflater.eof:
        raise DecodeError("body is not valid gzip (truncated)")
    return data


def decode(body: bytes, kind: str) -> Decoded:
    return decode_protobuf(body) if kind == PROTOBUF else decode_json(body)


# --- protobuf ---------------------------------------------------------------------------------


def decode_protobuf(body: bytes) -> Decoded:
    try:
        request = ExportTraceServiceRequest.FromString(body)
    except (ProtobufDecodeError, RuntimeError, ValueError):
        raise DecodeError("body is not an OTLP ExportTraceServiceRequest (protobuf)") from None
    out = Decoded()
    for resource_spans in request.resource_spans:
        resource = _pb_attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                trace_id, span_id = span.trace_id, span.span_id
                parent = span.parent_span_id
                if len(trace_id) != 16 or len(span_id) != 8 or len(parent) not in (0, 8):
                    out.rejected += 1
                    continue
                if not any(trace_id) or not any(span_id):
                    out.rejected += 1
                    continue
                status = span.status
                out.spans.append(
                    RawSpan(
                        trace_id=trace_id.hex(),
                        span_id=span_id.hex(),
                        parent_span_id=parent.hex() if parent and any(parent) else None,
                        name=span.name,
                        kind=_kind(span.kind),
                        start_ns=span.start_time_unix_nano,
                        end_ns=span.end_time_unix_nano,
                        status_code=_status(status.code),
                        status_message=status.message or None,
                        attributes=_pb_attributes(span.attributes),
                        events=[
                            (event.name, event.time_unix_nano, _pb_attributes(event.attributes))
                            for event in span.events
                        ],
                        resource=resource,
                        remote_parent=_remote(span.flags),
                    )
                )
    return out


def _pb_attributes(pairs: Any) -> Attributes:
    attributes: Attributes = {}
    for pair in pairs:
        value = pair.value
        which = value.WhichOneof("value")
        # Most attributes are scalars: one read, without a call per value.
        attributes[pair.key] = getattr(value, which) if which in _SCALARS else _pb_value(value, 0)
    return attributes


def _pb_value(value: AnyValue, depth: int) -> object:
    which = value.WhichOneof("value")
    if which in _SCALARS:  # most attributes: one attribute read
        return getattr(value, which)
    if which is None:
        return None
    if which in ("array_value", "kvlist_value") and depth >= MAX_DEPTH:
        return TOO_DEEP
    if which == "array_value":
        return [_pb_value(item, depth + 1) for item in value.array_value.values]
    if which == "kvlist_value":
        return {pair.key: _pb_value(pair.value, depth + 1) for pair in value.kvlist_value.values}
    if which == "bytes_value":
        return base64.b64encode(value.bytes_value).decode("ascii")
    return getattr(value, which)


_SCALARS = frozenset({"string_value", "int_value", "double_value", "bool_value"})


# --- JSON (OTLP/JSON: hex ids, enums as integers, 64-bit integers as strings) -----------------


def decode_json(body: bytes) -> Decoded:
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise DecodeError("body is not valid JSON (or nests too deeply)") from None
    if not isinstance(document, dict):
        raise DecodeError("body must be a JSON object with resourceSpans")
    out = Decoded()
    try:
        for resource_spans in _list(document, "resourceSpans", "resource_spans"):
            resource = _json_attributes(_dict(resource_spans, "resource"))
            for scope_spans in _list(resource_spans, "scopeSpans", "scope_spans"):
                for span in _list(scope_spans, "spans"):
                    raw = _json_span(span, resource)
                    if raw is None:
                        out.rejected += 1
                    else:
                        out.spans.append(raw)
    except (TypeError, ValueError, AttributeError, KeyError, OverflowError, RecursionError):
        raise DecodeError("body is not an OTLP ExportTraceServiceRequest (JSON)") from None
    return out


def _json_span(span: Mapping[str, Any], resource: Attributes) -> RawSpan | None:
    if not isinstance(span, Mapping):
        raise TypeError("span is not an object")
    trace_id = _hex_id(_get(span, "traceId", "trace_id"), 32)
    span_id = _hex_id(_get(span, "spanId", "span_id"), 16)
    parent_raw = _get(span, "parentSpanId", "parent_span_id") or ""
    parent = _hex_id(parent_raw, 16) if parent_raw else None
    if trace_id is None or span_id is None or (parent_raw and parent is None):
        return None
    start = _int(_get(span, "startTimeUnixNano", "start_time_unix_nano"))
    end = _int(_get(span, "endTimeUnixNano", "end_time_unix_nano"))
    events = [
        (
            str(event.get("name") or ""),
            _int(_get(event, "timeUnixNano", "time_unix_nano")),
            _json_attributes(event),
        )
        for event in _list(span, "events")
    ]
    if not _valid_times(start, end, events):
        return None
    status = _dict(span, "status")
    return RawSpan(
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent,
        name=str(span.get("name") or ""),
        kind=_kind(_enum(span.get("kind"), ic.SPAN_KIND_NAMES)),
        start_ns=start,
        end_ns=end,
        status_code=_status(_enum(status.get("code"), ic.STATUS_CODE_NAMES)),
        status_message=str(status.get("message") or "") or None,
        attributes=_json_attributes(span),
        events=events,
        resource=resource,
        remote_parent=_remote(_int(span.get("flags"))),
    )


def _json_attributes(holder: Mapping[str, Any]) -> Attributes:
    return {str(pair["key"]): _json_value(pair.get("value"), 0) for pair in _list(holder, "attributes")}


def _json_value(value: object, depth: int) -> object:
    if not isinstance(value, Mapping) or not value:
        return None
    key, item = next(iter(value.items()))
    if key in ("stringValue", "string_value", "boolValue", "bool_value", "doubleValue", "double_value"):
        return item
    if key in ("intValue", "int_value"):
        return _int(item)
    if key in ("arrayValue", "array_value", "kvlistValue", "kvlist_value") and depth >= MAX_DEPTH:
        return TOO_DEEP
    if key in ("arrayValue", "array_value"):
        return [_json_value(entry, depth + 1) for entry in _list(item, "values")]
    if key in ("kvlistValue", "kvlist_value"):
        return {str(pair["key"]): _json_value(pair.get("value"), depth + 1) for pair in _list(item, "values")}
    if key in ("bytesValue", "bytes_value"):
        return str(item)  # already base64 in OTLP/JSON
    raise ValueError("unknown AnyValue type")


def _get(holder: Mapping[str, Any], camel: str, snake: str) -> Any:
    value = holder.get(camel)
    return holder.get(snake) if value is None else value


def _list(holder: Mapping[str, Any], *names: str) -> list[Any]:
    for name in names:
        value = holder.get(name)
        if value is not None:
            if not isinstance(value, list):
                raise TypeError(f"{name} is not a list")
            return value
    return []


def _dict(holder: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = holder.get(name) or {}
    if not isinstance(value, Mapping):
        raise TypeError(f"{name} is not an object")
    return value


def _hex_id(value: object, length: int) -> str | None:
    if not isinstance(value, str) or len(value) != length:
        return None
    try:
        raw = binascii.unhexlify(value)
    except (binascii.Error, ValueError):
        return None
    return value.lower() if any(raw) else None


def _int(value: object) -> int:
    if value is None or value == "":
        return 0
    if isinstance(value, bool) or not isinstance(value, int | str | float):
        raise TypeError("not an integer")
    return int(value)


def _enum(value: object, names: Mapping[str, int]) -> int:
    if isinstance(value, str) and value in names:
        return names[value]
    return _int(value)


def _valid_times(start: int, end: int, events: list[tuple[str, int, Attributes]]) -> bool:
    """Times an OTLP fixed64 can hold (JSON carries them as strings, so anything may arrive)."""
    return all(0 <= value <= MAX_NANOS for value in (start, end, *(time for _, time, _ in events)))


def _kind(value: int) -> str:
    return ic.SPAN_KINDS[value] if 0 <= value < len(ic.SPAN_KINDS) else "INTERNAL"


def _status(value: int) -> str:
    return ic.STATUS_CODES[value] if 0 <= value < len(ic.STATUS_CODES) else "UNSET"


def _remote(flags: int) -> bool:
    return bool(flags & ic.FLAG_CONTEXT_HAS_IS_REMOTE) and bool(flags & ic.FLAG_CONTEXT_IS_REMOTE)
