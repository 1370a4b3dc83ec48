"""A root span that tracing did not record (`LLMOPS_TELEMETRY=false`, or a sampler dropped it),
rebuilt from the attributes its producer set, so its request row is stored all the same."""

from __future__ import annotations

import secrets
from collections.abc import Mapping

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue


def untraced_root(
    name: str, kind: SpanKind, attributes: Mapping[str, AttributeValue], start_ns: int, end_ns: int
) -> ReadableSpan:
    """The root span under fresh ids, for the request row only (no span of it reaches the store). Its
    resource is the empty one: left unset, the SDK would run the resource detectors on every request."""
    context = SpanContext(
        trace_id=secrets.randbits(127) + 1, span_id=secrets.randbits(63) + 1, is_remote=False
    )
    return ReadableSpan(
        name=name,
        context=context,
        kind=kind,
        attributes=attributes,
        start_time=start_ns,
        end_time=end_ns,
        status=Status(StatusCode.OK),
        resource=Resource.get_empty(),
    )
