"""Where the engine finds scalar functions: the functions package (``enrich.sandbox.kql.functions``).

One seam between the compiler and the function library: lookup, type rules, constant checks,
conversions and result formatting, plus :func:`bound_call` (the per-call-site callable).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from enrich.sandbox.kql.functions import (
    FUNCTIONS,
    NOT_CONSTANT,
    Function,
    FunctionTypeError,
    convert_to,
    describe,
    format_value,
    validate,
)
from enrich.sandbox.kql.functions.regex import compile_regex, regex_error
from enrich.sandbox.kql.functions.registry import arity_message

__all__ = [
    "FUNCTIONS",
    "Function",
    "NOT_CONSTANT",
    "TYPE_ERRORS",
    "arity_message",
    "bound_call",
    "compile_regex",
    "convert_to",
    "describe",
    "format_value",
    "regex_error",
    "validate",
]

TYPE_ERRORS: tuple[type[Exception], ...] = (FunctionTypeError,)


def bound_call(function: Function, arg_types: Sequence[str]) -> Callable[..., object]:
    """``call(ctx, *args)`` for a call site whose arguments have ``arg_types`` (some functions
    answer by type: ``tostring`` of a datetime, ``bin`` of a datetime...)."""
    return function.bind(arg_types)
