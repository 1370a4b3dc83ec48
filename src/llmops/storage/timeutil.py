"""UTC helpers: the store keeps every timestamp in UTC and buckets rollups by UTC hour and day.

SQLite returns naive datetimes (it has no time-zone type), so values read back go through `utc`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def utc(value: datetime) -> datetime:
    """An aware UTC datetime; naive values are taken to be UTC already."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def hour_floor(value: datetime) -> datetime:
    return utc(value).replace(minute=0, second=0, microsecond=0)


def hour_ceil(value: datetime) -> datetime:
    floor = hour_floor(value)
    return floor if floor == utc(value) else floor + HOUR


def day_floor(value: datetime) -> datetime:
    return hour_floor(value).replace(hour=0)


def day_ceil(value: datetime) -> datetime:
    floor = day_floor(value)
    return floor if floor == utc(value) else floor + DAY


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def from_unix_nanos(nanos: int) -> datetime:
    """Exact to the microsecond, unlike `datetime.fromtimestamp(nanos / 1e9)`."""
    return EPOCH + timedelta(microseconds=nanos // 1000)
