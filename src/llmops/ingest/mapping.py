"""Received spans → the store's `SpanRecord`s and, for each trace's root, a request row.

Per span, in the request: pseudonymise user ids (before redaction, so equal users stay equal), rename
the OpenInference / OpenLLMetry / older-semconv spellings onto GenAI v1.41 (`conventions`), fold
indexed and event-borne messages into `gen_ai.input.messages` / `gen_ai.output.messages` in the v1.41
`parts` shape, redact everything (`scrub`), and price model calls that carry usage but no cost.

A root is where a request entered the service (`is_entry`): a span with no parent, one whose parent
the OTLP span flags mark remote, or a SERVER/CONSUMER span whose parent is not in the batch. Its request row takes latency and status from the root, and tokens, cost, model and provider
from the root itself or else from the trace's model calls (summed over the innermost spans with usage,
so a framework span wrapping an SDK span is not counted twice). When none of the trace's model calls
are in the same batch, the writer completes the row from the spans already stored (`usage_of`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from llmops.ingest import conventions as ic
from llmops.ingest.decode import RawSpan
from llmops.ingest.scrub import BatchScrubber, Scrubber
from llmops.storage.jsoncodec import compact_json
from llmops.storage.tables import INGEST_SOURCE
from llmops.storage.timeutil import from_unix_nanos
from llmops.storage.trace_store import RequestRecord, SpanRecord
from llmops.telemetry import conventions as c
from llmops.telemetry.cost import Cost
from llmops.telemetry.messages import text_message
from llmops.telemetry.span_records import request_record

Pricer = Callable[[str, str, int, int, int | None, str | None], Cost]
Pseudonymise = Callable[[str | None], str | None]
USAGE_KEYS = (c.GEN_AI_USAGE_INPUT_TOKENS, c.GEN_AI_USAGE_OUTPUT_TOKENS)
ROW_USAGE_KEYS = (c.TOTAL_INPUT_TOKENS, c.TOTAL_OUTPUT_TOKENS, *USAGE_KEYS)
NO_EVENTS = compact_json([])


@dataclass(slots=True)
class TraceUsage:
    """What a trace's model calls add up to; `cost_usd` is None when any call has no known price."""

    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = 0.0
    price_source: str | None = None
    model: str | None = None
    provider: str | None = None
    calls: int = 0


@dataclass(slots=True)
class PendingRoot:
    """A root span awaiting its request row: `usage` is None until the trace's model calls are found."""

    record: SpanRecord
    attributes: dict[str, object]
    assistant: str
    usage: TraceUsage | None

    def request(self, usage: TraceUsage | None) -> RequestRecord:
        return request_row(self.record, self.attributes, self.assistant, usage)


@dataclass(slots=True)
class Prepared:
    """One received batch, redacted and mapped: what the writer stores."""

    spans: list[SpanRecord] = field(default_factory=list)
    roots: list[PendingRoot] = field(default_factory=list)
    rejected: int = 0


