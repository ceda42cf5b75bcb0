"""Kusto's conversions between scalar types, the rendering of values as text, and the to*() functions."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from decimal import Decimal

from enrich.sandbox.kql.functions import ticks as tk
from enrich.sandbox.kql.functions.registry import ANY, DATETIME, STRINGISH, TIMESPAN, register

_INT_RE = re.compile(r"\s*[+-]?\d+\s*", re.ASCII)
_REAL_RE = re.compile(r"\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*", re.ASCII)
_SPECIAL_REALS = {"nan": math.nan, "infinity": math.inf, "+infinity": math.inf, "-infinity": -math.inf}
_GUID_RE = re.compile(
    r"\s*\{?([0-9a-fA-F]{8})-?([0-9a-fA-F]{4})-?([0-9a-fA-F]{4})-?([0-9a-fA-F]{4})-?([0-9a-fA-F]{12})\}?\s*"
)
_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)


def format_real(x: float) -> str:
    """A real as Kusto prints it (.NET shortest round-trip: ``1``, ``0.1``, ``1E+20``, ``NaN``)."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0:
        return "-0" if math.copysign(1.0, x) < 0 else "0"
    sign, digits, exponent = Decimal(repr(abs(x))).as_tuple()
    text = "".join(map(str, digits)).rstrip("0") or "0"
    exponent = int(exponent) + len(digits) - len(text)
    sci = len(text) + exponent - 1  # exponent of the leading digit
    prefix = "-" if x < 0 else ""
    if sci < -5 or sci >= 15:
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{prefix}{mantissa}E{'+' if sci >= 0 else '-'}{abs(sci):02d}"
    if exponent >= 0:
        return prefix + text + "0" * exponent
    point = len(text) + exponent
    if point > 0:
        return f"{prefix}{text[:point]}.{text[point:]}"
    return f"{prefix}0.{'0' * -point}{text}"


def dynamic_json(value: object) -> str:
    """Compact JSON of a dynamic value, as Kusto renders one in text."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def to_string(value: object, from_type: str = "") -> str:
    """``tostring``: every value as Kusto renders it; null gives ""."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        if from_type == "datetime":
            return tk.format_datetime(value) or ""
        if from_type == "timespan":
            return tk.format_timespan(value)
        return str(value)
    if isinstance(value, float):
        return format_real(value)
    if isinstance(value, list | dict):
        return dynamic_json(value)
    return str(value)


def to_long(value: object, low: int = _INT64[0], high: int = _INT64[1]) -> int | None:
    """``tolong``/``toint``: integers, truncated reals, bools, integer text; else null."""
    result: int | None
    if value is None or isinstance(value, list | dict):
        return None
    if isinstance(value, bool):
        result = int(value)
    elif isinstance(value, int):
        result = value
    elif isinstance(value, float):
        result = int(value) if math.isfinite(value) else None
    elif isinstance(value, str):
        if _INT_RE.fullmatch(value):
            result = int(value)
        else:
            real = to_real(value)
            result = int(real) if real is not None and math.isfinite(real) else None
    else:
        return None
    return result if result is not None and low <= result <= high else None


def to_int(value: object) -> int | None:
    """``toint``: as `to_long` within the 32-bit range."""
    return to_long(value, *_INT32)


def to_real(value: object) -> float | None:
    """``toreal``/``todouble``: numbers, bools and numeric text (``NaN``, ``Infinity`` too); else null."""
    if value is None or isinstance(value, list | dict):
        return None
    if isinstance(value, bool | int):
        try:
            return float(value)
        except OverflowError:
            return None
    if isinstance(value, float):
        return value
    if isinstance(value, str):
        if _REAL_RE.fullmatch(value):
            return float(value)
        return _SPECIAL_REALS.get(value.strip().lower())
    return None


