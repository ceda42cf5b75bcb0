"""The registry of scalar functions: `Function`, type rules, argument checks and `register`."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

#: KQL scalar type names used across the engine ("type" is a `typeof(T)` argument).
KQL_TYPES = ("string", "bool", "int", "long", "real", "datetime", "timespan", "dynamic", "guid")

STRING = frozenset({"string", "guid"})
INTEGER = frozenset({"int", "long"})
NUMBER = frozenset({"int", "long", "real"})
BOOL = frozenset({"bool"})
DATETIME = frozenset({"datetime"})
TIMESPAN = frozenset({"timespan"})
DYNAMIC = frozenset({"dynamic"})
TYPE = frozenset({"type"})
SCALAR = frozenset(KQL_TYPES) - DYNAMIC
ANY = frozenset(KQL_TYPES)
STRINGISH = STRING | DYNAMIC  # a string or a dynamic value holding one

_FAMILY_NAMES: dict[frozenset[str], str] = {
    STRING: "string",
    INTEGER: "integer",
    NUMBER: "numeric",
    BOOL: "bool",
    DATETIME: "datetime",
    TIMESPAN: "timespan",
    DYNAMIC: "dynamic",
    TYPE: "typeof(...)",
    SCALAR: "scalar",
    ANY: "scalar or dynamic",
    STRINGISH: "string or dynamic",
}


class FunctionTypeError(Exception):
    """Argument types that do not fit a function (raised by `Function.returns`)."""


class Context(Protocol):
    """What a function may read of the running query."""

    now: int  # ticks of the query's now(); ago(x) == now - x


def family_name(types: frozenset[str]) -> str:
    """How an error message names a set of accepted types."""
    return _FAMILY_NAMES.get(types) or " or ".join(sorted(types))


def numeric_result(types: Iterable[str]) -> str:
    """Kusto's numeric promotion: int < long < real."""
    kinds = set(types)
    if "real" in kinds:
        return "real"
    if "long" in kinds:
        return "long"
    return "int"


@dataclass(frozen=True)
class Function:
    """A scalar function: arity, type rule and the per-row implementation.

    ``call(ctx, *args)`` never raises for any argument values. ``typed`` (when set) builds a
    call specialised to the argument types, for the few functions whose answer depends on a
    type the value alone does not tell (a datetime and a long are both ``int`` ticks):
    evaluators should call :meth:`bind` once per call site and use what it returns.
    """

    name: str
    min_args: int
    max_args: int | None
    returns: Callable[[Sequence[str]], str]
    call: Callable[..., object]
    signature: str = ""
    summary: str = ""
    params: tuple[frozenset[str], ...] = ()  # accepted argument types by position
    rest: frozenset[str] | None = None  # accepted types of the arguments after `params`
    check: Callable[[Sequence[object]], str | None] | None = field(default=None, compare=False)
    typed: Callable[[Sequence[str]], Callable[..., object]] | None = field(default=None, compare=False)

    def bind(self, arg_types: Sequence[str]) -> Callable[..., object]:
        """The call to use at a call site whose arguments have ``arg_types``."""
        return self.typed(arg_types) if self.typed is not None else self.call


REGISTRY: dict[str, Function] = {}


def arity_message(name: str, min_args: int, max_args: int | None, got: int) -> str | None:
    """Kusto-style message for a wrong number of arguments, or None."""
    if got >= min_args and (max_args is None or got <= max_args):
        return None
    if max_args == min_args:
        want = str(min_args)
    elif max_args is None:
        want = f"at least {min_args}"
    else:
        want = f"between {min_args} and {max_args}"
    return f"The function '{name}' expects {want} argument(s), got {got}"


def type_message(name: str, index: int, accepted: frozenset[str], actual: str) -> str:
    """Kusto-style message for an argument of the wrong type (``index`` is 0-based)."""
    family = family_name(accepted)
    article = "an" if family[0] in "aeiou" else "a"
    return f"{name}(): argument #{index + 1} expected to be {article} {family} expression, not {actual}"


def signature_rule(
    name: str,
    params: Sequence[frozenset[str]],
    result: str | Callable[[Sequence[str]], str],
    rest: frozenset[str] | None = None,
    min_args: int | None = None,
    max_args: int | None = None,
) -> Callable[[Sequence[str]], str]:
    """A `returns` that checks each argument against ``params`` (then ``rest`` for the others)."""
    lowest = len(params) if min_args is None else min_args
    highest = max_args if rest is not None else len(params)

    def returns(types: Sequence[str]) -> str:
        message = arity_message(name, lowest, highest, len(types))
        if message:
            raise FunctionTypeError(message)
        for i, actual in enumerate(types):
            accepted = params[i] if i < len(params) else rest
            assert accepted is not None
            if actual not in accepted:
                raise FunctionTypeError(type_message(name, i, accepted, actual))
        return result(types) if callable(result) else result

    return returns


def register(
    name: str,
    call: Callable[..., object],
    params: Sequence[frozenset[str]],
    result: str | Callable[[Sequence[str]], str],
    *,
    signature: str,
    summary: str,
    min_args: int | None = None,
    max_args: int | None = None,
    rest: frozenset[str] | None = None,
    returns: Callable[[Sequence[str]], str] | None = None,
    check: Callable[[Sequence[object]], str | None] | None = None,
    typed: Callable[[Sequence[str]], Callable[..., object]] | None = None,
    aliases: Sequence[str] = (),
) -> None:
    """Add a function (and its aliases) to `REGISTRY`."""
    lowest = len(params) if min_args is None else min_args
    highest = max_args if rest is not None else len(params)
    for each in (name, *aliases):
        rule = returns or signature_rule(each, params, result, rest, lowest, highest)
        REGISTRY[each] = Function(
            name=each,
            min_args=lowest,
            max_args=highest,
            returns=rule,
            call=call,
            signature=signature if each == name else signature.replace(name + "(", each + "(", 1),
            summary=summary if each == name else f"{summary} (alias of {name})",
            check=check,
            typed=typed,
            params=tuple(params),
            rest=rest,
        )
