"""Ingested spans pass the one `Redactor` here, inside the request, before anything keeps them.

Attribute keys are redacted too (they come from outside), and a value under a credential-looking
key (`api_key`, `authorization`) is masked by the Redactor's key rules. It fails closed: anything that
raises becomes `[REDACTION_FAILED]`, never the original.

Strings repeat, within an export (attribute keys, span names, model ids, enum values on every span)
and across exports (system prompts, canned replies). `Scrubber.batch()` gives one export its own memo,
keyed by the raw strings themselves: it lives only as long as the request, so each distinct string is
redacted (or looked up) once per export. Across exports, redacted forms are remembered in a bounded cache
shared by the request threads, keyed by a keyed BLAKE2b digest of the value (a random key per process),
never by the value itself: raw content must not outlive the request that carried it. Plain dict
operations are atomic; a full cache is cleared.

Integers are kept as they are without a Redactor call unless they are long enough to be a card number
(the Redactor masks those); None, bools and floats are always kept.
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
SAFE_INT = 10**12  # shorter integers cannot be a card number (13-19 digits): nothing to mask


class Scrubber:
    """The process-wide part: the Redactor and the digest-keyed cache; `batch()` does the work."""

    def __init__(self, redactor: Redactor) -> None:
        self.redactor = redactor
        self.cache: dict[bytes, object] = {}
        self.key = secrets.token_bytes(32)

    def batch(self) -> BatchScrubber:
        """A scrubber for one export; drop it with the request."""
        return BatchScrubber(self)


class BatchScrubber:
    def __init__(self, shared: Scrubber) -> None:
        self._redactor = shared.redactor
        self._cache = shared.cache
        self._key = shared.key
        self._seen: dict[str, object] = {}
        self._keys: dict[object, tuple[str, bool]] = {}

    def text(self, value: str) -> str:
        redacted = self.value(value)
        return redacted if isinstance(redacted, str) else FAILED_MARKER

    def value(self, value: object) -> object:
        if isinstance(value, str):
            seen = self._seen.get(value)
            if seen is None:
                seen = self._seen[value] = self._string(value)
            return seen
        if value is None or isinstance(value, bool | float):
            return value
        if isinstance(value, int) and -SAFE_INT < value < SAFE_INT:
            return value
        if isinstance(value, list) and len(value) <= MAX_ITEMS:  # messages: their strings hit the memo
            return [self.value(item) for item in value]
        if isinstance(value, dict) and len(value) <= MAX_ITEMS:
            return self.attributes(value)
        return self._redactor.redact_value(value)

    def _string(self, value: str) -> object:
        if len(value) > CACHED_CHARS:
            return self._redactor.redact_value(value)
        digest = hashlib.blake2b(
            value.encode("utf-8", "surrogatepass"), key=self._key, digest_size=16
        ).digest()
        cached = self._cache.get(digest)
        if cached is None:
            if len(self._cache) >= CACHE_SIZE:
                self._cache.clear()
            cached = self._cache[digest] = self._redactor.redact_value(value)
        return cached

    def attributes(self, attributes: Mapping[str, object]) -> dict[str, object]:
        clean: dict[str, object] = {}
        for key, value in attributes.items():
            name, sensitive = self._keys.get(key) or self._name(key)
            try:
                if sensitive:  # the key says what the value is: let the Redactor's key rules see both
                    redacted = next(iter(self._redactor.redact_value({key: value}).values()))  # type: ignore[attr-defined]
                else:
                    redacted = self.value(value)
            except Exception:
                redacted = FAILED_MARKER
            clean[name] = redacted
        return clean

    def _name(self, key: object) -> tuple[str, bool]:
        """A key's redacted form, and whether it names a credential (memoised per export)."""
        entry = (self.text(str(key)), not isinstance(key, str) or classify_key(key) is not None)
        if isinstance(key, str):
            self._keys[key] = entry
        return entry