class Mapper:
    def __init__(self, scrubber: Scrubber, pseudonymise: Pseudonymise, price: Pricer) -> None:
        self._scrubber = scrubber
        self._pseudonymise = pseudonymise
        self._price = price

    def prepare(self, raw_spans: Sequence[RawSpan]) -> Prepared:
        scrub = self._scrubber.batch()
        prepared = Prepared()
        by_trace: dict[str, list[tuple[str, str | None, dict[str, object]]]] = {}
        roots: list[tuple[RawSpan, SpanRecord, dict[str, object]]] = []
        in_batch = {(raw.trace_id, raw.span_id) for raw in raw_spans}
        for raw in raw_spans:
            attributes = self._attributes(raw, scrub)
            is_root = is_entry(raw, in_batch)
            request_id = None
            if is_root:
                request_id = _text(attributes.get(c.REQUEST_ID), 128) or (
                    raw.trace_id if raw.parent_span_id is None else f"{raw.trace_id}-{raw.span_id}"
                )
            record = self._record(raw, attributes, request_id, scrub)
            prepared.spans.append(record)
            by_trace.setdefault(raw.trace_id, []).append((raw.span_id, raw.parent_span_id, attributes))
            if is_root:
                roots.append((raw, record, attributes))
        for raw, record, attributes in roots:
            usage = usage_of(by_trace[raw.trace_id])
            if usage is None and any(key in attributes for key in ROW_USAGE_KEYS):
                usage = TraceUsage()  # the root carries its own usage: nothing to wait for
            prepared.roots.append(PendingRoot(record, attributes, _assistant(raw.resource, scrub), usage))
        return prepared

    def _attributes(self, raw: RawSpan, scrub: BatchScrubber) -> dict[str, object]:
        attributes = normalise(raw.attributes, raw.events, self._pseudonymise)
        clean = scrub.attributes(attributes)
        for key in (c.GEN_AI_INPUT_MESSAGES, c.GEN_AI_OUTPUT_MESSAGES):
            value = clean.get(key)
            if isinstance(value, list):
                clean[key] = compact_json(value)
        if _is_model_call(clean) and c.COST_USD not in clean:
            self._add_cost(clean)
        return clean

    def _add_cost(self, attributes: dict[str, object]) -> None:
        model = _text(attributes.get(c.GEN_AI_RESPONSE_MODEL) or attributes.get(c.GEN_AI_REQUEST_MODEL), 200)
        if model is None:
            return
        cost = self._price(
            _text(attributes.get(c.GEN_AI_PROVIDER_NAME), 64) or "",
            model,
            _count(attributes.get(c.GEN_AI_USAGE_INPUT_TOKENS)),
            _count(attributes.get(c.GEN_AI_USAGE_OUTPUT_TOKENS)),
            _count_or_none(attributes.get(c.GEN_AI_USAGE_CACHED_INPUT_TOKENS)),
            _text(attributes.get(ic.SERVER_ADDRESS), 253),
        )
        attributes[c.PRICE_SOURCE] = cost.source
        if cost.usd is not None:
            attributes[c.COST_USD] = cost.usd

    def _record(
        self, raw: RawSpan, attributes: dict[str, object], request_id: str | None, scrub: BatchScrubber
    ) -> SpanRecord:
        end = max(raw.end_ns, raw.start_ns)
        return SpanRecord(
            trace_id=raw.trace_id,
            span_id=raw.span_id,
            parent_span_id=raw.parent_span_id,
            name=scrub.text(raw.name)[:256],
            kind=raw.kind,
            start_time=from_unix_nanos(raw.start_ns),
            end_time=from_unix_nanos(end),
            duration_ms=(end - raw.start_ns) / 1e6,
            status_code=raw.status_code,
            status_message=scrub.text(raw.status_message) if raw.status_message else None,
            attributes=compact_json(attributes),
            events=_events(raw, scrub),
            request_id=request_id,
        )


def _events(raw: RawSpan, scrub: BatchScrubber) -> str:
    """The span's events as stored JSON; the legacy content events are folded into messages instead."""
    if not raw.events:  # most spans
        return NO_EVENTS
    folded = (ic.LEGACY_PROMPT_EVENT, ic.LEGACY_COMPLETION_EVENT)
    return compact_json(
        [
            {
                "name": scrub.text(name),
                "time": from_unix_nanos(time).isoformat(),
                "attributes": scrub.attributes(event_attributes),
            }
            for name, time, event_attributes in raw.events
            if name not in folded
        ]
    )


def _assistant(resource: Mapping[str, object], scrub: BatchScrubber) -> str:
    for key in ic.ASSISTANT_RESOURCE_KEYS:
        value = resource.get(key)
        if isinstance(value, str) and value.strip():
            return scrub.text(value.strip())[:128]
    return ic.UNKNOWN_SERVICE


def is_entry(raw: RawSpan, in_batch: set[tuple[str, str]]) -> bool:
    """Whether a span is where a request entered this service: no parent; a parent the OTLP flags mark
    remote; or a SERVER/CONSUMER span whose parent is not in the batch (SDKs that predate the flags)."""
    if raw.parent_span_id is None or raw.remote_parent:
        return True
    return raw.kind in ENTRY_KINDS and (raw.trace_id, raw.parent_span_id) not in in_batch


ENTRY_KINDS = frozenset({"SERVER", "CONSUMER"})


def normalise(
    attributes: Mapping[str, object],
    events: Iterable[tuple[str, int, Mapping[str, object]]],
    pseudonymise: Pseudonymise,
) -> dict[str, object]:
    """Renamed, folded and pseudonymised attributes (not yet redacted)."""
    result: dict[str, object] = {}
    indexed: dict[str, object] = {}
    for key, value in attributes.items():
        if key.startswith(_INDEXED_PREFIXES):
            indexed[key] = value
            continue
        canonical = ic.ALIASES.get(key)
        if canonical is None:
            result[key] = value
        elif canonical not in attributes:
            result[canonical] = value
    user = result.get(c.USER_ID)
    if user is not None:
        result[c.USER_ID] = pseudonymise(str(user)) if user != "" else None
    _operation(result)
    _messages(result, indexed, events)
    return result


