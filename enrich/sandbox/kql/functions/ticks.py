"""Datetimes and timespans as ticks (100 ns units; datetimes count from 1970-01-01T00:00:00Z)."""

from __future__ import annotations

import re
from datetime import date

TICK = 1
MICROSECOND = 10
MILLISECOND = 10_000
SECOND = 10_000_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR
WEEK = 7 * DAY

EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
#: Kusto's datetime range: 0001-01-01 .. 9999-12-31T23:59:59.9999999.
MIN_DATETIME = (date(1, 1, 1).toordinal() - EPOCH_ORDINAL) * DAY
MAX_DATETIME = (date(9999, 12, 31).toordinal() - EPOCH_ORDINAL + 1) * DAY - 1
#: .NET TimeSpan range in ticks.
MAX_TIMESPAN = 2**63 - 1
MIN_TIMESPAN = -(2**63)

UNITS = {
    "d": DAY,
    "day": DAY,
    "days": DAY,
    "h": HOUR,
    "hr": HOUR,
    "hrs": HOUR,
    "hour": HOUR,
    "hours": HOUR,
    "m": MINUTE,
    "min": MINUTE,
    "minute": MINUTE,
    "minutes": MINUTE,
    "s": SECOND,
    "sec": SECOND,
    "second": SECOND,
    "seconds": SECOND,
    "ms": MILLISECOND,
    "milli": MILLISECOND,
    "millis": MILLISECOND,
    "millisecond": MILLISECOND,
    "milliseconds": MILLISECOND,
    "microsecond": MICROSECOND,
    "microseconds": MICROSECOND,
    "tick": TICK,
    "ticks": TICK,
}

_ISO_RE = re.compile(
    r"\s*(\d{4})-(\d{1,2})-(\d{1,2})"
    r"(?:[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,7})\d*)?)?)?"
    r"\s*(Z|z|[+-]\d{2}:?\d{2})?\s*",
    re.ASCII,
)
_MONTHS = {
    m: i + 1
    for i, m in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    )
}
# RFC 822/1123 ("Sat, 8 Nov 2014 15:05:02 GMT", "8 Nov 14 15:05") and RFC 850
# ("Saturday, 08-Nov-14 15:05:02 GMT") forms.
_RFC_RE = re.compile(
    r"\s*(?:[A-Za-z]+,\s*)?(\d{1,2})(?:\s+|-)([A-Za-z]{3})(?:\s+|-)(\d{2}|\d{4})"
    r"\s+(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([A-Za-z]{1,3}|[+-]\d{4})?\s*",
    re.ASCII,
)
_ZONES = {
    "GMT": 0,
    "UT": 0,
    "UTC": 0,
    "Z": 0,
    "EST": -5,
    "EDT": -4,
    "CST": -6,
    "CDT": -5,
    "MST": -7,
    "MDT": -6,
    "PST": -8,
    "PDT": -7,
}
_TIMESPAN_RE = re.compile(
    r"\s*(-)?(?:(\d+)\.)?(\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.(\d{1,7})\d*)?)?\s*", re.ASCII
)
_UNIT_RE = re.compile(r"\s*(-)?(\d+(?:\.\d*)?|\.\d+)\s*([a-z]+)\s*", re.ASCII)


def from_parts(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, frac: int = 0
) -> int:
    """Ticks of a UTC calendar time (raises ValueError when a part is out of range)."""
    if not (0 <= hour <= 23 and 0 <= minute <= 59 and 0 <= second <= 59):
        raise ValueError("time out of range")
    days = date(year, month, day).toordinal() - EPOCH_ORDINAL
    return (days * 86_400 + hour * 3600 + minute * 60 + second) * SECOND + frac


def _zone_offset(zone: str | None) -> int | None:
    if not zone or zone == "z":
        return 0
    if zone[0] not in "+-":
        hours = _ZONES.get(zone.upper())
        return None if hours is None else hours * HOUR
    sign = -1 if zone[0] == "-" else 1
    digits = zone[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:])
    if hours > 23 or minutes > 59:
        return None
    return sign * (hours * HOUR + minutes * MINUTE)


