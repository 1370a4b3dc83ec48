"""Every number, time and flag a page shows, formatted one way: the Jinja filters of every template.

Durations, percentages and money come from `reporting.render` (so a page reads exactly like `llmops
report`); this module adds what pages need beyond it: percentage points, counts with their noun, times
in UTC with the zone named, yes/no, and human names for stored field names.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from llmops.reporting.render import NONE, dollars, percent, points, seconds
from llmops.storage.timeutil import utc

LABELS = {
    "renotify_s": "Re-notify after",
    "window_s": "Window",
    "baseline_s": "Baseline window",
    "min_requests": "Min. requests",
    "floor_ms": "Floor",
    "last_value": "Last value",
    "last_notified_at": "Last notified",
    "rule_name": "Rule",
    "hard_limit": "Limit",
    "soft_ratio": "Soft at",
    "baseline_version": "Baseline version",
    "candidate_version": "Candidate version",
}


def duration_ms(value: float | None) -> str:
    """`seconds` of `llmops report`: `2.1s`, `0.250s`, `0.35ms`; `n/a` when unknown."""
    return seconds(value)


def duration_s(value: float | int | None) -> str:
    """A configured span of time in seconds, in its largest whole unit: `5 min`, `1 h`, `1 d`, `90 s`."""
    if value is None:
        return NONE
    total = int(value)
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60)):
        if total >= size and total % size == 0:
            return f"{total // size} {unit}"
    return f"{total} s"


def pct(rate: float | None) -> str:
    """A rate (0..1) as `4.8%`; `n/a` when unknown."""
    return NONE if rate is None else percent(rate)


def pp(delta: float | None, signed: bool = True) -> str:
    """A difference of two rates in percentage points, signed: `-59.1 pp`, `+4.0 pp` (`4.0 pp` unsigned)."""
    return points(delta, signed=signed)


def money(amount: float | None) -> str:
    return NONE if amount is None else dollars(amount)


def number(value: float | int | None, digits: int = 2) -> str:
    """A count with thousands separators, or a measure rounded to `digits` significant decimals."""
    if value is None:
        return NONE
    if isinstance(value, bool):
        return yesno(value)
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.{digits}f}"


def count(value: int, noun: str, plural: str | None = None) -> str:
    """`1 request`, `3 requests`."""
    return f"{value:,} {noun if value == 1 else plural or noun + 's'}"


def when(moment: datetime | str | None, seconds_too: bool = True) -> str:
    """A time in UTC with the zone named: `2026-12-07 02:46:26 UTC` (no microseconds, no `T`)."""
    if moment is None or moment == "":
        return NONE
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return utc(moment).strftime("%Y-%m-%d %H:%M:%S UTC" if seconds_too else "%Y-%m-%d %H:%M UTC")


def iso(moment: datetime | None) -> str:
    """The machine-readable form for `<time datetime=…>`."""
    return "" if moment is None else utc(moment).isoformat(timespec="seconds")


def yesno(flag: Any) -> str:
    return "yes" if flag else "no"


def label(name: str) -> str:
    """A stored field name as a column heading: `last_notified_at` → `Last notified`."""
    return LABELS.get(name, name.replace("_", " ").capitalize())


def rating(value: int | None) -> str:
    """A feedback rating in words: `good (+1)`, `bad (−1)`."""
    return (
        NONE
        if value is None
        else {1: "good (+1)", -1: "bad (−1)", 0: "neutral (0)"}.get(value, f"{value:+d}")
    )


FILTERS = {
    "seconds": duration_ms,
    "duration_ms": duration_ms,
    "duration_s": duration_s,
    "percent": pct,
    "pct": pct,
    "pp": pp,
    "dollars": money,
    "money": money,
    "number": number,
    "plural": count,
    "when": when,
    "iso": iso,
    "yesno": yesno,
    "label": label,
    "rating": rating,
}
