"""Uvicorn's httptools protocol with read deadlines: a connection must send its request headers within
`header_timeout_s` and the rest of its body within `body_timeout_s`, or it is closed.

Uvicorn closes idle keep-alive connections (`timeout_keep_alive`) but sets no deadline for reading a
request: a client that opens a connection and sends nothing, or sends headers or a body a byte at a
time, holds a connection (and with `limit_concurrency`, a slot) forever. Here each phase of reading a
request gets its own timer, armed when the phase starts and not extended by further bytes, so trickled
input gains nothing. Once the request is read the app runs without a read deadline (the request
deadline bounds the model calls). A proxy in front (nginx `client_header_timeout`,
`client_body_timeout`) does the same job; this makes the service safe without one.

httptools rather than h11: its parser is compiled, and on the gateway's hot path h11's pure-Python
parsing and response framing cost about a tenth of the event loop's CPU per call (bench_gateway).
The phases follow the parser's callbacks: headers from the connection's start (and again once a
response is complete and no pipelined request is under way), the body once the headers are complete,
nothing once the request is complete.

`llmops serve` passes this class as uvicorn's `http` protocol; `configure` sets the deadlines from the
settings in each worker process (the app factory calls it).
"""

from __future__ import annotations

import asyncio
import logging
from enum import Enum

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

logger = logging.getLogger("llmops.api")


class _Phase(Enum):
    HEADERS = "headers"
    BODY = "body"


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """HttpToolsProtocol plus header and body read deadlines (class-wide, set by `configure`)."""

    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0

    _read_timer: asyncio.TimerHandle | None = None
    _read_phase: _Phase | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(_Phase.HEADERS)

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self._arm(_Phase.BODY)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._arm(None)

    def on_response_complete(self) -> None:
        idle = not self.pipeline and self._read_phase is None  # no next request read, or being read
        super().on_response_complete()
        if idle:
            self._arm(_Phase.HEADERS)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self, phase: _Phase | None) -> None:
        """Enter `phase` with a deadline of its own (none once the request is read)."""
        self._disarm()
        self._read_phase = phase
        if phase is None or self.transport.is_closing():
            return
        seconds = self.header_timeout_s if phase is _Phase.HEADERS else self.body_timeout_s
        self._read_timer = self.loop.call_later(seconds, self._on_read_timeout, phase)

    def _disarm(self) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None

    def _on_read_timeout(self, phase: _Phase) -> None:
        self._read_timer = None
        if self.transport.is_closing() or self._read_phase is not phase:
            return
        if phase is _Phase.BODY:
            logger.warning("request body not received in time; connection closed")
        self.transport.close()


def configure(header_timeout_s: float, body_timeout_s: float) -> None:
    """Set the read deadlines for every connection this process accepts."""
    GuardedHttpToolsProtocol.header_timeout_s = header_timeout_s
    GuardedHttpToolsProtocol.body_timeout_s = body_timeout_s
