"""Numeric functions: bin/floor/bin_at (numbers, datetimes, timespans), round, abs, logs, powers, tests."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from typing import TypeGuard

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


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _binned(value: object, size: object, origin: float | int) -> int | float | None:
    """``value`` floored to a multiple of ``size`` counted from ``origin``; null for a size <= 0."""
    if not _is_number(value) or not _is_number(size) or not size > 0 or not _is_number(origin):
        return None
    if isinstance(value, int) and isinstance(size, int) and isinstance(origin, int):
        return (value - origin) // size * size + origin
    try:
        result = math.floor((value - origin) / size) * size + origin
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
    if value.__class__ is int and size.__class__ is int and size > 0:
        return value // size * size
    return _binned(value, size, 0)


def _bin_typed(types: Sequence[str]) -> Callable[..., object]:
    result = _bin_result("bin", types, False)
    if result == "datetime":
        return _bin_datetime
    if result == "real":
        return lambda ctx, value, size: _as_real(_binned(value, size, 0))
    return bin_


def _bin_datetime(ctx: object, value: object, size: object) -> int | None:
    """bin of a datetime: Kusto bins on .NET ticks, counted from 0001-01-01."""
    if value.__class__ is int and size.__class__ is int and size > 0:
        binned = (value - _ORIGIN) // size * size + _ORIGIN
        return binned if _ORIGIN <= binned <= tk.MAX_DATETIME else None
    return _as_datetime(_binned(value, size, _ORIGIN))


_ORIGIN = tk.MIN_DATETIME


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
            return fn(float(value))
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
    return (value > 0) - (value < 0)


def pow_(ctx: object, base: object, exponent: object) -> float | None:
    if not _is_number(base) or not _is_number(exponent):
        return None
    try:
        return math.pow(float(base), float(exponent))
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
        return fn(float(value))

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


# ---------------------------------------------------------------------------
# Bits, hex, sizes, random numbers

_U64 = (1 << 64) - 1


def _signed64(value: int) -> int:
    value &= _U64
    return value - (1 << 64) if value >= 1 << 63 else value


def _longs(*values: object) -> list[int] | None:
    out = [v for v in values if isinstance(v, int) and not isinstance(v, bool)]
    return out if len(out) == len(values) else None


def _binary(op: Callable[[int, int], int]) -> Callable[..., int | None]:
    def apply(ctx: object, a: object, b: object) -> int | None:
        ints = _longs(a, b)
        return None if ints is None else _signed64(op(ints[0] & _U64, ints[1] & _U64))

    return apply


def binary_not(ctx: object, a: object) -> int | None:
    ints = _longs(a)
    return None if ints is None else _signed64(~ints[0])


def _shift(left: bool) -> Callable[..., int | None]:
    def shift(ctx: object, a: object, n: object) -> int | None:
        ints = _longs(a, n)
        if ints is None or ints[1] < 0:
            return None
        value, count = ints[0], ints[1] % 64
        return _signed64(value << count) if left else _signed64((value & _U64) >> count)

    return shift


def tohex(ctx: object, value: object, min_length: object = 0) -> str:
    """Lower-case hex of an integer (negatives as 64-bit two's complement), zero-padded to min_length."""
    ints = _longs(value, min_length)
    if ints is None:
        return ""
    text = format(ints[0] & _U64 if ints[0] < 0 else ints[0], "x")
    return text.rjust(min(max(ints[1], 0), 1024), "0")


_BYTE_UNITS = ("Bytes", "KB", "MB", "GB", "TB", "PB", "EB")


def format_bytes(ctx: object, size: object, precision: object = 2, units: object = "") -> str:
    """``564 Bytes``, ``10.58 KB``: size in the largest fitting 1024-based unit (or in ``units``)."""
    if isinstance(size, bool) or not isinstance(size, int | float) or not math.isfinite(size):
        return ""
    if not isinstance(precision, int) or isinstance(precision, bool) or not isinstance(units, str):
        return ""
    digits = max(0, min(precision, 15))
    wanted = units.strip().upper()
    names = [u.upper() for u in _BYTE_UNITS]
    if wanted and wanted not in names and wanted != "BYTE":
        return ""
    index = 0
    if wanted:
        index = 0 if wanted in ("BYTES", "BYTE") else names.index(wanted)
    else:
        while abs(size) >= 1024 ** (index + 1) and index < len(_BYTE_UNITS) - 1:
            index += 1
    scaled = size / 1024**index
    text = (
        f"{round_(ctx, float(scaled), digits):.{digits}f}"
        if index
        else f"{round_(ctx, float(scaled), 0):.0f}"
    )
    return f"{text} {_BYTE_UNITS[index]}"


_NO_LIMIT = object()


def rand(ctx: object, limit: object = _NO_LIMIT) -> int | float | None:
    if limit is _NO_LIMIT:
        return random.random()
    if isinstance(limit, int) and not isinstance(limit, bool):
        return random.randrange(limit) if limit > 0 else None
    return None


for _name, _op, _what in (
    ("binary_and", lambda a, b: a & b, "Bitwise and"),
    ("binary_or", lambda a, b: a | b, "Bitwise or"),
    ("binary_xor", lambda a, b: a ^ b, "Bitwise exclusive or"),
):
    register(
        _name,
        _binary(_op),
        [INTEGER, INTEGER],
        "long",
        signature=f"{_name}(a, b) -> long",
        summary=f"{_what} of a and b.",
    )
register(
    "binary_not",
    binary_not,
    [INTEGER],
    "long",
    signature="binary_not(a) -> long",
    summary="Bitwise negation of a.",
)
register(
    "binary_shift_left",
    _shift(True),
    [INTEGER, INTEGER],
    "long",
    signature="binary_shift_left(a, n) -> long",
    summary="a shifted left by n bits (64-bit).",
)
register(
    "binary_shift_right",
    _shift(False),
    [INTEGER, INTEGER],
    "long",
    signature="binary_shift_right(a, n) -> long",
    summary="a shifted right by n bits (64-bit, zero-filled).",
)
register(
    "tohex",
    tohex,
    [INTEGER, INTEGER],
    "string",
    min_args=1,
    signature="tohex(n[, min_length]) -> string",
    summary="Lower-case hex of n (negatives as 64-bit two's complement), left-padded with zeros to min_length.",
)
register(
    "format_bytes",
    format_bytes,
    [NUMBER, INTEGER, frozenset({"string"})],
    "string",
    min_args=1,
    check=lambda args: (
        None
        if len(args) < 3
        or not isinstance(args[2], str)
        or args[2].strip().upper() in {u.upper() for u in _BYTE_UNITS} | {"BYTE", ""}
        else f"argument #3 is not a size unit: '{args[2]}'"
    ),
    signature="format_bytes(size[, precision[, units]]) -> string",
    summary="size in bytes as text in 1024-based units (Bytes, KB, MB, GB, TB, PB), precision digits (default 2).",
)


def _rand_returns(types: Sequence[str]) -> str:
    message = arity_message("rand", 0, 1, len(types))
    if message:
        raise FunctionTypeError(message)
    if types and types[0] not in INTEGER:
        raise FunctionTypeError(type_message("rand", 0, INTEGER, types[0]))
    return "long" if types else "real"


register(
    "rand",
    rand,
    [INTEGER],
    "",
    min_args=0,
    returns=_rand_returns,
    signature="rand([n]) -> real or long",
    summary="A random real in [0, 1), or a random long in [0, n).",
)
