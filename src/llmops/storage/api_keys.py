"""API keys: generated once, shown once, stored only as SHA-256 hashes.

Keys are 256-bit random tokens, so a fast unsalted hash is enough to make the stored value useless
to a reader of the database while keeping verification a single indexed lookup.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from datetime import UTC, datetime

from sqlalchemy import Engine, func, insert, select

from llmops.storage.tables import api_keys

KEY_PREFIX = "llmops_"


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class ApiKeyStore:
    """Keys from settings plus keys stored in the database; DB hashes are cached for a few seconds."""

    def __init__(self, engine: Engine, configured: list[str], cache_ttl_s: float = 5.0) -> None:
        self._engine = engine
        self._configured = frozenset(hash_key(key) for key in configured)
        self._cache_ttl_s = cache_ttl_s
        self._cached: frozenset[str] = frozenset()
        self._cached_at = float("-inf")
        self._lock = threading.Lock()

    def create(self) -> str:
        """Store a new key's hash and return the key: the only time it exists in clear."""
        key = generate_key()
        with self._engine.begin() as connection:
            connection.execute(
                insert(api_keys).values(
                    key_hash=hash_key(key), prefix=key[: len(KEY_PREFIX) + 4], created_at=datetime.now(UTC)
                )
            )
        self._cached_at = float("-inf")
        return key

    def active_count(self) -> int:
        with self._engine.connect() as connection:
            query = select(func.count()).select_from(api_keys).where(api_keys.c.revoked_at.is_(None))
            return int(connection.execute(query).scalar_one())

    def verify(self, key: str) -> bool:
        digest = hash_key(key)
        if any(hmac.compare_digest(digest, known) for known in self._configured):
            return True
        return any(hmac.compare_digest(digest, known) for known in self._stored_hashes())

    def _stored_hashes(self) -> frozenset[str]:
        now = time.monotonic()
        with self._lock:
            if now - self._cached_at > self._cache_ttl_s:
                with self._engine.connect() as connection:
                    rows = connection.execute(
                        select(api_keys.c.key_hash).where(api_keys.c.revoked_at.is_(None))
                    )
                    self._cached = frozenset(row[0] for row in rows)
                self._cached_at = now
            return self._cached

    def ensure_initial_key(self) -> str | None:
        """Generate a key on first start when none is configured or stored; return it to print once."""
        if self._configured or self.active_count() > 0:
            return None
        return self.create()
