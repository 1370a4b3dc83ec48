"""Report windows, one vocabulary for the CLI, the dashboard and the API: parse `30m`, `24h`, `7d`, `all`
(`--since`, `since=`, `range=`), and split a window into whole rollup days, whole rollup hours and raw
edge ranges."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from llmops.storage.timeutil import day_ceil, day_floor, hour_ceil, hour_floor, utc

UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
ALL = "all"
_SINCE = re.compile(r"([0-9]{1,9})([a-z]+)")
_HELP = "use a positive number with a unit m, h, d or w (e.g. 30m, 24h, 7d) or 'all'"
# The same vocabulary as a JSON Schema pattern for the HTTP parameters (lower case, no leading zeros).
WINDOW_PATTERN = r"^(all|[1-9][0-9]{0,8}[mhdw])$"


def parse_since(value: str) -> timedelta | None:
    """`30m`, `24h`, `7d`, `2w` → that duration; `all` → None (no lower bound). Raises ValueError."""
    text = value.strip().lower()
    if text == ALL:
        return None
    match = _SINCE.fullmatch(text)
    if match is None:
        raise ValueError(f"invalid window {value!r}: {_HELP}")
    amount, unit = int(match.group(1)), match.group(2)
    if unit not in UNITS:
        raise ValueError(f"invalid window unit {unit!r}: {_HELP}")
    if amount == 0:
        raise ValueError(f"invalid window {value!r}: it must be longer than zero")
    try:
        return amount * UNITS[unit]
    except OverflowError:  # longer than the calendar: it reaches back to the start, like `all`
        return None


Range = tuple[datetime | None, datetime]


@dataclass(frozen=True)
class Window:
    """Requests with `start <= created_at < end`; no start means since the beginning."""

    start: datetime | None
    end: datetime

    @classmethod
    def last(cls, since: timedelta | None, until: datetime | None = None) -> Window:
        """The `since` long window ending at `until` (default now); `since=None` reaches back to the start."""
        return cls.ending_at(until or datetime.now(UTC), since)

    @classmethod
    def ending_at(cls, end: datetime, since: timedelta | None) -> Window:
        end = utc(end)
        if since is None:
            return cls(None, end)
        try:
            return cls(end - since, end)
        except OverflowError:
            return cls(None, end)

    @property
    def rollup_hours(self) -> Range | None:
        """The whole UTC hours inside the window, read from rollups: `[first, last)`, or None."""
        last = hour_floor(self.end)
        first = None if self.start is None else hour_ceil(self.start)
        if first is not None and first >= last:
            return None
        return (first, last)

    @property
    def rollup_days(self) -> Range | None:
        """The whole UTC days inside the rollup hours, read from the daily rollups: `[first, last)`, or
        None."""
        hours = self.rollup_hours
        if hours is None:
            return None
        first, last = hours
        day_first = None if first is None else day_ceil(first)
        day_last = day_floor(last)
        if day_first is not None and day_first >= day_last:
            return None
        return (day_first, day_last)

    @property
    def hour_ranges(self) -> list[Range]:
        """The rollup hours outside the whole days, read from the hourly rollups: at most two ranges of
        under a day each, or one of under two days when the hours hold no whole UTC day."""
        hours = self.rollup_hours
        if hours is None:
            return []
        days = self.rollup_days
        if days is None:
            return [hours]
        (first, last), (day_first, day_last) = hours, days
        ranges: list[Range] = []
        if first is not None and day_first is not None and first < day_first:
            ranges.append((first, day_first))
        if day_last < last:
            ranges.append((day_last, last))
        return ranges

    @property
    def raw_ranges(self) -> list[Range]:
        """The partial hours at the window's edges, read from raw request rows."""
        hours = self.rollup_hours
        if hours is None:
            return [(self.start, self.end)]
        first, last = hours
        ranges: list[Range] = []
        if self.start is not None and first is not None and self.start < first:
            ranges.append((self.start, first))
        if last < self.end:
            ranges.append((last, self.end))
        return ranges
