"""The service's own secrets, masked by exact value and in the encodings they travel in.

A configured secret (an API key, the provider key, a DB password) is known exactly, so it needs no
pattern: it is found as a raw substring and as URL-encoded, JSON-escaped and base64 forms. Base64 is
matched through the part of the encoding that depends only on the secret, at each of the three byte
alignments, so `Basic base64(user:secret)` is caught too; the whole base64 run around it is masked.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator, Sequence
from urllib.parse import quote, quote_plus

from .kinds import Hit, Kind
from .textview import TextView

# Shorter secrets would turn up inside ordinary words: they are masked only as whole tokens.
SUBSTRING_MIN_CHARS = 8
# How far a base64 match is widened to the run around it; the secret-dependent characters are all inside.
_BASE64_WIDEN = 256
_BASE64_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_-")
_URLSAFE = str.maketrans("+/", "-_")
_PERCENT_ESCAPE = re.compile(r"%[0-9A-F]{2}")


def _fold(value: str) -> str:
    return TextView(value).text


def _text_forms(secret: str) -> set[str]:
    data = secret.encode("utf-8", "surrogatepass")
    forms = {
        secret,
        quote(data, safe=""),
        quote(data, safe="/:@"),
        quote_plus(data),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
    }
    forms |= {_PERCENT_ESCAPE.sub(lambda escape: escape.group().lower(), form) for form in forms}
    return {folded for form in forms if (folded := _fold(form))}


def _base64_cores(secret: str) -> set[str]:
    data = secret.encode("utf-8", "surrogatepass")
    cores: set[str] = set()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + data).decode("ascii")
        core = encoded[-(-offset * 8 // 6) : (offset + len(data)) * 8 // 6]
        if len(core) >= SUBSTRING_MIN_CHARS:
            cores |= {core, core.translate(_URLSAFE)}
    return cores


class ConfiguredSecrets:
    """Detector for a fixed set of secret values."""

    def __init__(self, secrets: Sequence[str]) -> None:
        long_secrets = [secret for secret in secrets if len(secret) >= SUBSTRING_MIN_CHARS]
        short_secrets = sorted(
            {folded for s in secrets if len(s) < SUBSTRING_MIN_CHARS and (folded := _fold(s))},
            key=len,
            reverse=True,
        )
        self._plain = sorted(
            {form for secret in long_secrets for form in _text_forms(secret)}, key=len, reverse=True
        )
        self._base64 = sorted({core for secret in long_secrets for core in _base64_cores(secret)})
        self._tokens = (
            re.compile(
                "(?<![A-Za-z0-9])(?:"
                + "|".join(re.escape(secret) for secret in short_secrets)
                + ")(?![A-Za-z0-9])"
            )
            if short_secrets
            else None
        )

    def __call__(self, view: TextView) -> Iterator[Hit]:
        text = view.text
        for form in self._plain:
            for start in _find_all(text, form):
                yield Hit(start, start + len(form), Kind.SECRET)
        for core in self._base64:
            for found in _find_all(text, core):
                start, end = found, found + len(core)
                while start > 0 and text[start - 1] in _BASE64_CHARS and found - start < _BASE64_WIDEN:
                    start -= 1
                while end < len(text) and text[end] in _BASE64_CHARS and end - found < _BASE64_WIDEN:
                    end += 1
                while end < len(text) and text[end] == "=" and end - found < _BASE64_WIDEN:
                    end += 1
                yield Hit(start, end, Kind.SECRET)
        if self._tokens is not None:
            for match in self._tokens.finditer(text):
                yield Hit(match.start(), match.end(), Kind.SECRET)


def _find_all(text: str, needle: str) -> Iterator[int]:
    pos = text.find(needle)
    while pos != -1:
        yield pos
        pos = text.find(needle, pos + 1)
