"""Query parameters shared by the dashboard's pages and its JSON API: the filters and the window.

The window speaks the reports' one vocabulary (`30m`, `24h`, `7d`, `all`, as `llmops report --since`);
the pages offer `RANGE_CHOICES`. A value that does not parse is refused with 422, never guessed."""

from __future__ import annotations

import calendar
import re
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, HTTPException, Query

from llmops.reporting.filters import Filters
from llmops.reporting.window import WINDOW_PATTERN, Window, parse_since

RANGE_CHOICES = ("1h", "24h", "7d", "30d")
DEFAULT_RANGE = "24h"
# `until` is an ISO 8601 date or date-time (no Unix numbers; UTC when it has no offset) in years
# 1970–2999, clamped to that range after its offset and to the month's last day: a window ending near
# year 1 or 9999 would overflow date arithmetic.
EARLIEST_UNTIL = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_UNTIL = datetime(2999, 12, 31, 23, 59, 59, tzinfo=UTC)
UNTIL_PATTERN = (
    r"^(19[7-9][0-9]|2[0-9]{3})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"([T ]([01][0-9]|2[0-3]):([0-5][0-9])(:([0-5][0-9])([.][0-9]{1,6})?)?"
    r"(Z|[+-](0[0-9]|1[0-4]):[0-5][0-9])?)?$"
)
UNTIL_HELP = "Window end, ISO 8601 (e.g. 2026-03-10T09:00:00Z; UTC when no offset), 1970–2999; default now."
RANGE_PATTERN = WINDOW_PATTERN
RANGE_HELP = (
    "Window ending now (or at `until`): `1h`, `24h` (default), `7d`, `30d`, any `<n>m|h|d|w`, or `all`."
)


def query_filters(
    prompt_version: str | None = None,
    model: str | None = None,
    provider: str | None = None,
    assistant: str | None = None,
) -> Filters:
    """Dependency: the prompt version, model, provider and assistant query parameters, matched exactly."""
    return Filters(prompt_version=prompt_version, model=model, provider=provider, assistant=assistant)


def form_filters(filters: Annotated[Filters, Depends(query_filters)]) -> Filters:
    """Dependency for pages: a form field left at "all" arrives empty and filters nothing."""
    return Filters(**{name: value or None for name, value in filters.model_dump().items()})


def pick_window(
    range_name: str | None, until: datetime | None = None, default: str = DEFAULT_RANGE
) -> tuple[str, Window]:
    """The named window ending at `until` (default now); 422 when the name does not parse."""
    name = range_name or default
    try:
        since = parse_since(name)
    except ValueError as exc:
        raise HTTPException(422, f"invalid request: range: {exc}") from None
    return name, Window.last(since, until)


def query_until(
    until: Annotated[str | None, Query(pattern=UNTIL_PATTERN, description=UNTIL_HELP)] = None,
) -> datetime | None:
    """Dependency: `until` as an aware datetime, clamped to 1970-01-01..2999-12-31 (the pattern
    already refuses anything else with 422)."""
    if until is None:
        return None
    match = re.fullmatch(UNTIL_PATTERN, until)
    if match is None:  # FastAPI checked the pattern; kept for direct calls
        raise HTTPException(422, "invalid request: until: not an ISO 8601 date-time")
    year, month, day = (int(part) for part in match.group(1, 2, 3))
    day = min(day, calendar.monthrange(year, month)[1])
    text = f"{year:04d}-{month:02d}-{day:02d}{until[10:]}".replace("Z", "+00:00")
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return min(max(value.astimezone(UTC), EARLIEST_UNTIL), LATEST_UNTIL)


Until = Annotated[datetime | None, Depends(query_until)]
