"""Dates and times mentioned in an email, resolved against the email's own date.

Meeting requests say "Thursday at 3pm", "3. Dezember um 14 Uhr", "el jueves a las 10:00" or
"demain à 14h30"; the calendar tool needs absolute datetimes. This module finds clock times and the
date each one belongs to (the nearest date expression in the same sentence, else the last date named
earlier in the email, else the reference day) in English, German, Spanish and French. It is a focused
extractor, not a general natural-language date parser: it only reports a time when a clock time is
written, so "sometime next week" yields nothing rather than a guess.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo

_MONTHS: dict[str, int] = {}
for _number, _names in enumerate(
    (
        "january jan januar janv enero janvier ene",
        "february feb februar febrero février fevrier févr",
        "march mar märz maerz marzo mars mär",
        "april apr abril avril avr",
        "may mai mayo",
        "june jun juni junio juin",
        "july jul juli julio juillet juil",
        "august aug agosto août aout ago",
        "september sep sept septiembre setiembre septembre",
        "october oct oktober okt octubre octobre",
        "november nov noviembre novembre",
        "december dec dezember dez diciembre décembre decembre dic déc",
    ),
    start=1,
):
    for _name in _names.split():
        _MONTHS[_name] = _number

_WEEKDAYS: dict[str, int] = {}
for _number, _names in enumerate(
    (
        "monday montag lunes lundi",
        "tuesday tue tues dienstag martes mardi",
        "wednesday wed mittwoch miércoles miercoles mercredi",
        "thursday thu thur thurs donnerstag jueves jeudi",
        "friday fri freitag viernes vendredi",
        "saturday samstag sonnabend sábado sabado samedi",
        "sunday sonntag domingo dimanche",
    )
):
    for _name in _names.split():
        _WEEKDAYS[_name] = _number

_RELATIVE_DAYS = {
    "day after tomorrow": 2, "übermorgen": 2, "uebermorgen": 2, "pasado mañana": 2, "après-demain": 2,
    "apres-demain": 2, "today": 0, "tonight": 0, "this afternoon": 0, "this morning": 0, "heute": 0,
    "hoy": 0, "aujourd'hui": 0, "aujourd’hui": 0, "tomorrow": 1, "morgen": 1, "mañana": 1, "demain": 1,
}  # fmt: skip

_TZ_OFFSETS = {
    "utc": 0, "gmt": 0, "z": 0, "cet": 1, "mez": 1, "cest": 2, "mesz": 2, "bst": 1, "et": -5, "est": -5,
    "edt": -4, "ct": -6, "cst": -6, "cdt": -5, "pt": -8, "pst": -8, "pdt": -7,
}  # fmt: skip


def _alternation(words: Iterable[str]) -> str:
    return "|".join(re.escape(word) for word in sorted(words, key=len, reverse=True))


_MONTH_RE = _alternation(_MONTHS)
_WEEKDAY_RE = _alternation(_WEEKDAYS)
_RELATIVE_RE = _alternation(_RELATIVE_DAYS)

_DATE = re.compile(
    rf"""
    (?P<iso>(?P<iso_y>20\d\d)-(?P<iso_m>[01]?\d)-(?P<iso_d>[0-3]?\d))(?!\d)
    | (?<![\d.])(?P<num_d>[0-3]?\d)\.(?P<num_m>[01]?\d)\.(?P<num_y>20\d\d)?(?!\d)
    | (?<!\w)(?P<mf_month>{_MONTH_RE})\.?\s+(?P<mf_day>[0-3]?\d)(?:st|nd|rd|th)?(?!\d)(?![:.]\d)
      (?:,?\s+(?P<mf_year>20\d\d))?
    | (?<![\d.])(?P<df_day>[0-3]?\d)(?:st|nd|rd|th|er|\.|º)?\s+(?:of\s+|de\s+)?
      (?P<df_month>{_MONTH_RE})(?!\w)\.?
      (?:,?\s+(?:de\s+)?(?P<df_year>20\d\d))?
    | (?<!\w)(?P<rel>{_RELATIVE_RE})(?!\w)
    | (?<!\w)(?P<wd>{_WEEKDAY_RE})(?!\w)\.?
    """,
    re.IGNORECASE | re.VERBOSE,
)

_TIME = re.compile(
    r"""
    (?<![\d:.,])
    (?:
      (?P<h1>[01]?\d|2[0-3])(?::|h)(?P<m1>[0-5]\d)(?!\d)(?!:\d)\s*(?P<ap1>[ap]\.?\s?m\b\.?)?
    | (?P<h2>[01]?\d|2[0-3])\.(?P<m2>[0-5]\d)\s*uhr\b
    | (?P<h3>1[0-2]|0?[1-9])\s*(?P<ap3>[ap]\.?\s?m\b\.?)
    | (?P<h4>[01]?\d|2[0-3])\s*(?:uhr|h)\b
    | (?:\b(?:a\s+las?|um|at|à|from|around|gegen|vers|sobre)\s+)(?P<h5>[01]?\d|2[0-3])
      (?![\d:.,%h]|\s*(?:[ap]\.?\s?m\b|%|percent|min|hours?|days?|people|tickets?|euro|eur|usd))
    | (?P<noon>\bnoon\b|\bmidday\b|\bmittag\b|\bmediodía\b|\bmidi\b)
    )
    (?:\s*(?P<tz>UTC|GMT|CET|CEST|MEZ|MESZ|BST|EST|EDT|ET|CST|CDT|CT|PST|PDT|PT)\b)?
    """,
    re.IGNORECASE | re.VERBOSE,
)

_LONE_NEWLINE = re.compile(r"(?<!\n)\n(?!\n)")
_MAYBE_TIME = re.compile(
    r"\d|noon|midday|mittag|mediodía|midi", re.IGNORECASE
)  # what every _TIME match holds
_RANGE_JOIN = re.compile(r"^\s*(?:-|–|—|to|until|till|bis|a|à|hasta)\s*$", re.IGNORECASE)
_ADJACENT_DATE = re.compile(r"^[\s,]*(?:the|den|le|el)?\s*$", re.IGNORECASE)
_NOT_TOMORROW = re.compile(r"(?:guten|am|heute|jeden|la|esta|cada|good)\s+$", re.IGNORECASE)
_AFTERNOON_HINT = re.compile(
    r"^\s*(?:de la tarde|de la noche|in the afternoon|nachmittags|abends|du soir)", re.I
)
_SENTENCE_SPLIT = re.compile(r"(?<=[^\d\s][.!?])\s+|\n\s*\n")


@dataclass(frozen=True)
class TimeMention:
    """A clock time found in the text, with the span of the sentence it appeared in."""

    start: datetime
    end: datetime | None
    sentence_start: int
    sentence_end: int


@dataclass(frozen=True)
class _DateHit:
    position: int
    end: int
    day: date


def _sentences(text: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    cursor = 0
    for match in _SENTENCE_SPLIT.finditer(text):
        if match.start() > cursor:
            spans.append((cursor, match.start()))
        cursor = match.end()
    if cursor < len(text):
        spans.append((cursor, len(text)))
    return spans


def _safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _with_year(month: int, day: int, year: str | None, today: date) -> date | None:
    if year:
        return _safe_date(int(year), month, day)
    candidate = _safe_date(today.year, month, day)
    if candidate and candidate < today - timedelta(days=31):
        candidate = _safe_date(today.year + 1, month, day)
    return candidate


def _resolve_date(match: re.Match[str], text: str, today: date) -> date | None:
    groups = match.groupdict()
    if groups["iso"]:
        return _safe_date(int(groups["iso_y"]), int(groups["iso_m"]), int(groups["iso_d"]))
    if groups["num_d"]:
        return (
            _with_year(int(groups["num_m"]), int(groups["num_d"]), groups["num_y"], today)
            if (1 <= int(groups["num_m"]) <= 12)
            else None
        )
    if groups["mf_month"]:
        month = _MONTHS[groups["mf_month"].lower()]
        return _with_year(month, int(groups["mf_day"]), groups["mf_year"], today)
    if groups["df_month"]:
        month = _MONTHS[groups["df_month"].lower()]
        return _with_year(month, int(groups["df_day"]), groups["df_year"], today)
    if groups["rel"]:
        word = groups["rel"].lower()
        if word in {"morgen", "mañana"} and _NOT_TOMORROW.search(
            text[max(0, match.start() - 12) : match.start()]
        ):
            return None
        return today + timedelta(days=_RELATIVE_DAYS[word])
    weekday = _WEEKDAYS[groups["wd"].lower()]
    ahead = (weekday - today.weekday()) % 7
    return today + timedelta(days=ahead or 7)


def _find_dates(text: str, today: date) -> list[_DateHit]:
    hits: list[_DateHit] = []
    for match in _DATE.finditer(text):
        day = _resolve_date(match, text, today)
        if day is None:
            continue
        # "Thursday, 3 December": the explicit date wins over the weekday just before it.
        if hits and match.group("wd") is None and _ADJACENT_DATE.match(text[hits[-1].end : match.start()]):
            hits.pop()
        elif hits and match.group("wd") and _ADJACENT_DATE.match(text[hits[-1].end : match.start()]):
            continue
        hits.append(_DateHit(match.start(), match.end(), day))
    return hits


def _clock(match: re.Match[str], after: str) -> time:
    groups = match.groupdict()
    if groups["noon"]:
        return time(12, 0)
    hour = int(groups["h1"] or groups["h2"] or groups["h3"] or groups["h4"] or groups["h5"])
    minute = int(groups["m1"] or groups["m2"] or 0)
    meridiem = (groups["ap1"] or groups["ap3"] or "").lower()[:1]
    if meridiem == "p" and hour < 12:
        hour += 12
    elif meridiem == "a" and hour == 12:
        hour = 0
    elif not meridiem and (1 <= hour <= 7 or (hour < 12 and _AFTERNOON_HINT.match(after))):
        # "at 3" in a meeting request means the afternoon, not 3 in the morning.
        hour += 12
    return time(hour % 24, minute)


def _zone(match: re.Match[str], default: tzinfo) -> tzinfo:
    name = (match.group("tz") or "").lower()
    if name in _TZ_OFFSETS:
        return timezone(timedelta(hours=_TZ_OFFSETS[name]))
    return default


def find_times(text: str, reference: datetime) -> list[TimeMention]:
    """Every clock time in `text` as an absolute datetime, resolved relative to `reference`.

    Times without a zone take the reference's zone (the sender's, from the Date header); a range
    ("14:00-15:00", "from 2 to 3pm") gives an end. Results are in text order, without duplicates.
    """
    tz = reference.tzinfo or UTC
    today = reference.date()
    mentions: list[TimeMention] = []
    seen: set[tuple[datetime, datetime | None]] = set()
    carried: date | None = None
    # Hard-wrapped lines continue a sentence; replacing a lone newline keeps every offset valid.
    unwrapped = _LONE_NEWLINE.sub(" ", text)
    sentences = [
        (
            start,
            end,
            list(_TIME.finditer(unwrapped[start:end])) if _MAYBE_TIME.search(unwrapped, start, end) else [],
        )
        for start, end in _sentences(unwrapped)
    ]
    while sentences and not sentences[-1][2]:
        sentences.pop()  # dates after the last clock time resolve nothing: skip finding them
    for sentence_start, sentence_end, times in sentences:
        sentence = unwrapped[sentence_start:sentence_end]
        dates = _find_dates(sentence, today)
        index = 0
        while index < len(times):
            first = times[index]
            clock = _clock(first, sentence[first.end() :])
            end_clock: time | None = None
            if index + 1 < len(times) and _RANGE_JOIN.match(sentence[first.end() : times[index + 1].start()]):
                second = times[index + 1]
                end_clock = _clock(second, sentence[second.end() :])
                if end_clock.hour >= 12 and clock.hour + 12 <= end_clock.hour and not first.group("ap1"):
                    clock = time(clock.hour + 12, clock.minute) if clock.hour < 12 else clock
                index += 1
            index += 1
            if dates:
                day = min(
                    dates,
                    key=lambda hit: min(abs(hit.position - first.start()), abs(hit.end - first.start())),
                ).day
            else:
                day = carried or today
            zone = _zone(times[index - 1] if end_clock else first, tz)
            start = datetime.combine(day, clock, zone)
            end = datetime.combine(day, end_clock, zone) if end_clock else None
            if end is not None and end <= start:
                end = None
            if (start, end) not in seen:
                seen.add((start, end))
                mentions.append(TimeMention(start, end, sentence_start, sentence_end))
        if dates:
            carried = dates[-1].day
    return mentions
