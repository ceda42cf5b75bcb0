"""Scalar expressions of the KQL compiler: syntax nodes -> :class:`Expr` (a type and a row function).

Literals, names, calls into the functions registry, operators (comparisons, string and term
matching, ``in``/``has_any``, ``between``, arithmetic on 64-bit integers, reals, datetimes and
timespans), member access on dynamic values, ``toscalar()`` and the row-position functions.
Each method is part of :class:`enrich.sandbox.kql.compiler.Compiler`; expressions whose inputs are
all constant are folded to constants at compile time.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from enrich.sandbox.kql import aggregates as agg
from enrich.sandbox.kql import nodes as n
from enrich.sandbox.kql import registry
from enrich.sandbox.kql.plan import Expr, Plan, RowFn
from enrich.sandbox.kql.values import (
    _COMPARISONS,
    _NUMERIC,
    KqlError,
    Row,
    _getter,
    _has_term,
    _TermMatcher,
    _to_string,
    format_datetime,
)

_NON_DETERMINISTIC = frozenset({"rand", "new_guid"})
_MIRROR = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!=", "<>": "<>"}
_LONG_LIMIT = 2**63
_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


@dataclass(slots=True)
class _Context:
    """What functions see of the query (``ctx.now``: the ticks of now())."""

    now: int


@dataclass(slots=True)
class _Position:
    """Where ``extend``/``project`` are in their serialized input, for row_number(), prev(), next()."""

    rows: list[Row]
    index: int = 0


_POSITION_FUNCTIONS = frozenset({"row_number", "prev", "next"})


def _const(kql_type: str, value: object) -> Expr:
    return Expr(kql_type, lambda row: value, const=True, value=value)


def _family(kql_type: str) -> str:
    return "number" if kql_type in _NUMERIC else "string" if kql_type == "guid" else kql_type


def _negate(f: RowFn) -> RowFn:
    def fn(row: Row) -> object:
        v = f(row)
        return None if v is None else not v

    return fn


def inferred_name(node: n.Expr) -> str | None:
    """The column name Kusto gives an unnamed expression: a column's own name, a member's key,
    the name inside a call (``bin(Timestamp, 1h)`` -> ``Timestamp``), else None."""
    if isinstance(node, n.Name):
        return node.name
    if isinstance(node, n.Member):
        return node.key
    if isinstance(node, n.Index) and isinstance(node.index, n.Lit) and isinstance(node.index.value, str):
        return node.index.value
    if isinstance(node, n.Call) and node.args:
        return inferred_name(node.args[0])
    return None


def _regex(pattern: str) -> re.Pattern[str] | None:
    """A Kusto (RE2) pattern compiled, as the functions compile theirs; None when it is invalid."""
    return registry.compile_regex(pattern)


def _int_div(a: Any, b: Any) -> int | None:
    if b == 0:
        return None
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def _int_mod(a: Any, b: Any) -> int | None:
    if b == 0:
        return None
    q = _int_div(a, b)
    assert q is not None
    return a - b * q


def _real_div(a: float, b: float) -> float:
    if b == 0:
        return math.nan if a == 0 or math.isnan(a) else math.copysign(math.inf, a) * math.copysign(1.0, b)
    return a / b


def _real_mod(a: float, b: float) -> float:
    if b == 0:
        return math.nan
    return math.fmod(a, b)


class ScalarCompiler:
    """The scalar half of :class:`enrich.sandbox.kql.compiler.Compiler`."""

    if TYPE_CHECKING:  # provided by Compiler
        ctx: _Context
        operator: str
        functions: dict[str, n.Function]
        params: dict[str, Expr]
        position: _Position | None
        position_used: bool
        scalars: dict[str, Expr]
        tabulars: dict[str, Plan]

        def error(self, pos: int, message: str) -> KqlError: ...
        def unresolved(self, pos: int, name: str) -> KqlError: ...
        def expand(
            self, name: str, pos: int, args: list[n.Expr], types: Mapping[str, str]
        ) -> Expr | Plan: ...
        def is_table(self, name: str) -> bool: ...
        def tabular(self, node: n.Tabular) -> Plan: ...

    @staticmethod
    def converted(expr: Expr, kql_type: str) -> Expr:
        """``expr`` converted to ``kql_type`` (Kusto's conversions, null when they fail)."""
        f, from_type = expr.fn, expr.type
        return Expr(kql_type, lambda row: registry.convert_to(f(row), from_type, kql_type))

    def expr(self, node: n.Expr, types: Mapping[str, str]) -> Expr:
        method = getattr(self, "x_" + type(node).__name__.lower())
        result: Expr = method(node, types)
        return result

    def x_lit(self, node: n.Lit, types: Mapping[str, str]) -> Expr:
        return _const(node.type, node.value)

    def x_star(self, node: n.Star, types: Mapping[str, str]) -> Expr:
        raise self.error(node.pos, f"'{self.operator}' operator: '*' is not allowed here")

    def x_name(self, node: n.Name, types: Mapping[str, str]) -> Expr:
        name = node.name
        if name in self.params:
            return self.params[name]
        if name in types:
            kql_type = types[name]
            return Expr(kql_type, _getter(name, kql_type), column=name)
        if name in self.scalars:
            return self.scalars[name]
        raise self.unresolved(node.pos, name)

    def position_call(self, node: n.Call, types: Mapping[str, str]) -> Expr:
        """row_number([start]), prev(expr [, offset [, default]]), next(expr [, offset [, default]])."""
        name = node.name
        position = self.position
        if position is None:
            raise self.error(
                node.pos,
                f"Function '{name}' cannot be invoked in current context. Details: the row set must be serialized",
            )
        self.position_used = True
        pos = position
        if name == "row_number":
            if len(node.args) > 1:
                raise self.error(
                    node.pos,
                    f"The function 'row_number' expects between 0 and 1 argument(s), got {len(node.args)}",
                )
            start = self.expr(node.args[0], types) if node.args else _const("long", 1)
            if not start.const or not isinstance(start.value, int):
                raise self.error(node.pos, "row_number(): the start must be a constant integer")
            first = start.value
            return Expr("long", lambda row: pos.index + first)
        if not 1 <= len(node.args) <= 3:
            raise self.error(
                node.pos, f"The function '{name}' expects between 1 and 3 argument(s), got {len(node.args)}"
            )
        value = self.expr(node.args[0], types)
        offset = self.expr(node.args[1], types) if len(node.args) > 1 else _const("long", 1)
        if not offset.const or not isinstance(offset.value, int) or isinstance(offset.value, bool):
            raise self.error(node.pos, f"{name}(): the offset must be a constant integer")
        default = self.expr(node.args[2], types) if len(node.args) > 2 else _const(value.type, None)
        if not default.const:
            raise self.error(node.pos, f"{name}(): the default must be a constant")
        step = -offset.value if name == "prev" else offset.value
        f, fallback = value.fn, default.value

        def fn(row: Row) -> object:
            j = pos.index + step
            rows = pos.rows
            return f(rows[j]) if 0 <= j < len(rows) else fallback

        return Expr(value.type, fn)

    def x_toscalar(self, node: n.ToScalar, types: Mapping[str, str]) -> Expr:
        outer = self.operator
        plan = self.tabular(node.query)
        self.operator = outer
        if not plan.schema:
            raise self.error(node.pos, "toscalar(): the sub-query has no column")
        column, kql_type = plan.schema[0]
        rows = plan.run()
        return _const(kql_type, _getter(column, kql_type)(rows[0]) if rows else None)

    def x_listexpr(self, node: n.ListExpr, types: Mapping[str, str]) -> Expr:
        raise self.error(node.pos, f"'{self.operator}' operator: a list is not a scalar value")

    def x_member(self, node: n.Member, types: Mapping[str, str]) -> Expr:
        target = self.expr(node.target, types)
        if target.type != "dynamic":
            raise self.error(
                node.pos, f"Member access '.{node.key}' expects a dynamic value, not {target.type}"
            )
        key = node.key
        f = target.fn

        def fn(row: Row) -> object:
            v = f(row)
            return v.get(key) if isinstance(v, dict) else None

        return self.fold(Expr("dynamic", fn), [target])

    def x_index(self, node: n.Index, types: Mapping[str, str]) -> Expr:
        target = self.expr(node.target, types)
        index = self.expr(node.index, types)
        if target.type != "dynamic":
            raise self.error(node.pos, f"Indexing expects a dynamic value, not {target.type}")
        if index.type not in ("int", "long", "string", "dynamic"):
            raise self.error(node.index.pos, f"An index must be an integer or a string, not {index.type}")
        f, g = target.fn, index.fn

        def fn(row: Row) -> object:
            v = f(row)
            i = g(row)
            if isinstance(v, list) and isinstance(i, int) and not isinstance(i, bool):
                return v[i] if -len(v) <= i < len(v) else None
            if isinstance(v, dict) and isinstance(i, str):
                return v.get(i)
            return None

        return self.fold(Expr("dynamic", fn), [target, index])

    def fold(self, expr: Expr, inputs: Sequence[Expr]) -> Expr:
        """``expr`` as a constant when all its inputs are constant."""
        if all(i.const for i in inputs):
            return _const(expr.type, expr.fn({}))
        return expr

    def x_unary(self, node: n.Unary, types: Mapping[str, str]) -> Expr:
        operand = self.expr(node.operand, types)
        if operand.type not in _NUMERIC and operand.type != "timespan":
            raise self.error(
                node.pos,
                f"Unary operator '{node.op}' expects a numeric or timespan operand, not {operand.type}",
            )
        if node.op == "+":
            return operand
        f = operand.fn

        def fn(row: Row) -> object:
            v = f(row)
            if v is None:
                return None
            return -v if isinstance(v, float) else _wrap64(-v)  # type: ignore[operator]

        return self.fold(Expr(operand.type, fn), [operand])

    def x_between(self, node: n.Between, types: Mapping[str, str]) -> Expr:
        operand = self.expr(node.operand, types)
        low = self.expr(node.low, types)
        high = self.expr(node.high, types)
        fam = _family(operand.type)
        if fam not in ("number", "datetime", "timespan"):
            raise self.error(
                node.pos,
                f"Operator 'between' expects a numeric, datetime or timespan operand, not {operand.type}",
            )
        if _family(low.type) != fam:
            raise self.error(
                node.low.pos, f"Operator 'between': the bounds must be of type {operand.type}, not {low.type}"
            )
        high_is_span = fam == "datetime" and high.type == "timespan"
        if _family(high.type) != fam and not high_is_span:
            raise self.error(
                node.high.pos,
                f"Operator 'between': the bounds must be of type {operand.type}, not {high.type}",
            )
        f, lo_f, hi_f = operand.fn, low.fn, high.fn
        negated = node.negated

        def fn(row: Row) -> object:
            v = f(row)
            lo = lo_f(row)
            hi = hi_f(row)
            if v is None or lo is None or hi is None:
                return None
            if high_is_span:
                hi = lo + hi  # type: ignore[operator]
            inside = lo <= v <= hi  # type: ignore[operator]
            return not inside if negated else inside

        return self.fold(Expr("bool", fn), [operand, low, high])

    def x_call(self, node: n.Call, types: Mapping[str, str]) -> Expr:
        name = node.name
        if name in self.functions:
            result = self.expand(name, node.pos, node.args, types)
            if not isinstance(result, Expr):
                raise self.error(node.pos, f"The function '{name}' returns a table, not a scalar")
            return result
        if name in _POSITION_FUNCTIONS and name not in self.functions:
            return self.position_call(node, types)
        if name in agg.AGGREGATES and name not in registry.FUNCTIONS:
            raise self.error(node.pos, f"Function '{name}' cannot be invoked in current context")
        if name == "not":
            if len(node.args) != 1:
                raise self.error(node.pos, f"The function 'not' expects 1 argument, got {len(node.args)}")
            arg = self.expr(node.args[0], types)
            if arg.type != "bool":
                raise self.error(
                    node.pos, f"not(): argument #1 expected to be a bool expression, not {arg.type}"
                )
            return self.fold(Expr("bool", _negate(arg.fn)), [arg])
        func = registry.FUNCTIONS.get(name)
        if func is None:
            raise self.error(node.pos, f"'{self.operator}' operator: Unknown function: '{name}'")
        arity = registry.arity_message(name, func.min_args, func.max_args, len(node.args))
        if arity is not None:
            raise self.error(node.pos, arity)
        args = _string_args(func, [self.expr(a, types) for a in node.args])
        arg_types = [_arg_type(a) for a in args]
        try:
            result_type = func.returns(arg_types)
        except registry.TYPE_ERRORS as exc:
            raise self.error(node.pos, str(exc) or f"{name}(): arguments of the wrong type") from None
        problem = registry.validate(name, [a.value if a.const else registry.NOT_CONSTANT for a in args])
        if problem:
            raise self.error(node.pos, problem)
        call = registry.bound_call(func, arg_types)
        ctx = self.ctx
        fns = [a.fn for a in args]
        fn: RowFn
        if not fns:
            fn = lambda row: call(ctx)  # noqa: E731
        elif len(fns) == 1:
            f0 = fns[0]
            fn = lambda row: call(ctx, f0(row))  # noqa: E731
        elif len(fns) == 2:
            f0, f1 = fns
            fn = lambda row: call(ctx, f0(row), f1(row))  # noqa: E731
        else:
            fn = lambda row: call(ctx, *[f(row) for f in fns])  # noqa: E731
        expr = Expr(result_type, fn)
        if name in _NON_DETERMINISTIC:
            return expr
        return self.fold(expr, args)

    def x_binary(self, node: n.Binary, types: Mapping[str, str]) -> Expr:
        op = node.op
        if op in ("and", "or"):
            return self.logical(node, types)
        if op in ("in", "in~", "!in", "!in~", "has_any", "has_all"):
            assert isinstance(node.right, n.ListExpr)
            return self.membership(node, self.expr(node.left, types), node.right, types)
        left = self.expr(node.left, types)
        right = self.expr(node.right, types)
        if op in ("+", "-", "*", "/", "%"):
            return self.arithmetic(node, left, right)
        if op in ("=~", "!~"):
            return self.equals_ci(node, left, right)
        if op in _COMPARISONS:
            return self.compare(node, left, right)
        if op == "matches regex":
            return self.matches(node, left, right)
        return self.string_op(node, left, right)

    def logical(self, node: n.Binary, types: Mapping[str, str]) -> Expr:
        # flatten a chain of one operator so a long `or` does not nest closures
        parts: list[n.Expr] = []
        stack: list[n.Expr] = [node]
        while stack:
            item = stack.pop()
            if isinstance(item, n.Binary) and item.op == node.op:
                stack.append(item.right)
                stack.append(item.left)
            else:
                parts.append(item)
        exprs = [self.expr(p, types) for p in parts]
        for p, e in zip(parts, exprs, strict=True):
            if e.type != "bool":
                raise self.error(p.pos, f"The operands of '{node.op}' must be of type bool, not {e.type}")
        fns = [e.fn for e in exprs]
        stop = node.op == "or"  # `or` stops at True, `and` at False
        if len(fns) == 2:
            return self.fold(Expr("bool", _two_valued(fns[0], fns[1], stop)), exprs)

        def fn(row: Row) -> object:
            result: object = not stop
            for f in fns:
                v = f(row)
                if v is stop:
                    return stop
                if v is None:
                    result = None
            return result

        return self.fold(Expr("bool", fn), exprs)

    def arithmetic(self, node: n.Binary, left: Expr, right: Expr) -> Expr:
        op, lt, rt = node.op, left.type, right.type
        result_type: str | None = None
        if lt in _NUMERIC and rt in _NUMERIC:
            result_type = "real" if "real" in (lt, rt) else "int" if lt == rt == "int" else "long"
        elif lt == "datetime" and rt == "datetime" and op == "-":
            result_type = "timespan"
        elif (
            lt == "datetime"
            and rt == "timespan"
            and op in ("+", "-")
            or lt == "timespan"
            and rt == "datetime"
            and op == "+"
        ):
            result_type = "datetime"
        elif lt == "timespan" and rt == "timespan" and op in ("+", "-", "%"):
            result_type = "timespan"
        elif lt == "timespan" and rt == "timespan" and op == "/":
            result_type = "real"
        elif (
            lt == "timespan"
            and rt in _NUMERIC
            and op in ("*", "/")
            or lt in _NUMERIC
            and rt == "timespan"
            and op == "*"
        ):
            result_type = "timespan"
        if result_type is None:
            raise self.error(
                node.pos, f"Operator '{op}' cannot be applied to operands of types '{lt}' and '{rt}'"
            )
        f, g = left.fn, right.fn
        compute = _arithmetic_fn(op, result_type)

        def fn(row: Row) -> object:
            a = f(row)
            if a is None:
                return None
            b = g(row)
            if b is None:
                return None
            return compute(a, b)

        return self.fold(Expr(result_type, fn), [left, right])

    def text_fn(self, expr: Expr) -> Callable[[Row], str | None]:
        """Row -> the expression's value as text (strings as they are, others via tostring; null stays None)."""
        if expr.type in ("string", "guid"):
            return cast(Callable[[Row], str], expr.fn)
        f, kql_type = expr.fn, expr.type

        def text(row: Row) -> str | None:
            v = f(row)
            if v is None:
                return None
            converted = registry.convert_to(v, kql_type, "string")
            return converted if isinstance(converted, str) else _to_string(converted)

        return text

    def equals_ci(self, node: n.Binary, left: Expr, right: Expr) -> Expr:
        for side in (left, right):
            if side.type not in ("string", "guid", "dynamic"):
                raise self.error(
                    node.pos,
                    f"Operator '{node.op}' expects string operands, not {left.type} and {right.type}",
                )
        lt, rt = self.text_fn(left), self.text_fn(right)
        if right.const:
            target = rt({})
            lowered = None if target is None else target.lower()

            def fn(row: Row) -> object:
                v = lt(row)
                return None if v is None or lowered is None else v.lower() == lowered

        else:

            def fn(row: Row) -> object:
                a, b = lt(row), rt(row)
                return None if a is None or b is None else a.lower() == b.lower()

        result = Expr("bool", fn if node.op == "=~" else _negate(fn))
        return self.fold(result, [left, right])

    def compare(self, node: n.Binary, left: Expr, right: Expr) -> Expr:
        op = node.op
        if left.const and not right.const:
            left, right = right, left
            op = _MIRROR[op]
        lt, rt = left.type, right.type
        if "dynamic" in (lt, rt):
            left, right = self.undynamic(left, right), self.undynamic(right, left)
            lt, rt = left.type, right.type
        if _family(lt) != _family(rt):
            raise self.error(
                node.pos, f"Cannot compare values of types {lt} and {rt}. Try adding explicit casts"
            )
        if op not in ("==", "!=", "<>") and lt == "bool":
            raise self.error(node.pos, f"Cannot compare values of types {lt} and {rt} with '{op}'")
        py_op = _COMPARISONS[op]
        f, g = left.fn, right.fn
        if right.const:
            target = right.value
            if target is None:
                return _const("bool", None)
            if left.column is not None and lt == "datetime" and isinstance(target, int):
                return self.compare_datetime_column(left.column, f, py_op, target)

            def fn(row: Row) -> object:
                v = f(row)
                return None if v is None else py_op(v, target)

        else:

            def fn(row: Row) -> object:
                a = f(row)
                if a is None:
                    return None
                b = g(row)
                return None if b is None else py_op(a, b)

        return self.fold(Expr("bool", fn), [left, right])

    @staticmethod
    def compare_datetime_column(
        column: str, get: RowFn, py_op: Callable[[Any, Any], object], ticks: int
    ) -> Expr:
        """``Timestamp > constant`` without parsing each row's ISO text: canonical ISO strings
        (fixed width, 7-digit fraction, ``Z``) order as their instants do."""
        text = format_datetime(ticks)
        if text is None or not text[:4].isdigit():

            def slow(row: Row) -> object:
                v = get(row)
                return None if v is None else py_op(v, ticks)

            return Expr("bool", slow)

        def fn(row: Row) -> object:
            v = row.get(column)
            if v.__class__ is str and len(v) == 28 and v[27] == "Z" and v[10] == "T":
                return py_op(v, text)
            t = get(row)
            return None if t is None else py_op(t, ticks)

        return Expr("bool", fn)

    def undynamic(self, side: Expr, other: Expr) -> Expr:
        """A dynamic operand compared with a typed one, converted to the other's type."""
        if side.type != "dynamic" or other.type == "dynamic":
            return side
        target = other.type
        f = side.fn
        return self.fold(Expr(target, lambda row: registry.convert_to(f(row), "dynamic", target)), [side])

    def matches(self, node: n.Binary, left: Expr, right: Expr) -> Expr:
        if right.type not in ("string", "guid"):
            raise self.error(node.pos, f"Operator 'matches regex' expects a string pattern, not {right.type}")
        text = self.text_fn(left)
        if right.const:
            regex = _regex(str(right.value))
            if regex is None:
                reason = registry.regex_error(str(right.value)) or "invalid pattern"
                raise self.error(
                    node.right.pos,
                    f"matches regex: the pattern '{right.value}' is not a valid regular expression: {reason}",
                )
            search = regex.search

            def fn(row: Row) -> object:
                v = text(row)
                return None if v is None else search(v) is not None

        else:
            g = right.fn

            def fn(row: Row) -> object:
                v = text(row)
                pattern = g(row)
                compiled = _regex(str(pattern)) if pattern is not None else None
                return None if v is None or compiled is None else compiled.search(v) is not None

        return self.fold(Expr("bool", fn), [left, right])

    def string_op(self, node: n.Binary, left: Expr, right: Expr) -> Expr:
        op = node.op
        negated = op.startswith("!")
        base = op.lstrip("!")
        case_sensitive = base.endswith("_cs")
        base = base.removesuffix("_cs")
        check: Callable[[str, str], bool] = {
            "has": _has_term,
            "contains": lambda hay, needle: needle in hay,
            "startswith": lambda hay, needle: hay.startswith(needle),
            "endswith": lambda hay, needle: hay.endswith(needle),
            "hasprefix": _has_prefix,
            "hassuffix": _has_suffix,
        }[base]
        lt, rt = self.text_fn(left), self.text_fn(right)
        fold_case = (lambda s: s) if case_sensitive else str.lower
        if right.const:
            raw = rt({})
            needle = None if raw is None else fold_case(raw)

            def fn(row: Row) -> object:
                hay = lt(row)
                return None if hay is None or needle is None else check(fold_case(hay), needle)

        else:

            def fn(row: Row) -> object:
                hay = lt(row)
                if hay is None:
                    return None
                other = rt(row)
                return None if other is None else check(fold_case(hay), fold_case(other))

        return self.fold(Expr("bool", _negate(fn) if negated else fn), [left, right])

    def list_values(self, node: n.ListExpr, types: Mapping[str, str]) -> tuple[list[Expr], Plan | None]:
        if node.query is not None:
            outer = self.operator
            plan = self.tabular(node.query)
            self.operator = outer
            if not plan.schema:
                raise self.error(node.pos, "The sub-query of 'in' has no column")
            return [], plan
        if len(node.items) == 1 and isinstance(node.items[0], n.Name):
            name = node.items[0].name
            if (
                name not in types
                and name not in self.scalars
                and (name in self.tabulars or self.is_table(name))
            ):
                outer = self.operator
                plan = self.tabular(n.TableRef(node.items[0].pos, name))
                self.operator = outer
                return [], plan
        return [self.expr(item, types) for item in node.items], None

    def membership(self, node: n.Binary, left: Expr, right: n.ListExpr, types: Mapping[str, str]) -> Expr:
        op = node.op
        items, plan = self.list_values(right, types)
        if op in ("has_any", "has_all"):
            if plan is not None or not all(i.const for i in items):
                raise self.error(
                    right.pos, f"Operator '{op}': the list must hold constants (literals or let-bound arrays)"
                )
            needles = [_to_string(v).lower() for v in _flatten(items) if v is not None]
            text = self.text_fn(left)
            if op == "has_any":
                matcher = _TermMatcher(needles)

                def fn(row: Row) -> object:
                    v = text(row)
                    return None if v is None else matcher(v.lower())

            else:
                wanted = [w for w in needles if w]

                def fn(row: Row) -> object:
                    v = text(row)
                    if v is None:
                        return None
                    low = v.lower()
                    return all(_has_term(low, w) for w in wanted)

            return self.fold(Expr("bool", fn), [left])
        tilde = op.endswith("~")
        negated = op.startswith("!")
        if left.type == "dynamic":
            left = Expr(
                "string",
                cast(RowFn, self.text_fn(left)),
                const=left.const,
                value=None if not left.const else self.text_fn(left)({}),
            )
        ltype = left.type
        if tilde and ltype not in ("string", "guid"):
            raise self.error(node.pos, f"Operator '{op}' expects a string operand, not {ltype}")

        def normalise(values: list[object], value_type: str) -> set[object]:
            out: set[object] = set()
            for v in values:
                if v is None:
                    continue
                if ltype in ("string", "guid"):
                    s = v if isinstance(v, str) else _to_string(registry.convert_to(v, value_type, "string"))
                    out.add(s.lower() if tilde else s)
                elif isinstance(v, bool | str):
                    if ltype == "bool" and isinstance(v, bool):
                        out.add(v)
                else:
                    out.add(v)
            return out

        members: set[object] | None = None
        lazy: Callable[[], set[object]] | None = None
        if plan is not None:
            column, col_type = plan.schema[0]
            get = _getter(column, col_type)
            cache: list[set[object]] = []

            def compute() -> set[object]:
                if not cache:
                    cache.append(normalise([get(r) for r in plan.run()], col_type))
                return cache[0]

            lazy = compute
        elif all(i.const for i in items):
            flat: list[object] = []
            for i in items:
                if i.type == "dynamic" and isinstance(i.value, list):
                    flat.extend(i.value)
                elif (
                    ltype not in ("string", "guid")
                    and _family(i.type) != _family(ltype)
                    and i.type != "dynamic"
                ):
                    raise self.error(
                        right.pos, f"Operator '{op}': the list holds {i.type} values, the operand is {ltype}"
                    )
                else:
                    flat.append(i.value)
            members = normalise(flat, "dynamic")
        lf = left.fn
        if left.column is not None and ltype in ("string", "guid") and members is not None:
            column = left.column
            fixed = members
            if tilde:

                def fn(row: Row) -> object:
                    v = row.get(column)
                    if v.__class__ is not str:
                        v = _to_string(v)
                    return v.lower() in fixed

            else:

                def fn(row: Row) -> object:
                    v = row.get(column)
                    if v.__class__ is not str:
                        v = _to_string(v)
                    return v in fixed

        else:
            item_fns = [(i.fn, i.type) for i in items]

            def current(row: Row) -> set[object]:
                if members is not None:
                    return members
                if lazy is not None:
                    return lazy()
                values: list[object] = []
                for f, t in item_fns:
                    v = f(row)
                    if t == "dynamic" and isinstance(v, list):
                        values.extend(v)
                    else:
                        values.append(v)
                return normalise(values, "dynamic")

            def fn(row: Row) -> object:
                v = lf(row)
                if v is None:
                    return None
                if tilde:
                    v = cast(str, v).lower()
                return v in current(row)

        result = Expr("bool", _negate(fn) if negated else fn)
        return result if plan is not None else self.fold(result, [left, *items])


def _two_valued(f: RowFn, g: RowFn, stop: bool) -> RowFn:
    """``f or g`` (``stop`` True) / ``f and g`` (``stop`` False) in three-valued logic."""

    def fn(row: Row) -> object:
        a = f(row)
        if a is stop:
            return stop
        b = g(row)
        if b is stop:
            return stop
        return None if a is None or b is None else not stop

    return fn


def _wrap64(value: int) -> int:
    """A long as Kusto keeps it: 64-bit two's complement (overflow wraps around)."""
    if -_LONG_LIMIT <= value < _LONG_LIMIT:
        return value
    return (value + _LONG_LIMIT) % (2 * _LONG_LIMIT) - _LONG_LIMIT


def _finite_int(value: float) -> int | None:
    return _wrap64(round(value)) if math.isfinite(value) else None


def _scale_span(span: int, factor: float) -> int | None:
    product = span * factor
    return _wrap64(product) if isinstance(product, int) else _finite_int(product)


def _arithmetic_fn(op: str, result_type: str) -> Callable[[Any, Any], object]:
    """``(a, b) -> a op b`` on non-null operands whose result has ``result_type``: reals as IEEE
    doubles, longs/datetimes/timespans as 64-bit integers (ticks)."""
    if result_type == "real":
        if op == "/":
            return lambda a, b: _real_div(float(a), float(b))
        if op == "%":
            return lambda a, b: _real_mod(float(a), float(b))
        return {
            "+": lambda a, b: float(a) + b,
            "-": lambda a, b: float(a) - b,
            "*": lambda a, b: float(a) * b,
        }[op]
    if op == "+":
        return lambda a, b: _wrap64(a + b)
    if op == "-":
        return lambda a, b: _wrap64(a - b)
    if op == "*":
        if result_type == "timespan":
            return lambda a, b: _scale_span(a, b) if isinstance(a, int) else _scale_span(b, a)
        return lambda a, b: _wrap64(a * b)
    if op == "/" and result_type == "timespan":
        return lambda a, b: (
            (None if b == 0 else _finite_int(a / b)) if isinstance(b, float) else _int_div(a, b)
        )
    return _int_div if op == "/" else _int_mod


def _flatten(items: list[Expr]) -> list[object]:
    out: list[object] = []
    for i in items:
        if isinstance(i.value, list):
            out.extend(i.value)
        else:
            out.append(i.value)
    return out


def _has_prefix(hay: str, needle: str) -> bool:
    if not needle:
        return True
    i = hay.find(needle)
    while i >= 0:
        if i == 0 or hay[i - 1] not in _ALNUM:
            return True
        i = hay.find(needle, i + 1)
    return False


def _has_suffix(hay: str, needle: str) -> bool:
    if not needle:
        return True
    i = hay.find(needle)
    while i >= 0:
        end = i + len(needle)
        if end == len(hay) or hay[end] not in _ALNUM:
            return True
        i = hay.find(needle, i + 1)
    return False


def _arg_type(arg: Expr) -> str:
    """The type a function sees for an argument: ``typeof(T)`` names its T ("typeof(long)"),
    so ``extract(re, 1, s, typeof(long))`` is typed long."""
    if arg.type == "type" and arg.const and isinstance(arg.value, str):
        return f"typeof({arg.value})"
    return arg.type


def _dynamic_text(get: RowFn) -> RowFn:
    return lambda row: registry.convert_to(get(row), "dynamic", "string")


def _string_args(func: registry.Function, args: list[Expr]) -> list[Expr]:
    """Kusto passes a dynamic value where a function takes a string as its text (as tostring()
    renders it): ``strlen(split(DeviceName, '.')[0])``, ``tolower(parse_json(x).Name)``."""
    out = list(args)
    for i, arg in enumerate(args):
        if arg.type != "dynamic":
            continue
        accepted = func.params[i] if i < len(func.params) else func.rest
        if accepted is None or "string" not in accepted or "dynamic" in accepted:
            continue
        out[i] = Expr(
            "string",
            _dynamic_text(arg.fn),
            arg.const,
            registry.convert_to(arg.value, "dynamic", "string") if arg.const else None,
        )
    return out
