"""Two measures of written text that a small model gets wrong: looping and copying.

`repetition_ratio` is the share of a text's word trigrams that repeat an earlier one: 0 for prose that
never repeats itself, near 1 for "I'm going to roll them back…" written twelve times. `copy_ratio` is the
share of a text's word 5-grams found verbatim in the source (the email): near 1 for a summary that
pastes the body's sentences, low for one that says the same in other words or quotes a short phrase.
Both are language-agnostic (Unicode words, case-folded). The pipeline uses them to decide whether the
model's text is kept, and the eval scorers report them.
"""

from __future__ import annotations

import re

MAX_REPETITION = 0.2
MAX_COPY = 0.6
_WORD = re.compile(r"\w+")


def _words(text: str) -> list[str]:
    return _WORD.findall(text.casefold())


def _ngrams(words: list[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(words[index : index + n]) for index in range(len(words) - n + 1)]


def repetition_ratio(text: str) -> float:
    """Share of word trigrams that already occurred earlier in the text (0 when it has fewer than 2)."""
    grams = _ngrams(_words(text), 3)
    if len(grams) < 2:
        return 0.0
    return 1.0 - len(set(grams)) / len(grams)


def copy_ratio(text: str, source: str) -> float:
    """Share of the text's word 5-grams that appear verbatim in `source` (0 when it has none)."""
    grams = _ngrams(_words(text), 5)
    if not grams:
        return 0.0
    present = set(_ngrams(_words(source), 5))
    return sum(gram in present for gram in grams) / len(grams)


def usable(text: str, source: str) -> bool:
    """Non-empty text that neither loops nor copies the source."""
    return (
        bool(text.strip())
        and repetition_ratio(text) <= MAX_REPETITION
        and copy_ratio(text, source) <= MAX_COPY
    )
