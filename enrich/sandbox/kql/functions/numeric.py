"""Numeric functions: bin/floor/bin_at (numbers, datetimes, timespans), round, abs, logs, powers, tests."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from enrich.sandbox.kql.functions import ticks as tk
from enrich.sandbox.kql.functions.registry import (
    DATETIME,
    INTEGER,
    NUMBER,
    TIMESPAN,
    FunctionTypeError,
    arity_message,
    numeric_result,
    register,
    type_message,
)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _binned(value: object, size: object, origin: float | int) -> int | float | None:
    """``value`` floored to a multiple of ``size`` counted from ``origin``; null for a size <= 0."""
    if not _is_number(value) or not _is_number(size) or not size > 0 or not _is_number(origin):  # type: ignore[operator]
        return None
    if isinstance(value, int) and isinstance(size, int) and isinstance(origin, int):
        return (value - origin) // size * size + origin
    try:
        result = math.floor((value - origin) / size) * size + origin  # type: ignore[operator]
    except (OverflowError, ValueError):
        return math.nan
    return float(result)


def _bin_result(name: str, types: Sequence[str], fixed: bool) -> str:
    message = arity_message(name, 3 if fixed else 2, 3 if fixed else 2, len(types))
    if message:
        raise FunctionTypeError(message)
    value, size = types[0], types[1]
    if value == "datetime":
        expected = TIMESPAN
        result = "datetime"
    elif value == "timespan":
        expected = TIMESPAN
        result = "timespan"
    elif value in NUMBER:
        expected = NUMBER
        result = "real" if "real" in (value, size) else "long"
    else:
        raise FunctionTypeError(type_message(name, 0, NUMBER | DATETIME | TIMESPAN, value))
    if size not in expected:
        raise FunctionTypeError(type_message(name, 1, expected, size))
    if fixed:
        origin_type = types[2]
        accepted = frozenset({value}) if value in ("datetime", "timespan") else NUMBER
        if origin_type not in accepted:
            raise FunctionTypeError(type_message(name, 2, accepted, origin_type))
        if value in NUMBER and origin_type == "real":
            result = "real"
    return result


def _bin_origin(value: object) -> int:
    return tk.MIN_DATETIME if isinstance(value, int) else 0


def bin_(ctx: object, value: object, size: object) -> int | float | None:
    return _binned(value, size, 0)


def _bin_typed(types: Sequence[str]) -> Callable[..., object]:
    result = _bin_result("bin", types, False)
    if result == "datetime":
        # Kusto bins datetimes on .NET ticks, counted from 0001-01-01.
        return lambda ctx, value, size: _as_datetime(_binned(value, size, tk.MIN_DATETIME))
    if result == "real":
        return lambda ctx, value, size: _as_real(_binned(value, size, 0))
    return bin_


def _as_real(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _as_datetime(value: object) -> int | None:
    return tk.in_range(value) if isinstance(value, int) and not isinstance(value, bool) else None


def bin_at(ctx: object, value: object, size: object, fixed_point: object) -> int | float | None:
    if not isinstance(fixed_point, int | float) or isinstance(fixed_point, bool):
        return None
    return _binned(value, size, fixed_point)


def _bin_at_typed(types: Sequence[str]) -> Callable[..., object]:
    result = _bin_result("bin_at", types, True)
    if result == "datetime":
        return lambda ctx, v, s, p: _as_datetime(bin_at(ctx, v, s, p))
    if result == "real":
        return lambda ctx, v, s, p: _as_real(bin_at(ctx, v, s, p))
    return bin_at


def round_(ctx: object, value: object, precision: object = 0) -> int | float | None:
    """Half away from zero at ``precision`` decimal digits (negative: tens, hundreds...)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if not isinstance(precision, int) or isinstance(precision, bool):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return value
    digits = max(-400, min(400, precision))
    if isinstance(value, int):
        if digits >= 0:
            return value
        unit = 10**-digits
        q, r = divmod(abs(value), unit)
        return int(math.copysign((q + (2 * r >= unit)) * unit, value)) if value else 0
    scale = 10.0 ** max(-308, min(308, digits))
    scaled = abs(value) * scale
    if not math.isfinite(scaled):
        return value
    rounded = math.floor(scaled + 0.5) / scale
    return math.copysign(rounded, value)


def _real_fn(fn: Callable[[float], float]) -> Callable[..., float | None]:
    def apply(ctx: object, value: object) -> float | None:
        if not _is_number(value):
            return None
        try:
            return fn(float(value))  # type: ignore[arg-type]
        except (ValueError, OverflowError):
            return None

    return apply


def _log(base_fn: Callable[[float], float]) -> Callable[[float], float]:
    def log(x: float) -> float:
        if math.isnan(x) or x < 0:
            return math.nan
        if x == 0:
            return -math.inf
        return base_fn(x)

    return log


def _exp(fn: Callable[[float], float]) -> Callable[[float], float]:
    def exp(x: float) -> float:
        try:
            return fn(x)
        except OverflowError:
            return math.inf

    return exp


