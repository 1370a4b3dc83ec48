"""The rules' word lists: a `Lexicon` finds exactly the entries a plain word-boundary search would."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from llmops.assistant.lexicon import Lexicon, Words, tokens

ENTRIES = ["outage", "is down", "production is down", "ausfall", "se ha caído", "aujourd'hui", "p1"]
LEXICON = Lexicon([*ENTRIES, "escalat*", "*störung"])
VOCABULARY = ["outage", "is", "down", "production", "ausfall", "se", "ha", "caído", "aujourd'hui", "p1", "all",
              "fine", "Outage!", "DOWN.", "escalated", "netzstörung", "störungen", "p10", "—", "\n"]  # fmt: skip


def reference(text: str) -> set[str]:
    """The entries a word-boundary regex finds in the tokenised text (the lexicon's contract)."""
    joined = " ".join(tokens(text))
    found = {
        " ".join(tokens(entry))
        for entry in ENTRIES
        if re.search(rf"(?<!\S){' '.join(tokens(entry))}(?!\S)", joined)
    }
    found |= {word for word in tokens(text) if word.startswith("escalat") or word.endswith("störung")}
    return found


@given(st.lists(st.sampled_from(VOCABULARY), max_size=12).map(" ".join))
def test_lexicon_matches_the_reference(text: str) -> None:
    expected = reference(text)
    assert set(LEXICON.found(tuple(tokens(text)))) == expected
    assert LEXICON.any(tuple(tokens(text))) == bool(expected)


def test_phrases_prefixes_suffixes_and_counts() -> None:
    words = Words.of("Production is DOWN", "Netzstörung seit heute; escalating. Outage, outage, aujourd’hui")
    assert LEXICON.found(words.subject) == ["production is down", "is down"]  # every position counts
    assert LEXICON.found(words.body) == ["netzstörung", "escalating", "outage", "aujourd hui"]
    assert LEXICON.count(words.all, cap=3) == 3
    assert not LEXICON.any(tuple(tokens("the p10 dashboard was down for maintenance")))
