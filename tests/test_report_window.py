"""`--since` parsing and the split of a window into rollup days, rollup hours and raw edges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmops.reporting.window import UNITS, Window, parse_since
from llmops.storage.timeutil import HOUR


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", timedelta(minutes=30)),
        ("24h", timedelta(hours=24)),
        ("7d", timedelta(days=7)),
        ("2w", timedelta(weeks=2)),
        (" 7D ", timedelta(days=7)),
        ("all", None),
        ("ALL", None),
    ],
)
def test_parse_since_accepts_documented_forms(text: str, expected: timedelta | None) -> None:
    assert parse_since(text) == expected


@pytest.mark.parametrize("text", ["", "24", "h", "0h", "-1h", "1.5h", "24 h", "3y", "24hours", "1h30m", "٣h"])
def test_parse_since_rejects_other_forms_with_a_hint(text: str) -> None:
    with pytest.raises(ValueError, match=r"30m, 24h, 7d|longer than zero"):
        parse_since(text)


def test_a_window_longer_than_the_calendar_reaches_back_to_the_start() -> None:
    assert parse_since("999999999w") is None  # like `all`: no 5xx, no refusal of a schema-valid value


@given(st.integers(min_value=1, max_value=999_999), st.sampled_from(sorted(UNITS)))
def test_parse_since_round_trips_number_and_unit(amount: int, unit: str) -> None:
    assert parse_since(f"{amount}{unit}") == amount * UNITS[unit]
    assert parse_since(f"{amount}{unit.upper()}") == amount * UNITS[unit]


@given(st.text(max_size=20))
def test_parse_since_returns_a_positive_window_or_raises_value_error(text: str) -> None:
    try:
        result = parse_since(text)
    except ValueError as exc:
        assert str(exc).startswith("invalid window")
    else:
        assert result is None or result > timedelta(0)


moments = st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 1, 1), timezones=st.just(UTC))


@given(
    moments, st.one_of(st.none(), st.timedeltas(min_value=timedelta(seconds=1), max_value=timedelta(days=40)))
)
def test_window_splits_into_whole_days_whole_hours_and_edges_that_tile_it(
    end: datetime, since: timedelta | None
) -> None:
    window = Window.ending_at(end, since)
    days = window.rollup_days
    pieces = [*window.raw_ranges, *window.hour_ranges]
    if days is not None:
        first, last = days
        assert last.hour == last.minute == last.second == last.microsecond == 0
        if first is not None:
            assert first.hour == first.minute == first.second == first.microsecond == 0 and first < last
        pieces.append(days)
    for start, stop in window.hour_ranges:
        assert stop.minute == stop.second == stop.microsecond == 0
        assert start is None or (start.minute == start.second == start.microsecond == 0 and start < stop)
        # under a day beside whole days; under two when the hours hold no whole UTC day
        assert start is None or stop - start < timedelta(days=1 if days is not None else 2)
    pieces.sort(key=lambda piece: (piece[0] is not None, piece[0] or end))
    assert pieces[0][0] == window.start
    assert max(piece[1] for piece in pieces) == window.end
    for (_, previous_end), (next_start, _) in pairwise(pieces):
        assert previous_end == next_start
    for start, stop in window.raw_ranges:
        assert start is None or stop - start < 2 * HOUR
        assert start is None or start < stop
    hours = window.rollup_hours
    assert (hours is None) == (days is None and not window.hour_ranges)
