"""The text detectors read: NFKC-folded, invisible characters removed, mapped back to the original.

Obfuscation (full-width letters, ligatures, zero-width spaces or soft hyphens inside a value) must not
hide a secret, but the stored text must not be rewritten either: detectors run on the folded view and
each finding is mapped back to the span of the original text it came from, which is what gets masked.
Characters are folded one at a time, so every change is local and the map stays exact; decimal digits of
any script become ASCII digits, so number patterns can use `[0-9]`. JSON escapes of line breaks and tabs
(`\\n`, `\\r`, `\\t`) read as a space plus the character they stand for, same length, so a value right
after an escaped newline in serialised JSON starts a token like it would in the raw text.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import lru_cache

import ahocorasick_rs

from .kinds import Hit

_INVISIBLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
    "\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0]"
)
_NON_ASCII = re.compile(r"[^\x00-\x7f]")
_NON_ASCII_DIGIT = re.compile(r"(?![0-9])\d")
# Pairs are consumed left to right, so an escaped backslash followed by "n" is not taken for "\n".
_JSON_ESCAPE = re.compile(r"\\[\\nrt]")
_UNESCAPED = {"\\\\": "\\\\", "\\n": " \n", "\\r": " \r", "\\t": " \t"}


def _unescape(match: re.Match[str]) -> str:
    return _UNESCAPED[match.group()]


def _needs_no_folding(text: str) -> bool:
    if text.isascii():
        return True
    return (
        _INVISIBLE.search(text) is None
        and _NON_ASCII_DIGIT.search(text) is None
        and unicodedata.is_normalized("NFKC", text)
    )


@lru_cache(maxsize=8192)
def _fold(char: str) -> str:
    if _INVISIBLE.match(char):
        return ""
    folded = unicodedata.normalize("NFKC", char)
    digit = unicodedata.decimal(folded, None) if len(folded) == 1 else None
    return folded if digit is None else str(digit)


class TextView:
    """`text` is what detectors scan; `to_original` maps a span of it back onto `original`."""

    __slots__ = (
        "_ends",
        "_keywords",
        "_lower",
        "_origins",
        "_shifts",
        "_starts",
        "is_short",
        "original",
        "text",
    )

    def __init__(self, original: str) -> None:
        self.original = original
        self.is_short = len(original) <= SHORT_TEXT
        self._lower: str | None = None
        self._keywords: dict[str, list[int]] | None = None
        # One entry per changed character: its span in the view, its index in the original, and the
        # original-minus-view offset that holds after it.
        self._starts: list[int] = []
        self._ends: list[int] = []
        self._origins: list[int] = []
        self._shifts: list[int] = []
        text = original if _needs_no_folding(original) else self._fold(original)
        self.text = _JSON_ESCAPE.sub(_unescape, text) if "\\" in text else text

    def _fold(self, original: str) -> str:
        parts: list[str] = []
        last = 0
        view_pos = 0
        for match in _NON_ASCII.finditer(original):
            index = match.start()
            char = match.group()
            folded = _fold(char)
            if folded == char:
                continue
            parts.append(original[last:index])
            view_pos += index - last
            parts.append(folded)
            self._starts.append(view_pos)
            view_pos += len(folded)
            self._ends.append(view_pos)
            self._origins.append(index)
            self._shifts.append(index + 1 - view_pos)
            last = index + 1
        parts.append(original[last:])
        return "".join(parts)

    @property
    def lower(self) -> str:
        """`text` lower-cased with every index unchanged, for case-insensitive keyword search."""
        if self._lower is None:
            lowered = self.text.lower()
            if len(lowered) != len(self.text):  # a few characters lower-case to two; keep those as they are
                lowered = "".join(c.lower() if len(c.lower()) == 1 else c for c in self.text)
            self._lower = lowered
        return self._lower

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """The original span covering view span `[start, end)`; partly covered characters are included."""
        if not self._starts:
            return start, end
        return self._map(start, at_end=False), self._map(end, at_end=True)

    def _map(self, pos: int, *, at_end: bool) -> int:
        before = bisect_right(self._ends, pos)
        if before < len(self._starts) and self._starts[before] < pos:
            return self._origins[before] + (1 if at_end else 0)
        return pos + (self._shifts[before - 1] if before else 0)

    def words_present(self, words: Iterable[str]) -> list[str]:
        """The lower-case `words` that occur, ignoring case; a word outside `KEYWORDS` is listed when it may
        occur (always, on long texts)."""
        found = self._keyword_index()
        return [
            word
            for word in words
            if word in found or (word not in _KEYWORD_SET and (not self.is_short or word in self.lower))
        ]

    def find_all(self, word: str) -> Iterator[int]:
        """Start of every occurrence of lower-case `word`, ignoring case."""
        if word in _KEYWORD_SET:
            yield from self._keyword_index().get(word, ())
            return
        lowered = self.lower
        if not self.is_short:
            for match in _literal(word).finditer(lowered):
                yield match.start()
            return
        pos = lowered.find(word)
        while pos != -1:
            yield pos
            pos = lowered.find(word, pos + 1)

    def _keyword_index(self) -> dict[str, list[int]]:
        """Where each of `KEYWORDS` occurs (overlaps included), from one pass over the lower-cased text."""
        if self._keywords is None:
            index: dict[str, list[int]] = {}
            for keyword, start, _ in _KEYWORD_FINDER.find(self.lower):
                index.setdefault(KEYWORDS[keyword], []).append(start)
            self._keywords = index
        return self._keywords


# Every word the detectors look up by `words_present` / `find_all` (credential field names, phone and SSN
# context words): one Aho-Corasick pass finds them all, where a search per word would read the text
# twenty-odd times. A word missing here still works, through one search of its own.
KEYWORDS = (
    "pass", "pwd", "secret", "token", "auth", "cookie", "key", "cred", "session", "bearer", "aws",
    "phon", "tel", "mobile", "cell", "fax", "call", "sms", "text", "reach", "ssn", "social security",
)  # fmt: skip
_KEYWORD_SET = frozenset(KEYWORDS)
_SURROGATE = re.compile("[\ud800-\udfff]")


class LiteralFinder:
    """Every occurrence, overlaps included, of a fixed set of ASCII literals, in one Aho-Corasick pass.

    ASCII text (most of it) is searched as bytes, where offsets are indexes already, about twice as fast
    as a `str`, which the automaton reads as UTF-8. A lone surrogate (valid in a Python string, e.g. from
    JSON, but not in UTF-8) is read as U+FFFD, one character for one, so every index stays the same and
    no ASCII literal can appear or vanish.
    """

    def __init__(self, literals: Sequence[str]) -> None:
        self.literals = tuple(literals)
        self._text = ahocorasick_rs.AhoCorasick(self.literals)
        self._bytes = ahocorasick_rs.BytesAhoCorasick([literal.encode("ascii") for literal in self.literals])

    def find(self, text: str) -> list[tuple[int, int, int]]:
        """(literal index, start, end) of every occurrence."""
        if text.isascii():
            return self._bytes.find_matches_as_indexes(text.encode("ascii"), overlapping=True)
        try:
            return self._text.find_matches_as_indexes(text, overlapping=True)
        except UnicodeEncodeError:
            return self._text.find_matches_as_indexes(_SURROGATE.sub("\ufffd", text), overlapping=True)


_KEYWORD_FINDER = LiteralFinder(KEYWORDS)


# Up to this length a detector first tests for its literal with `in` (cheaper than a pattern call); on
# longer texts it goes straight to the pattern, whose literal search outruns `in` and `str.find`.
SHORT_TEXT = 4096


@lru_cache(maxsize=256)
def _literal(word: str) -> re.Pattern[str]:
    return re.compile(re.escape(word))


Detector = Callable[[TextView], Iterator[Hit]]
