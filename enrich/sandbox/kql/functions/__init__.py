"""Scalar functions of the sandbox's KQL engine, by area, behind one registry.

The engine looks a call up in `FUNCTIONS` (exact, case-sensitive names), checks its argument
types with ``Function.returns(arg_types)`` (raising `FunctionTypeError` with Kusto-like wording),
checks constant arguments once with `validate`, and then evaluates ``Function.bind(arg_types)``
(or ``Function.call``) per row as ``call(ctx, *args)``. Values follow the engine's value model:
strings are ``str`` (never null), datetimes and timespans ``int`` ticks, dynamic JSON-like values.
``bind`` matters for the functions whose answer depends on a type the value alone cannot tell
(``tostring`` of a datetime, ``strcat`` of a timespan, ``bin`` of a datetime, promotion to real).
A ``typeof(T)`` argument may be typed "type" or, better, "typeof(T)" (also "type:T"): with the
latter, ``returns`` of ``extract``/``extract_json`` answers T instead of "dynamic".

Modules: `strings`, `times`, `numeric`, `network` (IP), `dynamic` (JSON, arrays, URLs, paths),
`logic` (iff/case/coalesce/is*), `convert` (to*() and the value conversions); `registry`
holds `Function` and the type rules, `ticks` the datetime/timespan arithmetic, `regex` RE2 on `re`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType

from enrich.sandbox.kql.functions import convert as _convert
from enrich.sandbox.kql.functions import dynamic as _dynamic  # noqa: F401  (registers functions)
from enrich.sandbox.kql.functions import logic as _logic  # noqa: F401
from enrich.sandbox.kql.functions import network as _network  # noqa: F401
from enrich.sandbox.kql.functions import numeric as _numeric  # noqa: F401
from enrich.sandbox.kql.functions import strings as _strings  # noqa: F401
from enrich.sandbox.kql.functions import times as _times  # noqa: F401
from enrich.sandbox.kql.functions.registry import REGISTRY, Context, Function, FunctionTypeError

__all__ = [
    "FUNCTIONS",
    "NOT_CONSTANT",
    "Context",
    "Function",
    "FunctionTypeError",
    "convert_to",
    "describe",
    "format_value",
    "validate",
]

#: Every scalar function by its exact KQL name (aliases included).
FUNCTIONS: Mapping[str, Function] = MappingProxyType(REGISTRY)


class _NotConstant:
    def __repr__(self) -> str:
        return "NOT_CONSTANT"


#: Marks, in `validate`'s arguments, an argument whose value is only known per row.
NOT_CONSTANT: object = _NotConstant()

convert_to = _convert.convert_to
format_value = _convert.format_value


def validate(name: str, args: Sequence[object]) -> str | None:
    """Check a call's constant arguments once (a regex that does not compile, a bad format or part
    name): ``args`` holds each argument's value or `NOT_CONSTANT`. Returns an error message or None."""
    function = REGISTRY.get(name)
    if function is None:
        return f"Unknown function: '{name}'"
    if function.check is None:
        return None
    constants = [None if a is NOT_CONSTANT else a for a in args]
    # None stands for "not known here": every check only looks at str/int constants.
    message = function.check(constants)
    return None if message is None else f"{name}(): {message}"


def describe() -> list[tuple[str, str]]:
    """(name, "signature — semantics") of every registered function, sorted by name."""
    return [(name, f"{fn.signature} — {fn.summary}") for name, fn in sorted(REGISTRY.items())]
