"""The compiler of the sandbox's KQL engine: syntax tree -> plans of closures over in-memory rows.

Scalar expressions compile to :class:`Expr` (a KQL type and a ``row -> value`` function, folded to a
constant when every input is constant); tabular expressions compile to :class:`Plan` (a schema and a
``run() -> list of rows`` function).  Names are resolved here (columns, ``let`` names, tables,
functions), so every unknown name or type mismatch is a :class:`KqlError` before a row is read.

Rows are mappings: table rows as the dataset holds them (datetimes as ISO strings) and rows built
by operators (values of the shared value model).  Column getters (:func:`values._getter`) read both,
so ``where``/``union``/``take``/``sort`` pass table rows through without copying them.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, cast

from enrich.sandbox.kql import aggregates as agg
from enrich.sandbox.kql import nodes as n
from enrich.sandbox.kql import registry
from enrich.sandbox.kql.fileprofile import file_profile_plan
from enrich.sandbox.kql.lexer import _line_col
from enrich.sandbox.kql.plan import Expr, Plan, RowFn, Schema
from enrich.sandbox.kql.values import (
    _COMPARISONS,
    _NUMERIC,
    Extended,
    KqlError,
    Row,
    _getter,
    _has_term,
    _infer_schema,
    _TermMatcher,
    _to_string,
    format_datetime,
    parse_datetime,
)

FileProfileHook = Callable[[str], Mapping[str, object] | None]

_NON_DETERMINISTIC = frozenset({"rand", "new_guid"})
_MIRROR = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!=", "<>": "<>"}
_LONG_LIMIT = 2**63
#: `range` refuses to make more rows than this.
MAX_RANGE_ROWS = 1_000_000
_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


@dataclass(slots=True)
class _Context:
    now: int


@dataclass(slots=True)
class _Position:
    """Where ``extend``/``project`` are in their serialized input, for row_number(), prev(), next()."""

    rows: list[Row]
    index: int = 0


_POSITION_FUNCTIONS = frozenset({"row_number", "prev", "next"})
#: Operators whose output keeps the order of their serialized input.
_ORDER_KEEPING = frozenset(
    {
        "where",
        "project",
        "projectnames",
        "projectrename",
        "extend",
        "take",
        "mvexpand",
        "mvapply",
        "parse",
        "invoke",
    }
)


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


@lru_cache(maxsize=256)
def _regex(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern)
    except (re.error, RecursionError, OverflowError):
        return None


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


class Compiler:
    """Compiles one query's syntax tree; holds what names resolve to."""

    def __init__(
        self,
        text: str,
        tables: Mapping[str, Sequence[Mapping[str, object]]],
        schemas: Mapping[str, Sequence[tuple[str, str]]],
        now_ticks: int,
        window: tuple[str | None, str | None] | None,
        file_profile: FileProfileHook | None,
    ) -> None:
        self.text = text
        self.tables = tables
        self.schemas = schemas
        self.ctx = _Context(now_ticks)
        self.window = window
        self.file_profile = file_profile
        self.scalars: dict[str, Expr] = {}
        self.functions: dict[str, n.Function] = {}
        self.params: dict[str, Expr] = {}  # parameters of the user-defined function being expanded
        self.position: _Position | None = None  # set while compiling items over a serialized input
        self.position_used = False
        self.search_case = False  # compiling a `search kind=case_sensitive` predicate
        self.search_columns: dict[str, list[str]] | None = None  # search over tables: columns by $table
        self.expanding = 0
        self.tabulars: dict[str, Plan] = {}
        self.operator = "where"

    # -- errors ------------------------------------------------------------------------

    def error(self, pos: int, message: str) -> KqlError:
        line, column = _line_col(self.text, pos)
        return KqlError(message, line=line, column=column, position=pos)

    def unresolved(self, pos: int, name: str) -> KqlError:
        return self.error(
            pos, f"'{self.operator}' operator: Failed to resolve scalar expression named '{name}'"
        )

    # -- statements --------------------------------------------------------------------

    def compile_query(self, query: n.Query) -> Plan:
        for let in query.lets:
            self.define(let)
        return self.tabular(query.body)

    def define(self, let: n.Let) -> None:
        """Bind a ``let`` name: a constant, a tabular plan or a user-defined function."""
        self.operator = "let"
        value = let.value
        for names in (self.scalars, self.tabulars, self.functions):
            names.pop(let.name, None)
        if isinstance(value, n.Function):
            self.functions[let.name] = value
            return
        if isinstance(value, n.Name) and (value.name in self.tabulars or self.is_table(value.name)):
            value = n.TableRef(value.pos, value.name)
        if isinstance(value, n.TABULAR_NODES):
            self.tabulars[let.name] = self.tabular(value)
            return
        expr = self.expr(value, {})
        if not expr.const and not self.params:
            raise self.error(let.pos, f"'let' statement: the value of '{let.name}' must be a constant")
        self.scalars[let.name] = expr

    def expand(self, name: str, pos: int, args: list[n.Expr], types: Mapping[str, str]) -> Expr | Plan:
        """The body of user-defined function ``name`` compiled with its parameters bound to ``args``."""
        func = self.functions[name]
        params = func.params
        required = sum(1 for p in params if p.default is None)
        if not required <= len(args) <= len(params):
            want = str(len(params)) if required == len(params) else f"between {required} and {len(params)}"
            raise self.error(pos, f"The function '{name}' expects {want} argument(s), got {len(args)}")
        if self.expanding >= 16:
            raise self.error(pos, f"The function '{name}' calls itself too deeply")
        bound: dict[str, Expr] = {}
        for i, param in enumerate(params):
            node = args[i] if i < len(args) else param.default
            assert node is not None
            value = self.expr(node, types)
            if (
                _family(value.type) != _family(param.type)
                and value.type != "dynamic"
                and param.type != "dynamic"
            ):
                raise self.error(
                    node.pos,
                    f"{name}(): argument #{i + 1} expected to be of type {param.type}, not {value.type}",
                )
            if value.type != param.type:
                value = self.fold(self.converted(value, param.type), [value])
            bound[param.name] = Expr(param.type, value.fn, value.const, value.value)
        saved = (dict(self.scalars), dict(self.tabulars), dict(self.functions), self.params, self.operator)
        self.params = bound
        self.expanding += 1
        try:
            for let in func.lets:
                self.define(let)
            body = func.body
            if isinstance(body, n.Name) and (body.name in self.tabulars or self.is_table(body.name)):
                body = n.TableRef(body.pos, body.name)
            if isinstance(body, n.TABULAR_NODES):
                return self.tabular(body)
            return self.expr(body, {})
        finally:
            self.expanding -= 1
            self.scalars, self.tabulars, self.functions, self.params, self.operator = saved

    @staticmethod
    def converted(expr: Expr, kql_type: str) -> Expr:
        """``expr`` converted to ``kql_type`` (Kusto's conversions, null when they fail)."""
        f, from_type = expr.fn, expr.type
        return Expr(kql_type, lambda row: registry.convert_to(f(row), from_type, kql_type))

    def is_table(self, name: str) -> bool:
        return name in self.tables or name in self.schemas

    # -- tabular -----------------------------------------------------------------------

    def tabular(self, node: n.Tabular) -> Plan:
        if isinstance(node, n.TableRef):
            return self.table(node)
        if isinstance(node, n.Union):
            return self.union(node, None)
        if isinstance(node, n.Search):
            return self.search(node, None)
        if isinstance(node, n.Print):
            return self.print_source(node)
        if isinstance(node, n.DataTable):
            return self.datatable(node)
        if isinstance(node, n.Range):
            return self.range_source(node)
        if isinstance(node, n.TabularCall):
            if node.name not in self.functions:
                raise self.error(node.pos, f"Unknown function: '{node.name}'")
            expanded = self.expand(node.name, node.pos, node.args, {})
            if not isinstance(expanded, Plan):
                raise self.error(node.pos, f"The function '{node.name}' returns a scalar, not a table")
            return expanded
        return self.apply(node.op, self.tabular(node.source))

    def apply(self, op: n.Operator, source: Plan) -> Plan:
        """The plan of ``source | op``."""
        name = type(op).__name__.lower()
        self.operator = {
            "projectnames": getattr(op, "kind", ""),
            "projectrename": "project-rename",
            "mvexpand": "mv-expand",
            "mvapply": "mv-apply",
            "unionop": "union",
            "join": "lookup" if getattr(op, "lookup", False) else "join",
        }.get(name, name)
        method = getattr(self, "op_" + name)
        plan: Plan = method(op, source)
        if name in ("sort", "top", "serialize") or (name in _ORDER_KEEPING and source.serialized):
            plan.serialized = True
        return plan

    def print_source(self, node: n.Print) -> Plan:
        self.operator = "print"
        items = []
        for i, item in enumerate(node.items):
            name = item.name or (item.expr.name if isinstance(item.expr, n.Name) else f"print_{i}")
            items.append(n.Assign(item.pos, name, item.expr))
        compiled = self.assignments(items, {}, sequential=False)
        row: dict[str, object] = {name: e.fn({}) for name, e in compiled}
        return Plan([(name, e.type) for name, e in compiled], lambda: [dict(row)])

    def datatable(self, node: n.DataTable) -> Plan:
        self.operator = "datatable"
        width = len(node.columns)
        if len(node.values) % width:
            raise self.error(
                node.pos, f"'datatable': {len(node.values)} values do not fill rows of {width} columns"
            )
        names = [c for c, _ in node.columns]
        if len(set(names)) != len(names):
            raise self.error(node.pos, "'datatable': duplicate column name")
        cells: list[object] = []
        for i, value_node in enumerate(node.values):
            column, kql_type = node.columns[i % width]
            value = self.expr(value_node, {})
            if not value.const:
                raise self.error(value_node.pos, "'datatable': the values must be constants")
            compatible = (
                value.value is None
                or _family(value.type) == _family(kql_type)
                or kql_type == "dynamic"
                or (kql_type == "real" and value.type in ("int", "long"))
            )
            if not compatible:
                raise self.error(
                    value_node.pos, f"'datatable': column '{column}' is {kql_type}, the value is {value.type}"
                )
            cells.append(
                registry.convert_to(value.value, value.type, kql_type) if value.value is not None else None
            )
        rows = [dict(zip(names, cells[i : i + width], strict=True)) for i in range(0, len(cells), width)]
        return Plan(list(node.columns), lambda: [dict(r) for r in rows], serialized=True)

    def range_source(self, node: n.Range) -> Plan:
        self.operator = "range"
        start, stop, step = (self.expr(e, {}) for e in (node.start, node.stop, node.step))
        if not (start.const and stop.const and step.const):
            raise self.error(node.pos, "'range': from, to and step must be constants")
        kind = _family(start.type)
        step_ok = (
            step.type == "timespan" if kind in ("datetime", "timespan") else _family(step.type) == "number"
        )
        if kind not in ("number", "datetime", "timespan") or _family(stop.type) != kind or not step_ok:
            raise self.error(
                node.pos, f"'range': cannot step from {start.type} to {stop.type} by {step.type}"
            )
        first, last, by = start.value, stop.value, step.value
        if first is None or last is None or not by:
            return Plan([(node.name, start.type)], list)
        count = int((last - first) / by) + 1 if (last - first) * by >= 0 else 0  # type: ignore[operator]
        if count > MAX_RANGE_ROWS:
            raise self.error(node.pos, f"'range': more than {MAX_RANGE_ROWS:,} rows")
        result_type = "real" if "real" in (start.type, step.type) else start.type
        name = node.name
        values = [first + i * by for i in range(count)]  # type: ignore[operator]
        return Plan([(name, result_type)], lambda: [{name: v} for v in values], serialized=True)

    def table(self, node: n.TableRef) -> Plan:
        name = node.name
        if name in self.tabulars:
            return self.tabulars[name]
        if not self.is_table(name):
            raise self.error(node.pos, f"Failed to resolve table or column expression named '{name}'")
        rows = self.tables.get(name, ())
        schema = list(self.schemas[name]) if name in self.schemas else _infer_schema(rows)
        window = self.window
        if window is None or ("Timestamp", "datetime") not in schema:
            return Plan(schema, lambda: list(rows))
        lo, hi = window
        get_time = _getter("Timestamp", "datetime")
        lo_ticks = None if lo is None else parse_datetime(lo)
        hi_ticks = None if hi is None else parse_datetime(hi)

        def run() -> list[Row]:
            out = []
            for row in rows:
                ts = row.get("Timestamp")
                if ts.__class__ is str and len(ts) == 28 and ts[27] == "Z" and ts[10] == "T":
                    if (lo is None or ts >= lo) and (hi is None or ts <= hi):
                        out.append(row)
                    continue
                ticks = get_time(row)
                if (
                    ticks is not None
                    and (lo_ticks is None or ticks >= lo_ticks)  # type: ignore[operator]
                    and (hi_ticks is None or ticks <= hi_ticks)  # type: ignore[operator]
                ):
                    out.append(row)
            return out

        return Plan(schema, run)

    def union(self, node: n.Union, first: Plan | None) -> Plan:
        legs: list[tuple[str, Plan]] = []
        if first is not None:
            legs.append(("union_arg0", first))
        expanded: list[n.Tabular] = []
        for leg in node.legs:
            if isinstance(leg, n.TableRef) and "*" in leg.name:
                # union Device*: every table (and tabular let) whose name matches
                regex = re.compile("^" + ".*".join(re.escape(p) for p in leg.name.split("*")) + "$")
                names = sorted({*self.schemas, *self.tables, *self.tabulars})
                expanded.extend(n.TableRef(leg.pos, name) for name in names if regex.match(name))
            else:
                expanded.append(leg)
        for leg in expanded:
            if (
                isinstance(leg, n.TableRef)
                and node.isfuzzy
                and not self.is_table(leg.name)
                and leg.name not in self.tabulars
            ):
                continue
            label = leg.name if isinstance(leg, n.TableRef) else f"union_arg{len(legs)}"
            legs.append((label, self.tabular(leg)))
        if not legs:
            raise self.error(node.pos, "'union' operator: no table to union")
        # a column with one name and several types becomes one column per type: Col_string, Col_long
        types_of: dict[str, list[str]] = {}
        for _, plan in legs:
            for col, typ in plan.schema:
                seen = types_of.setdefault(col, [])
                if typ not in seen:
                    seen.append(typ)
        schema: Schema = []
        if node.withsource:
            schema.append((node.withsource, "string"))
        renames: list[dict[str, str]] = []
        for _, plan in legs:
            rename = {c: f"{c}_{t}" for c, t in plan.schema if len(types_of[c]) > 1}
            renames.append(rename)
        added: set[str] = {c for c, _ in schema}
        for (_, plan), rename in zip(legs, renames, strict=True):
            for col, typ in plan.schema:
                out = rename.get(col, col)
                if out not in added:
                    added.add(out)
                    schema.append((out, typ))
        if node.kind == "inner":
            common = set.intersection(
                *(
                    {rename.get(c, c) for c, _ in plan.schema}
                    for (_, plan), rename in zip(legs, renames, strict=True)
                )
            )
            schema = [(c, t) for c, t in schema if c in common or c == node.withsource]
        source_col = node.withsource
        names = [c for c, _ in schema]

        def run() -> list[Row]:
            out: list[Row] = []
            for (label, plan), rename in zip(legs, renames, strict=True):
                rows = plan.run()
                if rename:
                    leg_types = dict(plan.schema)
                    getters = {rename.get(c, c): _getter(c, leg_types[c]) for c in leg_types}
                    rows = [{c: getters[c](r) for c in names if c in getters} for r in rows]
                if source_col is not None:
                    out.extend(Extended(r, {source_col: label}) for r in rows)
                else:
                    out.extend(rows)
            return out

        return Plan(schema, run)

    def op_unionop(self, op: n.UnionOp, src: Plan) -> Plan:
        return self.union(op.union, src)

    def op_where(self, op: n.Where, src: Plan) -> Plan:
        pred = self.expr(op.predicate, dict(src.schema))
        if pred.type != "bool":
            raise self.error(
                op.predicate.pos, f"'where' operator: the predicate must be of type bool, not {pred.type}"
            )
        f = pred.fn
        if pred.const:
            keep = pred.value is True
            return Plan(src.schema, lambda: src.run() if keep else [])
        return Plan(src.schema, lambda: [row for row in src.run() if f(row) is True])

    def assignments(
        self, items: list[n.Assign], types: dict[str, str], sequential: bool, infer_calls: bool = False
    ) -> list[tuple[str, Expr]]:
        """Compile ``[Name =] expr`` items; an unnamed item is named as Kusto does: a column keeps its
        name, ``x.Key`` is ``Key``, a call in ``summarize ... by`` takes its column's name
        (``bin(Timestamp, 1h)`` -> ``Timestamp``), anything else is ``Column1``, ``Column2``..."""
        out: list[tuple[str, Expr]] = []
        names: set[str] = set()
        scope = dict(types)
        auto = 0
        for item in items:
            if item.names is not None:
                raise self.error(
                    item.pos, f"'{self.operator}' operator: a tuple of names is allowed only in summarize"
                )
            expr = self.expr(item.expr, scope if sequential else types)
            name = item.name or inferred_name(item.expr)
            if (
                item.name is None
                and not isinstance(item.expr, n.Name | n.Member | n.Index)
                and not infer_calls
            ):
                name = None
            if name is None:
                auto += 1
                name = f"Column{auto}"
                while name in scope or name in names:
                    auto += 1
                    name = f"Column{auto}"
            if name in names:
                raise self.error(item.pos, f"'{self.operator}' operator: duplicate column name '{name}'")
            names.add(name)
            if expr.type == "type":
                raise self.error(item.pos, f"'{self.operator}' operator: a type is not a value")
            out.append((name, expr))
            scope[name] = expr.type
        return out

    def positioned(
        self, src: Plan, compile_items: Callable[[], list[tuple[str, Expr]]]
    ) -> tuple[list[tuple[str, Expr]], _Position | None]:
        """Compile items, with row_number()/prev()/next() available when ``src`` is serialized; the
        returned position (None when no item uses it) must be moved along the rows while evaluating."""
        position = _Position([]) if src.serialized else None
        saved = (self.position, self.position_used)
        self.position, self.position_used = position, False
        try:
            items = compile_items()
            used = self.position_used
        finally:
            self.position, self.position_used = saved
        return items, position if used else None

    def op_project(self, op: n.Project, src: Plan) -> Plan:
        items, position = self.positioned(
            src, lambda: self.assignments(op.items, dict(src.schema), sequential=False)
        )
        schema = [(name, e.type) for name, e in items]
        fns = [(name, e.fn) for name, e in items]
        if position is None:
            return Plan(schema, lambda: [{name: f(row) for name, f in fns} for row in src.run()])
        pos = position

        def run() -> list[Row]:
            rows = pos.rows = src.run()
            out: list[Row] = []
            for i, row in enumerate(rows):
                pos.index = i
                out.append({name: f(row) for name, f in fns})
            return out

        return Plan(schema, run)

    def op_serialize(self, op: n.Serialize, src: Plan) -> Plan:
        return self.op_extend(n.Extend(op.pos, op.items), Plan(src.schema, src.run, serialized=True))

    def op_extend(self, op: n.Extend, src: Plan) -> Plan:
        types = dict(src.schema)
        items, position = self.positioned(src, lambda: self.assignments(op.items, types, sequential=True))
        schema = list(src.schema)
        for name, e in items:
            if name in types:
                schema = [(c, e.type if c == name else t) for c, t in schema]
            else:
                schema.append((name, e.type))
            types[name] = e.type
        fns = [(name, e.fn) for name, e in items]

        pos = position

        def run() -> list[Row]:
            out: list[Row] = []
            rows = src.run()
            if pos is not None:
                pos.rows = rows
            for i, row in enumerate(rows):
                if pos is not None:
                    pos.index = i
                new = Extended(row, {})
                extra = new.extra  # filled in order: an item sees the items before it
                for name, f in fns:
                    extra[name] = f(new)
                out.append(new)
            return out

        return Plan(schema, run)

    def match_patterns(self, op: n.ProjectNames, schema: Schema) -> list[str]:
        matched: list[str] = []
        for pattern in op.patterns:
            if "*" in pattern:
                regex = re.compile("^" + ".*".join(re.escape(p) for p in pattern.split("*")) + "$")
                matched.extend(c for c, _ in schema if regex.match(c) and c not in matched)
            elif pattern not in dict(schema):
                raise self.unresolved(op.pos, pattern)
            elif pattern not in matched:
                matched.append(pattern)
        return matched

    def op_projectnames(self, op: n.ProjectNames, src: Plan) -> Plan:
        matched = self.match_patterns(op, src.schema)
        types = dict(src.schema)
        if op.kind == "project-reorder":
            schema = [(c, types[c]) for c in matched] + [(c, t) for c, t in src.schema if c not in matched]
            return Plan(schema, src.run)
        if op.kind == "project-away":
            schema = [(c, t) for c, t in src.schema if c not in matched]
        else:
            schema = [(c, t) for c, t in src.schema if c in matched]
        names = [c for c, _ in schema]
        return Plan(schema, lambda: [{c: row.get(c) for c in names} for row in src.run()])

    def op_projectrename(self, op: n.ProjectRename, src: Plan) -> Plan:
        types = dict(src.schema)
        mapping: dict[str, str] = {}
        for new, old in op.pairs:
            if old not in types:
                raise self.unresolved(op.pos, old)
            mapping[old] = new
        schema = [(mapping.get(c, c), t) for c, t in src.schema]
        if len({c for c, _ in schema}) != len(schema):
            raise self.error(op.pos, "'project-rename' operator: the new names collide with existing columns")
        pairs = [(mapping.get(c, c), c) for c, _ in src.schema]
        return Plan(schema, lambda: [{new: row.get(old) for new, old in pairs} for row in src.run()])

    def op_summarize(self, op: n.Summarize, src: Plan) -> Plan:
        types = dict(src.schema)
        by = self.assignments(op.by, types, sequential=False, infer_calls=True)
        for (name, e), item in zip(by, op.by, strict=True):
            if e.type == "dynamic":
                raise self.error(
                    item.pos,
                    f"Summarize group key '{name}' is of a 'dynamic' type. Please use an explicit cast (for example, 'summarize ... by tostring({name})')",
                )
        by_names = {name for name, _ in by}
        star = [(c, t, _getter(c, t)) for c, t in src.schema if c not in by_names]
        aggregates: list[agg.Aggregate] = []
        for item in op.aggregates:
            call = item.expr
            if not isinstance(call, n.Call) or call.name not in agg.AGGREGATES:
                raise self.error(
                    item.pos,
                    "'summarize' operator: the expression is not an aggregation (count(), dcount(), make_set()...)",
                )
            args = [self.agg_arg(a, types) for a in call.args]
            try:
                built = agg.build(call.name, args, item.name, star)
            except agg.AggregateError as exc:
                raise self.error(call.pos, f"'summarize' operator: {exc}") from None
            if item.names is not None:
                if len(item.names) != len(built.columns):
                    raise self.error(
                        item.pos,
                        f"'summarize' operator: {len(item.names)} names for the {len(built.columns)} "
                        f"columns of {call.name}()",
                    )
                built.columns = [(new, t) for new, (_, t) in zip(item.names, built.columns, strict=True)]
            aggregates.append(built)
        schema: Schema = [(name, e.type) for name, e in by]
        for a in aggregates:
            schema.extend(a.columns)
        names = [c for c, _ in schema]
        if len(set(names)) != len(names):
            dup = next(c for c in names if names.count(c) > 1)
            raise self.error(op.pos, f"'summarize' operator: duplicate column name '{dup}'")
        by_fns = [e.fn for _, e in by]
        steps = [a.step for a in aggregates]
        news = [a.new for a in aggregates]
        finishes = [a.finish for a in aggregates]
        single_key = len(by_fns) == 1

        def run() -> list[Row]:
            groups: dict[Any, tuple[tuple[object, ...], list[list[Any]]]] = {}
            key_fn = by_fns[0] if single_key else None
            for row in src.run():
                if key_fn is not None:
                    value = key_fn(row)
                    values: tuple[object, ...] = (value,)
                    key: Any = value if value.__class__ is str else agg.hashable(value)
                else:
                    values = tuple(f(row) for f in by_fns)
                    key = tuple(agg.hashable(v) for v in values)
                group = groups.get(key)
                if group is None:
                    group = groups[key] = (values, [new() for new in news])
                states = group[1]
                for step, state in zip(steps, states, strict=True):
                    step(state, row)
            if not groups and not by_fns:
                groups[()] = ((), [new() for new in news])
            out: list[Row] = []
            for values, states in groups.values():
                result: list[object] = list(values)
                for finish, state in zip(finishes, states, strict=True):
                    result.extend(finish(state))
                out.append(dict(zip(names, result, strict=True)))
            return out

        return Plan(schema, run)

    def agg_arg(self, node: n.Expr, types: Mapping[str, str]) -> agg.Arg:
        if isinstance(node, n.Star):
            return agg.star_arg()
        e = self.expr(node, types)
        return agg.Arg(e.type, e.fn, e.const, e.value, inferred_name(node))

    def row_count(self, node: n.Expr) -> int:
        e = self.expr(node, {})
        if not e.const or e.type not in ("int", "long") or not isinstance(e.value, int):
            raise self.error(
                node.pos, f"'{self.operator}' operator: the row count must be a constant integer"
            )
        if e.value < 0:
            raise self.error(node.pos, f"'{self.operator}' operator: the row count must be non-negative")
        return e.value

    def op_take(self, op: n.Take, src: Plan) -> Plan:
        count = self.row_count(op.count)
        return Plan(src.schema, lambda: src.run()[:count])

    def sorter(self, keys: list[n.SortKey], types: Mapping[str, str]) -> Callable[[list[Row]], list[Row]]:
        compiled = []
        for key in keys:
            e = self.expr(key.expr, types)
            nulls_first = (not key.descending) if key.nulls_first is None else key.nulls_first
            compiled.append((e.fn, e.type == "dynamic", key.descending, nulls_first))

        def sort(rows: list[Row]) -> list[Row]:
            for f, dynamic, descending, nulls_first in reversed(compiled):
                none_key = (0, 0) if nulls_first != descending else (2, 0)

                def sort_key(
                    row: Row, f: RowFn = f, dynamic: bool = dynamic, none_key: tuple[int, int] = none_key
                ) -> tuple[int, Any]:
                    v = f(row)
                    if v is None:
                        return none_key
                    return (1, json.dumps(v, sort_keys=True) if dynamic else v)

                rows.sort(key=sort_key, reverse=descending)
            return rows

        return sort

    def op_sort(self, op: n.Sort, src: Plan) -> Plan:
        sort = self.sorter(op.keys, dict(src.schema))
        return Plan(src.schema, lambda: sort(src.run()))

    def op_top(self, op: n.Top, src: Plan) -> Plan:
        count = self.row_count(op.count)
        sort = self.sorter([op.key], dict(src.schema))
        return Plan(src.schema, lambda: sort(src.run())[:count])

    def op_distinct(self, op: n.Distinct, src: Plan) -> Plan:
        if len(op.items) == 1 and isinstance(op.items[0], n.Star):
            items = [(c, Expr(t, _getter(c, t))) for c, t in src.schema]
        else:
            items = self.assignments(
                [n.Assign(i.pos, None, i) for i in op.items], dict(src.schema), sequential=False
            )
        schema = [(name, e.type) for name, e in items]
        names = [name for name, _ in items]
        fns = [e.fn for _, e in items]

        def run() -> list[Row]:
            seen: dict[tuple[object, ...], tuple[object, ...]] = {}
            for row in src.run():
                values = tuple(f(row) for f in fns)
                key = tuple(agg.hashable(v) for v in values)
                if key not in seen:
                    seen[key] = values
            return [dict(zip(names, values, strict=True)) for values in seen.values()]

        return Plan(schema, run)

    def op_count(self, op: n.Count, src: Plan) -> Plan:
        return Plan([("Count", "long")], lambda: [{"Count": len(src.run())}])

    def op_searchop(self, op: n.SearchOp, src: Plan) -> Plan:
        return self.search(op.search, src)

    def search(self, node: n.Search, src: Plan | None) -> Plan:
        """``search``: the rows of the input (or of the tables, with their name in ``$table``) where
        the predicate holds; a bare term matches any column."""
        self.operator = "search"
        by_table: dict[str, list[str]] | None = None
        if src is None:
            patterns = node.tables if node.tables is not None else ["*"]
            legs: list[n.Tabular] = [n.TableRef(node.pos, p) for p in patterns]
            src = self.union(n.Union(node.pos, legs, withsource="$table"), None)
            self.operator = "search"
            # a bare term looks at the columns of the row's own table only
            by_table = {}
            for pattern in patterns:
                regex = re.compile("^" + ".*".join(re.escape(p) for p in pattern.split("*")) + "$")
                for name in sorted({*self.schemas, *self.tables, *self.tabulars}):
                    if regex.match(name):
                        by_table[name] = [c for c, _ in self.table(n.TableRef(node.pos, name)).schema]
        saved = (self.search_case, self.search_columns)
        self.search_case, self.search_columns = node.case_sensitive, by_table
        try:
            pred = self.expr(node.predicate, dict(src.schema))
        finally:
            self.search_case, self.search_columns = saved
        if pred.type != "bool":
            raise self.error(
                node.pos, f"'search' operator: the predicate must be of type bool, not {pred.type}"
            )
        f, source = pred.fn, src
        return Plan(src.schema, lambda: [row for row in source.run() if f(row) is True])

    def x_searchterm(self, node: n.SearchTerm, types: Mapping[str, str]) -> Expr:
        if node.column is not None and node.column not in types:
            raise self.unresolved(node.pos, node.column)
        columns = [node.column] if node.column is not None else [c for c in types if c != "$table"]
        text = node.text if self.search_case else node.text.lower()
        starts, ends = text.startswith("*"), text.endswith("*") and len(text) > 1
        needle = text.strip("*")
        check: Callable[[str], bool]
        if starts and ends:
            check = lambda hay: needle in hay  # noqa: E731
        elif ends:
            check = lambda hay: _has_prefix(hay, needle)  # noqa: E731
        elif starts:
            check = lambda hay: _has_suffix(hay, needle)  # noqa: E731
        else:
            check = lambda hay: _has_term(hay, needle)  # noqa: E731
        fold = (lambda s: s) if self.search_case else str.lower
        everywhere = [(c, types[c], _getter(c, types[c])) for c in columns]
        by_table = (
            {
                label: [(c, types[c], _getter(c, types[c])) for c in names if c in types]
                for label, names in self.search_columns.items()
            }
            if self.search_columns is not None and node.column is None
            else None
        )
        convert = registry.convert_to

        def fn(row: Row) -> object:
            cells = everywhere if by_table is None else by_table.get(str(row.get("$table")), everywhere)
            get = row.get
            for column, kql_type, typed in cells:
                v = get(column)
                if v is None or v == "":
                    continue
                if v.__class__ is not str:
                    # a table's datetimes are ISO text already; other values as tostring() renders them
                    v = convert(typed(row), kql_type, "string")
                    if not isinstance(v, str):
                        continue
                if check(fold(v)):
                    return True
            return False

        return Expr("bool", fn)

    def op_as(self, op: n.As, src: Plan) -> Plan:
        self.tabulars[op.name] = src
        return Plan(src.schema, src.run, src.serialized)

    def op_getschema(self, op: n.GetSchema, src: Plan) -> Plan:
        dotnet = {
            "string": "System.String",
            "guid": "System.Guid",
            "bool": "System.SByte",
            "int": "System.Int32",
            "long": "System.Int64",
            "real": "System.Double",
            "datetime": "System.DateTime",
            "timespan": "System.TimeSpan",
            "dynamic": "System.Object",
        }
        rows: list[Row] = [
            {"ColumnName": c, "ColumnOrdinal": i, "DataType": dotnet.get(t, "System.Object"), "ColumnType": t}
            for i, (c, t) in enumerate(src.schema)
        ]
        schema = [
            ("ColumnName", "string"),
            ("ColumnOrdinal", "int"),
            ("DataType", "string"),
            ("ColumnType", "string"),
        ]
        return Plan(schema, lambda: list(rows))

    def op_join(self, op: n.Join, src: Plan) -> Plan:
        outer_operator = self.operator
        right = self.tabular(op.right)
        self.operator = outer_operator
        ltypes, rtypes = dict(src.schema), dict(right.schema)
        lkeys, rkeys = [], []
        for cond in op.on:
            if cond.left not in ltypes:
                raise self.unresolved(cond.pos, cond.left)
            if cond.right not in rtypes:
                raise self.unresolved(cond.pos, cond.right)
            lt, rt = ltypes[cond.left], rtypes[cond.right]
            if _family(lt) != _family(rt) or lt == "dynamic":
                raise self.error(
                    cond.pos,
                    f"'{self.operator}' operator: the join keys '{cond.left}' ({lt}) and '{cond.right}' ({rt}) "
                    "are not of one type",
                )
            lkeys.append(_getter(cond.left, lt))
            rkeys.append(_getter(cond.right, rt))
        kind = op.kind
        left_getters = [(c, _getter(c, t)) for c, t in src.schema]
        right_out: list[tuple[str, str, RowFn]] = []
        taken = set(ltypes)
        right_keys = {cond.right for cond in op.on} if op.lookup else set()
        for c, t in right.schema:
            if c in right_keys:
                continue  # lookup keeps the key columns once, from the left
            name = c
            if name in taken:
                name = c + "1"
                k = 1
                while name in taken:
                    k += 1
                    name = f"{c}{k}"
            taken.add(name)
            right_out.append((name, t, _getter(c, t)))
        if kind in ("leftsemi", "leftanti"):
            schema = list(src.schema)
        elif kind in ("rightsemi", "rightanti"):
            schema = list(right.schema)
        else:
            schema = list(src.schema) + [(name, t) for name, t, _ in right_out]

        def key_of(row: Row, getters: list[RowFn]) -> tuple[object, ...] | None:
            key = tuple(g(row) for g in getters)
            return None if any(v is None for v in key) else key

        def combine(left: Row | None, right_row: Row | None) -> Row:
            out: dict[str, object] = {}
            for c, g in left_getters:
                out[c] = g(left) if left is not None else None
            for name, _, g in right_out:
                out[name] = g(right_row) if right_row is not None else None
            return out

        def run() -> list[Row]:
            lrows = src.run()
            rrows = right.run()
            if kind == "innerunique":
                seen: set[tuple[object, ...]] = set()
                unique = []
                for row in lrows:
                    key = key_of(row, lkeys)
                    if key is None or key in seen:
                        continue
                    seen.add(key)
                    unique.append(row)
                lrows = unique
            index: dict[tuple[object, ...], list[Row]] = {}
            for row in rrows:
                key = key_of(row, rkeys)
                if key is not None:
                    index.setdefault(key, []).append(row)
            out: list[Row] = []
            if kind in ("rightsemi", "rightanti"):
                lkeys_seen = {k for k in (key_of(r, lkeys) for r in lrows) if k is not None}
                want = kind == "rightsemi"
                return [r for r in rrows if (key_of(r, rkeys) in lkeys_seen) == want]
            matched_right: set[int] = set()
            for row in lrows:
                key = key_of(row, lkeys)
                matches = index.get(key, []) if key is not None else []
                if kind == "leftsemi":
                    if matches:
                        out.append(row)
                    continue
                if kind == "leftanti":
                    if not matches:
                        out.append(row)
                    continue
                for match in matches:
                    out.append(combine(row, match))
                    matched_right.add(id(match))
                if not matches and kind in ("leftouter", "fullouter"):
                    out.append(combine(row, None))
            if kind in ("rightouter", "fullouter"):
                out.extend(combine(None, r) for r in rrows if id(r) not in matched_right)
            return out

        return Plan(schema, run)

    def op_mvexpand(self, op: n.MvExpand, src: Plan) -> Plan:
        types = dict(src.schema)
        items: list[tuple[str, RowFn, str | None]] = []
        for item in op.items:
            e = self.expr(item.expr, types)
            if e.type != "dynamic":
                raise self.error(
                    item.pos,
                    f"'mv-expand' operator: the expanded expression must be of type dynamic, not {e.type}",
                )
            name = item.name or inferred_name(item.expr) or f"Column{len(items) + 1}"
            items.append((name, e.fn, item.to_type))
        schema = list(src.schema)
        names = {c for c, _ in schema}
        for name, _, to_type in items:
            typ = to_type or "dynamic"
            if name in names:
                schema = [(c, typ if c == name else t) for c, t in schema]
            else:
                schema.append((name, typ))
                names.add(name)
        if op.itemindex:
            if op.itemindex in names:
                raise self.error(op.pos, f"'mv-expand' operator: duplicate column name '{op.itemindex}'")
            schema.append((op.itemindex, "long"))
        limit = op.limit
        itemindex = op.itemindex

        def elements(value: object) -> list[object]:
            if value is None:
                return [None]
            if isinstance(value, list):
                return value
            if isinstance(value, dict):
                return [{k: v} for k, v in value.items()]
            return [value]

        def run() -> list[Row]:
            out: list[Row] = []
            for row in src.run():
                expanded = [(name, elements(f(row)), to_type) for name, f, to_type in items]
                count = max(len(values) for _, values, _ in expanded)
                if limit is not None:
                    count = min(count, limit)
                for i in range(count):
                    extra: dict[str, object] = {}
                    for name, values, to_type in expanded:
                        v = values[i] if i < len(values) else None
                        extra[name] = (
                            registry.convert_to(v, "dynamic", to_type) if to_type and v is not None else v
                        )
                    if itemindex:
                        extra[itemindex] = i
                    out.append(Extended(row, extra))
            return out

        return Plan(schema, run)

    def op_mvapply(self, op: n.MvApply, src: Plan) -> Plan:
        current: list[Row] = []  # the input row being applied to
        expanded = self.op_mvexpand(op.expand, Plan(src.schema, lambda: list(current)))
        sub = expanded
        for inner in op.operators:
            sub = self.apply(inner, sub)
        self.operator = "mv-apply"
        sub_types = dict(sub.schema)
        expanded_names = {c for c, _ in expanded.schema} - {c for c, _ in src.schema} | {
            item.name or inferred_name(item.expr) or "" for item in op.expand.items
        }
        schema = [
            (c, sub_types.get(c, t)) for c, t in src.schema if c in sub_types or c not in expanded_names
        ]
        names = {c for c, _ in schema}
        schema += [(c, t) for c, t in sub.schema if c not in names]
        getters = [(c, _getter(c, t)) for c, t in sub.schema]

        def run() -> list[Row]:
            out: list[Row] = []
            for row in src.run():
                current[:] = [row]
                for result in sub.run():
                    out.append(Extended(row, {c: get(result) for c, get in getters}))
            return out

        return Plan(schema, run)

    def op_parse(self, op: n.Parse, src: Plan) -> Plan:
        types = dict(src.schema)
        source = self.expr(op.source, types)
        text_of = self.text_fn(source)
        pattern = ""
        captures: list[tuple[str, str]] = []
        last_capture = max(i for i, p in enumerate(op.parts) if p.name is not None or p.text is None)
        for i, part in enumerate(op.parts):
            greedy = i == last_capture and i == len(op.parts) - 1
            if part.name is not None:
                if part.type in ("int", "long"):
                    pattern += r"([-+]?\d+)"
                elif part.type == "real":
                    pattern += r"([-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)"
                else:
                    pattern += "(.*)" if greedy else "(.*?)"
                captures.append((part.name, part.type))
            elif part.text is None:
                pattern += ".*" if greedy else ".*?"
            else:
                pattern += part.text if op.kind == "regex" else re.escape(part.text)
        regex = _regex(pattern)
        if regex is None:
            raise self.error(op.pos, "'parse' operator: the pattern is not a valid regular expression")
        if regex.groups != len(captures):
            raise self.error(
                op.pos, "'parse' operator: capture groups in the pattern's literals are not supported"
            )
        schema = [(c, t) for c, t in src.schema if c not in {name for name, _ in captures}]
        schema.extend(captures)
        matcher = regex.search if op.kind == "regex" else regex.match
        strict = op.kind == "simple"

        def run() -> list[Row]:
            out: list[Row] = []
            for row in src.run():
                m = matcher(text_of(row) or "")
                values: list[object] = []
                if m is not None:
                    for (_, kql_type), raw in zip(captures, m.groups(), strict=True):
                        v = registry.convert_to(raw, "string", kql_type) if kql_type != "string" else raw
                        values.append(v)
                    if strict and any(v is None for v in values):
                        m = None
                if m is None:
                    values = ["" if t == "string" else None for _, t in captures]
                out.append(Extended(row, {name: v for (name, _), v in zip(captures, values, strict=True)}))
            return out

        return Plan(schema, run)

    def op_invoke(self, op: n.Invoke, src: Plan) -> Plan:
        if op.evaluate:
            self.operator = "evaluate"
            if op.name != "bag_unpack":
                raise self.error(op.pos, f"'evaluate' operator: Unknown plugin: '{op.name}'")
            return self.bag_unpack(op, src)
        if op.name != "FileProfile":
            raise self.error(op.pos, f"'invoke' operator: Unknown function: '{op.name}'")
        column = "SHA1"
        limit = 100
        if len(op.args) > 2:
            raise self.error(op.pos, "FileProfile(): expects at most 2 arguments")
        if op.args:
            first = op.args[0]
            if isinstance(first, n.Name):
                column = first.name
            elif isinstance(first, n.Lit) and first.type == "string":
                column = str(first.value)
            else:
                raise self.error(first.pos, "FileProfile(): the first argument is the name of a hash column")
        if len(op.args) > 1:
            e = self.expr(op.args[1], {})
            if (
                not e.const
                or not isinstance(e.value, int)
                or isinstance(e.value, bool)
                or not 1 <= e.value <= 1000
            ):
                raise self.error(
                    op.args[1].pos,
                    "FileProfile(): the number of records to enrich must be between 1 and 1000",
                )
            limit = e.value
        if column not in dict(src.schema):
            raise self.unresolved(op.pos, column)
        return file_profile_plan(src.schema, src.run, column, limit, self.file_profile)

    def bag_unpack(self, op: n.Invoke, src: Plan) -> Plan:
        """``evaluate bag_unpack(Col [, Prefix])``: one column per key of the property bags in ``Col``.

        The output columns depend on the data, so the input is read here, once, at compile time."""
        if not op.args or len(op.args) > 2 or not isinstance(op.args[0], n.Name):
            raise self.error(op.pos, "bag_unpack(): expects a dynamic column and an optional column prefix")
        column = op.args[0].name
        types = dict(src.schema)
        if column not in types:
            raise self.unresolved(op.args[0].pos, column)
        if types[column] != "dynamic":
            raise self.error(
                op.args[0].pos, f"bag_unpack(): the column '{column}' is {types[column]}, not dynamic"
            )
        prefix = ""
        if len(op.args) == 2:
            p = self.expr(op.args[1], {})
            if not p.const or p.type != "string":
                raise self.error(op.args[1].pos, "bag_unpack(): the prefix must be a constant string")
            prefix = str(p.value)
        rows = src.run()
        get = _getter(column, "dynamic")
        keys: dict[str, None] = {}
        for row in rows:
            bag = get(row)
            if isinstance(bag, dict):
                keys.update(dict.fromkeys(f"{prefix}{k}" for k in bag))
        kept = [(c, t) for c, t in src.schema if c != column]
        if any(c in keys for c, _ in kept):
            clash = next(c for c, _ in kept if c in keys)
            raise self.error(op.pos, f"bag_unpack(): the unpacked key '{clash}' collides with a column")
        schema = kept + [(k, "dynamic") for k in keys]
        names = [c for c, _ in kept]

        def unpack(row: Row) -> Row:
            bag = get(row)
            out: dict[str, object] = {c: row.get(c) for c in names}
            out.update(dict.fromkeys(keys))
            if isinstance(bag, dict):
                out.update({f"{prefix}{k}": v for k, v in bag.items()})
            return out

        return Plan(schema, lambda: [unpack(r) for r in rows])

    # -- scalar expressions ------------------------------------------------------------

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
                raise self.error(
                    node.right.pos,
                    f"matches regex: the pattern '{right.value}' is not a valid regular expression",
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