def parse_datetime(text: str) -> int | None:
    """Ticks of an ISO 8601 or RFC 822/1123 date/time string, or None when it is not one."""
    m = _ISO_RE.fullmatch(text)
    if m is not None:
        year, month, day, hour, minute, second, frac, zone = m.groups()
        parts = (int(hour or 0), int(minute or 0), int(second or 0), int((frac or "").ljust(7, "0")))
        ymd = (int(year), int(month), int(day))
    else:
        m = _RFC_RE.fullmatch(text)
        if m is None:
            return None
        day_s, month_s, year_s, hour, minute, second, zone = m.groups()
        month_n = _MONTHS.get(month_s.lower())
        if month_n is None:
            return None
        year_n = int(year_s)
        if len(year_s) == 2:
            year_n += 2000 if year_n < 50 else 1900
        ymd = (year_n, month_n, int(day_s))
        parts = (int(hour), int(minute), int(second or 0), 0)
    offset = _zone_offset(zone)
    if offset is None:
        return None
    try:
        ticks = from_parts(*ymd, *parts) - offset
    except ValueError:
        return None
    return ticks if MIN_DATETIME <= ticks <= MAX_DATETIME else None


def format_datetime(ticks: int) -> str | None:
    """``2026-11-20T10:11:12.1234567Z`` for a tick count (None when out of range)."""
    if not MIN_DATETIME <= ticks <= MAX_DATETIME:
        return None
    seconds, frac = divmod(ticks, SECOND)
    days, rem = divmod(seconds, 86_400)
    day = date.fromordinal(days + EPOCH_ORDINAL)
    hour, rem = divmod(rem, 3600)
    minute, second = divmod(rem, 60)
    return f"{day.isoformat()}T{hour:02d}:{minute:02d}:{second:02d}.{frac:07d}Z"


def to_date(ticks: int) -> date:
    """The calendar date of a datetime (raises ValueError/OverflowError out of range)."""
    return date.fromordinal(ticks // DAY + EPOCH_ORDINAL)


def date_ticks(day: date) -> int:
    """Ticks of midnight UTC of ``day``."""
    return (day.toordinal() - EPOCH_ORDINAL) * DAY


def in_range(ticks: int) -> int | None:
    """``ticks`` when it is a representable datetime, else None (Kusto's overflow gives null)."""
    return ticks if MIN_DATETIME <= ticks <= MAX_DATETIME else None


def format_timespan(ticks: int) -> str:
    """Kusto's (and .NET's constant "c") rendering: ``[-][d.]hh:mm:ss[.fffffff]``."""
    sign = "-" if ticks < 0 else ""
    rest = abs(ticks)
    days, rest = divmod(rest, DAY)
    hours, rest = divmod(rest, HOUR)
    minutes, rest = divmod(rest, MINUTE)
    seconds, frac = divmod(rest, SECOND)
    text = f"{sign}{str(days) + '.' if days else ''}{hours:02d}:{minutes:02d}:{seconds:02d}"
    return text + (f".{frac:07d}" if frac else "")


def parse_timespan(text: str) -> int | None:
    """Ticks of ``[-][d.]hh:mm[:ss[.fffffff]]`` or of a literal like ``30d``/``1.5h``/``10ms``; else None."""
    m = _TIMESPAN_RE.fullmatch(text)
    if m is not None:
        neg, days, hours, minutes, seconds, frac = m.groups()
        h, mi, s = int(hours), int(minutes), int(seconds or 0)
        if h > 23 or mi > 59 or s > 59:
            return None
        ticks = int(days or 0) * DAY + h * HOUR + mi * MINUTE + s * SECOND + int((frac or "").ljust(7, "0"))
        ticks = -ticks if neg else ticks
    else:
        m = _UNIT_RE.fullmatch(text)
        if m is None or m.group(3) not in UNITS:
            return None
        neg, number, unit = m.groups()
        whole, _, fraction = number.partition(".")
        scale = UNITS[unit]
        ticks = int(whole or 0) * scale + (int(fraction) * scale // 10 ** len(fraction) if fraction else 0)
        ticks = -ticks if neg else ticks
    return ticks if MIN_TIMESPAN <= ticks <= MAX_TIMESPAN else None
