"""A small KQL (Kusto Query Language) engine for the sandbox's advanced-hunting endpoints.

It tokenizes, parses and evaluates a documented subset of KQL (see ``docs/kql-subset.md``)
over in-memory tables: ``tables`` maps a table name to a sequence of rows, each row a
mapping from column name to value.  Column types come from :data:`enrich.sandbox.schema.TABLES`
(or are inferred from the first row for other tables).

Anything outside the subset raises :class:`KqlError`, whose message is phrased like
Kusto's own errors ("Query could not be parsed at 'x' on line [1,5]", "'where' operator:
Failed to resolve scalar expression named 'x'").  No other exception escapes
:func:`run_query` for any query text.

Datetimes are handled as canonical ISO strings with a 7-digit fraction and ``Z``
(``2026-11-20T10:11:12.1234567Z``): fixed width, so string order is time order, and the
tables' ``Timestamp`` values need no conversion.  Constants (``ago()``, ``datetime()``)
are computed in 100-nanosecond ticks and rendered the same way.  Result rows carry
datetimes in that form, the way the hunting APIs return them.

Rows are read through typed column getters, so table rows are never copied: a
``where`` over 10,000 rows costs a few milliseconds.

Layout: values, conversions and errors in :mod:`enrich.sandbox.kql.values`, the tokenizer in
:mod:`enrich.sandbox.kql.lexer`; this module holds the parser, one recursive-descent class whose
methods compile each grammar rule into closures (kept together: they share the parser's state).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from enrich.sandbox.kql.lexer import _line_col, _parse_error, _Token, _tokenize
from enrich.sandbox.kql.values import (
    _COMPARISONS,
    _NUMERIC,
    _SUBSET_HINT,
    _UNSUPPORTED_OPERATORS,
    _UNSUPPORTED_SCALAR_OPERATORS,
    MAX_NESTING,
    KqlError,
    QueryResult,
    Row,
    _getter,
    _has_term,
    _infer_schema,
    _TermMatcher,
    _to_string,
    datetime_to_ticks,
    format_datetime,
    parse_datetime,
)
from enrich.sandbox.schema import TABLES

__all__ = ["KqlError", "QueryResult", "format_datetime", "parse_datetime", "run_query"]

# ---------------------------------------------------------------------------
# Compiled plan pieces


@dataclass(slots=True)
class _Expr:
    type: str
    fn: Callable[[Row], object]
    const: bool = False
    value: object = None
    column: str | None = None


@dataclass(slots=True)
class _Plan:
    schema: list[tuple[str, str]]
    run: Callable[[], list[Row]]


def _const(kql_type: str, value: object) -> _Expr:
    return _Expr(kql_type, lambda row: value, const=True, value=value)


def _family(kql_type: str) -> str:
    return "number" if kql_type in _NUMERIC else kql_type


def _and(fns: list[Callable[[Row], object]]) -> Callable[[Row], object]:
    def fn(row: Row) -> object:
        result: object = True
        for f in fns:
            v = f(row)
            if v is False:
                return False
            if v is None:
                result = None
        return result

    return fn


def _or(fns: list[Callable[[Row], object]]) -> Callable[[Row], object]:
    def fn(row: Row) -> object:
        result: object = False
        for f in fns:
            v = f(row)
            if v is True:
                return True
            if v is None:
                result = None
        return result

    return fn


def _negate(f: Callable[[Row], object]) -> Callable[[Row], object]:
    def fn(row: Row) -> object:
        v = f(row)
        return None if v is None else not v

    return fn


def _string_fn(expr: _Expr) -> Callable[[Row], str]:
    """The row function of a ``string``-typed expression, typed as returning ``str``.

    Strings are never null in KQL: string getters normalise a missing value to ``""``
    and string constants hold a ``str``, so a string expression always yields ``str``."""
    assert expr.type == "string"
    return cast(Callable[[Row], str], expr.fn)  # see the docstring: string expressions yield str


def _as_text(expr: _Expr) -> Callable[[Row], str | None]:
    """Row -> lower-cased text of ``expr`` (None when null)."""
    if expr.type == "string":
        sf = _string_fn(expr)
        return lambda row: sf(row).lower()
    f = expr.fn

    def text(row: Row) -> str | None:
        v = f(row)
        return None if v is None else _to_string(v).lower()

    return text


# ---------------------------------------------------------------------------
# Parser / compiler


class _Parser:
    def __init__(
        self,
        text: str,
        tables: Mapping[str, Sequence[Mapping[str, object]]],
        schemas: Mapping[str, Sequence[tuple[str, str]]],
        now_ticks: int,
        window: tuple[str | None, str | None] | None,
    ) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0
        self.tables = tables
        self.schemas = schemas
        self.now_ticks = now_ticks
        self.window = window
        self.lets: dict[str, tuple[str, object]] = {}
        self.depth = 0
        self.operator = "where"  # operator being compiled, for error messages

    # -- token helpers -----------------------------------------------------------------

    def peek(self, k: int = 0) -> _Token:
        return self.tokens[min(self.i + k, len(self.tokens) - 1)]

    def next(self) -> _Token:
        tok = self.tokens[self.i]
        if tok.kind != "eof":
            self.i += 1
        return tok

    def at_op(self, *values: str) -> bool:
        tok = self.peek()
        return tok.kind == "op" and tok.value in values

    def at_word(self, *values: str) -> bool:
        tok = self.peek()
        return tok.kind == "id" and tok.value in values

    def expect_op(self, value: str) -> _Token:
        if not self.at_op(value):
            raise self.error(self.peek())
        return self.next()

    def expect_word(self, value: str) -> _Token:
        if not self.at_word(value):
            raise self.error(self.peek())
        return self.next()

    def expect_ident(self) -> _Token:
        if self.peek().kind != "id":
            raise self.error(self.peek())
        return self.next()

    def error(self, tok: _Token, detail: str | None = None) -> KqlError:
        return _parse_error(self.text, tok.pos, tok.text, detail)

    def semantic(self, tok: _Token, message: str) -> KqlError:
        line, column = _line_col(self.text, tok.pos)
        return KqlError(message, line=line, column=column, position=tok.pos, token=tok.text)

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING:
            tok = self.peek()
            raise self.semantic(tok, f"Query is nested too deeply (more than {MAX_NESTING} levels)")

    def leave(self) -> None:
        self.depth -= 1

    def at_stage_end(self) -> bool:
        return self.peek().kind == "eof" or self.at_op("|", ")", ";")

    # -- statements --------------------------------------------------------------------

    def parse_query(self) -> _Plan:
        while self.at_word("let"):
            self.parse_let()
        if self.peek().kind == "eof":
            raise self.error(self.peek(), "the query has no tabular expression")
        plan = self.parse_tabular()
        if self.at_op(";"):
            self.next()
        if self.peek().kind != "eof":
            raise self.error(self.peek())
        return plan

    def parse_let(self) -> None:
        self.next()  # let
        self.operator = "let"
        name = self.expect_ident()
        self.expect_op("=")
        self.lets[str(name.value)] = self.parse_constant()
        self.expect_op(";")

    def parse_constant(self) -> tuple[str, object]:
        """A constant: literal, ``dynamic([...])``, ``ago(...)``, ``now()`` or a let name."""
        expr = self.parse_primary({})
        if not expr.const:
            raise self.error(self.peek(), "expected a constant")
        return expr.type, expr.value

    def parse_dynamic(self) -> _Expr:
        self.expect_op("(")
        self.expect_op("[")
        values: list[object] = []
        if not self.at_op("]"):
            while True:
                values.append(self.parse_json_scalar())
                if self.at_op(","):
                    self.next()
                    continue
                break
        self.expect_op("]")
        self.expect_op(")")
        return _const("dynamic", values)

    def parse_json_scalar(self) -> object:
        tok = self.next()
        if tok.kind == "str" or tok.kind == "num":
            return tok.value
        if tok.kind == "op" and tok.value == "-" and self.peek().kind == "num":
            return -self.next().value  # type: ignore[operator]
        if tok.kind == "id" and tok.value in ("true", "false"):
            return tok.value == "true"
        if tok.kind == "id" and tok.value == "null":
            return None
        raise self.error(tok, "dynamic() here supports a list of strings, numbers, booleans and null")

    # -- tabular expressions -----------------------------------------------------------

    def parse_tabular(self) -> _Plan:
        self.enter()
        plan = self.parse_source()
        while self.at_op("|"):
            self.next()
            plan = self.parse_operator(plan)
        self.leave()
        return plan

    def parse_source(self) -> _Plan:
        tok = self.peek()
        if self.at_op("("):
            self.next()
            plan = self.parse_tabular()
            self.expect_op(")")
            return plan
        if tok.kind != "id":
            raise self.error(tok)
        if tok.value == "union":
            return self.parse_union()
        if self.peek(1).kind == "op" and self.peek(1).value == "(":
            raise self.error(tok, f"tabular functions are {_SUBSET_HINT}")
        return self.table(self.next())

    def table(self, tok: _Token) -> _Plan:
        name = str(tok.value)
        if name not in self.tables and name not in self.schemas:
            if name in _UNSUPPORTED_OPERATORS or name in ("print", "datatable", "range", "search", "find"):
                raise self.error(tok, f"'{name}' is {_SUBSET_HINT}")
            raise self.semantic(tok, f"Failed to resolve table or column expression named '{name}'")
        rows = self.tables.get(name, ())
        schema = list(self.schemas[name]) if name in self.schemas else _infer_schema(rows)
        window = self.window
        if window is None or ("Timestamp", "datetime") not in schema:
            return _Plan(schema, lambda: list(rows))
        lo, hi = window
        get_time = _getter("Timestamp", "datetime")

        def run() -> list[Row]:
            out = []
            for row in rows:
                ts = get_time(row)
                if ts is not None and (lo is None or ts >= lo) and (hi is None or ts <= hi):  # type: ignore[operator]
                    out.append(row)
            return out

        return _Plan(schema, run)

    def parse_union(self) -> _Plan:
        union_tok = self.next()
        parts: list[_Plan] = []
        while True:
            tok = self.peek()
            if self.at_op("("):
                self.next()
                parts.append(self.parse_tabular())
                self.expect_op(")")
            elif tok.kind == "id":
                if self.peek(1).kind == "op" and self.peek(1).value == "=":
                    raise self.error(tok, f"union parameters are {_SUBSET_HINT}")
                parts.append(self.table(self.next()))
            else:
                raise self.error(tok)
            if self.at_op(","):
                self.next()
                continue
            break
        types: dict[str, str] = {}
        for part in parts:
            for col, typ in part.schema:
                if types.setdefault(col, typ) != typ:
                    raise self.semantic(
                        union_tok, f"'union' operator: column '{col}' has different types in the union legs"
                    )
        schema = list(types.items())

        def run() -> list[Row]:
            out: list[Row] = []
            for part in parts:
                out.extend(part.run())
            return out

        return _Plan(schema, run)

    def parse_operator(self, src: _Plan) -> _Plan:
        tok = self.peek()
        if tok.kind != "id":
            raise self.error(tok)
        name = tok.value
        self.operator = str(name)
        if name == "where":
            self.next()
            return self.op_where(src)
        if name == "summarize":
            self.next()
            return self.op_summarize(src)
        if name == "project":
            self.next()
            if self.at_op("-"):
                raise self.error(tok, f"'project-...' operators are {_SUBSET_HINT}")
            return self.op_project(src)
        if name in ("take", "limit"):
            self.next()
            return self.op_take(src)
        if name == "distinct":
            self.next()
            return self.op_distinct(src)
        if name == "count":
            self.next()
            return _Plan([("Count", "long")], lambda: [{"Count": len(src.run())}])
        if name in ("sort", "order"):
            self.next()
            return self.op_sort(src)
        if name in _UNSUPPORTED_OPERATORS:
            raise self.error(tok, f"operator '{name}' is {_SUBSET_HINT}")
        raise self.error(tok)

    def column(self, schema: list[tuple[str, str]], tok: _Token) -> str:
        if tok.kind != "id":
            raise self.error(tok)
        name = str(tok.value)
        if self.at_op("("):
            raise self.error(tok, f"functions and expressions in '{self.operator}' are {_SUBSET_HINT}")
        if name not in dict(schema):
            raise self.semantic(
                tok, f"'{self.operator}' operator: Failed to resolve scalar expression named '{name}'"
            )
        return name

    def op_where(self, src: _Plan) -> _Plan:
        start = self.peek()
        pred = self.parse_or(dict(src.schema))
        if pred.type != "bool":
            raise self.semantic(start, "'where' operator: the predicate must be of type bool")
        f = pred.fn
        return _Plan(src.schema, lambda: [row for row in src.run() if f(row) is True])

    def op_summarize(self, src: _Plan) -> _Plan:
        types = dict(src.schema)
        aggs: list[tuple[str, str, str | None]] = []  # (output name, function, column)
        out_schema: list[tuple[str, str]] = []
        names: set[str] = set()

        def add(name: str, typ: str, tok: _Token) -> None:
            if name in names:
                raise self.semantic(tok, f"'summarize' operator: duplicate column name '{name}'")
            names.add(name)
            out_schema.append((name, typ))

        agg_schema: list[tuple[str, str, _Token]] = []
        if not self.at_word("by") and not self.at_stage_end():
            while True:
                alias = None
                if self.peek().kind == "id" and self.peek(1).kind == "op" and self.peek(1).value == "=":
                    alias = str(self.next().value)
                    self.next()
                ftok = self.expect_ident()
                func = str(ftok.value)
                if func not in ("count", "dcount", "min", "max"):
                    raise self.error(ftok, f"aggregation '{func}' is {_SUBSET_HINT}")
                self.expect_op("(")
                col = None
                if func == "count":
                    typ = "long"
                    default = "count_"
                else:
                    col = self.column(src.schema, self.next())
                    typ = "long" if func == "dcount" else types[col]
                    default = f"{func}_{col}"
                self.expect_op(")")
                name = alias or default
                aggs.append((name, func, col))
                agg_schema.append((name, typ, ftok))
                if self.at_op(","):
                    self.next()
                    continue
                break
        by: list[tuple[str, str]] = []  # (output name, source column)
        if self.at_word("by"):
            self.next()
            while True:
                alias = None
                if self.peek().kind == "id" and self.peek(1).kind == "op" and self.peek(1).value == "=":
                    alias = str(self.next().value)
                    self.next()
                ctok = self.peek()
                col = self.column(src.schema, self.next())
                by.append((alias or col, col))
                add(alias or col, types[col], ctok)
                if self.at_op(","):
                    self.next()
                    continue
                break
        if not aggs and not by:
            raise self.error(self.peek())
        for name, typ, tok in agg_schema:
            add(name, typ, tok)
        by_getters = [_getter(col, types[col]) for _, col in by]
        agg_getters = [(func, None if col is None else _getter(col, types[col])) for _, func, col in aggs]
        out_names = [name for name, _ in out_schema]

        def run() -> list[Row]:
            groups: dict[tuple, list] = {}
            for row in src.run():
                key = tuple(get(row) for get in by_getters)
                state = groups.get(key)
                if state is None:
                    state = groups[key] = [
                        0 if f == "count" else set() if f == "dcount" else None for _, f, _ in aggs
                    ]
                for i, (func, get) in enumerate(agg_getters):
                    if get is None:
                        state[i] += 1
                        continue
                    value = get(row)
                    if value is None:
                        continue
                    if func == "dcount":
                        state[i].add(value)
                    elif state[i] is None or (value < state[i] if func == "min" else value > state[i]):
                        state[i] = value
            if not groups and not by_getters:
                groups[()] = [0 if f == "count" else set() if f == "dcount" else None for _, f, _ in aggs]
            out: list[Row] = []
            for key, state in groups.items():
                values = [len(v) if f == "dcount" else v for (_, f, _), v in zip(aggs, state, strict=True)]
                out.append(dict(zip(out_names, (*key, *values), strict=True)))
            return out

        return _Plan(out_schema, run)

    def op_project(self, src: _Plan) -> _Plan:
        types = dict(src.schema)
        items: list[tuple[str, str]] = []
        seen: set[str] = set()
        while True:
            tok = self.peek()
            alias = None
            if tok.kind == "id" and self.peek(1).kind == "op" and self.peek(1).value == "=":
                alias = str(self.next().value)
                self.next()
            ctok = self.peek()
            col = self.column(src.schema, self.next())
            if not self.at_op(",") and not self.at_stage_end():
                raise self.error(
                    self.peek(),
                    f"only columns and 'Alias = Column' may be projected; anything else is {_SUBSET_HINT}",
                )
            name = alias or col
            if name in seen:
                raise self.semantic(ctok, f"'project' operator: duplicate column name '{name}'")
            seen.add(name)
            items.append((name, col))
            if self.at_op(","):
                self.next()
                continue
            break
        schema = [(name, types[col]) for name, col in items]
        getters = [(name, _getter(col, types[col])) for name, col in items]
        return _Plan(schema, lambda: [{name: get(row) for name, get in getters} for row in src.run()])

    def op_take(self, src: _Plan) -> _Plan:
        tok = self.next()
        count = tok.value
        if tok.kind == "id" and tok.value in self.lets:
            typ, count = self.lets[str(tok.value)]
            if typ not in ("long", "int"):
                raise self.semantic(tok, f"'{self.operator}' operator: the row count must be an integer")
        elif tok.kind != "num" or not isinstance(tok.value, int):
            raise self.error(tok, f"'{self.operator}' expects a non-negative integer")
        if not isinstance(count, int) or count < 0:
            raise self.semantic(tok, f"'{self.operator}' operator: the row count must be non-negative")
        return _Plan(src.schema, lambda: src.run()[:count])

    def op_distinct(self, src: _Plan) -> _Plan:
        types = dict(src.schema)
        cols: list[str] = []
        while True:
            tok = self.peek()
            if self.at_op("*"):
                raise self.error(tok, f"'distinct *' is {_SUBSET_HINT}")
            col = self.column(src.schema, self.next())
            if col in cols:
                raise self.semantic(tok, f"'distinct' operator: duplicate column name '{col}'")
            cols.append(col)
            if self.at_op(","):
                self.next()
                continue
            break

        getters = [_getter(c, types[c]) for c in cols]

        def run() -> list[Row]:
            seen: dict[tuple, None] = {}
            for row in src.run():
                seen.setdefault(tuple(get(row) for get in getters))
            return [dict(zip(cols, key, strict=True)) for key in seen]

        return _Plan([(c, types[c]) for c in cols], run)

    def op_sort(self, src: _Plan) -> _Plan:
        types = dict(src.schema)
        self.expect_word("by")
        keys: list[tuple[str, bool, bool]] = []  # (column, descending, nulls first)
        while True:
            col = self.column(src.schema, self.next())
            descending = True
            if self.at_word("asc", "desc"):
                descending = self.next().value == "desc"
            nulls_first = not descending
            if self.at_word("nulls"):
                self.next()
                if not self.at_word("first", "last"):
                    raise self.error(self.peek())
                nulls_first = self.next().value == "first"
            keys.append((col, descending, nulls_first))
            if self.at_op(","):
                self.next()
                continue
            break

        def run() -> list[Row]:
            rows = src.run()
            for col, descending, nulls_first in reversed(keys):
                none_key = (0, 0) if nulls_first != descending else (2, 0)
                get = _getter(col, types[col])

                def key(row: Row, get: Callable[[Row], object] = get, none_key: tuple = none_key) -> tuple:
                    value = get(row)
                    return none_key if value is None else (1, value)

                rows.sort(key=key, reverse=descending)
            return rows

        return _Plan(src.schema, run)

    # -- scalar expressions ------------------------------------------------------------

    def parse_or(self, types: Mapping[str, str]) -> _Expr:
        first_tok = self.peek()
        parts = [self.parse_and(types)]
        while self.at_word("or"):
            self.next()
            parts.append(self.parse_and(types))
        if len(parts) == 1:
            return parts[0]
        self.require_bool(parts, first_tok, "or")
        return _Expr("bool", _or([p.fn for p in parts]))

    def parse_and(self, types: Mapping[str, str]) -> _Expr:
        first_tok = self.peek()
        parts = [self.parse_comparison(types)]
        while self.at_word("and"):
            self.next()
            parts.append(self.parse_comparison(types))
        if len(parts) == 1:
            return parts[0]
        self.require_bool(parts, first_tok, "and")
        return _Expr("bool", _and([p.fn for p in parts]))

    def require_bool(self, parts: list[_Expr], tok: _Token, op: str) -> None:
        for part in parts:
            if part.type != "bool":
                raise self.semantic(tok, f"The operands of '{op}' must be of type bool, not {part.type}")

    def parse_comparison(self, types: Mapping[str, str]) -> _Expr:
        left = self.parse_primary(types)
        tok = self.peek()
        op = tok.value if tok.kind in ("op", "id") else None
        if tok.kind == "op" and (op in _COMPARISONS or op in ("=~", "!~")):
            self.next()
            right = self.parse_primary(types)
            return self.compare(str(op), left, right, tok)
        if op in ("in", "in~", "!in", "!in~"):
            self.next()
            return self.membership(str(op), left, self.parse_list(types), tok)
        if op == "has_any":
            self.next()
            return self.has_any(left, self.parse_list(types), tok)
        if op in (
            "has",
            "contains",
            "startswith",
            "endswith",
            "!has",
            "!contains",
            "!startswith",
            "!endswith",
        ):
            self.next()
            right = self.parse_primary(types)
            return self.string_op(str(op), left, right, tok)
        if tok.kind == "id" and op in _UNSUPPORTED_SCALAR_OPERATORS:
            raise self.error(tok, f"operator '{op}' is {_SUBSET_HINT}")
        if tok.kind == "op" and op in ("+", "-", "*", "/", "%"):
            raise self.error(tok, f"arithmetic is {_SUBSET_HINT}")
        return left

    def compare(self, op: str, left: _Expr, right: _Expr, tok: _Token) -> _Expr:
        lt, rt = left.type, right.type
        if op in ("=~", "!~"):
            if lt != "string" or rt != "string":
                raise self.semantic(tok, f"Operator '{op}' expects string operands, not {lt} and {rt}")
            ls, rs = _string_fn(left), _string_fn(right)
            if right.const:
                lowered = str(right.value).lower()
                fn: Callable[[Row], object] = lambda row: ls(row).lower() == lowered  # noqa: E731
            else:
                fn = lambda row: ls(row).lower() == rs(row).lower()  # noqa: E731
            return _Expr("bool", fn if op == "=~" else _negate(fn))
        if "dynamic" in (lt, rt) or _family(lt) != _family(rt):
            raise self.semantic(
                tok, f"Cannot compare values of types {lt} and {rt}. Try adding explicit casts"
            )
        if op not in ("==", "!=") and lt in ("string", "bool"):
            raise self.semantic(tok, f"Cannot compare values of types {lt} and {rt} with '{op}'")
        py_op = _COMPARISONS[op]
        lf, rf = left.fn, right.fn
        if right.const:
            target = right.value
            if target is None:
                return _const("bool", None)

            def fn(row: Row) -> object:
                v = lf(row)
                return None if v is None else py_op(v, target)

        else:

            def fn(row: Row) -> object:
                a = lf(row)
                if a is None:
                    return None
                b = rf(row)
                return None if b is None else py_op(a, b)

        return _Expr("bool", fn)

    def parse_list(self, types: Mapping[str, str]) -> list[object]:
        self.enter()
        self.expect_op("(")
        values: list[object] = []
        if not self.at_op(")"):
            while True:
                tok = self.peek()
                item = self.parse_primary(types)
                if not item.const:
                    raise self.error(
                        tok,
                        f"only constants and let-bound lists may appear in the list; anything else is {_SUBSET_HINT}",
                    )
                if item.type == "dynamic":
                    values.extend(item.value)  # type: ignore[arg-type]
                else:
                    values.append(item.value)
                if self.at_op(","):
                    self.next()
                    continue
                break
        self.expect_op(")")
        self.leave()
        return values

    def membership(self, op: str, left: _Expr, values: list[object], tok: _Token) -> _Expr:
        if left.type == "dynamic":
            raise self.semantic(tok, f"Operator '{op}' cannot be applied to a dynamic value")
        lf = left.fn
        if op in ("in~", "!in~"):
            if left.type != "string":
                raise self.semantic(tok, f"Operator '{op}' expects a string operand, not {left.type}")
            lowered = {v.lower() for v in values if isinstance(v, str)}
            ls = _string_fn(left)

            def fn(row: Row) -> object:
                return ls(row).lower() in lowered

        else:
            members: set[object]
            if left.type == "string":
                members = {v for v in values if isinstance(v, str)}
            else:
                members = {v for v in values if v is not None and not isinstance(v, str)}

            def fn(row: Row) -> object:
                v = lf(row)
                return None if v is None else v in members

        return _Expr("bool", fn if not op.startswith("!") else _negate(fn))

    def has_any(self, left: _Expr, values: list[object], tok: _Token) -> _Expr:
        if left.type == "dynamic":
            raise self.semantic(tok, "Operator 'has_any' cannot be applied to a dynamic value")
        matcher = _TermMatcher([_to_string(v).lower() for v in values if v is not None])
        text = _as_text(left)

        def fn(row: Row) -> object:
            v = text(row)
            return None if v is None else matcher(v)

        return _Expr("bool", fn)

    def string_op(self, op: str, left: _Expr, right: _Expr, tok: _Token) -> _Expr:
        if "dynamic" in (left.type, right.type):
            raise self.semantic(tok, f"Operator '{op}' cannot be applied to a dynamic value")
        negated = op.startswith("!")
        base = op.lstrip("!")
        check: Callable[[str, str], bool] = {
            "has": _has_term,
            "contains": lambda hay, needle: needle in hay,
            "startswith": lambda hay, needle: hay.startswith(needle),
            "endswith": lambda hay, needle: hay.endswith(needle),
        }[base]
        lt, rt = _as_text(left), _as_text(right)
        if right.const:
            needle = None if right.value is None else _to_string(right.value).lower()

            def fn(row: Row) -> object:
                hay = lt(row)
                return None if hay is None or needle is None else check(hay, needle)

        else:

            def fn(row: Row) -> object:
                hay = lt(row)
                if hay is None:
                    return None
                needle = rt(row)
                return None if needle is None else check(hay, needle)

        return _Expr("bool", _negate(fn) if negated else fn)

    def parse_primary(self, types: Mapping[str, str]) -> _Expr:
        tok = self.peek()
        if tok.kind == "op" and tok.value == "(":
            self.enter()
            self.next()
            expr = self.parse_or(types)
            self.expect_op(")")
            self.leave()
            return expr
        if tok.kind == "str":
            self.next()
            return _const("string", tok.value)
        if tok.kind == "num":
            self.next()
            return _const("long" if isinstance(tok.value, int) else "real", tok.value)
        if tok.kind == "span":
            self.next()
            return _const("timespan", tok.value)
        if tok.kind == "date":
            self.next()
            return _const("datetime", None) if tok.value is None else self.datetime_const(tok, tok.value)  # type: ignore[arg-type]
        if tok.kind == "op" and tok.value == "-" and self.peek(1).kind in ("num", "span"):
            self.next()
            inner = self.next()
            kind = "timespan" if inner.kind == "span" else "long" if isinstance(inner.value, int) else "real"
            return _const(kind, -inner.value)  # type: ignore[operator]
        if tok.kind != "id":
            raise self.error(tok)
        name = str(tok.value)
        if self.peek(1).kind == "op" and self.peek(1).value == "(":
            return self.parse_call(types)
        self.next()
        if name in ("true", "false"):
            return _const("bool", name == "true")
        if name in types:
            kql_type = types[name]
            return _Expr(kql_type, _getter(name, kql_type), column=name)
        if name in self.lets:
            kql_type, value = self.lets[name]
            return _const(kql_type, value)
        raise self.semantic(
            tok, f"'{self.operator}' operator: Failed to resolve scalar expression named '{name}'"
        )

    def datetime_const(self, tok: _Token, ticks: int) -> _Expr:
        text = format_datetime(ticks)
        if text is None:
            raise self.semantic(tok, "datetime value out of range")
        return _const("datetime", text)

    def parse_call(self, types: Mapping[str, str]) -> _Expr:
        tok = self.next()
        name = str(tok.value)
        if name == "dynamic":
            return self.parse_dynamic()
        if name not in ("not", "isempty", "isnotempty", "ago", "now"):
            raise self.error(tok, f"function '{name}' is {_SUBSET_HINT}")
        self.enter()
        self.expect_op("(")
        arg = None
        if not self.at_op(")"):
            arg = self.parse_or(types)
        self.expect_op(")")
        self.leave()
        if name == "now":
            offset = 0
            if arg is not None:
                if not arg.const or arg.type != "timespan":
                    raise self.semantic(tok, "now() takes an optional constant timespan")
                offset = arg.value  # type: ignore[assignment]
            return self.datetime_const(tok, self.now_ticks + offset)
        if arg is None:
            raise self.semantic(tok, f"{name}() expects one argument")
        if name == "ago":
            if not arg.const or arg.type != "timespan":
                raise self.semantic(tok, f"ago() expects a constant timespan such as 30d, not {arg.type}")
            return self.datetime_const(tok, self.now_ticks - arg.value)  # type: ignore[operator]
        if name == "not":
            if arg.type != "bool":
                raise self.semantic(tok, f"not() expects a bool argument, not {arg.type}")
            return _Expr("bool", _negate(arg.fn))
        if arg.type == "dynamic":
            raise self.semantic(tok, f"{name}() cannot be applied to a dynamic value")
        f = arg.fn
        if name == "isempty":
            return _Expr("bool", lambda row: (v := f(row)) is None or v == "")
        return _Expr("bool", lambda row: (v := f(row)) is not None and v != "")


def run_query(
    text: str,
    tables: Mapping[str, Sequence[Mapping[str, object]]],
    now: datetime,
    *,
    window: tuple[datetime | None, datetime | None] | None = None,
    schemas: Mapping[str, Sequence[tuple[str, str]]] | None = None,
) -> QueryResult:
    """Parse and evaluate ``text`` over ``tables``; ``now`` anchors ``ago()`` and ``now()``.

    ``window`` (start, end), either bound optional, hides rows whose ``Timestamp`` falls
    outside it (the hunting APIs only see the last 30 days).  ``schemas`` overrides the
    column types of :data:`enrich.sandbox.schema.TABLES`.

    Raises :class:`KqlError` for a query that is invalid or outside the subset.
    """
    if not isinstance(text, str):
        raise KqlError("The query must be a string")
    now_ticks = datetime_to_ticks(now)
    bounds = None
    if window is not None:
        start, end = window
        bounds = (
            None if start is None else format_datetime(datetime_to_ticks(start)),
            None if end is None else format_datetime(datetime_to_ticks(end)),
        )
    try:
        parser = _Parser(text, tables, TABLES if schemas is None else schemas, now_ticks, bounds)
        plan = parser.parse_query()
        rows = plan.run()
    except RecursionError:
        raise KqlError("Query is too complex (too many nested operators)") from None
    getters = [(name, _getter(name, kql_type)) for name, kql_type in plan.schema]
    out = [{name: get(row) for name, get in getters} for row in rows]
    return QueryResult(schema=list(plan.schema), rows=out)
