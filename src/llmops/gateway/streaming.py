"""Relaying a streamed completion: server-sent events in, the same events out, usage read on the way.

The upstream is always asked for `stream_options.include_usage`, so tokens and cost are exact; when
the client did not ask for usage, the usage-only chunk (empty `choices`) is dropped from what it gets
(and a `usage` riding on a content chunk is removed from that chunk). Every other event is relayed
byte for byte; the events of one upstream read leave in one write. Each `data:` event is parsed once,
for usage, finish reasons and, with content capture on, the reply's text and tool calls.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from llmops.gateway.messages import StreamAccumulator
from llmops.storage import jsoncodec

DONE = b"[DONE]"


@dataclass(slots=True)
class StreamReply:
    """A streaming reply: the headers to send first, the bytes to send, and `close`, which the server
    must await once it stops sending, however it stopped (it records the call, exactly once)."""

    chunks: AsyncIterator[bytes]
    headers: dict[str, str]
    close: Callable[[], Awaitable[None]]


async def sse_events(raw: AsyncIterator[bytes]) -> AsyncIterator[list[bytes]]:
    """Complete events (without their blank-line terminator), grouped by the read they completed in."""
    buffer = b""
    async for chunk in raw:
        if b"\r" in chunk:
            chunk = chunk.replace(b"\r\n", b"\n")
        buffer += chunk
        if b"\n\n" not in buffer:
            continue
        *events, buffer = buffer.split(b"\n\n")
        complete = [event for event in events if event.strip()]
        if complete:
            yield complete
    if buffer.strip():
        yield [buffer]


def relay_event(event: bytes, accumulator: StreamAccumulator, strip_usage: bool) -> bytes | None:
    """The bytes to send for one event (None: drop it), after reading what it tells."""
    if not event.startswith(b"data:"):
        return event + b"\n\n"
    data = event[5:].strip()
    if data == DONE:
        return event + b"\n\n"
    try:
        chunk: Any = jsoncodec.loads(data)
    except ValueError:
        return event + b"\n\n"
    if not isinstance(chunk, dict):
        return event + b"\n\n"
    accumulator.add(chunk)
    if strip_usage and chunk.get("usage") is not None:
        if not chunk.get("choices"):
            return None
        del chunk["usage"]
        return b"data: " + jsoncodec.dumps(chunk) + b"\n\n"
    return event + b"\n\n"


async def relay(
    raw: AsyncIterator[bytes], accumulator: StreamAccumulator, strip_usage: bool
) -> AsyncIterator[bytes]:
    async for events in sse_events(raw):
        out = [sent for event in events if (sent := relay_event(event, accumulator, strip_usage)) is not None]
        if out:
            yield b"".join(out)
