"""A local OTLP/HTTP receiver that keeps every request body it gets, for tests that inspect exports."""

from __future__ import annotations

import gzip

from .post_server import PostServer


class OtlpReceiver(PostServer):
    """Listens on 127.0.0.1 on a free port; `bodies[path]` holds the raw protobuf bodies received."""

    def __init__(self) -> None:
        super().__init__()
        self.bodies: dict[str, list[bytes]] = {}

    @property
    def endpoint(self) -> str:
        return self.base_url

    def on_post(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, str]:
        if headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        with self._lock:
            self.bodies.setdefault(path, []).append(body)
        return 200, "application/x-protobuf"

    def received(self, path: str) -> bytes:
        with self._lock:
            return b"".join(self.bodies.get(path, []))
