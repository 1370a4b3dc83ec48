"""Generic secrets: a random-looking token that no key name, prefix or format announces.

A password pasted as an email subject (`Subject: hG7$kq9!Zp2@Lw`) or a 40-character random string on its
own has nothing around it to say what it is, so it is judged by its shape alone, on two rules:

* symbolic: at least 10 characters holding lower case, upper case, a digit and a symbol a password
  generator uses (`!#$%&*+=?@^~`); identifiers join their parts with `-_./:` instead, so those do not
  count, nor does a leading `@`/`#` (a mention, a tag) or sentence punctuation at the end;
* long: at least 32 characters of the base64 alphabet holding all three of lower case, upper case and
  digits that change class often and hold few lower-case runs, as random characters do (a long camelCase
  name is mostly words); hex is left alone, so hashes, trace and span ids and UUIDs stay readable.

This detector runs last and only reads what the other detectors left: an email or a phone number inside
a token keeps its own kind, and the rest of the token is judged on its own.
"""

from __future__ import annotations

import base64
import re
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from functools import lru_cache
from itertools import compress, filterfalse, pairwise

from .kinds import Hit, Kind
from .textview import TextView

_TOKEN = r"A-Za-z0-9!#$%&*+\-./:=?@^_~"  # noqa: S105 - a character class, not a password
_NO_UPPER = _TOKEN.replace("A-Z", "")
_NO_LOWER = _TOKEN.replace("a-z", "")
_NO_DIGIT = _TOKEN.replace("0-9", "")
# A token is a run of the characters above within a word (quotes, brackets, commas and non-ASCII end it).
# The lookaheads, each over a class without the character it looks for so they cannot backtrack, keep
# only tokens of ten characters or more with lower case, upper case and a digit.
# A token does not start right after a backslash: in serialised JSON that is the inside of an escape
# (`\u00e9`), and masking from there would break the JSON; after a whole `\uXXXX` it may start.
_CANDIDATE = re.compile(
    rf"(?:(?<![{_TOKEN}\\])|(?<=\\u[0-9a-fA-F]{{4}}))(?=[{_TOKEN}]{{10}})(?=[{_NO_UPPER}]*[A-Z])(?=[{_NO_LOWER}]*[a-z])(?=[{_NO_DIGIT}]*[0-9])"
    rf"[{_TOKEN}]+"
)
MIN_SYMBOLIC = 10
MIN_LONG = 32
_AT_LEAST_MIN = MIN_SYMBOLIC - 1
_SYMBOLS = frozenset("!#$%&*+=?@^~")
_SENTENCE_END = ".,:;"
# A field name glued to its value ("Subject:hG7$…", "model=SmolLM2-135M", "p95_latency_ms=None"): only the
# value is judged. The name must read as one (`model`, `apiKey`, `LOG_LEVEL`: it seldom changes between
# lower case, upper case and digits), not as the start of a random value ("bU7=…").
_KEY_PREFIX = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*[:=]+")
_MAX_KEY_CHANGES = 0.5
# `[^a-zA-Z0-9_]`: a character class in code (a stack trace, a config), not a password.
_CHARACTER_RANGE = re.compile(r"a-z|A-Z|0-9")
# `1.4.2+Build7`, `V2.0.0-rc.1+exp.sha.5114f85`: a semantic version, its build metadata after "+".
_VERSION = re.compile(r"[vV]?[0-9]+(?:\.[0-9]+){1,3}(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?")
# `=?utf-8?q?J=C3=BCrgen?=`: an RFC 2047 encoded word (a name or subject in a mail header), not a password.
_ENCODED_WORD = re.compile(r"=\?[A-Za-z0-9_-]+\?[BbQq]\?[^?\s]*\?=")
# `a=1&b=Two%202`: parameters of a URL, not a password.
_QUERY_STRING = re.compile(r"[\w.-]+=[\w.+%-]+(?:&[\w.-]+=[\w.+%-]+)+")
_BASE64 = re.compile(r"[A-Za-z0-9+/_-]+=*")
_HEX = re.compile(r"[0-9a-fA-F-]+")
# Random base62 changes character class at ~62% of positions (under 30% about once in 10^5); a long name
# made of words (`getUserAccountBalanceForQuarter2024Q3`) has most of its characters in runs of three or
# more lower-case letters, random base62 at most about half (over 60% about once in 10^4).
_MIN_CLASS_CHANGES = 0.3
_WORD_RUN = re.compile(r"[a-z]{3,}")
_MAX_WORDY = 0.6
_MAX_WORDY_IN_PARTS = 0.4
# A value whose only symbol opens or ends it ("9lHD0NO1E5!") must look random: "@MeiChen1999" and
# "SmolLM2-135M-Instruct!" do not.
_MIN_EDGE_SYMBOL_CHANGES = 0.5


def scan_random_tokens(view: TextView, covered: Sequence[Hit] = ()) -> list[Hit]:
    """Random-looking tokens in `view`, leaving out the spans in `covered` (sorted, non-overlapping).

    A pattern tried at every position would cost as much as a detector; instead the text is split on
    white space and only words of ten characters or more with upper and lower case (few are: not prose,
    numbers, hex ids or timestamps) are judged, each distinct word once (cached). The filters are C
    callables chained with itertools, so the words that fail them never reach Python code.
    """
    text = view.text
    words = text.split()
    long_words = compress(words, map(_AT_LEAST_MIN.__lt__, map(len, words)))
    hits: list[Hit] = []
    starts: list[int] | None = None
    cursor = 0
    for word in filterfalse(str.isupper, filterfalse(str.islower, long_words)):
        found = _secrets_in_word(word)
        if not found:
            continue
        offset = _word_position(text, word, cursor)
        cursor = offset + len(word)
        if starts is None:
            starts = [hit.start for hit in covered]
        for token_start, token_end, span_start, span_end in found:
            start, end = offset + token_start, offset + token_end
            index = bisect_left(starts, end)  # findings that start before the token ends
            if index and covered[index - 1].end > start:
                hits.extend(_pieces(text, start, end, covered, index))
            else:
                hits.append(Hit(start + span_start, start + span_end, Kind.SECRET))
    return hits


