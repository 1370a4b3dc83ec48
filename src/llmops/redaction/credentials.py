"""Credential detectors: vendor key formats, JWTs, PEM private keys, URL passwords, auth headers, assignments.

Vendor formats are found by their literal prefix (gitleaks-style rules): one Aho-Corasick pass finds every
prefix, and a format's pattern runs only where its prefix is; a prefix that ordinary words could carry
(`sk-`, `hf_`) also needs a random-looking body. Assignments (`password=…`, `"api_key": "…"`,
`Authorization: …`) are found from a keyword and judged by `keys.classify_key`.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterator
from typing import NamedTuple

from .keys import classify_key, value_kind
from .kinds import PLACEHOLDER, Hit, Kind
from .textview import Detector, LiteralFinder, TextView
from .validators import char_classes, looks_random


class _KeyFormat(NamedTuple):
    kind: Kind
    needles: tuple[str, ...]  # literals every match starts with: the pattern is tried only where one is
    pattern: re.Pattern[str]
    random_body_from: int | None  # index in the match where a body that must look random starts


def _key_format(
    kind: Kind, prefix: str, body: str, *, needles: tuple[str, ...] = (), random_body: bool = False
) -> _KeyFormat:
    pattern = re.compile(f"{prefix}(?<![A-Za-z0-9]{prefix}){body}")
    literal = prefix.replace("\\", "")
    return _KeyFormat(kind, needles or (literal,), pattern, len(literal) if random_body else None)


_KEY_FORMATS: tuple[_KeyFormat, ...] = (
    _key_format(Kind.ANTHROPIC_KEY, "sk-ant-", r"[A-Za-z0-9_-]{20,}"),
    _key_format(
        Kind.OPENAI_KEY, "sk-", r"(?!ant-)(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}", random_body=True
    ),
    _key_format(
        Kind.AWS_ACCESS_KEY,
        "A(?:KIA|SIA|BIA|CCA)",
        r"[A-Z0-9]{16,}",
        needles=("AKIA", "ASIA", "ABIA", "ACCA"),
    ),
    _key_format(
        Kind.GITHUB_TOKEN, "gh[pousr]_", r"[A-Za-z0-9]{30,}", needles=("ghp_", "gho_", "ghu_", "ghs_", "ghr_")
    ),
    _key_format(Kind.GITHUB_TOKEN, "github_pat_", r"[A-Za-z0-9_]{40,}"),
    _key_format(Kind.GITLAB_TOKEN, "glpat-", r"[A-Za-z0-9_-]{20,}"),
    _key_format(Kind.SLACK_TOKEN, "xox[abeoprs]-", r"[A-Za-z0-9-]{10,}", needles=("xox",)),
    _key_format(Kind.SLACK_TOKEN, "xapp-", r"\d-[A-Za-z0-9-]{10,}"),
    _key_format(
        Kind.SLACK_WEBHOOK,
        r"https://hooks\.slack\.com/",
        r"(?:services|workflows|triggers)/[A-Za-z0-9/_+-]{20,}",
    ),
    _key_format(Kind.STRIPE_KEY, "sk_(?:live|test)_", r"[A-Za-z0-9]{10,}", needles=("sk_live_", "sk_test_")),
    _key_format(Kind.STRIPE_KEY, "rk_(?:live|test)_", r"[A-Za-z0-9]{10,}", needles=("rk_live_", "rk_test_")),
    _key_format(Kind.STRIPE_KEY, "whsec_", r"[A-Za-z0-9]{20,}"),
    _key_format(Kind.GOOGLE_API_KEY, "AIza", r"[0-9A-Za-z_-]{35,}"),
    _key_format(Kind.HUGGINGFACE_TOKEN, "hf_", r"[A-Za-z0-9]{30,}", random_body=True),
    _key_format(Kind.SENDGRID_KEY, r"SG\.", r"[A-Za-z0-9_-]{16,32}\.[A-Za-z0-9_-]{16,64}"),
    _key_format(Kind.TWILIO_KEY, "SK", r"[0-9a-fA-F]{32}(?![0-9A-Za-z])", random_body=True),
    _key_format(Kind.NPM_TOKEN, "npm_", r"[A-Za-z0-9]{36,}"),
    _key_format(Kind.PYPI_TOKEN, "pypi-", r"Ag[A-Za-z0-9_-]{50,}"),
    _key_format(Kind.LLMOPS_KEY, "llmops_", r"[A-Za-z0-9_-]{43,}", random_body=True),
    # A JWT cut short is still a token: the payload alone carries the claims, so the signature is optional
    # and the segments may be joined by a run of dots or an ellipsis (raw or JSON-escaped) where a log or
    # a page shortened them.
    _key_format(
        Kind.JWT,
        "eyJ",
        r"[A-Za-z0-9_-]{5,}(?:\.{1,4}|…|\\u2026)eyJ[A-Za-z0-9_-]{5,}(?:(?:\.{1,4}|…|\\u2026)[A-Za-z0-9_-]*)?",
    ),
)


_NEEDLES = tuple(sorted({needle for key_format in _KEY_FORMATS for needle in key_format.needles}))
_NEEDLE_FINDER = LiteralFinder(_NEEDLES)


def scan_key_formats(view: TextView) -> Iterator[Hit]:
    """Every needle is found in one Aho-Corasick pass; a format's pattern is then matched only where one
    of its needles starts, left to right and past its last match, as `finditer` would."""
    text = view.text
    starts: dict[str, list[int]] = {}
    for needle, start, _ in _NEEDLE_FINDER.find(text):
        starts.setdefault(_NEEDLES[needle], []).append(start)
    if not starts:
        return
    for key_format in _KEY_FORMATS:
        positions = [pos for needle in key_format.needles for pos in starts.get(needle, ())]
        if len(key_format.needles) > 1:
            positions.sort()
        end = 0
        for pos in positions:
            if pos < end:
                continue
            match = key_format.pattern.match(text, pos)
            if match is None:
                continue
            end = match.end()
            body_from = key_format.random_body_from
            if body_from is not None and sum(char_classes(match.group()[body_from:])) < 2:
                continue
            yield Hit(match.start(), match.end(), key_format.kind)


# A key block without its END line (a truncated log) is masked to the end of the text: fail closed.
_PEM_PRIVATE_KEY = re.compile(
    r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----.*?(?:-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|\Z)",
    re.DOTALL,
)


def scan_private_keys(view: TextView) -> Iterator[Hit]:
    if view.is_short and "PRIVATE KEY" not in view.text:
        return
    for match in _PEM_PRIVATE_KEY.finditer(view.text):
        yield Hit(match.start(), match.end(), Kind.PRIVATE_KEY)


# The password runs to the "@" that a host follows, so raw "@" or "/" inside it (malformed, but common)
# are still covered; it is bounded so a long token with no "@" stays linear.
_URL_USERINFO = re.compile(
    r"://[^\s:/?#@\"'<>\[\]]*:(?P<password>[^\s\"'<>]{1,256}?)@(?=[\w.\[\]:%-]+(?:[/?#\s\"'<>,;)]|\Z))"
)


# The same userinfo without its scheme, as when a URL is cut or quoted in prose
# ("admin:S3cret!@db.internal.example:5432"): the host must be a dotted name, and the password must not
# be plain letters, so "mailto:jane@example.com" style text is left to the email detector.
#
# It is read from each "@" backwards, not by a pattern tried at every position of the text: the password
# holds no ":", so it starts after the last ":" before the "@" (at most 256 characters back), and the user
# name is the run of name characters before that ":".
_BARE_PASSWORD = re.compile(r"[^\s:/?#@\"'<>]{4,256}")
_BARE_USER_BEFORE_COLON = re.compile(r"(?<![\w.%+/:-])[\w.%+-]{1,64}\Z")
_BARE_HOST = re.compile(r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+(?:[:/?#\s\"'<>,;)]|\Z)")


def _bare_userinfo_passwords(text: str) -> Iterator[tuple[int, int]]:
    """Spans of the passwords in `user:password@host.name` without a scheme."""
    at = text.find("@")
    while at != -1:
        colon = text.rfind(":", max(0, at - 257), at)
        if (
            colon > 0
            and _BARE_PASSWORD.fullmatch(text, colon + 1, at)
            and _BARE_HOST.match(text, at + 1)
            and _BARE_USER_BEFORE_COLON.search(text, max(0, colon - 64), colon)
        ):
            yield colon + 1, at
        at = text.find("@", at + 1)


def scan_url_passwords(view: TextView) -> Iterator[Hit]:
    """`scheme://user:password@host`, with or without the scheme: only the password goes."""
    text = view.text
    if view.is_short and "@" not in text:
        return
    for match in _URL_USERINFO.finditer(text):
        if not PLACEHOLDER.fullmatch(match["password"]):
            yield Hit(match.start("password"), match.end("password"), Kind.PASSWORD)
    for start, end in _bare_userinfo_passwords(text):
        password = text[start:end]
        if not PLACEHOLDER.fullmatch(password) and not password.isalpha():
            yield Hit(start, end, Kind.PASSWORD)


# "Bearer" also starts ordinary phrases ("the bearer instrument"): the token must look random.
_BEARER = re.compile(r"bearer[ \t]+(?P<token>[A-Za-z0-9._~+/-]{8,}=*)", re.IGNORECASE)


def scan_bearer_tokens(view: TextView) -> Iterator[Hit]:
    text = view.text
    if not view.words_present(("bearer",)):
        return
    for pos in view.find_all("bearer"):
        if pos and text[pos - 1].isalnum():
            continue
        match = _BEARER.match(text, pos)
        if match and looks_random(match["token"]) and not PLACEHOLDER.match(text, match.start("token")):
            yield Hit(match.start("token"), match.end("token"), Kind.AUTHORIZATION)


_AWS_SECRET_CONTEXT = re.compile(
    r"aws[\w .:=\"'-]{0,40}?secret[\w .:=\"'-]{0,40}?"
    r"(?<![A-Za-z0-9/+])(?P<secret>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])",
    re.IGNORECASE,
)


def scan_aws_secrets(view: TextView) -> Iterator[Hit]:
    """A 40-character AWS secret access key is only recognisable next to words that name it."""
    if not view.words_present(("aws",)):
        return
    for pos in view.find_all("aws"):
        match = _AWS_SECRET_CONTEXT.match(view.text, pos)
        if match and all(char_classes(match["secret"])):
            yield Hit(match.start("secret"), match.end("secret"), Kind.AWS_SECRET_KEY)


# Words that appear in credential field names; `classify_key` decides on the whole name. A word marked True
# only matters where it ends a word: "tokens" or "keyboard" cannot name a credential, and any other
# credential word in the same name is found on its own. This keeps LLM telemetry's many `*_tokens`
# fields off the slow path.
_ASSIGNMENT_WORDS: dict[str, bool] = {
    "pass": False, "pwd": False, "secret": False, "token": True, "auth": False, "cookie": False,
    "key": True, "cred": False, "session": False,
}  # fmt: skip
_KEY_CHARS = frozenset(string.ascii_letters + string.digits + "_.-")
_ASSIGNMENT_TAIL = re.compile(
    r"""
    (?P<key>[A-Za-z0-9_.-]{0,64})
    (?:\\?["'])?                                   # the closing quote of a quoted key
    [\ \t]*(?:=>|[:=])[\ \t]*
    (?:
        \\"(?P<escaped>(?:[^"\\\r\n]|\\\\){0,4096})\\"    # inside JSON that is itself in a JSON string
      | "(?P<double>(?:[^"\\\r\n]|\\.){0,4096})"
      | '(?P<single>[^'\r\n]{0,4096})'
      | (?P<bare>[^\s"'<>,;&)}\]\\]{1,4096})
    )
    """,
    re.VERBOSE,
)
# `<password>…</password>` (XML, SOAP, config files): the element's text, attributes allowed on the tag.
_ELEMENT_TAIL = re.compile(
    r"(?P<key>[A-Za-z0-9_.-]{1,64})(?:[\ \t][^<>\r\n]{0,256})?>(?P<element>[^<\r\n]{1,4096})<"
)
# `--password hunter2` (a command line quoted in a ticket or a log); `--password=…` is an assignment.
_FLAG_TAIL = re.compile(
    r"""(?P<key>[A-Za-z0-9_.-]{1,64})[\ \t]+
    (?:"(?P<double>(?:[^"\\\r\n]|\\.){1,4096})"|'(?P<single>[^'\r\n]{1,4096})'|(?P<bare>[^\s"'<>;&|`-][^\s"'<>;&|`]{0,4095}))""",
    re.VERBOSE,
)
# Values are matched in bounded steps so a pathological line stays linear; a longer bare value is then
# followed to its end.
_MAX_VALUE = 4096
_BARE_END = re.compile(r"[\s\"'<>,;&)}\]\\]")
# A header value runs to the end of its line, or of the (possibly escaped) JSON string it sits in.
_HEADER_END = re.compile(r"[\r\n\"]|\\[\"\\]")


def scan_assignments(view: TextView) -> Iterator[Hit]:
    """`password=…`, `"api_key": "…"`, `Authorization: Bearer …`, `Cookie: …` and their kin."""
    text = view.text
    lower = view.lower
    positions: list[int] = []
    for word in view.words_present(_ASSIGNMENT_WORDS):
        must_end_word = _ASSIGNMENT_WORDS[word]
        for pos in view.find_all(word):
            after = pos + len(word)
            if not (must_end_word and after < len(lower) and "a" <= lower[after] <= "z"):
                positions.append(pos)
    covered = 0  # keywords inside a value already found ("password=password=…") are not keys
    for pos in sorted(positions):
        if pos < covered:
            continue
        key_start = _key_start(text, pos)
        match = _ASSIGNMENT_TAIL.match(text, pos) or _tagged_value(text, key_start)
        if match is None:
            continue
        hit = _assignment_hit(text, match, text[key_start : match.end("key")])
        if hit is not None:
            covered = hit.end
            yield hit


def _tagged_value(text: str, key_start: int) -> re.Match[str] | None:
    """The value of an XML element or a command-line flag whose name starts at `key_start`."""
    if key_start >= 1 and text[key_start - 1] == "<":
        return _ELEMENT_TAIL.match(text, key_start)
    if text.startswith("--", key_start):  # field names may hold "-", so the dashes open the name
        return _FLAG_TAIL.match(text, key_start + 2)
    return None


def _key_start(text: str, pos: int) -> int:
    """Start of the field name around `pos` (a name is at most 64 characters of `[A-Za-z0-9_.-]`)."""
    start = pos
    while start > 0 and text[start - 1] in _KEY_CHARS and pos - start < 64:
        start -= 1
    return start


def _assignment_hit(text: str, match: re.Match[str], key: str) -> Hit | None:
    key_class = classify_key(key)
    if key_class is None:
        return None
    group = next(name for name, value in match.groupdict().items() if name != "key" and value is not None)
    start, end = match.span(group)
    if PLACEHOLDER.match(text, start):  # already masked: keep redaction idempotent
        return None
    if group == "bare" and end - start == _MAX_VALUE:
        stop = _BARE_END.search(text, end)
        end = stop.start() if stop else len(text)
    if group == "bare" and key_class.header:
        stop = _HEADER_END.search(text, start)
        end = stop.start() if stop else len(text)
        while end > start and text[end - 1] in " \t":
            end -= 1
    kind = value_kind(key_class, text[start:end])
    return None if kind is None else Hit(start, end, kind)


DETECTORS: tuple[Detector, ...] = (
    scan_private_keys,
    scan_key_formats,
    scan_url_passwords,
    scan_bearer_tokens,
    scan_aws_secrets,
    scan_assignments,
)