def abs_(ctx: object, value: object) -> int | float | None:
    return abs(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def sign(ctx: object, value: object) -> int | float | None:
    if not _is_number(value):
        return None
    if isinstance(value, float):
        return value if math.isnan(value) else float((value > 0) - (value < 0))
    return (value > 0) - (value < 0)  # type: ignore[operator]


def pow_(ctx: object, base: object, exponent: object) -> float | None:
    if not _is_number(base) or not _is_number(exponent):
        return None
    try:
        return math.pow(float(base), float(exponent))  # type: ignore[arg-type]
    except (ValueError, ZeroDivisionError):
        return math.nan
    except OverflowError:
        return math.inf


def _same_numeric(name: str) -> Callable[[Sequence[str]], str]:
    def returns(types: Sequence[str]) -> str:
        message = arity_message(name, 1, 1, len(types))
        if message:
            raise FunctionTypeError(message)
        if types[0] not in NUMBER | TIMESPAN:
            raise FunctionTypeError(type_message(name, 0, NUMBER, types[0]))
        return "long" if types[0] == "int" else types[0]

    return returns


def _round_returns(types: Sequence[str]) -> str:
    message = arity_message("round", 1, 2, len(types))
    if message:
        raise FunctionTypeError(message)
    if types[0] not in NUMBER:
        raise FunctionTypeError(type_message("round", 0, NUMBER, types[0]))
    if len(types) > 1 and types[1] not in INTEGER:
        raise FunctionTypeError(type_message("round", 1, INTEGER, types[1]))
    return numeric_result(types[:1]).replace("int", "long")


def _is_test(fn: Callable[[float], bool]) -> Callable[..., bool | None]:
    def test(ctx: object, value: object) -> bool | None:
        if not _is_number(value):
            return None
        return fn(float(value))  # type: ignore[arg-type]

    return test


# ---------------------------------------------------------------------------
# Registration

register(
    "bin",
    bin_,
    [NUMBER | DATETIME | TIMESPAN, NUMBER | TIMESPAN],
    "",
    returns=lambda types: _bin_result("bin", types, False),
    typed=_bin_typed,
    aliases=["floor"],
    signature="bin(value, size) -> type of value",
    summary="value rounded down to a multiple of size (numbers, timespans; datetimes with a timespan size); null for size <= 0.",
)
register(
    "bin_at",
    bin_at,
    [NUMBER | DATETIME | TIMESPAN, NUMBER | TIMESPAN, NUMBER | DATETIME | TIMESPAN],
    "",
    returns=lambda types: _bin_result("bin_at", types, True),
    typed=_bin_at_typed,
    signature="bin_at(value, size, fixed_point) -> type of value",
    summary="value rounded down to fixed_point plus a multiple of size.",
)
register(
    "round",
    round_,
    [NUMBER, INTEGER],
    "",
    min_args=1,
    returns=_round_returns,
    signature="round(x[, precision]) -> type of x",
    summary="x rounded half away from zero to precision decimal digits (default 0; negative rounds to tens, hundreds...).",
)
register(
    "abs",
    abs_,
    [NUMBER | TIMESPAN],
    "",
    returns=_same_numeric("abs"),
    signature="abs(x) -> type of x",
    summary="Absolute value of a number or timespan.",
)
register(
    "sign",
    sign,
    [NUMBER],
    "",
    returns=_same_numeric("sign"),
    signature="sign(x) -> type of x",
    summary="-1, 0 or 1 as x is negative, zero or positive.",
)
for _name, _fn, _what in (
    ("log", _log(math.log), "Natural logarithm"),
    ("log2", _log(math.log2), "Base-2 logarithm"),
    ("log10", _log(math.log10), "Base-10 logarithm"),
    ("exp", _exp(math.exp), "e to the power"),
    ("exp2", _exp(lambda x: math.pow(2.0, x)), "2 to the power"),
    ("exp10", _exp(lambda x: math.pow(10.0, x)), "10 to the power"),
    ("sqrt", lambda x: math.sqrt(x) if x >= 0 else math.nan, "Square root"),
    ("ceiling", lambda x: float(math.ceil(x)) if math.isfinite(x) else x, "Smallest integer not below"),
):
    register(
        _name,
        _real_fn(_fn),
        [NUMBER],
        "real",
        signature=f"{_name}(x) -> real",
        summary=f"{_what} of x{' (-inf for 0, NaN for negatives)' if _name.startswith('log') else ''}.",
    )
register(
    "pow",
    pow_,
    [NUMBER, NUMBER],
    "real",
    signature="pow(base, exponent) -> real",
    summary="base raised to exponent.",
)
register("pi", lambda ctx: math.pi, [], "real", signature="pi() -> real", summary="The constant pi.")
for _name, _test, _what in (
    ("isnan", math.isnan, "not a number"),
    ("isinf", math.isinf, "infinite"),
    ("isfinite", math.isfinite, "finite"),
):
    register(
        _name,
        _is_test(_test),
        [NUMBER],
        "bool",
        signature=f"{_name}(x) -> bool",
        summary=f"True when x is {_what}.",
    )