def _word_position(text: str, word: str, cursor: int) -> int:
    """Where the white-space-delimited `word` next occurs at or after `cursor` (not inside a longer word)."""
    start = text.find(word, cursor)
    while start >= 0 and (
        (start > 0 and not text[start - 1].isspace())
        or (start + len(word) < len(text) and not text[start + len(word)].isspace())
    ):
        start = text.find(word, start + 1)
    if start < 0:  # cannot happen for a word of `text.split()`; fail closed if it does
        raise LookupError(word)
    return start


@lru_cache(maxsize=4096)
def _secrets_in_word(word: str) -> tuple[tuple[int, int, int, int], ...]:
    """(token start, token end, secret start, secret end within the token) for each secret token in `word`."""
    found = []
    for match in _CANDIDATE.finditer(word):
        span = judge(match.group())
        if span is not None:
            found.append((*match.span(), *span))
    return tuple(found)


def _pieces(text: str, start: int, end: int, covered: Sequence[Hit], index: int) -> Iterator[Hit]:
    """The parts of a token that other findings left, each judged on its own."""
    first = index
    while first and covered[first - 1].end > start:
        first -= 1
    cursor = start
    for hit in covered[first:index]:
        if hit.start > cursor:
            yield from _judged(text, cursor, hit.start)
        cursor = max(cursor, hit.end)
    if cursor < end:
        yield from _judged(text, cursor, end)


def _judged(text: str, start: int, end: int) -> Iterator[Hit]:
    span = judge(text[start:end])
    if span is not None:
        yield Hit(start + span[0], start + span[1], Kind.SECRET)


@lru_cache(maxsize=4096)
def judge(token: str) -> tuple[int, int] | None:
    """The span of `token` that is a random-looking secret, or None. Tokens repeat, so this is cached."""
    if "://" in token or _ENCODED_WORD.search(token) or _CHARACTER_RANGE.search(token):
        return None  # URLs (their passwords have detectors), mail header words, code
    start, end = 0, len(token)
    key = _KEY_PREFIX.match(token)
    if key is not None and key.end() < end and _reads_as_words(key.group()):
        start = key.end()
    if end - start < MIN_SYMBOLIC:
        return None
    while end > start and token[end - 1] in _SENTENCE_END:  # punctuation after the token stays readable
        end -= 1
    value = token[start:end]
    if not _has_three_classes(value):
        return None
    # Symbols that also open a mention or a tag, or end a sentence, only count in a random-looking value.
    # Base64 padding is no symbol either.
    unpadded = value.rstrip("=") if len(value) % 4 == 0 and _BASE64.fullmatch(value) else value
    core = unpadded[1:] if unpadded[0] in "@#" and unpadded[1].isalpha() else unpadded
    core = core.rstrip("!?")
    if any(char in _SYMBOLS for char in core):
        if _QUERY_STRING.fullmatch(token, 0, end) or _VERSION.fullmatch(value):
            return None
        return start, end
    if any(char in _SYMBOLS for char in unpadded):
        return (start, end) if class_change_rate(core) >= _MIN_EDGE_SYMBOL_CHANGES else None
    if len(value) >= MIN_LONG and _BASE64.fullmatch(value) and not _HEX.fullmatch(value):
        return (start, end) if _looks_generated(value) else None
    return None


def _looks_generated(value: str) -> bool:
    """Random characters, not a long name: few long lower-case runs (words) and frequent class changes.

    Base64 that decodes to text with spaces is an encoded message, not a key (a key decodes to bytes).
    """
    if _encodes_prose(value):
        return False
    wordy = sum(map(len, _WORD_RUN.findall(value))) / len(value)
    if sum(value.count(separator) for separator in "-_./") >= 2:  # a name in parts ("Foo-Bar_v2.gguf")
        return wordy < _MAX_WORDY_IN_PARTS and class_change_rate(value) >= _MIN_CLASS_CHANGES
    return wordy < _MAX_WORDY and class_change_rate(value) >= _MIN_CLASS_CHANGES


def _encodes_prose(value: str) -> bool:
    if len(value) % 4:
        return False
    try:
        decoded = base64.b64decode(
            value, altchars=b"-_" if "-" in value or "_" in value else None, validate=True
        )
    except ValueError:
        return False
    printable = sum(32 <= byte < 127 or byte in (9, 10, 13) for byte in decoded)
    return b" " in decoded and printable >= 0.95 * len(decoded)


def _reads_as_words(key: str) -> bool:
    name = key.rstrip(":=")
    return len(name) > 1 and class_change_rate(name) <= _MAX_KEY_CHANGES


def _has_three_classes(value: str) -> bool:
    return (
        any("a" <= c <= "z" for c in value)
        and any("A" <= c <= "Z" for c in value)
        and any("0" <= c <= "9" for c in value)
    )


def _char_class(char: str) -> int:
    if "a" <= char <= "z":
        return 0
    if "A" <= char <= "Z":
        return 1
    return 2 if "0" <= char <= "9" else 3


def class_change_rate(value: str) -> float:
    """Share of neighbouring letters and digits (other characters skipped) that differ in class."""
    classes = [kind for kind in map(_char_class, value) if kind != 3]
    if len(classes) < 2:
        return 0.0
    changes = sum(1 for a, b in pairwise(classes) if a != b)
    return changes / (len(classes) - 1)
