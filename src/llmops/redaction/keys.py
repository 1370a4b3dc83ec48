"""Which field names hold credentials: shared by `key: value` text detection and dict keys.

A name whose last word says it is a credential (`password`, `client_secret`, `x-api-key`) masks any
non-empty value. A name that only may be one (`token`, `key`, `session_id`, `password_hash`) masks a
value only when it looks random, so `token: 123` or `key: name` stay readable.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import NamedTuple

from .kinds import PLACEHOLDER, Kind
from .validators import looks_random

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_WORD_SPLIT = re.compile(r"[^a-z0-9]+")
_AWS_SECRET_SHAPE = re.compile(r"[A-Za-z0-9/+]{40}")

_HEADERS = {
    "authorization": Kind.AUTHORIZATION,
    "proxy_authorization": Kind.AUTHORIZATION,
    "cookie": Kind.COOKIE,
    "set_cookie": Kind.COOKIE,
}
_PASSWORD_WORDS = frozenset({"password", "passwd", "passphrase"})
_SECRET_WORDS = frozenset(
    {"secret", "secrets", "apikey", "privatekey", "secretkey", "clientsecret", "accesstoken", "refreshtoken",
     "authtoken", "sessiontoken", "cookie", "cookies"}
)  # fmt: skip
_SECRET_PAIRS = frozenset(
    {("api", "key"), ("private", "key"), ("secret", "key"), ("access", "key"), ("client", "secret"),
     ("access", "token"), ("refresh", "token"), ("auth", "token"), ("session", "token"), ("bearer", "token")}
)  # fmt: skip
_MAYBE_WORDS = frozenset(
    {"token", "key", "auth", "pass", "pwd", "credential", "credentials", "creds", "session", "sessionid",
     "sid", "signature", "sig"}
)  # fmt: skip
_MAYBE_PAIRS = frozenset({("session", "id")})
_NOT_A_VALUE = frozenset({"", "null", "none", "nil", "undefined", "true", "false"})


class KeyClass(NamedTuple):
    kind: Kind
    strict: bool  # mask any non-empty value, not only random-looking ones
    header: bool  # an HTTP header whose value runs to the end of the line
    aws: bool  # an AWS credential name: a 40-character secret under it is an AWS secret key


@lru_cache(maxsize=4096)
def classify_key(key: str) -> KeyClass | None:
    """The credential class of a field name, or None for an ordinary field."""
    words = [word for word in _WORD_SPLIT.split(_CAMEL.sub("_", key).lower()) if word]
    if not words:
        return None
    joined = "_".join(words)
    aws = "aws" in words or ("secret" in words and "access" in words)
    if joined in _HEADERS:
        return KeyClass(_HEADERS[joined], strict=True, header=True, aws=False)
    last, pair = words[-1], tuple(words[-2:])
    kind = Kind.PASSWORD if last in _PASSWORD_WORDS or last in ("pass", "pwd") else Kind.SECRET
    if last in _PASSWORD_WORDS or last in _SECRET_WORDS or pair in _SECRET_PAIRS:
        kind = Kind.COOKIE if last in ("cookie", "cookies") else kind
        return KeyClass(kind, strict=True, header=False, aws=aws)
    if last in _MAYBE_WORDS or pair in _MAYBE_PAIRS:
        return KeyClass(kind, strict=False, header=False, aws=aws)
    if any(word in _PASSWORD_WORDS for word in words):
        return KeyClass(Kind.PASSWORD, strict=False, header=False, aws=aws)
    if any(word in _SECRET_WORDS for word in words):
        return KeyClass(Kind.SECRET, strict=False, header=False, aws=aws)
    return None


def value_kind(key_class: KeyClass, value: str) -> Kind | None:
    """The kind to mask `value` under a credential key as, or None when it should stay."""
    stripped = value.strip()
    if stripped.lower() in _NOT_A_VALUE or PLACEHOLDER.fullmatch(stripped) or set(stripped) == {"*"}:
        return None
    if not key_class.strict and not looks_random(stripped):
        return None
    if key_class.aws and _AWS_SECRET_SHAPE.fullmatch(stripped):
        return Kind.AWS_SECRET_KEY
    return key_class.kind
