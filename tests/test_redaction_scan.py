"""The one-pass keyword and key-prefix scans (Aho-Corasick) find exactly what a search per word and a
`finditer` per key format find, on text built to be full of near misses (lone surrogates included: the
automaton reads UTF-8, a Python string need not be valid UTF-8)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from llmops.redaction import credentials, pii
from llmops.redaction.kinds import Hit
from llmops.redaction.textview import KEYWORDS, TextView

_FRAGMENTS = [
    *KEYWORDS,
    *(needle for key_format in credentials._KEY_FORMATS for needle in key_format.needles),
    "sk-ant-api03-", "AKIAIOSFODNN7EXAMPLE", "ghp_", "xoxb-1234567890-", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIx",
    "TELEPHONE", "Tokens", "token:", "Bearer ", "aws_secret", "Social Security", "SSN ", "ſms", "İ",
    "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8", "0123456789abcdef", "=", ":", "-", "_", ".", " ", "\n", "é", "\ud800",
]  # fmt: skip
_TEXTS = st.lists(st.sampled_from(_FRAGMENTS) | st.text(max_size=6), max_size=60).map("".join)


def test_every_word_a_detector_looks_up_is_a_keyword() -> None:
    looked_up = {*credentials._ASSIGNMENT_WORDS, "bearer", "aws", *pii._PHONE_WORDS, "ssn", "social security"}
    assert looked_up <= set(KEYWORDS)


@settings(max_examples=300, deadline=None)
@given(_TEXTS, st.booleans())
def test_keyword_positions_are_those_of_a_search_per_word(text: str, long: bool) -> None:
    view = TextView(text * 200 if long else text)
    lowered = view.lower
    for word in KEYWORDS:
        expected = []
        pos = lowered.find(word)
        while pos != -1:
            expected.append(pos)
            pos = lowered.find(word, pos + 1)
        assert list(view.find_all(word)) == expected, word
        assert (word in view.words_present([word])) == bool(expected), word


def _finditer_hits(view: TextView) -> list[Hit]:
    """Each key format's pattern over the whole text, as the scan did before the one-pass prefix search."""
    hits = []
    for key_format in credentials._KEY_FORMATS:
        for match in key_format.pattern.finditer(view.text):
            body_from = key_format.random_body_from
            if body_from is not None and sum(credentials.char_classes(match.group()[body_from:])) < 2:
                continue
            hits.append(Hit(match.start(), match.end(), key_format.kind))
    return hits


@settings(max_examples=300, deadline=None)
@given(_TEXTS)
def test_key_formats_are_found_where_finditer_finds_them(text: str) -> None:
    view = TextView(text)
    assert sorted(credentials.scan_key_formats(view)) == sorted(_finditer_hits(view))
