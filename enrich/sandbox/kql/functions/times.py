"""Datetime and timespan functions: now/ago, calendar parts, start/end of periods, arithmetic, formatting."""

from __future__ import annotations

import calendar
import math
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import TypeGuard
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from enrich.sandbox.kql.functions import ticks as tk
from enrich.sandbox.kql.functions.registry import (
    DATETIME,
    INTEGER,
    NUMBER,
    STRING,
    TIMESPAN,
    register,
)

_PART_NAMES = {
    "year": "year",
    "quarter": "quarter",
    "month": "month",
    "week": "week",
    "week_of_year": "week",
    "weekofyear": "week",
    "day": "day",
    "dayofyear": "dayofyear",
    "hour": "hour",
    "minute": "minute",
    "second": "second",
    "millisecond": "millisecond",
    "microsecond": "microsecond",
    "nanosecond": "nanosecond",
}
_FIXED_PART_TICKS = {
    "week": tk.WEEK,
    "day": tk.DAY,
    "hour": tk.HOUR,
    "minute": tk.MINUTE,
    "second": tk.SECOND,
    "millisecond": tk.MILLISECOND,
    "microsecond": tk.MICROSECOND,
}


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _date(ticks: int) -> date | None:
    try:
        return tk.to_date(ticks)
    except (ValueError, OverflowError):
        return None


def _part(name: object, allowed: Sequence[str]) -> str | None:
    if not isinstance(name, str):
        return None
    part = _PART_NAMES.get(name.strip().lower())
    return part if part in allowed else None


def _add_months(day: date, months: int) -> date | None:
    """``day`` moved by ``months`` with the day clamped to the month's length (.NET AddMonths)."""
    year, month = divmod(day.year * 12 + day.month - 1 + months, 12)
    if not 1 <= year <= 9999:
        return None
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


# ---------------------------------------------------------------------------
# now / ago


def now(ctx: object, offset: object = 0) -> int | None:
    base = getattr(ctx, "now", None)
    if not _is_int(base) or not _is_int(offset):
        return None
    return tk.in_range(base + offset)


def ago(ctx: object, span: object) -> int | None:
    base = getattr(ctx, "now", None)
    if not _is_int(base) or not _is_int(span):
        return None
    return tk.in_range(base - span)


# ---------------------------------------------------------------------------
# Arithmetic on calendar parts

_ADD_PARTS = (
    "year",
    "quarter",
    "month",
    "week",
    "day",
    "hour",
    "minute",
    "second",
    "millisecond",
    "microsecond",
    "nanosecond",
)


def datetime_add(ctx: object, part: object, amount: object, value: object) -> int | None:
    unit = _part(part, _ADD_PARTS)
    if unit is None or not _is_int(amount) or not _is_int(value):
        return None
    n, ticks = int(amount), int(value)
    if unit in ("year", "quarter", "month"):
        day = _date(ticks)
        if day is None:
            return None
        months = n * {"year": 12, "quarter": 3, "month": 1}[unit]
        moved = _add_months(day, months) if abs(months) < 120_000 else None
        return None if moved is None else tk.in_range(tk.date_ticks(moved) + ticks % tk.DAY)
    if unit == "nanosecond":
        return tk.in_range(ticks + int(n / 100))
    return tk.in_range(ticks + n * _FIXED_PART_TICKS[unit])


def _start_of_week(ticks: int) -> int:
    day = ticks // tk.DAY  # 1970-01-01 was a Thursday: day 0 -> 4 days after Sunday
    return (day - (day + 4) % 7) * tk.DAY


