"""HTTP to one upstream: one pooled `aiohttp.ClientSession` each, failures turned into the provider error tree.

aiohttp rather than httpx (which the providers use) because this is the gateway's hot path: on the
benchmark's fake upstream httpx spent about 1.1 ms of CPU per call and aiohttp, whose HTTP parser is
compiled, about 0.3 ms (bench/bench_gateway.py). A failed reply's body is never read (a careless server
echoes the key or the prompt back); only its status and Retry-After are. A streaming reply is opened and
checked before anything is relayed, so every failure up to the first byte can still be retried or fall back.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp

from llmops.gateway.errors import UpstreamRejected
from llmops.gateway.upstreams import Upstream
from llmops.providers.errors import (
    ProviderConnectError,
    ProviderError,
    ProviderServerError,
    ProviderTimeout,
    RateLimited,
)
from llmops.providers.openai_compat import parse_retry_after

_JSON = {"Content-Type": "application/json"}
StreamError = (aiohttp.ClientError, asyncio.TimeoutError)


class UpstreamStream:
    """An open 200 streaming reply: read its body with `chunks()`, then `aclose()` it."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response

    def chunks(self) -> AsyncIterator[bytes]:
        return self._response.content.iter_any()

    async def aclose(self) -> None:
        if self._response.content.at_eof():
            self._response.release()
        else:  # cut short: the connection cannot be reused
            self._response.close()


class UpstreamClient:
    def __init__(self, upstream: Upstream, *, max_connections: int = 256) -> None:
        self.upstream = upstream
        self._max_connections = max_connections
        self._headers = {"Accept": "application/json"}
        if upstream.api_key is not None and upstream.api_key.get_secret_value():
            self._headers["Authorization"] = f"Bearer {upstream.api_key.get_secret_value()}"
        self._session: aiohttp.ClientSession | None = None
        seconds = upstream.timeout_s
        self._timeout = aiohttp.ClientTimeout(total=seconds)
        # A stream may last longer than one timeout as long as it keeps sending.
        self._stream_timeout = aiohttp.ClientTimeout(total=None, sock_connect=seconds, sock_read=seconds)

    def _get_session(self) -> aiohttp.ClientSession:
        """Built on first use, inside the event loop that will use it."""
        if self._session is None:
            self._session = aiohttp.ClientSession(
                headers=self._headers,
                connector=aiohttp.TCPConnector(limit=self._max_connections),
            )
        return self._session

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def _send(
        self, method: str, path: str, body: bytes | None, *, stream: bool
    ) -> aiohttp.ClientResponse:
        try:
            response = await self._get_session().request(
                method,
                self.upstream.base_url + path,
                data=body,
                headers=_JSON if body is not None else None,
                timeout=self._stream_timeout if stream else self._timeout,
            )
        except TimeoutError:
            raise self._timeout_error() from None
        except aiohttp.ClientError as exc:
            raise self._unreachable(exc) from None
        if response.status != 200:
            response.close()
            raise self._status_error(response)
        return response

    async def _read(self, response: aiohttp.ClientResponse) -> bytes:
        try:
            return await response.read()
        except TimeoutError:
            raise self._timeout_error() from None
        except aiohttp.ClientError as exc:
            raise self._unreachable(exc) from None
        finally:
            response.release()

    async def post(self, path: str, body: bytes) -> bytes:
        """The body of a 200 reply, or a `ProviderError` saying what went wrong."""
        return await self._read(await self._send("POST", path, body, stream=False))

    async def get(self, path: str) -> bytes:
        return await self._read(await self._send("GET", path, None, stream=False))

    async def open_stream(self, path: str, body: bytes) -> UpstreamStream:
        """A 200 streaming reply, headers read and body not yet."""
        return UpstreamStream(await self._send("POST", path, body, stream=True))

    def _timeout_error(self) -> ProviderTimeout:
        name = self.upstream.name
        return ProviderTimeout(f"{name} did not answer within {self.upstream.timeout_s:g}s", provider=name)

    def _unreachable(self, exc: Exception) -> ProviderConnectError:
        name = self.upstream.name
        return ProviderConnectError(f"{name} could not be reached ({type(exc).__name__})", provider=name)

    def _status_error(self, response: aiohttp.ClientResponse) -> ProviderError:
        status = response.status
        name = self.upstream.name
        message = f"{name} returned HTTP {status}"
        if status == 429:
            return RateLimited(message, provider=name, retry_after_s=parse_retry_after(response.headers))
        if status == 408:
            return ProviderTimeout(message, provider=name)
        if status >= 500:
            return ProviderServerError(message, provider=name, status_code=status)
        return UpstreamRejected(message, provider=name, status_code=status)
