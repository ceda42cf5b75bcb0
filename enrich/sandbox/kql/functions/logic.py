"""Conditional and null functions: iff/iif, case, coalesce, isempty, isnotempty, isnull, isnotnull, max_of, min_of."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from enrich.sandbox.kql.functions.registry import (
    ANY,
    DATETIME,
    NUMBER,
    STRING,
    TIMESPAN,
    FunctionTypeError,
    arity_message,
    numeric_result,
    register,
    type_message,
)


def common_type(name: str, types: Sequence[str], positions: Sequence[int]) -> str:
    """The one type of the arguments at ``positions`` (numbers promote int < long < real; guid is a string)."""
    chosen = [types[i] for i in positions]
    if all(t in NUMBER for t in chosen):
        return numeric_result(chosen)
    if all(t in STRING for t in chosen):
        return "string" if "string" in chosen else "guid"
    first = chosen[0]
    for i, t in zip(positions, chosen, strict=True):
        if t != first:
            raise FunctionTypeError(type_message(name, i, frozenset({first}), t))
    return first


def _promoter(result: str) -> Callable[[object], object]:
    if result == "real":
        return lambda v: float(v) if isinstance(v, int) and not isinstance(v, bool) else v
    return lambda v: v


def _check_bool(name: str, types: Sequence[str], positions: Sequence[int]) -> None:
    for i in positions:
        if types[i] != "bool":
            raise FunctionTypeError(type_message(name, i, frozenset({"bool"}), types[i]))


# ---------------------------------------------------------------------------


def iff(ctx: object, condition: object, then: object, otherwise: object) -> object:
    return then if condition is True else otherwise


def _iff_returns(name: str) -> Callable[[Sequence[str]], str]:
    def returns(types: Sequence[str]) -> str:
        message = arity_message(name, 3, 3, len(types))
        if message:
            raise FunctionTypeError(message)
        _check_bool(name, types, [0])
        return common_type(name, types, [1, 2])

    return returns


def _iff_typed(types: Sequence[str]) -> Callable[..., object]:
    if common_type("iff", types, [1, 2]) != "real":
        return iff
    promote = _promoter("real")
    return lambda ctx, c, a, b: promote(a if c is True else b)


def case(ctx: object, *args: object) -> object:
    last = len(args) - 1
    for i in range(0, last, 2):
        if args[i] is True:
            return args[i + 1]
    return args[last] if args else None


def _case_returns(types: Sequence[str]) -> str:
    if len(types) < 3 or len(types) % 2 == 0:
        raise FunctionTypeError(
            f"The function 'case' expects an odd number of arguments, at least 3: "
            f"predicate, value pairs and an else value (got {len(types)})"
        )
    _check_bool("case", types, range(0, len(types) - 1, 2))
    return common_type("case", types, [*range(1, len(types) - 1, 2), len(types) - 1])


def _case_typed(types: Sequence[str]) -> Callable[..., object]:
    if _case_returns(types) != "real":
        return case
    promote = _promoter("real")
    return lambda ctx, *args: promote(case(ctx, *args))


def coalesce(ctx: object, *args: object) -> object:
    for value in args:
        if value is not None and value != "":
            return value
    return args[-1] if args and isinstance(args[-1], str) else None


def _same_type_returns(
    name: str, min_args: int, accepted: frozenset[str] = ANY
) -> Callable[[Sequence[str]], str]:
    def returns(types: Sequence[str]) -> str:
        message = arity_message(name, min_args, 64, len(types))
        if message:
            raise FunctionTypeError(message)
        for i, t in enumerate(types):
            if t not in accepted:
                raise FunctionTypeError(type_message(name, i, accepted, t))
        return common_type(name, types, range(len(types)))

    return returns


def coalesce_dynamic(ctx: object, *args: object) -> object:
    """coalesce of dynamic values: only null is skipped (a dynamic "" is a value)."""
    for value in args:
        if value is not None:
            return value
    return None


def _variadic_typed(
    name: str, fn: Callable[..., object], returns: Callable[[Sequence[str]], str]
) -> Callable[[Sequence[str]], Callable[..., object]]:
    def bind(types: Sequence[str]) -> Callable[..., object]:
        result = returns(types)
        if fn is coalesce and result not in ("string", "guid"):
            return (
                coalesce_dynamic
                if result != "real"
                else lambda ctx, *a: _promoter("real")(coalesce_dynamic(ctx, *a))
            )
        if result != "real":
            return fn
        promote = _promoter("real")
        return lambda ctx, *args: promote(fn(ctx, *args))

    return bind


def max_of(ctx: object, *args: Any) -> object:
    """Largest non-null argument (Any: the type rule makes the arguments one ordered type)."""
    best: Any = None
    for value in args:
        if value is None:
            continue
        try:
            if best is None or value > best:
                best = value
        except TypeError:
            continue
    return best


def min_of(ctx: object, *args: Any) -> object:
    """Smallest non-null argument."""
    best: Any = None
    for value in args:
        if value is None:
            continue
        try:
            if best is None or value < best:
                best = value
        except TypeError:
            continue
    return best


def isempty(ctx: object, value: object) -> bool:
    return value is None or value == ""


def isnotempty(ctx: object, value: object) -> bool:
    return value is not None and value != ""


def isnull(ctx: object, value: object) -> bool:
    return value is None


def isnotnull(ctx: object, value: object) -> bool:
    return value is not None


register(
    "iff",
    iff,
    [frozenset({"bool"}), ANY, ANY],
    "",
    returns=_iff_returns("iff"),
    typed=_iff_typed,
    signature="iff(condition, then, else) -> T",
    summary="then when condition is true, else otherwise (a null condition takes else); then and else share a type.",
)
register(
    "iif",
    iff,
    [frozenset({"bool"}), ANY, ANY],
    "",
    returns=_iff_returns("iif"),
    typed=_iff_typed,
    signature="iif(condition, then, else) -> T",
    summary="Same as iff.",
)
register(
    "case",
    case,
    [ANY],
    "",
    min_args=3,
    rest=ANY,
    returns=_case_returns,
    typed=_case_typed,
    signature="case(p1, v1, p2, v2, ..., else) -> T",
    summary="The value after the first true predicate, else the last argument; values share a type.",
)
_coalesce_returns = _same_type_returns("coalesce", 2)
register(
    "coalesce",
    coalesce,
    [ANY, ANY],
    "",
    rest=ANY,
    max_args=64,
    returns=_coalesce_returns,
    typed=_variadic_typed("coalesce", coalesce, _coalesce_returns),
    signature="coalesce(a1, a2, ...) -> T",
    summary='First argument that is not null (nor "" for strings); 2 to 64 arguments of one type.',
)
_ORDERED = NUMBER | DATETIME | TIMESPAN | STRING
for _name, _fn, _word in (("max_of", max_of, "largest"), ("min_of", min_of, "smallest")):
    _rule = _same_type_returns(_name, 2, _ORDERED)
    register(
        _name,
        _fn,
        [_ORDERED, _ORDERED],
        "",
        rest=_ORDERED,
        max_args=64,
        returns=_rule,
        typed=_variadic_typed(_name, _fn, _rule),
        signature=f"{_name}(a1, a2, ...) -> T",
        summary=f"The {_word} of 2 to 64 arguments of one type, nulls ignored (null when all are null).",
    )
register(
    "isempty",
    isempty,
    [ANY],
    "bool",
    signature="isempty(value) -> bool",
    summary='True when value is null or "".',
)
register(
    "isnotempty",
    isnotempty,
    [ANY],
    "bool",
    aliases=["notempty"],
    signature="isnotempty(value) -> bool",
    summary='True when value is neither null nor "".',
)
register(
    "isnull",
    isnull,
    [ANY],
    "bool",
    signature="isnull(value) -> bool",
    summary='True when value is null (a string is never null: isnull("") is false).',
)
register(
    "isnotnull",
    isnotnull,
    [ANY],
    "bool",
    aliases=["notnull"],
    signature="isnotnull(value) -> bool",
    summary="True when value is not null.",
)
