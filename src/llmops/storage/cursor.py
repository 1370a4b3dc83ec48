"""Keyset pagination cursors over (created_at, id): opaque to clients, checked when they come back."""

from __future__ import annotations

import base64
import json
from datetime import datetime

from llmops.storage.timeutil import utc


class CursorError(ValueError):
    """A pagination cursor this service did not produce."""


def encode_cursor(created_at: datetime, row_id: int) -> str:
    raw = json.dumps([utc(created_at).isoformat(), row_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created, row_id = json.loads(raw)
        if not isinstance(row_id, int) or isinstance(row_id, bool):
            raise TypeError
        return utc(datetime.fromisoformat(created)), row_id
    except (ValueError, TypeError):
        raise CursorError("invalid cursor: pass back the next_cursor of a previous page") from None
