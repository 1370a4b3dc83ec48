"""Query parameters shared by the dashboard's pages and its JSON API: the filters and the window.

The window speaks the reports' one vocabulary (`30m`, `24h`, `7d`, `all`, as `llmops report --since`);
the pages offer `RANGE_CHOICES`. A value that does not parse is refused with 422, never guessed."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Depends, HTTPException

from llmops.reporting.filters import Filters
from llmops.reporting.window import Window, parse_since

RANGE_CHOICES = ("1h", "24h", "7d", "30d")
DEFAULT_RANGE = "24h"
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