def to_bool(value: object) -> bool | None:
    """``tobool``: bools, numbers (non-zero is true), "true"/"false" in any case; else null."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value != 0
    if isinstance(value, float):
        return None if math.isnan(value) else value != 0
    if isinstance(value, str):
        low = value.strip().lower()
        return True if low == "true" else False if low == "false" else None
    return None


def to_datetime(value: object, from_type: str = "") -> int | None:
    """``todatetime``: datetimes and date/time text; else null."""
    if isinstance(value, str):
        return tk.parse_datetime(value)
    if isinstance(value, int) and not isinstance(value, bool) and from_type == "datetime":
        return tk.in_range(value)
    return None


def to_timespan(value: object, from_type: str = "") -> int | None:
    """``totimespan``: timespans and timespan text (``1.02:03:04``, ``30m``); else null."""
    if isinstance(value, str):
        return tk.parse_timespan(value)
    if isinstance(value, int) and not isinstance(value, bool) and from_type == "timespan":
        return value
    return None


def to_dynamic(value: object, from_type: str = "") -> object:
    """``todynamic``/``parse_json``: JSON text parsed (other text kept as a string); typed values as JSON-like."""
    if isinstance(value, str):
        if from_type == "dynamic":
            return value
        if not value.strip():
            return None
        try:
            return json.loads(value)
        except (ValueError, RecursionError):
            return value
    if isinstance(value, int) and not isinstance(value, bool):
        if from_type == "datetime":
            return tk.format_datetime(value)
        if from_type == "timespan":
            return tk.format_timespan(value)
    return value


def to_guid(value: object) -> str:
    """``toguid``: the canonical lower-case form of a GUID, or "" (null) when not one."""
    if not isinstance(value, str):
        return ""
    m = _GUID_RE.fullmatch(value)
    return "-".join(m.groups()).lower() if m else ""


def net_ticks(value: object) -> object:
    """A datetime as Kusto's numbers see it: .NET ticks, counted from 0001-01-01."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value - tk.MIN_DATETIME
    return value


def convert_to(value: object, from_type: str, to_type: str) -> object:
    """Convert ``value`` of KQL type ``from_type`` to ``to_type`` as Kusto's to*() functions do."""
    if to_type == "string":
        return to_string(value, from_type)
    if from_type == "datetime" and to_type in ("long", "int", "real", "decimal"):
        value = net_ticks(value)
    if to_type == "long":
        return to_long(value)
    if to_type == "int":
        return to_int(value)
    if to_type in ("real", "decimal"):
        return to_real(value)
    if to_type == "bool":
        return to_bool(value)
    if to_type == "datetime":
        return to_datetime(value, from_type)
    if to_type == "timespan":
        return to_timespan(value, from_type)
    if to_type == "dynamic":
        return to_dynamic(value, from_type)
    if to_type == "guid":
        return to_guid(value)
    raise ValueError(f"unknown KQL type {to_type!r}")


def format_value(value: object, kql_type: str) -> object:
    """A value as a result row carries it: datetimes as ISO strings (7-digit fraction, ``Z``),
    timespans as Kusto's text (``1.02:03:04.5000000``), strings never null, others unchanged."""
    if kql_type == "datetime":
        if isinstance(value, str):
            parsed = tk.parse_datetime(value)
            return None if parsed is None else tk.format_datetime(parsed)
        if isinstance(value, int) and not isinstance(value, bool):
            return tk.format_datetime(value)
        return None
    if kql_type == "timespan":
        if isinstance(value, int) and not isinstance(value, bool):
            return tk.format_timespan(value)
        return value if isinstance(value, str) else None
    if kql_type in ("string", "guid"):
        return to_string(value)
    if kql_type == "bool":
        return to_bool(value)
    if kql_type in ("int", "long"):
        return to_long(value)
    if kql_type == "real":
        return to_real(value)
    return value


# ---------------------------------------------------------------------------
# The to*() functions


def _typed(convert: Callable[[object, str], object]) -> Callable[[Sequence[str]], Callable[..., object]]:
    def bind(types: Sequence[str]) -> Callable[..., object]:
        from_type = types[0] if types else ""
        return lambda ctx, value: convert(value, from_type)

    return bind


