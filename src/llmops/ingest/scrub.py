"""Ingested spans pass the one `Redactor` here, inside the request, before anything keeps them.

Attribute keys are redacted too (they come from outside), and a value under a credential-looking
key (`api_key`, `authorization`) is masked by the Redactor's key rules. Short strings repeat on every
span (span names, model ids, enum values, keys), so their redacted form is remembered in a bounded
cache shared by the request threads (plain dict operations are atomic; a full cache is cleared).
It fails closed: anything that raises becomes `[REDACTION_FAILED]`, never the original.
"""

from __future__ import annotations

from collections.abc import Mapping

from llmops.redaction import FAILED_MARKER, Redactor
from llmops.redaction.keys import classify_key

SHORT = 128
CACHE_SIZE = 8192


class Scrubber:
    def __init__(self, redactor: Redactor) -> None:
        self._redactor = redactor
        self._short: dict[str, object] = {}

    def text(self, value: str) -> str:
        redacted = self.value(value)
        return redacted if isinstance(redacted, str) else FAILED_MARKER

    def value(self, value: object) -> object:
        if isinstance(value, str) and len(value) <= SHORT:
            cached = self._short.get(value)
            if cached is None:
                if len(self._short) >= CACHE_SIZE:
                    self._short.clear()
                cached = self._short[value] = self._redactor.redact_value(value)
            return cached
        if value is None or isinstance(value, bool | float):
            return value
        return self._redactor.redact_value(value)

    def attributes(self, attributes: Mapping[str, object]) -> dict[str, object]:
        clean: dict[str, object] = {}
        for key, value in attributes.items():
            try:
                if classify_key(key) is None:
                    redacted = self.value(value)
                else:  # the key says what the value is: let the Redactor's key rules see both
                    redacted = next(iter(self._redactor.redact_value({key: value}).values()))  # type: ignore[union-attr]
                clean[self.text(key)] = redacted
            except Exception:
                clean[self.text(key)] = FAILED_MARKER
        return clean
