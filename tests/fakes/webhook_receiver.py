"""A local webhook receiver: a real HTTP server in a thread that records every POST and answers with
scripted status codes (then 200), for tests of signed alert delivery."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .post_server import PostServer


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes
    status: int

    def json(self) -> Any:
        return json.loads(self.body)


class WebhookReceiver(PostServer):
    """On 127.0.0.1 and a free port; `statuses` are answered in order, then 200."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        super().__init__()
        self.requests: list[Received] = []
        self._statuses = list(statuses or [])

    @property
    def url(self) -> str:
        return f"{self.base_url}/hook"

    def on_post(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, str]:
        with self._lock:
            status = self._statuses.pop(0) if self._statuses else 200
            self.requests.append(Received(headers, body, status))
        return status, "text/plain"

    def received(self) -> list[Received]:
        with self._lock:
            return list(self.requests)
