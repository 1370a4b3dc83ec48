"""Connection hygiene of `llmops serve` (a real process): idle and half-sent connections are closed
by their read deadline, and a burst at concurrency 64 sees no connection reset."""

from __future__ import annotations

import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from live import TEST_KEY
from processes import cli_env, serving

EMAIL = {"email": {"sender": "a@b.example", "recipients": ["c@d.example"], "subject": "hi", "body": "hello"}}


def _open(base: str, payload: bytes) -> socket.socket:
    address = urlsplit(base)
    sock = socket.create_connection((address.hostname, address.port), timeout=10)
    if payload:
        sock.sendall(payload)
    return sock


def _closed_by_server(sock: socket.socket) -> bool:
    try:
        return sock.recv(4096) == b""
    except (ConnectionResetError, TimeoutError):
        return False


def test_idle_and_half_sent_connections_are_closed_by_their_deadlines(tmp_path: Path) -> None:
    env = cli_env(tmp_path, LLMOPS_API_KEYS=TEST_KEY, LLMOPS_HEADER_TIMEOUT_S="1", LLMOPS_BODY_TIMEOUT_S="1")
    with serving(tmp_path, env) as (base, _):
        silent = [_open(base, b"") for _ in range(20)]
        partial_headers = [_open(base, b"POST /v1/triage HTTP/1.1\r\nHost: x\r\n") for _ in range(20)]
        partial_body = [
            _open(
                base,
                b"POST /v1/triage HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                + TEST_KEY.encode()
                + b"\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
            )
            for _ in range(20)
        ]
        trickle = _open(base, b"G")
        for byte in b"ET /healthz HTTP/1.1\r\n":  # a byte at a time does not extend the deadline
            time.sleep(0.1)
            try:
                trickle.send(bytes([byte]))
            except OSError:
                break
        started = time.monotonic()
        closed = [_closed_by_server(sock) for sock in [*silent, *partial_headers, *partial_body, trickle]]
        waited = time.monotonic() - started
        with httpx.Client(base_url=base) as client:
            assert client.get("/healthz").status_code == 200  # the server itself is fine
        for sock in [*silent, *partial_headers, *partial_body, trickle]:
            sock.close()
    assert all(closed), closed.count(False)
    assert waited < 8


def test_no_reset_at_concurrency_64(tmp_path: Path) -> None:
    env = cli_env(tmp_path, LLMOPS_API_KEYS=TEST_KEY)
    with serving(tmp_path, env) as (base, _):
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        headers = {"Authorization": f"Bearer {TEST_KEY}"}
        with httpx.Client(base_url=base, headers=headers, limits=limits, timeout=120) as client:

            def send(_: int) -> int | str:
                try:
                    return client.post("/v1/triage", json=EMAIL).status_code
                except httpx.TransportError as exc:
                    return type(exc).__name__

            with ThreadPoolExecutor(64) as pool:
                outcomes = list(pool.map(send, range(400)))
    assert outcomes.count(200) == 400, {o for o in outcomes if o != 200}
