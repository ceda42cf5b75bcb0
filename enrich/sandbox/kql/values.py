"""Values of the sandbox's KQL engine: errors, results, datetimes in ticks, typed column getters,
rows extended without copies, term matching (``has``)."""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

TICKS_PER_SECOND = 10_000_000
_TICKS_PER_MINUTE = 60 * TICKS_PER_SECOND
_TICKS_PER_HOUR = 60 * _TICKS_PER_MINUTE
_TICKS_PER_DAY = 24 * _TICKS_PER_HOUR
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

#: Parentheses / sub-queries / function calls nested deeper than this are refused.
MAX_NESTING = 64

_NUMERIC = frozenset({"long", "int", "real"})
_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_TERM_RE = re.compile(r"[a-z0-9]+")

_TIMESPAN_UNITS = {
    "d": _TICKS_PER_DAY,
    "day": _TICKS_PER_DAY,
    "days": _TICKS_PER_DAY,
    "h": _TICKS_PER_HOUR,
    "hr": _TICKS_PER_HOUR,
    "hrs": _TICKS_PER_HOUR,
    "hour": _TICKS_PER_HOUR,
    "hours": _TICKS_PER_HOUR,
    "m": _TICKS_PER_MINUTE,
    "min": _TICKS_PER_MINUTE,
    "minute": _TICKS_PER_MINUTE,
    "minutes": _TICKS_PER_MINUTE,
    "s": TICKS_PER_SECOND,
    "sec": TICKS_PER_SECOND,
    "second": TICKS_PER_SECOND,
    "seconds": TICKS_PER_SECOND,
    "ms": 10_000,
    "milli": 10_000,
    "millis": 10_000,
    "millisecond": 10_000,
    "milliseconds": 10_000,
    "microsecond": 10,
    "microseconds": 10,
    "tick": 1,
    "ticks": 1,
}

