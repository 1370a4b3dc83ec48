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
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, func, insert, select, update

from llmops.storage.tables import api_keys
from llmops.storage.timeutil import utc

KEY_PREFIX = "llmops_"
FINGERPRINT_HEX = 12


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def fingerprint(key: str) -> str:
    """Names a key (per-key budgets, dashboard sessions) without holding it: a prefix of its hash."""
    return hash_key(key)[:FINGERPRINT_HEX]


class KeyLookupError(LookupError):
    """No active stored key, or more than one, starts with the given prefix."""


@dataclass(frozen=True, slots=True)
class StoredKey:
    id: int
    prefix: str
    created_at: datetime
    revoked_at: datetime | None


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

    def list(self) -> list[StoredKey]:
        """Every stored key, oldest first (keys from settings are not stored and not listed)."""
        query = select(api_keys.c.id, api_keys.c.prefix, api_keys.c.created_at, api_keys.c.revoked_at)
        with self._engine.connect() as connection:
            rows = connection.execute(query.order_by(api_keys.c.id)).all()
        return [
            StoredKey(
                row.id, row.prefix, utc(row.created_at), utc(row.revoked_at) if row.revoked_at else None
            )
            for row in rows
        ]

    def revoke(self, prefix: str) -> StoredKey:
        """Revoke the one active stored key that starts with `prefix` (as `keys list` shows it, or the
        whole key). Every replica stops accepting it, and dashboard sessions opened with it end, within
        the cache TTL."""
        prefix = prefix.strip()
        stored_prefix = prefix[: len(KEY_PREFIX) + 4]
        if len(stored_prefix) < len(KEY_PREFIX) + 4:
            raise KeyLookupError(f"give the key's prefix as `llmops keys list` shows it ({KEY_PREFIX}xxxx)")
        active = api_keys.c.revoked_at.is_(None)
        query = select(api_keys.c.id, api_keys.c.key_hash, api_keys.c.created_at).where(
            api_keys.c.prefix == stored_prefix, active
        )
        now = datetime.now(UTC)
        with self._engine.begin() as connection:
            matches = connection.execute(query).all()
            if len(prefix) > len(stored_prefix):  # the whole key: match its hash exactly
                matches = [row for row in matches if hmac.compare_digest(row.key_hash, hash_key(prefix))]
            if len(matches) != 1:
                found = "no active key" if not matches else f"{len(matches)} active keys"
                raise KeyLookupError(f"{found} with prefix {stored_prefix}; give the whole key")
            connection.execute(
                update(api_keys).where(api_keys.c.id == matches[0].id, active).values(revoked_at=now)
            )
        self._cached_at = float("-inf")
        return StoredKey(matches[0].id, stored_prefix, utc(matches[0].created_at), now)

    def active_count(self) -> int:
        with self._engine.connect() as connection:
            query = select(func.count()).select_from(api_keys).where(api_keys.c.revoked_at.is_(None))
            return int(connection.execute(query).scalar_one())

    def verify(self, key: str) -> bool:
        """Whether `key` is a configured or an active stored key. May read the stored keys (blocking)."""
        digest = hash_key(key)
        return _matches(digest, self._configured) or _matches(digest, self._stored_hashes())

    def verify_cached(self, key: str) -> bool | None:
        """`verify` without blocking: None when the stored keys are not cached (or the cache is older
        than its TTL), so only `verify` can tell."""
        digest = hash_key(key)
        if _matches(digest, self._configured):
            return True
        if time.monotonic() - self._cached_at > self._cache_ttl_s:
            return None
        return _matches(digest, self._cached)  # set before `_cached_at`: at least as new as it says

    def fingerprint_active(self, key_fingerprint: str) -> bool:
        """Whether a configured or active stored key has this fingerprint."""
        if len(key_fingerprint) != FINGERPRINT_HEX:
            return False
        return any(
            digest.startswith(key_fingerprint) for digest in (*self._configured, *self._stored_hashes())
        )

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


def _matches(digest: str, known: frozenset[str]) -> bool:
    return any(hmac.compare_digest(digest, item) for item in known)
