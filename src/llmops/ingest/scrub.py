"""Ingested spans pass the one `Redactor` here, inside the request, before anything keeps them.

Attribute keys are redacted too (they come from outside), and a value under a credential-looking
key (`api_key`, `authorization`) is masked by the Redactor's key rules. It fails closed: anything that
raises becomes `[REDACTION_FAILED]`, never the original.

Strings repeat across spans (span names, model ids, keys, system prompts, canned replies), so redacted
forms are remembered in a bounded cache shared by the request threads. The cache is keyed by a keyed
BLAKE2b digest of the value (a random key per process), never by the value itself: raw content must not
outlive the request that carried it. Plain dict operations are atomic; a full cache is cleared.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping

from llmops.redaction import FAILED_MARKER, Redactor
from llmops.redaction.keys import classify_key

CACHED_CHARS = 4096  # strings up to this long are cached (a system prompt, not a document)
CACHE_SIZE = 4096
MAX_ITEMS = 256  # larger lists and mappings go to the Redactor whole (it bounds depth itself)


class Scrubber:
    def __init__(self, redactor: Redactor) -> None:
        self._redactor = redactor
        self._cache: dict[bytes, object] = {}
        self._key = secrets.token_bytes(32)

    def text(self, value: str) -> str:
        redacted = self.value(value)
        return redacted if isinstance(redacted, str) else FAILED_MARKER

    def value(self, value: object) -> object:
        if isinstance(value, str) and len(value) <= CACHED_CHARS:
            digest = hashlib.blake2b(
                value.encode("utf-8", "surrogatepass"), key=self._key, digest_size=16
            ).digest()
            cached = self._cache.get(digest)
            if cached is None:
                if len(self._cache) >= CACHE_SIZE:
                    self._cache.clear()
                cached = self._cache[digest] = self._redactor.redact_value(value)
            return cached
        if value is None or isinstance(value, bool | float):
            return value
        if isinstance(value, list) and len(value) <= MAX_ITEMS:  # messages: their strings hit the cache
            return [self.value(item) for item in value]
        if isinstance(value, dict) and len(value) <= MAX_ITEMS:
            return self.attributes(value)
        return self._redactor.redact_value(value)

    def attributes(self, attributes: Mapping[str, object]) -> dict[str, object]:
        clean: dict[str, object] = {}
        for key, value in attributes.items():
            try:
                if not isinstance(key, str) or classify_key(key) is not None:
                    # the key says what the value is: let the Redactor's key rules see both
                    redacted = next(iter(self._redactor.redact_value({key: value}).values()))  # type: ignore[attr-defined]
                else:
                    redacted = self.value(value)
                clean[self.text(str(key))] = redacted
            except Exception:
                clean[self.text(str(key))] = FAILED_MARKER
        return clean