# Operands are Any: the compiler only compares values of one type family (numbers with
# numbers, strings with strings, datetimes with datetimes), so they are mutually comparable,
# a pairing the type system cannot express on the operand types themselves.
_COMPARISONS: dict[str, Callable[[Any, Any], object]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<>": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


class KqlError(Exception):
    """A query that is not valid KQL or falls outside the supported subset.

    ``line`` and ``column`` are 1-based (``None`` when the error has no position);
    ``position`` is the 0-based character offset in the query text.
    """

    def __init__(
        self,
        message: str,
        *,
        line: int | None = None,
        column: int | None = None,
        position: int | None = None,
        token: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column
        self.position = position
        self.token = token


@dataclass
class QueryResult:
    """Result of :func:`run_query`: ``schema`` is a list of (column name, KQL type) and
    ``rows`` a list of dicts keyed by those names (datetimes as ISO strings)."""

    schema: list[tuple[str, str]]
    rows: list[dict[str, object]]


# ---------------------------------------------------------------------------
# Datetime helpers


_ISO_RE = re.compile(
    r"\s*(\d{4})-(\d{1,2})-(\d{1,2})"
    r"(?:[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,7})\d*)?)?)?"
    r"\s*(Z|z|[+-]\d{2}:?\d{2})?\s*",
    re.ASCII,
)


def _ticks_from_parts(year: int, month: int, day: int, hour: int, minute: int, second: int, frac: int) -> int:
    if hour > 23 or minute > 59 or second > 59:
        raise ValueError("time out of range")
    days = date(year, month, day).toordinal() - _EPOCH_ORDINAL
    return (days * 86_400 + hour * 3600 + minute * 60 + second) * TICKS_PER_SECOND + frac


def parse_datetime(text: str) -> int | None:
    """Ticks (100 ns since 1970-01-01Z) of an ISO-8601 date/time, or ``None`` if invalid.

    Accepts ``2026-01-01``, ``2026-01-01 10:11``, ``2026-01-01T10:11:12.1234567Z`` and
    ``+hh:mm`` offsets; times without an offset are UTC.
    """
    try:
        if len(text) == 28 and text[10] == "T" and text[19] == "." and text[27] == "Z":
            # fast path for the canonical form the tables carry
            return _ticks_from_parts(
                int(text[0:4]),
                int(text[5:7]),
                int(text[8:10]),
                int(text[11:13]),
                int(text[14:16]),
                int(text[17:19]),
                int(text[20:27]),
            )
    except ValueError:
        pass
    m = _ISO_RE.fullmatch(text)
    if m is None:
        return None
    year, month, day, hour, minute, second, frac, zone = m.groups()
    try:
        ticks = _ticks_from_parts(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            int((frac or "").ljust(7, "0")),
        )
    except ValueError:
        return None
    if zone and zone not in "Zz":
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        hours, minutes = int(digits[:2]), int(digits[2:])
        if hours > 23 or minutes > 59:
            return None
        ticks -= sign * (hours * _TICKS_PER_HOUR + minutes * _TICKS_PER_MINUTE)
    return ticks


def format_datetime(ticks: int) -> str | None:
    """``2026-11-20T10:11:12.1234567Z`` for a tick count (``None`` if out of range)."""
    seconds, frac = divmod(ticks, TICKS_PER_SECOND)
    days, rem = divmod(seconds, 86_400)
    try:
        day = date.fromordinal(days + _EPOCH_ORDINAL)
    except (ValueError, OverflowError):
        return None
    hour, rem = divmod(rem, 3600)
    minute, second = divmod(rem, 60)
    return f"{day.isoformat()}T{hour:02d}:{minute:02d}:{second:02d}.{frac:07d}Z"


def datetime_to_ticks(value: datetime) -> int:
    """Ticks of a :class:`datetime` (a naive one is taken as UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (value - _EPOCH) // timedelta(microseconds=1) * 10


# ---------------------------------------------------------------------------
# Value normalisation (table rows -> internal values -> result values)

Row = Mapping[str, object]


def _to_string(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, datetime):
        return format_datetime(datetime_to_ticks(value)) or ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _to_long(value: object) -> int | None:
    if value is None or isinstance(value, bool):
        return None if value is None else int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def _to_real(value: object) -> float | None:
    if value is None:
        return None
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _to_ticks(value: object) -> int | None:
    """Ticks of a datetime cell: ticks (int), an ISO string or a :class:`datetime`; "" and junk are null."""
    if value.__class__ is int:
        return value
    if isinstance(value, str):
        return parse_datetime(value) if value else None
    if isinstance(value, datetime):
        return datetime_to_ticks(value)
    return None


def _to_bool(value: object) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        low = value.strip().lower()
        return True if low == "true" else False if low == "false" else None
    if isinstance(value, int | float):
        return bool(value)
    return None


def _to_dynamic(value: object) -> object:
    return value


def _to_guid(value: object) -> str:
    return _to_string(value)


_CONVERTERS: dict[str, Callable[[object], object]] = {
    "string": _to_string,
    "guid": _to_guid,
    "long": _to_long,
    "int": _to_long,
    "real": _to_real,
    "datetime": _to_ticks,
    "bool": _to_bool,
    "timespan": _to_long,
    "dynamic": _to_dynamic,
}


def _getter(column: str, kql_type: str) -> Callable[[Row], object]:
    """Row -> value of ``column`` in the shared value model for ``kql_type`` (missing -> "" or null).

    Values of the model are a fixed point of the conversion, so the same getter reads table
    rows (ISO datetimes) and rows built by earlier operators (ticks)."""
    if kql_type in ("string", "guid"):

        def get_string(row: Row) -> object:
            v = row.get(column)
            return v if v.__class__ is str else _to_string(v)

        return get_string
    if kql_type == "datetime":

        def get_datetime(row: Row) -> object:
            v = row.get(column)
            return v if v.__class__ is int else _to_ticks(v)

        return get_datetime
    if kql_type in ("long", "int", "timespan"):

        def get_long(row: Row) -> object:
            v = row.get(column)
            return v if v.__class__ is int else _to_long(v)

        return get_long
    if kql_type == "dynamic":
        return lambda row: row.get(column)
    convert = _CONVERTERS.get(kql_type, _to_string)
    return lambda row: convert(row.get(column))


def _infer_schema(rows: Sequence[Mapping[str, object]]) -> list[tuple[str, str]]:
    """Column types of a table without a declared schema, from its first row's values."""
    if not rows:
        return []
    schema = []
    for name, value in rows[0].items():
        if isinstance(value, bool):
            kql_type = "bool"
        elif isinstance(value, int):
            kql_type = "long"
        elif isinstance(value, float):
            kql_type = "real"
        elif isinstance(value, datetime):
            kql_type = "datetime"
        elif isinstance(value, list | dict):
            kql_type = "dynamic"
        else:
            kql_type = "string"
        schema.append((str(name), kql_type))
    return schema


# ---------------------------------------------------------------------------
# Term matching (has / has_any)


def _has_term(hay: str, needle: str) -> bool:
    """KQL ``has`` on lower-cased strings: ``needle`` occurs in ``hay`` on term boundaries
    (a term is a maximal run of ASCII letters and digits)."""
    if not needle:
        return False
    n = len(needle)
    check_start = needle[0] in _ALNUM
    check_end = needle[-1] in _ALNUM
    i = hay.find(needle)
    while i >= 0:
        if (not check_start or i == 0 or hay[i - 1] not in _ALNUM) and (
            not check_end or i + n == len(hay) or hay[i + n] not in _ALNUM
        ):
            return True
        i = hay.find(needle, i + 1)
    return False


class _TermMatcher:
    """``has_any`` over many needles without scanning the haystack once per needle."""

    def __init__(self, needles: list[str]) -> None:
        self.terms: set[str] = set()  # needles that are a single term
        self.by_first_term: dict[str, list[str]] = {}  # needles starting with a term
        self.others: list[str] = []  # needles starting with a separator
        for needle in needles:
            if not needle:
                continue
            if needle[0] not in _ALNUM:
                self.others.append(needle)
                continue
            first = _TERM_RE.match(needle)
            if first is not None and first.end() == len(needle):
                self.terms.add(needle)
            else:
                key = needle[: first.end()] if first is not None else needle
                self.by_first_term.setdefault(key, []).append(needle)

    def __call__(self, hay: str) -> bool:
        terms, by_first = self.terms, self.by_first_term
        for m in _TERM_RE.finditer(hay):
            term = m.group()
            if term in terms:
                return True
            candidates = by_first.get(term)
            if candidates:
                start = m.start()
                for needle in candidates:
                    end = start + len(needle)
                    if hay.startswith(needle, start) and (
                        needle[-1] not in _ALNUM or end == len(hay) or hay[end] not in _ALNUM
                    ):
                        return True
        return any(_has_term(hay, needle) for needle in self.others)


_MISSING = object()


class Extended(Mapping[str, object]):
    """A row with columns added or replaced by an operator (``extend``, ``mv-expand``, ``parse``...),
    without copying the row it extends: lookups try the new columns, then the base row."""

    __slots__ = ("base", "extra")

    def __init__(self, base: Row, extra: dict[str, object]) -> None:
        if isinstance(base, Extended):
            # one level only: the new columns of both operators in one small dict
            self.base: Row = base.base
            self.extra: dict[str, object] = {**base.extra, **extra}
        else:
            self.base = base
            self.extra = extra

    def get(self, key: str, default: object = None) -> object:
        value = self.extra.get(key, _MISSING)
        if value is not _MISSING:
            return value
        return self.base.get(key, default)

    def __getitem__(self, key: str) -> object:
        value = self.extra.get(key, _MISSING)
        if value is not _MISSING:
            return value
        return self.base[key]

    def __contains__(self, key: object) -> bool:
        return key in self.extra or key in self.base

    def __iter__(self) -> Iterator[str]:
        extra = self.extra
        yield from (key for key in self.base if key not in extra)
        yield from extra

    def __len__(self) -> int:
        return sum(1 for _ in self)
