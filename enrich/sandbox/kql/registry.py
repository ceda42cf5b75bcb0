"""Where the engine finds scalar functions: the functions package (``enrich.sandbox.kql.functions``).

The package is written alongside the engine; until it is importable, a few built-ins stand in
(the ones the engine served before it: ``ago``, ``now``, ``isempty``, ``isnotempty`` and a handful
of conversions) with the same interface, so the engine runs either way.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from enrich.sandbox.kql.values import (
    _to_bool,
    _to_long,
    _to_real,
    _to_string,
    _to_ticks,
    format_datetime,
)

_TICKS_PER_DAY = 864_000_000_000


class _FallbackTypeError(Exception):
    """Argument types that do not fit a stand-in function."""


@dataclass(frozen=True)
class _Function:
    name: str
    min_args: int
    max_args: int | None
    returns: Callable[[Sequence[str]], str]
    call: Callable[..., object]


def _fixed(result: str, *expected: str | None) -> Callable[[Sequence[str]], str]:
    def returns(types: Sequence[str]) -> str:
        for i, (got, want) in enumerate(zip(types, expected, strict=False)):
            if want is not None and got != want and not (want == "string" and got == "guid"):
                raise _FallbackTypeError(f"argument #{i + 1} expected to be a {want} expression")
        return result

    return returns


def _bin(ctx: object, value: object, size: object) -> object:
    if value is None or size is None or size == 0:
        return None
    try:
        return (value // size) * size  # type: ignore[operator]
    except TypeError:
        return None


def _bin_returns(types: Sequence[str]) -> str:
    if types[0] in ("datetime", "timespan"):
        return types[0]
    if types[0] in ("int", "long", "real"):
        return "real" if "real" in types else "long"
    raise _FallbackTypeError("bin(): argument #1 expected to be a numeric, datetime or timespan expression")


def _iff_returns(types: Sequence[str]) -> str:
    if types[0] != "bool":
        raise _FallbackTypeError("iff(): argument #1 expected to be a bool expression")
    if types[1] != types[2] and {types[1], types[2]} - {"int", "long", "real"}:
        raise _FallbackTypeError("iff(): arguments #2 and #3 expected to be of the same type")
    return types[1]


_FALLBACK: dict[str, _Function] = {
    f.name: f
    for f in (
        _Function(
            "ago",
            1,
            1,
            _fixed("datetime", "timespan"),
            lambda ctx, span: None if span is None else ctx.now - span,
        ),
        _Function("now", 0, 1, _fixed("datetime", "timespan"), lambda ctx, span=0: ctx.now + (span or 0)),
        _Function("isempty", 1, 1, _fixed("bool"), lambda ctx, v: v is None or v == ""),
        _Function("isnotempty", 1, 1, _fixed("bool"), lambda ctx, v: v is not None and v != ""),
        _Function("isnull", 1, 1, _fixed("bool"), lambda ctx, v: v is None),
        _Function("isnotnull", 1, 1, _fixed("bool"), lambda ctx, v: v is not None),
        _Function("tolower", 1, 1, _fixed("string"), lambda ctx, v: _to_string(v).lower()),
        _Function("toupper", 1, 1, _fixed("string"), lambda ctx, v: _to_string(v).upper()),
        _Function("tostring", 1, 1, _fixed("string"), lambda ctx, v: _to_string(v)),
        _Function("strlen", 1, 1, _fixed("long", "string"), lambda ctx, v: len(v)),
        _Function("bin", 2, 2, _bin_returns, _bin),
        _Function("iff", 3, 3, _iff_returns, lambda ctx, c, a, b: a if c is True else b),
        _Function("iif", 3, 3, _iff_returns, lambda ctx, c, a, b: a if c is True else b),
    )
}


def _fallback_convert(value: object, from_type: str, to_type: str) -> object:
    if value is None:
        return "" if to_type == "string" else None
    if to_type in ("string", "guid"):
        if from_type == "datetime" and isinstance(value, int):
            return format_datetime(value) or ""
        if from_type == "dynamic" and isinstance(value, list | dict):
            return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        return _to_string(value)
    if to_type in ("int", "long", "timespan"):
        return _to_long(value)
    if to_type == "real":
        return _to_real(value)
    if to_type == "bool":
        return _to_bool(value)
    if to_type == "datetime":
        return _to_ticks(value) if from_type in ("string", "dynamic", "datetime") else None
    return value


def _format_timespan(ticks: int) -> str:
    sign = "-" if ticks < 0 else ""
    ticks = abs(ticks)
    days, rem = divmod(ticks, _TICKS_PER_DAY)
    seconds, frac = divmod(rem, 10_000_000)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    text = f"{sign}{str(days) + '.' if days else ''}{hours:02d}:{minutes:02d}:{seconds:02d}"
    return text + (f".{frac:07d}" if frac else "")


def _fallback_format(value: object, kql_type: str) -> object:
    if value is None:
        return None
    if kql_type == "datetime":
        return format_datetime(value) if isinstance(value, int) else None
    if kql_type == "timespan":
        return _format_timespan(value) if isinstance(value, int) else None
    return value


_REQUIRED = ("FUNCTIONS", "FunctionTypeError", "NOT_CONSTANT", "validate", "convert_to", "format_value")
try:
    from enrich.sandbox.kql import functions as _functions

    _missing = [name for name in _REQUIRED if not hasattr(_functions, name)]
    if _missing:
        raise ImportError(f"enrich.sandbox.kql.functions lacks {', '.join(_missing)}")
except ImportError:  # the functions package is not there (yet)
    FUNCTIONS: Mapping[str, Any] = _FALLBACK
    TYPE_ERRORS: tuple[type[Exception], ...] = (_FallbackTypeError,)
    NOT_CONSTANT: object = object()

    def validate(name: str, args: Sequence[object]) -> str | None:
        """Constant-argument check (none for the stand-ins)."""
        return None

    convert_to = _fallback_convert
    format_value = _fallback_format
    describe: Callable[[], list[tuple[str, str]]] | None = None
else:
    FUNCTIONS = _functions.FUNCTIONS
    TYPE_ERRORS = (_functions.FunctionTypeError,)
    NOT_CONSTANT = _functions.NOT_CONSTANT
    validate = _functions.validate
    convert_to = _functions.convert_to
    format_value = _functions.format_value
    describe = getattr(_functions, "describe", None)