def datetime_diff(ctx: object, part: object, first: object, second: object) -> int | None:
    unit = _part(part, _ADD_PARTS)
    if unit is None or not _is_int(first) or not _is_int(second):
        return None
    a, b = int(first), int(second)
    if unit in ("year", "quarter", "month"):
        da, db = _date(a), _date(b)
        if da is None or db is None:
            return None
        if unit == "year":
            return da.year - db.year
        if unit == "quarter":
            return (da.year * 4 + (da.month - 1) // 3) - (db.year * 4 + (db.month - 1) // 3)
        return (da.year * 12 + da.month) - (db.year * 12 + db.month)
    if unit == "week":
        return (_start_of_week(a) - _start_of_week(b)) // tk.WEEK
    if unit == "nanosecond":
        return (a - b) * 100
    size = _FIXED_PART_TICKS[unit]
    return a // size - b // size


_PART_OF = (
    "year",
    "quarter",
    "month",
    "week",
    "day",
    "dayofyear",
    "hour",
    "minute",
    "second",
    "millisecond",
    "microsecond",
    "nanosecond",
)


def datetime_part(ctx: object, part: object, value: object) -> int | None:
    unit = _part(part, _PART_OF)
    if unit is None or not _is_int(value):
        return None
    ticks = int(value)
    day = _date(ticks)
    if day is None:
        return None
    in_day = ticks % tk.DAY
    return {
        "year": lambda: day.year,
        "quarter": lambda: (day.month - 1) // 3 + 1,
        "month": lambda: day.month,
        "week": lambda: day.isocalendar()[1],
        "day": lambda: day.day,
        "dayofyear": lambda: day.timetuple().tm_yday,
        "hour": lambda: in_day // tk.HOUR,
        "minute": lambda: in_day // tk.MINUTE % 60,
        "second": lambda: in_day // tk.SECOND % 60,
        "millisecond": lambda: in_day // tk.MILLISECOND % 1000,
        "microsecond": lambda: in_day // tk.MICROSECOND % 1_000_000,
        "nanosecond": lambda: in_day % tk.SECOND * 100,
    }[unit]()


def _part_check(position: int, allowed: Sequence[str]) -> Callable[[Sequence[object]], str | None]:
    def check(args: Sequence[object]) -> str | None:
        if (
            len(args) > position
            and isinstance(args[position], str)
            and _part(args[position], allowed) is None
        ):
            return f"argument #{position + 1} is not a valid datetime part: '{args[position]}'"
        return None

    return check


# ---------------------------------------------------------------------------
# Start and end of periods


def _period_start(unit: str, ticks: int, offset: int) -> int | None:
    day = _date(ticks)
    if day is None:
        return None
    if unit == "day":
        return tk.in_range((ticks // tk.DAY + offset) * tk.DAY)
    if unit == "week":
        return tk.in_range(_start_of_week(ticks) + offset * tk.WEEK)
    months = offset * (12 if unit == "year" else 1)
    first = date(day.year, 1 if unit == "year" else day.month, 1)
    moved = _add_months(first, months) if abs(months) < 120_000 else None
    return None if moved is None else tk.date_ticks(moved)


def _period_function(unit: str, end: bool) -> Callable[..., int | None]:
    def period(ctx: object, value: object, offset: object = 0) -> int | None:
        if not _is_int(value) or not _is_int(offset):
            return None
        n = int(offset)
        if end:
            following = _period_start(unit, int(value), n + 1)
            return None if following is None else tk.in_range(following - 1)
        return _period_start(unit, int(value), n)

    return period


# ---------------------------------------------------------------------------
# Calendar parts as functions


def dayofweek(ctx: object, value: object) -> int | None:
    if not _is_int(value):
        return None
    return (int(value) // tk.DAY + 4) % 7 * tk.DAY


def _date_part(fn: Callable[[date], int]) -> Callable[..., int | None]:
    def part(ctx: object, value: object) -> int | None:
        day = _date(int(value)) if _is_int(value) else None
        return None if day is None else fn(day)

    return part


def hourofday(ctx: object, value: object) -> int | None:
    return int(value) % tk.DAY // tk.HOUR if _is_int(value) else None


def make_datetime(ctx: object, *parts: object) -> int | None:
    """make_datetime(year, month, day[, hour, minute[, second]]) where second may be real."""
    ints = [p for p in parts[:5] if isinstance(p, int) and not isinstance(p, bool)]
    if len(ints) != min(len(parts), 5) or len(parts) < 3:
        return None
    second: object = parts[5] if len(parts) > 5 else 0
    if not isinstance(second, int | float) or isinstance(second, bool) or not math.isfinite(second):
        return None
    whole = int(second)
    frac = round((second - whole) * tk.SECOND)
    year, month, day, hour, minute = [*ints, 0, 0][:5]
    try:
        return tk.in_range(tk.from_parts(year, month, day, hour, minute, whole, frac))
    except (ValueError, OverflowError):
        return None


def make_timespan(ctx: object, *parts: object) -> int | None:
    """make_timespan(hours, minutes[, seconds]) or make_timespan(days, hours, minutes, seconds)."""
    values = [float(p) for p in parts if isinstance(p, int | float) and not isinstance(p, bool)]
    if len(values) != len(parts) or not 2 <= len(parts) <= 4:
        return None
    if not all(math.isfinite(v) for v in values):
        return None
    if len(values) < 4:
        values = [0.0, *values, *([0.0] * (3 - len(values)))]
    days, hours, minutes, seconds = values
    exact = days * tk.DAY + hours * tk.HOUR + minutes * tk.MINUTE + seconds * tk.SECOND
    if not math.isfinite(exact):
        return None
    total = round(exact)
    return total if tk.MIN_TIMESPAN <= total <= tk.MAX_TIMESPAN else None


def _unixtime(scale: int) -> Callable[..., int | None]:
    def convert(ctx: object, value: object) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        if isinstance(value, float):
            if not math.isfinite(value):
                return None
            return tk.in_range(round(value * scale)) if abs(value) < 1e30 else None
        return tk.in_range(value * scale if scale >= 1 else value // round(1 / scale))

    return convert


# ---------------------------------------------------------------------------
# Formatting

_DATE_SPECIFIERS = {
    "d": (1, 2),
    "f": (1, 7),
    "F": (1, 7),
    "h": (1, 2),
    "H": (1, 2),
    "m": (1, 2),
    "M": (1, 2),
    "s": (1, 2),
    "t": (2, 2),
    "y": (1, 5),
}
_SPAN_SPECIFIERS = {
    "d": (1, 8),
    "f": (1, 7),
    "F": (1, 7),
    "h": (1, 2),
    "H": (1, 2),
    "m": (1, 2),
    "s": (1, 2),
}
_DELIMITERS = frozenset(" /-:,._[]")


@lru_cache(maxsize=256)
def _parse_format(fmt: str, for_span: bool) -> tuple[tuple[str, int], ...] | str:
    """A format as (specifier, count) tokens (literal text as ("'text", 0)), or an error message."""
    table = _SPAN_SPECIFIERS if for_span else _DATE_SPECIFIERS
    tokens: list[tuple[str, int]] = []
    literal: list[str] = []
    i = 0
    while i < len(fmt):
        ch = fmt[i]
        j = i
        while j < len(fmt) and fmt[j] == ch:
            j += 1
        if ch in table:
            low, high = table[ch]
            if not low <= j - i <= high:
                return f"unsupported format specifier '{fmt[i:j]}'"
            if literal:
                tokens.append(("'" + "".join(literal), 0))
                literal = []
            tokens.append((ch, j - i))
        elif ch in _DELIMITERS:
            literal.append(fmt[i:j])
        else:
            return (
                f"unsupported character '{ch}' in format (delimiters allowed: {''.join(sorted(_DELIMITERS))})"
            )
        i = j
    if literal:
        tokens.append(("'" + "".join(literal), 0))
    return tuple(tokens)


def _fraction(frac: int, spec: str, count: int) -> str:
    digits = f"{frac:07d}"[:count]
    return digits if spec == "f" else digits.rstrip("0")


def _render(tokens: tuple[tuple[str, int], ...], values: dict[str, int], frac: int) -> str:
    out: list[str] = []
    for spec, count in tokens:
        if spec.startswith("'"):
            out.append(spec[1:])
        elif spec in ("f", "F"):
            text = _fraction(frac, spec, count)
            if not text and out and out[-1].endswith("."):
                out[-1] = out[-1][:-1]
            out.append(text)
        elif spec == "t":
            out.append("AM" if values["H"] < 12 else "PM")
        elif spec == "y" and count <= 2:
            year = values["y"] % 100
            out.append(f"{year:0{count}d}")
        else:
            out.append(f"{values[spec]:0{count}d}")
    return "".join(out)


def format_datetime(ctx: object, value: object, fmt: object) -> str:
    if not _is_int(value) or not isinstance(fmt, str):
        return ""
    tokens = _parse_format(fmt, False)
    day = _date(int(value))
    if isinstance(tokens, str) or day is None:
        return ""
    in_day = int(value) % tk.DAY
    hour = in_day // tk.HOUR
    values = {
        "d": day.day,
        "M": day.month,
        "y": day.year,
        "H": hour,
        "h": hour % 12 or 12,
        "m": in_day // tk.MINUTE % 60,
        "s": in_day // tk.SECOND % 60,
    }
    return _render(tokens, values, in_day % tk.SECOND)


def format_timespan(ctx: object, value: object, fmt: object) -> str:
    if not _is_int(value) or not isinstance(fmt, str):
        return ""
    tokens = _parse_format(fmt, True)
    if isinstance(tokens, str):
        return ""
    span = abs(int(value))
    values = {
        "d": span // tk.DAY,
        "h": span % tk.DAY // tk.HOUR,
        "H": span % tk.DAY // tk.HOUR,
        "m": span % tk.HOUR // tk.MINUTE,
        "s": span % tk.MINUTE // tk.SECOND,
    }
    text = _render(tokens, values, span % tk.SECOND)
    return "-" + text if int(value) < 0 else text


def _format_check(for_span: bool) -> Callable[[Sequence[object]], str | None]:
    def check(args: Sequence[object]) -> str | None:
        if len(args) > 1 and isinstance(args[1], str):
            tokens = _parse_format(args[1], for_span)
            if isinstance(tokens, str):
                return f"argument #2 is not a valid format: {tokens}"
        return None

    return check


# ---------------------------------------------------------------------------
# Registration

DT, TS, INT = DATETIME, TIMESPAN, INTEGER
register(
    "now",
    now,
    [TS],
    "datetime",
    min_args=0,
    signature="now([offset]) -> datetime",
    summary="The query's start time (the same for every row), plus offset.",
)
register("ago", ago, [TS], "datetime", signature="ago(span) -> datetime", summary="now() - span.")
register(
    "datetime_add",
    datetime_add,
    [STRING, INT, DT],
    "datetime",
    check=_part_check(0, _ADD_PARTS),
    signature="datetime_add(part, amount, dt) -> datetime",
    summary="dt plus amount parts (Year, Quarter, Month, Week, Day, Hour, Minute, Second, Millisecond, Microsecond, Nanosecond); months clamp the day.",
)
register(
    "datetime_diff",
    datetime_diff,
    [STRING, DT, DT],
    "long",
    check=_part_check(0, _ADD_PARTS),
    signature="datetime_diff(part, dt1, dt2) -> long",
    summary="Number of part boundaries between dt2 and dt1 (dt1 - dt2; weeks start on Sunday).",
)
register(
    "datetime_part",
    datetime_part,
    [STRING, DT],
    "int",
    check=_part_check(0, _PART_OF),
    signature="datetime_part(part, dt) -> int",
    summary="One calendar part of dt (Year, Quarter, Month, week_of_year, Day, DayOfYear, Hour, ..., Nanosecond).",
)
for _unit in ("day", "week", "month", "year"):
    for _end in (False, True):
        _name = f"{'endof' if _end else 'startof'}{_unit}"
        register(
            _name,
            _period_function(_unit, _end),
            [DT, INT],
            "datetime",
            min_args=1,
            signature=f"{_name}(dt[, offset]) -> datetime",
            summary=f"{'Last tick' if _end else 'Start'} of the {_unit} of dt{' (weeks start on Sunday)' if _unit == 'week' else ''}, moved by offset {_unit}s.",
        )
register(
    "dayofweek",
    dayofweek,
    [DT],
    "timespan",
    signature="dayofweek(dt) -> timespan",
    summary="Whole days since the preceding Sunday (0d for Sunday .. 6d for Saturday).",
)
for _name, _fn, _what, _aliases in (
    ("dayofmonth", lambda d: d.day, "Day of the month (1-31)", []),
    ("dayofyear", lambda d: d.timetuple().tm_yday, "Day of the year (1-366)", []),
    ("monthofyear", lambda d: d.month, "Month (1-12)", ["getmonth"]),
    ("getyear", lambda d: d.year, "Year", []),
    ("week_of_year", lambda d: d.isocalendar()[1], "ISO 8601 week number", ["weekofyear"]),
):
    register(
        _name,
        _date_part(_fn),
        [DT],
        "int" if _name != "getyear" else "long",
        aliases=_aliases,
        signature=f"{_name}(dt) -> {'int' if _name != 'getyear' else 'long'}",
        summary=f"{_what} of dt.",
    )
register("hourofday", hourofday, [DT], "int", signature="hourofday(dt) -> int", summary="Hour of dt (0-23).")
register(
    "make_datetime",
    make_datetime,
    [INT, INT, INT, INT, INT, NUMBER],
    "datetime",
    min_args=3,
    signature="make_datetime(year, month, day[, hour, minute[, second]]) -> datetime",
    summary="The datetime of these parts; null when a part is out of range.",
)
register(
    "make_timespan",
    make_timespan,
    [NUMBER, NUMBER, NUMBER, NUMBER],
    "timespan",
    min_args=2,
    signature="make_timespan(hours, minutes[, seconds]) or make_timespan(days, hours, minutes, seconds) -> timespan",
    summary="The timespan of these parts.",
)
for _name, _scale in (
    ("unixtime_seconds_todatetime", tk.SECOND),
    ("unixtime_milliseconds_todatetime", tk.MILLISECOND),
    ("unixtime_microseconds_todatetime", tk.MICROSECOND),
):
    register(
        _name,
        _unixtime(_scale),
        [NUMBER],
        "datetime",
        signature=f"{_name}(n) -> datetime",
        summary=f"The datetime n {_name.split('_')[1]} after 1970-01-01.",
    )
register(
    "unixtime_nanoseconds_todatetime",
    lambda ctx, n: _unixtime(1)(ctx, n // 100 if _is_int(n) else n / 100 if isinstance(n, float) else None),
    [NUMBER],
    "datetime",
    signature="unixtime_nanoseconds_todatetime(n) -> datetime",
    summary="The datetime n nanoseconds after 1970-01-01.",
)
register(
    "format_datetime",
    format_datetime,
    [DT, STRING],
    "string",
    check=_format_check(False),
    signature="format_datetime(dt, format) -> string",
    summary="dt formatted with d dd f..fffffff F..FFFFFFF h hh H HH m mm M MM s ss tt y yy yyyy and delimiters ' /-:,._[]'.",
)
register(
    "format_timespan",
    format_timespan,
    [TS, STRING],
    "string",
    check=_format_check(True),
    signature="format_timespan(span, format) -> string",
    summary="span formatted with d..dddddddd f..fffffff F..FFFFFFF h hh H HH m mm s ss and delimiters ' /-:,._[]'.",
)


# ---------------------------------------------------------------------------
# Time zones


@lru_cache(maxsize=128)
def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def _utc_offset(ticks: int, zone: ZoneInfo, local: bool) -> int | None:
    day = _date(ticks)
    if day is None:
        return None
    in_day = ticks % tk.DAY
    moment = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(microseconds=in_day // 10)
    if local:
        wall = moment.replace(tzinfo=zone)
        offset = wall.utcoffset()
    else:
        offset = moment.astimezone(zone).utcoffset()
    return None if offset is None else offset // timedelta(microseconds=1) * 10


def datetime_utc_to_local(ctx: object, value: object, timezone: object) -> int | None:
    zone = _zone(timezone) if isinstance(timezone, str) else None
    if not _is_int(value) or zone is None:
        return None
    offset = _utc_offset(value, zone, local=False)
    return None if offset is None else tk.in_range(value + offset)


def datetime_local_to_utc(ctx: object, value: object, timezone: object) -> int | None:
    zone = _zone(timezone) if isinstance(timezone, str) else None
    if not _is_int(value) or zone is None:
        return None
    offset = _utc_offset(value, zone, local=True)
    return None if offset is None else tk.in_range(value - offset)


def _zone_check(args: Sequence[object]) -> str | None:
    name = args[1] if len(args) > 1 else None
    if isinstance(name, str) and _zone(name) is None:
        return f"argument #2 is not a known time zone: '{name}'"
    return None


register(
    "datetime_utc_to_local",
    datetime_utc_to_local,
    [DT, STRING],
    "datetime",
    check=_zone_check,
    signature="datetime_utc_to_local(dt, timezone) -> datetime",
    summary="The wall-clock time in an IANA time zone of a UTC datetime.",
)
register(
    "datetime_local_to_utc",
    datetime_local_to_utc,
    [DT, STRING],
    "datetime",
    check=_zone_check,
    signature="datetime_local_to_utc(dt, timezone) -> datetime",
    summary="The UTC datetime of a wall-clock time in an IANA time zone.",
)
