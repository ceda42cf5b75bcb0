"""The compiler of the sandbox's KQL engine: syntax tree -> plans of closures over in-memory rows.

Scalar expressions compile to :class:`Expr` (a KQL type and a ``row -> value`` function, folded to a
constant when every input is constant); tabular expressions compile to :class:`Plan` (a schema and a
``run() -> list of rows`` function).  Names are resolved here (columns, ``let`` names, tables,
functions), so every unknown name or type mismatch is a :class:`KqlError` before a row is read.

Rows are mappings: table rows as the dataset holds them (datetimes as ISO strings) and rows built
by operators (values of the shared value model).  Column getters (:func:`values._getter`) read both,
so ``where``/``union``/``take``/``sort`` pass table rows through without copying them.

This module holds the statements (``let``, user-defined functions) and the sources (tables,
``union``, ``print``, ``datatable``, ``range``); the tabular operators are in
:mod:`enrich.sandbox.kql.operators` and the scalar expressions in :mod:`enrich.sandbox.kql.scalars`,
two halves of the one :class:`Compiler` (they share its name scopes).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence

from enrich.sandbox.kql import nodes as n
from enrich.sandbox.kql import registry
from enrich.sandbox.kql.lexer import _line_col
from enrich.sandbox.kql.operators import OperatorCompiler
from enrich.sandbox.kql.plan import Expr, Plan, Schema
from enrich.sandbox.kql.scalars import ScalarCompiler, _const, _Context, _family, _Position
from enrich.sandbox.kql.values import (
    Extended,
    KqlError,
    Row,
    _getter,
    _infer_schema,
    parse_datetime,
)

FileProfileHook = Callable[[str], Mapping[str, object] | None]

#: `range` refuses to make more rows than this.
MAX_RANGE_ROWS = 1_000_000


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


class Compiler(OperatorCompiler, ScalarCompiler):
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

    def error(self, pos: int, message: str) -> KqlError:
        line, column = _line_col(self.text, pos)
        return KqlError(message, line=line, column=column, position=pos)

    def unresolved(self, pos: int, name: str) -> KqlError:
        return self.error(
            pos, f"'{self.operator}' operator: Failed to resolve scalar expression named '{name}'"
        )

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
            # no column is in scope, so the value is the same for every row (rand(), new_guid()): once
            expr = _const(expr.type, expr.fn({}))
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

    def is_table(self, name: str) -> bool:
        return name in self.tables or name in self.schemas

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
            "makeseries": "make-series",
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
