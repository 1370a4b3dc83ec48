"""A fast fake OpenAI upstream for benchmarks: raw asyncio HTTP/1.1 with keep-alive, canned replies.

No framework, so the upstream costs as little as possible and the proxies in front of it are what
the benchmark measures. `POST …/chat/completions` answers a fixed completion, or, with `"stream": true`,
`STREAM_WORDS` content chunks, a finish chunk, a usage chunk when `include_usage` is asked, and
`[DONE]`, as one chunked reply. `GET …/models` and anything else answer a small JSON object.

    python bench/fake_upstream.py --port 9100
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time

STREAM_WORDS = 20
MODEL = "gpt-4o-mini"
USAGE = {"prompt_tokens": 24, "completion_tokens": STREAM_WORDS, "total_tokens": 24 + STREAM_WORDS}


def _completion() -> bytes:
    return json.dumps(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": MODEL,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "word " * STREAM_WORDS},
                    "finish_reason": "stop",
                }
            ],
            "usage": USAGE,
        }
    ).encode()


def _stream(include_usage: bool) -> bytes:
    base = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": MODEL,
    }
    extra = {"usage": None} if include_usage else {}
    chunks = [
        {
            **base,
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}],
            **extra,
        }
    ]
    chunks += [
        {**base, "choices": [{"index": 0, "delta": {"content": "word "}, "finish_reason": None}], **extra}
        for _ in range(STREAM_WORDS)
    ]
    chunks.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], **extra})
    if include_usage:
        chunks.append({**base, "choices": [], "usage": USAGE})
    events = b"".join(b"data: " + json.dumps(chunk).encode() + b"\n\n" for chunk in chunks)
    return events + b"data: [DONE]\n\n"


COMPLETION = _completion()
STREAMS = {True: _stream(True), False: _stream(False)}


def _response(body: bytes, content_type: bytes) -> bytes:
    return (
        b"HTTP/1.1 200 OK\r\ncontent-type: "
        + content_type
        + b"\r\ncontent-length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )


def _chunked(body: bytes) -> bytes:
    """A stream as the chunked reply a real server sends: one HTTP chunk per event."""
    parts = [b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"]
    for event in body.split(b"\n\n")[:-1]:
        data = event + b"\n\n"
        parts.append(f"{len(data):x}\r\n".encode() + data + b"\r\n")
    parts.append(b"0\r\n\r\n")
    return b"".join(parts)


CHUNKED = {flag: _chunked(body) for flag, body in STREAMS.items()}


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            body = await reader.readexactly(length) if length else b""
            if b"/chat/completions" in head.split(b"\r\n", 1)[0]:
                compact = body.replace(b" ", b"")
                if b'"stream":true' in compact:
                    writer.write(CHUNKED[b'"include_usage":true' in compact])
                else:
                    writer.write(_response(COMPLETION, b"application/json"))
            else:
                writer.write(_response(b'{"object":"list","data":[]}', b"application/json"))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main(port: int) -> None:
    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main(parser.parse_args().port))