_INDEXED_PREFIXES = (
    ic.OPENINFERENCE_INPUT_MESSAGES,
    ic.OPENINFERENCE_OUTPUT_MESSAGES,
    ic.LEGACY_PROMPT_PREFIX,
    ic.LEGACY_COMPLETION_PREFIX,
)


def _operation(attributes: dict[str, object]) -> None:
    if c.GEN_AI_OPERATION_NAME in attributes:
        return
    for key, table in (
        (ic.OPENINFERENCE_SPAN_KIND, ic.OPERATION_OF_OPENINFERENCE_KIND),
        (ic.LLM_REQUEST_TYPE, ic.OPERATION_OF_LLM_REQUEST_TYPE),
        (ic.TRACELOOP_SPAN_KIND, ic.OPERATION_OF_TRACELOOP_KIND),
    ):
        value = attributes.get(key)
        if isinstance(value, str) and value in table:
            attributes[c.GEN_AI_OPERATION_NAME] = table[value]
            return


def _messages(
    attributes: dict[str, object],
    indexed: Mapping[str, object],
    events: Iterable[tuple[str, int, Mapping[str, object]]],
) -> None:
    """Indexed attributes and legacy content events → v1.41 `parts` messages (existing ones win)."""
    if not (
        indexed or events or c.GEN_AI_INPUT_MESSAGES in attributes or c.GEN_AI_OUTPUT_MESSAGES in attributes
    ):
        return  # most spans: nothing to fold or reshape
    found = {
        c.GEN_AI_INPUT_MESSAGES: _indexed(indexed, ic.OPENINFERENCE_INPUT_MESSAGES, "message.")
        or _indexed(indexed, ic.LEGACY_PROMPT_PREFIX, ""),
        c.GEN_AI_OUTPUT_MESSAGES: _indexed(indexed, ic.OPENINFERENCE_OUTPUT_MESSAGES, "message.")
        or _indexed(indexed, ic.LEGACY_COMPLETION_PREFIX, ""),
    }
    for name, _, event_attributes in events:
        if name == ic.LEGACY_PROMPT_EVENT and not found[c.GEN_AI_INPUT_MESSAGES]:
            found[c.GEN_AI_INPUT_MESSAGES] = _legacy(event_attributes.get(ic.LEGACY_PROMPT_ATTRIBUTE), "user")
        elif name == ic.LEGACY_COMPLETION_EVENT and not found[c.GEN_AI_OUTPUT_MESSAGES]:
            found[c.GEN_AI_OUTPUT_MESSAGES] = _legacy(
                event_attributes.get(ic.LEGACY_COMPLETION_ATTRIBUTE), "assistant"
            )
    for key, messages in found.items():
        current = attributes.get(key)
        if current is not None:
            attributes[key] = to_parts(current)
        elif messages:
            attributes[key] = messages


def _indexed(indexed: Mapping[str, object], prefix: str, inner: str) -> list[dict[str, Any]]:
    """`{prefix}{i}.{inner}role` / `…content` attributes → messages in index order."""
    rows: dict[int, dict[str, object]] = {}
    for key, value in indexed.items():
        if not key.startswith(prefix):
            continue
        index, _, rest = key[len(prefix) :].partition(".")
        if not index.isdigit() or not rest.startswith(inner):
            continue
        rows.setdefault(int(index), {})[rest[len(inner) :]] = value
    return [_message(row.get("role"), row.get("content")) for _, row in sorted(rows.items()) if row]


def _legacy(value: object, role: str) -> list[dict[str, Any]]:
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return [_message(role, value)]
        if not isinstance(parsed, list):
            return [_message(role, value)]
        converted = to_parts(parsed)
        return converted if isinstance(converted, list) else [_message(role, value)]
    return []


def to_parts(messages: object) -> object:
    """Messages in the v1.41 shape: `{role, parts: [{type: "text", content}]}`; other shapes pass through."""
    if isinstance(messages, str):
        try:
            parsed = json.loads(messages)
        except ValueError:
            return messages
        if not isinstance(parsed, list):
            return messages
        messages = parsed
    if not isinstance(messages, list):
        return messages
    return [
        _message(m.get("role"), m.get("content"), m)
        if isinstance(m, dict) and "parts" not in m and "content" in m
        else m
        for m in messages
    ]


