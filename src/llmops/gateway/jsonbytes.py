"""JSON bytes in and out of the gateway's hot path: orjson, with the standard library for what it refuses.

Every call parses the client's body and the upstream's reply (a streamed one event by event) and
writes the body it forwards; orjson does each several times faster. It refuses a few things the
standard library accepts (integers beyond 64 bits, NaN and Infinity), which the standard library
then handles as before, so what the gateway accepts and forwards does not change.
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
    """Compact UTF-8 JSON (no ASCII escaping), as the standard library writes it with those options."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
