"""The one `Redactor` every sink passes values through: spans, logs, stored content, notes, reports, pages.

It fails closed: when a detector raises, or a value is of a type it does not know, the value is replaced
by a marker (`[REDACTION_FAILED]`, `[REDACTED:unsupported]`), never passed through. Detectors run on a
normalised view of the text (see `textview`); overlapping findings merge into one placeholder. Random-
looking tokens that nothing names (see `entropy`) are judged last, only outside the other findings.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from bisect import bisect_right
from collections.abc import Mapping

from . import credentials, entropy, pii
from .configured import ConfiguredSecrets
from .keys import KeyClass, classify_key, value_kind
from .kinds import FAILED_MARKER, PLACEHOLDER, PRIORITY, TOO_DEEP_MARKER, UNSUPPORTED_MARKER, Hit, Kind
from .models import Finding, RedactionConfig
from .textview import Detector, TextView
from .validators import is_card_number

_MAX_DEPTH = 32
# Mapping keys repeat endlessly (attribute names); their redacted form is remembered, up to this many.
_KEY_CACHE_SIZE = 4096
_CACHED_KEY_CHARS = 128
_ELLIPSIS = "…"
# Kinds whose formatting varies ("4111 1111…" vs "4111-1111…"): HMAC tokens are taken over the bare value.
_COMPACTED = frozenset({Kind.CREDIT_CARD, Kind.IBAN, Kind.SSN, Kind.PHONE})


class Redactor:
    """Masks personal data and secrets in text and in JSON-like values.

    Thread-safe and reusable: build one per process (patterns are compiled at import, configured secrets
    here) and share it.
    """

    def __init__(self, config: RedactionConfig | None = None) -> None:
        self.config = config or RedactionConfig()
        key = self.config.hmac_key
        self._hmac_key = key.get_secret_value().encode("utf-8", "surrogatepass") if key else None
        self._detectors: tuple[Detector, ...] = (*credentials.DETECTORS, *pii.DETECTORS)
        secrets = [secret.get_secret_value() for secret in self.config.secrets]
        self._configured = ConfiguredSecrets(secrets) if secrets else None
        self._key_cache: dict[str, str] = {}

    def redact(self, text: str, *, max_chars: int | None = None) -> str:
        """`text` with every finding replaced by its placeholder, then cut to `max_chars` (never before)."""
        try:
            if isinstance(text, bytes | bytearray | memoryview):
                text = bytes(text).decode("utf-8", "replace")
            redacted = self._redact_text(text) if isinstance(text, str) else UNSUPPORTED_MARKER
        except Exception:
            redacted = FAILED_MARKER
        return redacted if max_chars is None else truncate(redacted, max_chars)

    def redact_value(self, value: object) -> object:
        """A redacted copy of a span attribute, log extra or JSON-like value.

        Recurses into mappings, lists, tuples and strings that hold JSON; masks values under credential
        keys (`password`, `api_key`, `authorization`, …); keeps None, bools, floats and ints, except an
        int that is a valid card number. Bytes are decoded as UTF-8. Anything else becomes a marker.
        """
        try:
            return self._value(value, 0, None)
        except Exception:
            return FAILED_MARKER

    def findings(self, text: str) -> list[Finding]:
        """Where `redact` would mask, in original-text offsets; the whole text if detection fails."""
        try:
            view = TextView(text)
            return [
                Finding(kind=hit.kind.value, start=start, end=end)
                for hit in self._hits(view)
                for start, end in [view.to_original(hit.start, hit.end)]
            ]
        except Exception:
            return [Finding(kind="REDACTION_FAILED", start=0, end=len(text) if isinstance(text, str) else 0)]

    def _hits(self, view: TextView) -> list[Hit]:
        hits = [hit for detector in self._detectors for hit in detector(view) if hit.start < hit.end]
        if hits and "[" in view.text:
            hits = _outside_placeholders(view.text, hits)
        if self._configured is not None:  # the service's own secrets are masked whatever they look like
            hits.extend(hit for hit in self._configured(view) if hit.start < hit.end)
        hits = merge_hits(hits)
        # Last, random-looking tokens nothing else named, judged only where no other finding is.
        generic = entropy.scan_random_tokens(view, hits)
        if generic:
            if "[" in view.text:
                generic = _outside_placeholders(view.text, generic)
            hits = merge_hits(hits + generic)
        return hits

    def _redact_text(self, text: str) -> str:
        view = TextView(text)
        hits = self._hits(view)
        if not hits:
            return text
        parts: list[str] = []
        done = 0
        for hit in hits:
            start, end = view.to_original(hit.start, hit.end)
            parts.append(text[done : max(start, done)])
            parts.append(self._placeholder(hit.kind, view.text[hit.start : hit.end]))
            done = max(end, done)
        parts.append(text[done:])
        return "".join(parts)

    def _placeholder(self, kind: Kind, value: str) -> str:
        if self._hmac_key is None:
            return f"[{kind.value}]"
        if kind in _COMPACTED:
            value = "".join(char for char in value if char.isalnum()).upper()
        elif kind is Kind.EMAIL:
            value = value.lower()
        digest = hmac.new(self._hmac_key, value.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()
        return f"[{kind.value}:{digest[:12]}]"

    def _value(self, value: object, depth: int, key_class: KeyClass | None) -> object:
        # The common types first, to their branches below without the tests before them (a third of
        # the time to redact a model span's messages).
        if type(value) is str:
            return self._string(value, depth, key_class)
        if (type(value) is dict or type(value) is list) and depth < _MAX_DEPTH:
            return self._container(value, depth, key_class)
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, int | float):
            return self._number(value, key_class)
        if isinstance(value, bytes | bytearray | memoryview):
            value = bytes(value).decode("utf-8", "replace")
        if isinstance(value, str):
            return self._string(value, depth, key_class)
        if depth >= _MAX_DEPTH:
            return TOO_DEEP_MARKER
        if isinstance(value, Mapping | list | tuple):
            return self._container(value, depth, key_class)
        return UNSUPPORTED_MARKER

    def _container(
        self,
        value: Mapping[object, object] | list[object] | tuple[object, ...],
        depth: int,
        key_class: KeyClass | None,
    ) -> object:
        if isinstance(value, Mapping):
            return {
                self._key(key, depth): self._value(
                    item, depth + 1, (classify_key(key) if isinstance(key, str) else None) or key_class
                )
                for key, item in value.items()
            }
        items = [self._value(item, depth + 1, key_class) for item in value]
        return items if isinstance(value, list) else tuple(items)

    def _key(self, key: object, depth: int) -> object:
        if not isinstance(key, str) or len(key) > _CACHED_KEY_CHARS:
            return self._value(key, depth + 1, None)
        cached = self._key_cache.get(key)
        if cached is None:
            cached = self.redact(key)
            if cached != FAILED_MARKER and len(self._key_cache) < _KEY_CACHE_SIZE:
                self._key_cache[key] = cached
        return cached

    def _number(self, value: float, key_class: KeyClass | None) -> object:
        if key_class is not None and key_class.strict:
            return self._placeholder(key_class.kind, str(value))
        if isinstance(value, int) and 10**12 <= abs(value) < 10**19 and is_card_number(str(abs(value))):
            return self._placeholder(Kind.CREDIT_CARD, str(abs(value)))
        return value

    def _string(self, text: str, depth: int, key_class: KeyClass | None) -> object:
        if key_class is not None and (kind := value_kind(key_class, text)) is not None:
            return self._placeholder(kind, text)
        stripped = text.strip()
        if stripped[:1] in ("{", "[") and stripped[-1:] in ("}", "]") and depth < _MAX_DEPTH:
            try:
                parsed = json.loads(stripped)
            except (ValueError, RecursionError):
                parsed = None
            if isinstance(parsed, dict | list):
                redacted = self._value(parsed, depth + 1, key_class)
                return text if redacted == parsed else json.dumps(redacted, ensure_ascii=False)
        return self.redact(text)


def _outside_placeholders(text: str, hits: list[Hit]) -> list[Hit]:
    """Hits not inside an earlier placeholder (`[OPENAI_KEY:…]` names a key): redacting twice is a no-op."""
    spans = [match.span() for match in PLACEHOLDER.finditer(text)]
    if not spans:
        return hits
    starts = [start for start, _ in spans]
    kept = []
    for hit in hits:
        index = bisect_right(starts, hit.start) - 1
        if index < 0 or hit.end > spans[index][1]:
            kept.append(hit)
    return kept


def merge_hits(hits: list[Hit]) -> list[Hit]:
    """Sorted, non-overlapping spans; overlapping findings become one span of the most specific kind."""
    if not hits:
        return hits
    hits.sort()
    merged = [hits[0]]
    for hit in hits[1:]:
        last = merged[-1]
        if hit.start < last.end:
            kind = hit.kind if PRIORITY[hit.kind] > PRIORITY[last.kind] else last.kind
            merged[-1] = Hit(last.start, max(last.end, hit.end), kind)
        else:
            merged.append(hit)
    return merged


def truncate(text: str, max_chars: int) -> str:
    """`text` cut to at most `max_chars` characters, ending in "…", without splitting a placeholder."""
    if len(text) <= max_chars:
        return text
    if max_chars <= 0:
        return ""
    cut = max_chars - 1
    opening = text.rfind("[", max(0, cut - 40), cut)
    if opening != -1 and (placeholder := PLACEHOLDER.match(text, opening)) and placeholder.end() > cut:
        cut = opening
    return text[:cut] + _ELLIPSIS
