"""JSON on the hot paths: orjson, with the standard library for what orjson refuses.

orjson parses and writes several times faster than the standard library, and every gateway call (its
body, the upstream's reply, each streamed event) and every stored span passes here. It refuses a few
things the standard library accepts (integers beyond 64 bits, NaN and Infinity, keys that are not
strings); the standard library then handles them as before, so what is accepted, forwarded and stored
does not change.
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def loads(raw: bytes) -> Any:
    """The JSON value in `raw`; `ValueError` when it is not JSON."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(raw)


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON (no ASCII escaping), as the standard library writes it with those options;
    `TypeError` for a value JSON cannot hold (the gateway forwards exactly what it was given)."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def compact_json(value: object) -> str:
    """The text stored in the attribute and event columns of spans: compact JSON, non-ASCII kept as is,
    anything JSON cannot hold as its `str` (a span may hold any value; it is stored, never refused)."""
    try:
        return orjson.dumps(value, default=str).decode("utf-8")
    except (TypeError, orjson.JSONEncodeError):
        return json.dumps(value, default=str, ensure_ascii=False, separators=(",", ":"))