register(
    "tostring",
    lambda ctx, value: to_string(value),
    [ANY],
    "string",
    typed=_typed(to_string),
    signature="tostring(value) -> string",
    summary='Value as text: datetimes ISO with 7 fraction digits and Z, timespans [d.]hh:mm:ss[.fffffff], dynamic as compact JSON, null as "".',
)


def _numeric_typed(to_type: str) -> Callable[[Sequence[str]], Callable[..., object]]:
    def bind(types: Sequence[str]) -> Callable[..., object]:
        from_type = types[0] if types else ""
        return lambda ctx, value: convert_to(value, from_type, to_type)

    return bind


register(
    "tolong",
    lambda ctx, value: to_long(value),
    [ANY],
    "long",
    typed=_numeric_typed("long"),
    signature="tolong(value) -> long",
    summary="Integer value (reals truncated, bools 1/0, timespans as ticks, datetimes as ticks since 0001-01-01); null when not convertible.",
)
register(
    "toint",
    lambda ctx, value: to_int(value),
    [ANY],
    "int",
    typed=_numeric_typed("int"),
    signature="toint(value) -> int",
    summary="As tolong, null outside the 32-bit range.",
)
register(
    "toreal",
    lambda ctx, value: to_real(value),
    [ANY],
    "real",
    typed=_numeric_typed("real"),
    aliases=["todouble", "todecimal"],
    signature="toreal(value) -> real",
    summary="Real value of a number, bool or numeric text (NaN, Infinity accepted); null when not convertible.",
)
register(
    "tobool",
    lambda ctx, value: to_bool(value),
    [ANY],
    "bool",
    aliases=["toboolean"],
    signature="tobool(value) -> bool",
    summary='Bool of a bool, a number (non-zero is true) or "true"/"false" in any case; null otherwise.',
)
register(
    "todatetime",
    lambda ctx, value: to_datetime(value),
    [STRINGISH | DATETIME],
    "datetime",
    typed=_typed(to_datetime),
    signature="todatetime(value) -> datetime",
    summary="Datetime of ISO 8601 or RFC 822/1123 text (no zone is UTC); null when not a date.",
)
register(
    "totimespan",
    lambda ctx, value: to_timespan(value),
    [STRINGISH | TIMESPAN],
    "timespan",
    typed=_typed(to_timespan),
    aliases=["totime"],
    signature="totimespan(value) -> timespan",
    summary="Timespan of text like 1.02:03:04.5 or 30m; null when not one.",
)
register(
    "todynamic",
    lambda ctx, value: to_dynamic(value),
    [ANY],
    "dynamic",
    typed=_typed(to_dynamic),
    aliases=["parse_json", "toobject"],
    signature="todynamic(json) -> dynamic",
    summary="Parses JSON text; text that is not JSON is kept as a dynamic string; dynamic values pass unchanged.",
)
register(
    "toguid",
    lambda ctx, value: to_guid(value),
    [STRINGISH | frozenset({"guid"})],
    "guid",
    signature="toguid(value) -> guid",
    summary="Canonical lower-case GUID of GUID text; null otherwise.",
)


def _dynamic_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int" if -(2**31) <= value < 2**31 else "long"
    if isinstance(value, float):
        return "real"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "dictionary"


def gettype(ctx: object, value: object) -> str:
    """Type name of a value judged by the value alone (`bind` knows the argument's static type)."""
    return "long" if isinstance(value, int) and not isinstance(value, bool) else _dynamic_type(value)


def _gettype_typed(types: Sequence[str]) -> Callable[..., object]:
    kql_type = types[0] if types else ""
    if kql_type == "dynamic":
        return lambda ctx, value: _dynamic_type(value)
    return lambda ctx, value: kql_type


register(
    "gettype",
    gettype,
    [ANY],
    "string",
    typed=_gettype_typed,
    signature="gettype(value) -> string",
    summary="The type of value: its KQL type, or for dynamic values null, bool, int, long, real, string, array or dictionary.",
)
