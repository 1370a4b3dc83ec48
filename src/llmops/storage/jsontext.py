"""The compact JSON text stored in the attribute and event columns of spans.

orjson writes it several times faster than the standard library (every span of every request passes
here); the standard library writes what orjson refuses (integers beyond 64 bits, keys that are not
strings), so any value a span may hold is stored.
"""

from __future__ import annotations

import json

import orjson


def compact_json(value: object) -> str:
    """`value` as compact JSON, non-ASCII text kept as is; anything else JSON cannot hold as its `str`."""
    try:
        return orjson.dumps(value, default=str).decode("utf-8")
    except (TypeError, orjson.JSONEncodeError):
        return json.dumps(value, default=str, ensure_ascii=False, separators=(",", ":"))
