"""HTTP to one upstream: one pooled `httpx.AsyncClient` each, failures turned into the provider error tree.

A failed reply's body is never read (a careless server echoes the key or the prompt back); only its
status and Retry-After are. A streaming reply is opened and checked before anything is relayed, so
every failure up to the first byte can still be retried or fall back.
"""

from __future__ import annotations

import httpx

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


class UpstreamClient:
    def __init__(self, upstream: Upstream, *, max_connections: int = 256) -> None:
        self.upstream = upstream
        headers = {"Accept": "application/json"}
        if upstream.api_key is not None and upstream.api_key.get_secret_value():
            headers["Authorization"] = f"Bearer {upstream.api_key.get_secret_value()}"
        self._client = httpx.AsyncClient(
            base_url=upstream.base_url,
            headers=headers,
            timeout=httpx.Timeout(upstream.timeout_s),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def post(self, path: str, body: bytes) -> bytes:
        """The body of a 200 reply, or a `ProviderError` saying what went wrong."""
        try:
            response = await self._client.post(path, content=body, headers=_JSON)
        except httpx.TimeoutException:
            raise self._timeout() from None
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from None
        if response.status_code != 200:
            raise self._status_error(response)
        return response.content

    async def open_stream(self, path: str, body: bytes) -> httpx.Response:
        """A 200 streaming reply, headers read and body not yet; the caller must `aclose()` it."""
        request = self._client.build_request("POST", path, content=body, headers=_JSON)
        try:
            response = await self._client.send(request, stream=True)
        except httpx.TimeoutException:
            raise self._timeout() from None
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from None
        if response.status_code != 200:
            await response.aclose()
            raise self._status_error(response)
        return response

    async def get(self, path: str) -> bytes:
        try:
            response = await self._client.get(path)
        except httpx.TimeoutException:
            raise self._timeout() from None
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from None
        if response.status_code != 200:
            raise self._status_error(response)
        return response.content

    def _timeout(self) -> ProviderTimeout:
        name = self.upstream.name
        return ProviderTimeout(f"{name} did not answer within {self.upstream.timeout_s:g}s", provider=name)

    def _unreachable(self, exc: Exception) -> ProviderConnectError:
        name = self.upstream.name
        return ProviderConnectError(f"{name} could not be reached ({type(exc).__name__})", provider=name)

    def _status_error(self, response: httpx.Response) -> ProviderError:
        status = response.status_code
        name = self.upstream.name
        message = f"{name} returned HTTP {status}"
        if status == 429:
            return RateLimited(message, provider=name, retry_after_s=parse_retry_after(response.headers))
        if status == 408:
            return ProviderTimeout(message, provider=name)
        if status >= 500:
            return ProviderServerError(message, provider=name, status_code=status)
        return UpstreamRejected(message, provider=name, status_code=status)
