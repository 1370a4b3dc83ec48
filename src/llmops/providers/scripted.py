"""A deterministic provider for tests and benchmarks: a fixed reply, simulated latency, scripted faults.

It plays the role of httpx's mock transport: the rest of the service runs unchanged against it, so
resilience, telemetry and the degraded path can be exercised without a model. Faults are a small
script (`Settings.scripted_faults`), e.g. `429*2,500` answers two rate limits, one server error, then
normal replies. A `timeout` fault really hangs, so the caller's own timeout is what fires.

A reply prefill (`ChatRequest.prefill`) is honoured like the local provider does: the reply is the
prefill plus a continuation: the continuation completes the prefill's JSON from the scripted reply's
fields the prefill did not set, so prompt versions that prefill different fields give different, valid
results. A scripted reply that is not a JSON object (scripted garbage) is returned whole, without the
prefill, so unusable output stays unusable.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from llmops.providers.base import ChatRequest, ChatResponse, Provider, Usage
from llmops.providers.errors import ProviderServerError, ProviderTimeout, RateLimited

DEFAULT_MODEL = "scripted-1"

# A valid triage for `llmops.assistant.schema.Triage`, kept here because providers must not import the
# assistant; a test checks it still validates against the schema.
DEFAULT_TRIAGE_REPLY = (
    '{"category": "action_required", "priority": 2, '
    '"summary": "The sender asks for a confirmation of the proposed meeting time.", '
    '"action_items": ["Confirm the meeting time", "Add the meeting to the calendar"], '
    '"draft_reply": "Thanks for the note. The proposed time works for me; see you then."}'
)

# What a `bad` fault returns: prose that is not JSON, like a small model ignoring its instructions.
MALFORMED_REPLY = "Sure! Here is the triage you asked for: category is urgent, priority high"

# How long a `timeout` fault hangs unless the caller's timeout fires first.
DEFAULT_HANG_S = 3600.0

_ITEM = re.compile(r"(?P<fault>429|500|timeout|bad)(?P<repeat>\*(?P<count>\d+)?)?", re.IGNORECASE | re.ASCII)
_MAX_COUNT = 1_000_000


class Fault(StrEnum):
    RATE_LIMITED = "429"
    SERVER_ERROR = "500"
    TIMEOUT = "timeout"
    BAD = "bad"


@dataclass(frozen=True, slots=True)
class FaultStep:
    """One item of a fault script: `fault` repeated `times` times, or forever when `times` is None."""

    fault: Fault
    times: int | None = 1


def parse_fault_script(spec: str) -> tuple[FaultStep, ...]:
    """Parse `429*2,500,timeout,bad*` into steps; raise ValueError naming the first bad item.

    Items are `429`, `500`, `timeout` or `bad`, optionally followed by `*N` (N >= 1 times) or `*`
    (forever, only allowed as the last item because nothing after it could run).
    """
    if not spec.strip():
        return ()
    steps: list[FaultStep] = []
    items = spec.split(",")
    for position, raw in enumerate(items):
        item = raw.strip()
        match = _ITEM.fullmatch(item)
        if match is None:
            shown = item[:40] or "(empty)"
            raise ValueError(
                f"invalid fault script item {shown!r}: expected 429, 500, timeout or bad, "
                "optionally followed by *N or *"
            )
        fault = Fault(match["fault"].lower())
        times: int | None = 1
        if match["count"] is not None:
            digits = match["count"]
            times = int(digits) if len(digits) <= len(str(_MAX_COUNT)) else _MAX_COUNT + 1
            if not 1 <= times <= _MAX_COUNT:
                raise ValueError(f"invalid fault script item {item!r}: N must be between 1 and {_MAX_COUNT}")
        elif match["repeat"] is not None:
            if position != len(items) - 1:
                raise ValueError(f"invalid fault script item {item!r}: `*` (forever) must be the last item")
            times = None
        steps.append(FaultStep(fault, times))
    return tuple(steps)


# The end of a prefill that opens a string value: `..., "summary": "`.
_OPEN_STRING = re.compile(r'"(?P<key>[^"\\]+)"\s*:\s*"$')


def continue_prefill(prefill: str, reply: str) -> str | None:
    """What follows `prefill` so that prefill + continuation is `reply` completed as one JSON object.

    Keys the prefill already set keep its values; a string value it left open is finished with the
    reply's value for that key; the reply's other fields follow. None when the reply is not a JSON
    object or the prefill is not the start of one: there is nothing to continue.
    """
    try:
        fields = json.loads(reply)
    except ValueError:
        return None
    match = _OPEN_STRING.search(prefill)
    head = (prefill[: match.start()] if match else prefill).rstrip()
    try:
        fixed = json.loads(head.removesuffix(",") + "}")
    except ValueError:
        return None
    if not isinstance(fields, dict) or not isinstance(fixed, dict):
        return None
    parts: list[str] = []
    if match:
        parts.append(json.dumps(str(fields.get(match["key"], "")))[1:])  # the value's rest and its quote
    rest = [(k, v) for k, v in fields.items() if k not in fixed and (match is None or k != match["key"])]
    needs_comma = match is not None or (bool(fixed) and not head.endswith(","))
    for key, value in rest:
        separator = ", " if needs_comma else "" if prefill[-1:].isspace() else " "
        parts.append(f"{separator}{json.dumps(key)}: {json.dumps(value)}")
        needs_comma = True
    parts.append("}")
    return "".join(parts)


def _count_tokens(text: str) -> int:
    return len(text.split())


def _truncate(text: str, max_tokens: int) -> str:
    """The text up to its `max_tokens`-th whitespace-separated token, like a model hitting its cap."""
    ends = [match.end() for match in re.finditer(r"\S+", text)]
    return text[: ends[max_tokens - 1]] if max_tokens > 0 else ""


class ScriptedProvider(Provider):
    """Replies with fixed text after `latency_s`, unless the fault script says otherwise.

    Usage is deterministic: whitespace-separated tokens of the prompt and of the reply. Replies longer
    than `max_tokens` are cut and reported with finish reason `length`. `calls` counts every call,
    which lets tests check that a breaker or retry policy did (or did not) reach the provider.
    """

    def __init__(
        self,
        reply: str | None = None,
        *,
        latency_s: float = 0.0,
        faults: str | Sequence[FaultStep] = "",
        retry_after_s: float | None = 0.05,
        model: str = DEFAULT_MODEL,
        name: str = "scripted",
        hang_s: float = DEFAULT_HANG_S,
    ) -> None:
        if latency_s < 0 or hang_s < 0:
            raise ValueError("latency_s and hang_s must be >= 0")
        self.name = name
        self.model = model
        self.reply = DEFAULT_TRIAGE_REPLY if reply is None else reply
        self.latency_s = latency_s
        self.retry_after_s = retry_after_s
        self.hang_s = hang_s
        self.calls = 0
        steps = parse_fault_script(faults) if isinstance(faults, str) else tuple(faults)
        self._steps: deque[FaultStep] = deque(steps)
        self._reply_tokens = _count_tokens(self.reply)

    def _next_fault(self) -> Fault | None:
        """Consume one fault from the script (synchronously, so concurrent calls take distinct ones)."""
        if not self._steps:
            return None
        step = self._steps[0]
        if step.times is None:
            return step.fault
        if step.times > 1:
            self._steps[0] = FaultStep(step.fault, step.times - 1)
        else:
            self._steps.popleft()
        return step.fault

    async def chat(self, request: ChatRequest) -> ChatResponse:
        self.calls += 1
        fault = self._next_fault()
        prefix = ""  # the prefill, when the reply continues it
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        if fault is Fault.RATE_LIMITED:
            raise RateLimited(
                f"{self.name} returned HTTP 429", provider=self.name, retry_after_s=self.retry_after_s
            )
        if fault is Fault.SERVER_ERROR:
            raise ProviderServerError(f"{self.name} returned HTTP 500", provider=self.name, status_code=500)
        if fault is Fault.TIMEOUT:
            await asyncio.sleep(self.hang_s)
            raise ProviderTimeout(f"{self.name} hung for {self.hang_s:g}s", provider=self.name)
        if fault is Fault.BAD:
            text, tokens = MALFORMED_REPLY, _count_tokens(MALFORMED_REPLY)
        else:
            text, tokens = self.reply, self._reply_tokens
            continuation = None if request.prefill is None else continue_prefill(request.prefill, self.reply)
            if continuation is not None and request.prefill is not None:
                text, tokens, prefix = continuation, _count_tokens(continuation), request.prefill
        finish_reason = "stop"
        if tokens > request.max_tokens:
            text, tokens, finish_reason = _truncate(text, request.max_tokens), request.max_tokens, "length"
        text = prefix + text
        prompt_tokens = sum(_count_tokens(message.content) for message in request.messages)
        return ChatResponse(
            text=text,
            usage=Usage(input_tokens=prompt_tokens, output_tokens=tokens),
            model=self.model,
            finish_reason=finish_reason,
            provider=self.name,
        )
