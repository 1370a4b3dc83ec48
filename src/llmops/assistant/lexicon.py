"""Word lists matched on tokens: the rules' vocabulary, compiled once and matched in one pass per email.

A big `(?<!\\w)(?:a|b|…)(?!\\w)` regex tries every alternative at every character of the text; a
`Lexicon` is instead looked up once per word of an email that has already been split into `Words`
(lower-cased letter/digit runs). An entry is a word, a phrase ("production down", tokenised the same
way, so "aujourd'hui" is the phrase "aujourd hui"), a prefix ending in `*` ("escalat*") or a suffix
starting with `*` ("*ausfall", for German compounds such as "Netzwerkausfall").

Most lexicons find nothing in most emails, and the rules consult a few dozen per email: a scan first
narrows the words to the candidates (a phrase's first word, or a word with one of the prefixes or
suffixes) in C loops, and only those words are looked at one by one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property
from itertools import compress, repeat

_TOKEN = re.compile(r"[^\W_]+")


def tokens(text: str) -> list[str]:
    """Lower-cased runs of letters and digits: the unit every `Lexicon` matches."""
    return _TOKEN.findall(text.lower())


@dataclass(frozen=True)
class Words:
    """An email's subject and new text, split into tokens once for every lexicon the rules consult."""

    subject: tuple[str, ...]
    body: tuple[str, ...]

    @classmethod
    def of(cls, subject: str, body: str) -> Words:
        return cls(tuple(tokens(subject)), tuple(tokens(body)))

    @cached_property
    def all(self) -> tuple[str, ...]:
        return self.subject + self.body


class Lexicon:
    """A set of words, phrases and prefixes in any of the four languages; immutable once built."""

    def __init__(self, entries: Iterable[str]) -> None:
        phrases: dict[str, list[tuple[tuple[str, ...], str]]] = {}
        prefixes: list[str] = []
        suffixes: list[str] = []
        for entry in entries:
            if entry.endswith("*"):
                prefixes.append(entry[:-1].lower())
                continue
            if entry.startswith("*"):
                suffixes.append(entry[1:].lower())
                continue
            words = tokens(entry)
            if words:
                phrases.setdefault(words[0], []).append((tuple(words[1:]), " ".join(words)))
        for rests in phrases.values():
            rests.sort(key=lambda rest: -len(rest[0]))  # the longest phrase starting at a word wins
        self._phrases = phrases
        self._first_words = frozenset(phrases)
        self._prefixes = tuple(prefixes)
        self._suffixes = tuple(suffixes)

    def _candidates(self, words: tuple[str, ...]) -> set[str]:
        """The words that may start a match: a phrase's first word, or a word with a prefix or suffix."""
        found = set(self._first_words.intersection(words))
        if self._prefixes:
            found.update(compress(words, map(str.startswith, words, repeat(self._prefixes))))
        if self._suffixes:
            found.update(compress(words, map(str.endswith, words, repeat(self._suffixes))))
        return found

    def finditer(self, words: tuple[str, ...]) -> Iterator[tuple[int, str]]:
        """(index of the first word, entry) for every match, in text order; prefixes and suffixes name the
        word they matched."""
        candidates = self._candidates(words)
        if not candidates:
            return
        for index, word in enumerate(words):
            if word not in candidates:
                continue
            for rest, entry in self._phrases.get(word, ()):
                if words[index + 1 : index + 1 + len(rest)] == rest:
                    yield index, entry
                    break
            else:
                if (self._prefixes and word.startswith(self._prefixes)) or (
                    self._suffixes and word.endswith(self._suffixes)
                ):
                    yield index, word

    def found(self, words: tuple[str, ...]) -> list[str]:
        """Distinct entries found, first-seen order."""
        return list(dict.fromkeys(entry for _, entry in self.finditer(words)))

    def count(self, words: tuple[str, ...], cap: int) -> int:
        """How many distinct entries occur, at most `cap`."""
        return min(cap, len(self.found(words)))

    def any(self, words: tuple[str, ...]) -> bool:
        return next(self.finditer(words), None) is not None
