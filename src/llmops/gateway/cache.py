"""Opt-in exact-match response cache for non-streaming chat completions (`LLMOPS_GATEWAY_CACHE_TTL_S`).

A request's identity is its API key's fingerprint, the alias, and its body with keys sorted (without
`user`, which names the caller, not the question). Nothing is kept in clear: the cache is indexed by
one hash of that identity and each reply is sealed with AES-GCM under a key derived from the identity by
another hash, so a reply can be read back only by someone who sends the very same request; a memory
dump holds neither prompts nor replies. Entries live in the worker process (`cachetools.TTLCache`,
bounded by `LLMOPS_GATEWAY_CACHE_MAX_ENTRIES`) and expire after the TTL.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from typing import Any

from cachetools import TTLCache
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_NONCE_BYTES = 12


def identity(key_fingerprint: str, alias: str, body: dict[str, Any]) -> bytes:
    question = {name: value for name, value in body.items() if name != "user"}
    text = json.dumps([key_fingerprint, alias, question], sort_keys=True, separators=(",", ":"), default=str)
    return text.encode("utf-8")


class ResponseCache:
    def __init__(self, ttl_s: float, max_entries: int) -> None:
        self._entries: TTLCache[bytes, bytes] = TTLCache(maxsize=max_entries, ttl=ttl_s)
        self._lock = threading.Lock()

    @staticmethod
    def _index(ident: bytes) -> bytes:
        return hashlib.sha256(b"llmops-cache-index\0" + ident).digest()

    @staticmethod
    def _cipher(ident: bytes) -> AESGCM:
        return AESGCM(hashlib.sha256(b"llmops-cache-key\0" + ident).digest())

    def get(self, ident: bytes) -> bytes | None:
        with self._lock:
            sealed = self._entries.get(self._index(ident))
        if sealed is None:
            return None
        try:
            return self._cipher(ident).decrypt(sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], None)
        except InvalidTag:
            return None

    def put(self, ident: bytes, reply: bytes) -> None:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = nonce + self._cipher(ident).encrypt(nonce, reply, None)
        with self._lock:
            self._entries[self._index(ident)] = sealed
