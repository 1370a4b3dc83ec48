"""Turn SDK `ReadableSpan`s into the store's span and request records.

Attribute values arrive redacted and may be placeholders where a number was expected, so every
typed field is coerced defensively: a bad value becomes a neutral default, never an exception.
OpenInference names are mapped onto the GenAI ones on the way in (the GenAI name wins if both exist).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from types import MappingProxyType

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

from llmops.storage.jsoncodec import compact_json
from llmops.storage.tables import API_SOURCE, DEFAULT_ASSISTANT, EVAL_SOURCE, SOURCES
from llmops.storage.timeutil import from_unix_nanos
from llmops.storage.trace_store import RequestRecord, SpanRecord
from llmops.telemetry import conventions as c

HTTP_STATUS = "http.response.status_code"
STATUSES = frozenset({"ok", "degraded", "error"})


def plain_attributes(attributes: Mapping[str, object] | None) -> dict[str, object]:
    """`attributes` as a new dict. An SDK span's attributes (a read-only view of its
    `BoundedAttributes`) copy in C through the view's `copy`; read item by item, every key costs
    two Python calls of the SDK's mapping (~70 K instructions of a gateway call's row and export)."""
    if isinstance(attributes, MappingProxyType):
        return dict(attributes.copy())
    return dict(attributes or {})


def normalise_attributes(attributes: Mapping[str, object] | None) -> dict[str, object]:
    """Plain JSON-ready attributes with OpenInference aliases renamed to GenAI conventions."""
    result = plain_attributes(attributes)
    for key, value in result.items():
        if isinstance(value, tuple):
            result[key] = list(value)
    for alias, canonical in c.OPENINFERENCE_ALIASES.items():
        if alias in result:
            value = result.pop(alias)
            result.setdefault(canonical, value)
    return result


def is_root(attributes: Mapping[str, object]) -> bool:
    return attributes.get(c.ROOT_SPAN_MARKER) is True


def span_record(span: ReadableSpan, attributes: Mapping[str, object], request_id: str | None) -> SpanRecord:
    context = span.context
    if context is None:
        raise ValueError("span without a context")
    start = span.start_time or 0
    end = span.end_time or start
    events = [
        {
            "name": event.name,
            "time": from_unix_nanos(event.timestamp).isoformat(),
            "attributes": normalise_attributes(event.attributes),
        }
        for event in span.events
    ]
    return SpanRecord(
        trace_id=format(context.trace_id, "032x"),
        span_id=format(context.span_id, "016x"),
        parent_span_id=format(span.parent.span_id, "016x") if span.parent else None,
        name=span.name[:256],
        kind=span.kind.name,
        start_time=from_unix_nanos(start),
        end_time=from_unix_nanos(end),
        duration_ms=max(end - start, 0) / 1e6,
        status_code=span.status.status_code.name,
        status_message=span.status.description,
        attributes=compact_json(attributes),
        events=compact_json(events),
        request_id=request_id,
    )


def request_record(
    record: SpanRecord, attributes: Mapping[str, object], price_source: str | None
) -> RequestRecord:
    """The request row a root span describes; `price_source` comes from its model spans if not on the root."""
    status = _text(attributes.get(c.STATUS), 16)
    if status not in STATUSES:
        failed = record.status_code == StatusCode.ERROR.name
        status = "error" if failed else "degraded" if attributes.get(c.DEGRADED) is True else "ok"
    latency = _float(attributes.get(c.LATENCY_MS))
    return RequestRecord(
        request_id=record.request_id or request_id_of(attributes, record.trace_id, record.span_id),
        trace_id=record.trace_id,
        span_id=record.span_id,
        created_at=record.start_time,
        user_id=_text(attributes.get(c.USER_ID), 64),
        prompt_name=_text(attributes.get(c.PROMPT_NAME), 128) or "",
        prompt_version=_text(attributes.get(c.PROMPT_VERSION), 128) or "",
        model=_text(attributes.get(c.GEN_AI_RESPONSE_MODEL) or attributes.get(c.GEN_AI_REQUEST_MODEL), 200)
        or "",
        provider=_text(attributes.get(c.GEN_AI_PROVIDER_NAME), 64) or "",
        status=status,
        http_status=_int_or_none(attributes.get(HTTP_STATUS)),
        latency_ms=record.duration_ms if latency is None or latency < 0 else latency,
        input_tokens=_count(
            attributes.get(c.TOTAL_INPUT_TOKENS, attributes.get(c.GEN_AI_USAGE_INPUT_TOKENS))
        ),
        output_tokens=_count(
            attributes.get(c.TOTAL_OUTPUT_TOKENS, attributes.get(c.GEN_AI_USAGE_OUTPUT_TOKENS))
        ),
        cost_usd=_float(attributes.get(c.COST_USD)),
        price_source=_text(attributes.get(c.PRICE_SOURCE), 32) or price_source,
        retries=_count(attributes.get(c.RETRY_COUNT)),
        degraded=attributes.get(c.DEGRADED) is True or status == "degraded",
        degraded_reason=_text(attributes.get(c.DEGRADED_REASON), 128),
        category=_text(attributes.get(c.CATEGORY), 32),
        error_type=_text(attributes.get(c.ERROR_TYPE), 128),
        source=_source(attributes),
        assistant=_text(attributes.get(c.GEN_AI_AGENT_NAME), 128) or DEFAULT_ASSISTANT,
        session_id=_text(attributes.get(c.GEN_AI_CONVERSATION_ID), 128),
        model_alias=_text(attributes.get(c.GATEWAY_ALIAS), 256),
    )


def _source(attributes: Mapping[str, object]) -> str:
    if attributes.get(c.EVAL) is True:
        return EVAL_SOURCE
    source = attributes.get(c.SOURCE)
    return source if isinstance(source, str) and source in SOURCES else API_SOURCE


def request_id_of(attributes: Mapping[str, object], trace_id: str, span_id: str) -> str:
    return _text(attributes.get(c.REQUEST_ID), 128) or f"{trace_id}-{span_id}"


def price_sources(spans: Sequence[tuple[ReadableSpan, Mapping[str, object]]]) -> dict[int, str]:
    """trace id → the price source named on a model span of that trace in this batch."""
    found: dict[int, str] = {}
    for span, attributes in spans:
        source = _text(attributes.get(c.PRICE_SOURCE), 32)
        if source and span.context is not None:
            found[span.context.trace_id] = source
    return found


def _text(value: object, limit: int) -> str | None:
    if value is None or value == "":
        return None
    return str(value)[:limit]


def _float(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _int_or_none(value: object) -> int | None:
    number = _float(value)
    return int(number) if number is not None and abs(number) < 2**31 else None


def _count(value: object) -> int:
    number = _int_or_none(value)
    return number if number is not None and number >= 0 else 0
