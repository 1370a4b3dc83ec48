"""A lean HTTP/1.1 load generator: N keep-alive connections, each sending requests back to back.

Written on raw asyncio streams so the client spends tens of microseconds per request, not the few
hundred a full client library does: on a 2-core machine the client shares the CPU with the servers it
measures. It reads `content-length` and chunked replies (streams), and counts a reply as done when its
last byte has arrived.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass
class LoadResult:
    latencies_s: list[float]
    wall_s: float
    errors: int


async def _read_reply(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length: int | None = None
    chunked = False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value.strip())
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif length:
        await reader.readexactly(length)
    return status


async def run_load(
    url: str, body: bytes | Sequence[bytes], headers: dict[str, str], *, requests: int, concurrency: int
) -> LoadResult:
    """Send `requests` POSTs over `concurrency` connections; latency per request, wall time, errors.

    Several bodies are sent in turn (so caches in the server see realistic variety)."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    extra = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    heads = [
        (
            f"POST {parts.path} HTTP/1.1\r\nhost: {host}:{port}\r\ncontent-type: application/json\r\n"
            + extra
            + f"content-length: {len(one)}\r\n\r\n"
        ).encode()
        + one
        for one in ([body] if isinstance(body, bytes) else body)
    ]
    remaining = requests
    latencies: list[float] = []
    errors = 0

    async def worker() -> None:
        nonlocal remaining, errors
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while remaining > 0:
                remaining -= 1
                started = time.perf_counter()
                writer.write(heads[remaining % len(heads)])
                status = await _read_reply(reader)
                latencies.append(time.perf_counter() - started)
                if status != 200:
                    errors += 1
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return LoadResult(latencies, time.perf_counter() - started, errors)