def _message(role: object, content: object, original: Mapping[str, object] | None = None) -> dict[str, Any]:
    text = (
        content if isinstance(content, str) else "" if content is None else json.dumps(content, default=str)
    )
    reason = original.get("finish_reason") if original is not None else None
    return text_message(
        role if isinstance(role, str) else "user", text, reason if isinstance(reason, str) else None
    )


def usage_of(spans: Iterable[tuple[str, str | None, Mapping[str, object]]]) -> TraceUsage | None:
    """Tokens, cost, model and provider of a trace's model calls; None when it has none."""
    by_id = {span_id: (parent, attributes) for span_id, parent, attributes in spans}
    with_usage = [span_id for span_id, (_, attributes) in by_id.items() if _has_usage(attributes)]
    if not with_usage:
        return None
    outer: set[str] = set()  # spans with a descendant that has usage: counting them would double up
    for span_id in with_usage:
        parent = by_id[span_id][0]
        seen = 0
        while parent is not None and parent in by_id and parent not in outer and seen < len(by_id):
            outer.add(parent)
            parent = by_id[parent][0]
            seen += 1
    usage = TraceUsage()
    sources: set[str] = set()
    for span_id in with_usage:
        if span_id in outer:
            continue
        attributes = by_id[span_id][1]
        usage.calls += 1
        usage.input_tokens += _count(attributes.get(c.GEN_AI_USAGE_INPUT_TOKENS))
        usage.output_tokens += _count(attributes.get(c.GEN_AI_USAGE_OUTPUT_TOKENS))
        cost = _number(attributes.get(c.COST_USD))
        usage.cost_usd = None if cost is None or usage.cost_usd is None else usage.cost_usd + cost
        source = _text(attributes.get(c.PRICE_SOURCE), 32)
        if source:
            sources.add(source)
        usage.model = (
            _text(attributes.get(c.GEN_AI_RESPONSE_MODEL) or attributes.get(c.GEN_AI_REQUEST_MODEL), 200)
            or usage.model
        )
        usage.provider = _text(attributes.get(c.GEN_AI_PROVIDER_NAME), 64) or usage.provider
    usage.price_source = sources.pop() if len(sources) == 1 else ("mixed" if sources else None)
    return usage


def request_row(
    record: SpanRecord, attributes: Mapping[str, object], assistant: str, usage: TraceUsage | None
) -> RequestRecord:
    """The request row of a root span, with the trace's usage where the root has none of its own."""
    row = dict(attributes)
    row.pop(c.EVAL, None)
    row[c.SOURCE] = INGEST_SOURCE
    row[c.GEN_AI_AGENT_NAME] = assistant
    if usage is not None and usage.calls:
        if c.TOTAL_INPUT_TOKENS not in row and c.GEN_AI_USAGE_INPUT_TOKENS not in row:
            row[c.TOTAL_INPUT_TOKENS] = usage.input_tokens
        if c.TOTAL_OUTPUT_TOKENS not in row and c.GEN_AI_USAGE_OUTPUT_TOKENS not in row:
            row[c.TOTAL_OUTPUT_TOKENS] = usage.output_tokens
        if c.GEN_AI_RESPONSE_MODEL not in row and c.GEN_AI_REQUEST_MODEL not in row and usage.model:
            row[c.GEN_AI_RESPONSE_MODEL] = usage.model
        if c.GEN_AI_PROVIDER_NAME not in row and usage.provider:
            row[c.GEN_AI_PROVIDER_NAME] = usage.provider
        if c.COST_USD not in row:
            row.pop(c.PRICE_SOURCE, None)
            if usage.cost_usd is not None:
                row[c.COST_USD] = usage.cost_usd
            if usage.price_source:
                row[c.PRICE_SOURCE] = usage.price_source
    return request_record(record, row, None)


def _is_model_call(attributes: Mapping[str, object]) -> bool:
    return attributes.get(c.GEN_AI_OPERATION_NAME) in ic.MODEL_OPERATIONS or _has_usage(attributes)


def _has_usage(attributes: Mapping[str, object]) -> bool:
    for key in USAGE_KEYS:  # a loop, not any(): this runs for every span and most have neither key
        value = attributes.get(key)
        if value is not None and _count_or_none(value) is not None:
            return True
    return False


def _text(value: object, limit: int) -> str | None:
    if value is None or value == "":
        return None
    return str(value)[:limit]


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _count_or_none(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, int | float) and 0 <= value < 2**53:
        return int(value)
    return None


def _count(value: object) -> int:
    return _count_or_none(value) or 0
