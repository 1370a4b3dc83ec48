"""Uvicorn's h11 protocol with read deadlines: a connection must send its request headers within
`header_timeout_s` and the rest of its body within `body_timeout_s`, or it is closed.

Uvicorn closes idle keep-alive connections (`timeout_keep_alive`) but sets no deadline for reading a
request: a client that opens a connection and sends nothing, or sends headers or a body a byte at a
time, holds a connection (and with `limit_concurrency`, a slot) forever. Here each phase of reading a
request gets its own timer, armed when the phase starts and not extended by further bytes, so trickled
input gains nothing. Once the request is read the app runs without a read deadline (the request
deadline bounds the model calls). A proxy in front (nginx `client_header_timeout`,
`client_body_timeout`) does the same job; this makes the service safe without one.

`llmops serve` passes this class as uvicorn's `http` protocol; `configure` sets the deadlines from the
settings in each worker process (the app factory calls it).
"""

from __future__ import annotations

import asyncio
import logging

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

logger = logging.getLogger("llmops.api")


class GuardedH11Protocol(H11Protocol):
    """H11Protocol plus header and body read deadlines (class-wide, set by `configure`)."""

    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0

    _read_timer: asyncio.TimerHandle | None = None
    _read_phase: object = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._follow_phase()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._follow_phase()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._follow_phase()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _follow_phase(self) -> None:
        """Arm the deadline of the phase the connection is in now (headers, body), or none once the
        request is read; a phase keeps the deadline it was armed with."""
        state = self.conn.their_state
        phase = state if state in (h11.IDLE, h11.SEND_BODY) else None
        if phase is self._read_phase:
            return
        self._disarm()
        self._read_phase = phase
        if phase is None or self.transport.is_closing():
            return
        # IDLE after a response is a keep-alive wait: uvicorn's shorter keep-alive timer closes it first.
        seconds = self.header_timeout_s if phase is h11.IDLE else self.body_timeout_s
        self._read_timer = self.loop.call_later(seconds, self._on_read_timeout, phase)

    def _disarm(self) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None

    def _on_read_timeout(self, phase: object) -> None:
        self._read_timer = None
        if self.transport.is_closing() or self.conn.their_state is not phase:
            return
        if phase is h11.SEND_BODY:
            logger.warning("request body not received in time; connection closed")
        self.transport.close()


def configure(header_timeout_s: float, body_timeout_s: float) -> None:
    """Set the read deadlines for every connection this process accepts."""
    GuardedH11Protocol.header_timeout_s = header_timeout_s
    GuardedH11Protocol.body_timeout_s = body_timeout_s
