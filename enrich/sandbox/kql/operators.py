"""Tabular operators of the KQL compiler: ``T | op`` -> :class:`Plan` (a schema and a row function).

where, project (and project-away/keep/rename/reorder), extend, serialize, summarize, take, top,
sort, distinct, count, search, as, getschema, join/lookup, union after a pipe, mv-expand, mv-apply,
parse, invoke FileProfile() and evaluate bag_unpack().  Each method is part of
:class:`enrich.sandbox.kql.compiler.Compiler` (dispatched by node type as ``op_<type>``).
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from enrich.sandbox.kql import aggregates as agg
from enrich.sandbox.kql import nodes as n
from enrich.sandbox.kql import registry
from enrich.sandbox.kql.fileprofile import file_profile_plan
from enrich.sandbox.kql.plan import Expr, Plan, RowFn, Schema
from enrich.sandbox.kql.scalars import (
    _const,
    _family,
    _has_prefix,
    _has_suffix,
    _Position,
    _regex,
    inferred_name,
)
from enrich.sandbox.kql.values import (
    Extended,
    KqlError,
    Row,
    _getter,
    _has_term,
)

#: make-series makes at most this many bins per series.
MAX_SERIES_BINS = 100_000
#: join and mv-expand refuse to make more rows than this (a runaway query, as Kusto stops one).
MAX_OPERATOR_ROWS = 5_000_000


def runaway(operator: str) -> KqlError:
    return KqlError(
        f"Query execution has exceeded the allowed limits: the '{operator}' operator makes more than "
        f"{MAX_OPERATOR_ROWS:,} rows. Reduce the data it works on (where, take) and try again"
    )


class OperatorCompiler:
    """The tabular-operator half of :class:`enrich.sandbox.kql.compiler.Compiler`."""

    if TYPE_CHECKING:  # provided by Compiler and ScalarCompiler
        operator: str
        tables: Mapping[str, Sequence[Mapping[str, object]]]
        schemas: Mapping[str, Sequence[tuple[str, str]]]
        tabulars: dict[str, Plan]
        file_profile: Callable[[str], Mapping[str, object] | None] | None
        position: _Position | None
        position_used: bool
        search_case: bool
        search_columns: dict[str, list[str]] | None

        def error(self, pos: int, message: str) -> KqlError: ...
        def unresolved(self, pos: int, name: str) -> KqlError: ...
        def apply(self, op: n.Operator, source: Plan) -> Plan: ...
        def tabular(self, node: n.Tabular) -> Plan: ...
        def table(self, node: n.TableRef) -> Plan: ...
        def union(self, node: n.Union, first: Plan | None) -> Plan: ...
        def expr(self, node: n.Expr, types: Mapping[str, str]) -> Expr: ...
        def text_fn(self, expr: Expr) -> Callable[[Row], str | None]: ...

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
        self,
        items: list[n.Assign],
        types: dict[str, str],
        sequential: bool,
        infer_calls: bool = False,
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
        # (name, expression over the by columns and hidden aggregate columns) per computed item
        computed: list[tuple[str, n.Expr]] = []
        layout: list[agg.Aggregate | int] = []  # per item: its aggregation, or its index in computed
        auto = 0
        for item in op.aggregates:
            call = item.expr
            if not isinstance(call, n.Call) or call.name not in agg.AGGREGATES:
                inner: list[n.Call] = []
                base = len(aggregates)
                outer = _lift_aggregates(item.expr, inner, base)
                if not inner or item.names is not None:
                    raise self.error(
                        item.pos,
                        "'summarize' operator: the expression is not an aggregation (count(), dcount(), make_set()...)",
                    )
                for k, part in enumerate(inner):
                    built = self.aggregate(part, _hidden(base + k), star, types)
                    if len(built.columns) != 1:
                        raise self.error(
                            part.pos,
                            f"'summarize' operator: {part.name}() gives several columns and cannot be part of an expression",
                        )
                    aggregates.append(built)
                if item.name is None:
                    auto += 1
                name = item.name or f"Column{auto}"
                layout.append(len(computed))
                computed.append((name, outer))
                continue
            built = self.aggregate(call, item.name, star, types)
            if item.names is not None:
                if len(item.names) != len(built.columns):
                    raise self.error(
                        item.pos,
                        f"'summarize' operator: {len(item.names)} names for the {len(built.columns)} "
                        f"columns of {call.name}()",
                    )
                built.columns = [(new, t) for new, (_, t) in zip(item.names, built.columns, strict=True)]
            aggregates.append(built)
            layout.append(built)
        inner_schema: Schema = [(name, e.type) for name, e in by]
        for a in aggregates:
            inner_schema.extend(a.columns)
        inner_types = dict(inner_schema)
        finals = [(name, self.expr(outer, inner_types)) for name, outer in computed]
        schema: Schema = [(name, e.type) for name, e in by]
        for piece in layout:
            if isinstance(piece, int):
                schema.append((finals[piece][0], finals[piece][1].type))
            else:
                schema.extend(piece.columns)
        names = [c for c, _ in schema]
        if len(set(names)) != len(names):
            dup = next(c for c in names if names.count(c) > 1)
            raise self.error(op.pos, f"'summarize' operator: duplicate column name '{dup}'")
        inner_names = [c for c, _ in inner_schema]
        final_fns = [(name, e.fn) for name, e in finals]
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
                full = dict(zip(inner_names, result, strict=True))
                if final_fns:
                    for name, fn in final_fns:
                        full[name] = fn(full)
                    full = {c: full[c] for c in names}
                out.append(full)
            return out

        return Plan(schema, run)

    def aggregate(
        self, call: n.Call, name: str | None, star: Sequence[tuple[str, str, RowFn]], types: Mapping[str, str]
    ) -> agg.Aggregate:
        """The aggregation ``call`` of a summarize (named ``name``, or as Kusto infers)."""
        args = [self.agg_arg(a, types) for a in call.args]
        try:
            return agg.build(call.name, args, name, star)
        except agg.AggregateError as exc:
            raise self.error(call.pos, f"'summarize' operator: {exc}") from None

    def op_makeseries(self, op: n.MakeSeries, src: Plan) -> Plan:
        """One row per group: each aggregation as an array over the bins of the axis, and the axis."""
        types = dict(src.schema)
        by = self.assignments(op.by, types, sequential=False, infer_calls=True)
        for (name, e), item in zip(by, op.by, strict=True):
            if e.type == "dynamic":
                raise self.error(
                    item.pos, f"'make-series' operator: group key '{name}' is of a 'dynamic' type"
                )
        aggregates: list[agg.Aggregate] = []
        defaults: list[object] = []
        for item, default in zip(op.aggregates, op.defaults, strict=True):
            call = item.expr
            if not isinstance(call, n.Call) or call.name not in agg.AGGREGATES:
                raise self.error(item.pos, "'make-series' operator: the expression is not an aggregation")
            try:
                built = agg.build(call.name, [self.agg_arg(a, types) for a in call.args], item.name, [])
            except agg.AggregateError as exc:
                raise self.error(call.pos, f"'make-series' operator: {exc}") from None
            if len(built.columns) != 1:
                raise self.error(
                    call.pos, f"'make-series' operator: {call.name}() makes more than one column"
                )
            aggregates.append(built)
            value = self.expr(default, {}) if default is not None else _const("long", 0)
            if not value.const:
                raise self.error(item.pos, "'make-series' operator: the default must be a constant")
            defaults.append(value.value)
        axis = self.expr(op.axis, types)
        kind = _family(axis.type)
        if kind not in ("number", "datetime", "timespan"):
            raise self.error(
                op.axis.pos,
                f"'make-series' operator: the axis must be numeric, datetime or timespan, not {axis.type}",
            )
        step = self.expr(op.step, {})
        bounds = [self.expr(b, {}) if b is not None else None for b in (op.start, op.end)]
        step_ok = (
            step.type == "timespan" if kind in ("datetime", "timespan") else _family(step.type) == "number"
        )
        width = step.value
        if not step.const or not step_ok or not isinstance(width, int | float) or width <= 0:
            raise self.error(
                op.step.pos, "'make-series' operator: the step must be a positive constant of the axis' kind"
            )
        for bound, node in zip(bounds, (op.start, op.end), strict=True):
            if bound is not None and (not bound.const or _family(bound.type) != kind):
                assert node is not None
                raise self.error(
                    node.pos, f"'make-series' operator: from/to must be constants of type {axis.type}"
                )
        schema: Schema = [(name, e.type) for name, e in by]
        schema += [(a.columns[0][0], "dynamic") for a in aggregates]
        axis_name = inferred_name(op.axis) or "Column1"
        schema.append((axis_name, "dynamic"))
        names = [c for c, _ in schema]
        if len(set(names)) != len(names):
            raise self.error(op.pos, "'make-series' operator: duplicate column name")
        by_fns = [e.fn for _, e in by]
        axis_fn, axis_type = axis.fn, axis.type
        start_value = bounds[0].value if bounds[0] is not None else None
        end_value = bounds[1].value if bounds[1] is not None else None
        value_types = [a.columns[0][1] for a in aggregates]
        fmt = registry.format_value

        def run() -> list[Row]:
            rows: list[tuple[Row, Any]] = [(row, axis_fn(row)) for row in src.run()]
            points = [v for _, v in rows if v is not None]
            if not points and (start_value is None or end_value is None):
                return []
            first: Any = start_value if start_value is not None else min(points) // width * width
            last: Any = end_value if end_value is not None else max(points) + width
            if last <= first:
                return []
            bins = min(math.ceil((last - first) / width), MAX_SERIES_BINS)
            groups: dict[Any, tuple[tuple[object, ...], list[list[Any]]]] = {}
            for row, point in rows:
                if point is None or not first <= point < last:
                    continue
                index = int((point - first) // width)
                if index >= bins:
                    continue
                values = tuple(f(row) for f in by_fns)
                key = tuple(agg.hashable(v) for v in values)
                group = groups.get(key)
                if group is None:
                    group = groups[key] = (values, [[None] * bins for _ in aggregates])
                for a, series in zip(aggregates, group[1], strict=True):
                    if series[index] is None:
                        series[index] = a.new()
                    a.step(series[index], row)
            out: list[Row] = []
            axis_values = [fmt(first + i * width, axis_type) for i in range(bins)]
            for values, all_series in groups.values():
                result: list[object] = list(values)
                for a, series, default, vtype in zip(
                    aggregates, all_series, defaults, value_types, strict=True
                ):
                    result.append([default if s is None else fmt(a.finish(s)[0], vtype) for s in series])
                result.append(list(axis_values))
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

    def op_render(self, op: n.Render, src: Plan) -> Plan:
        return Plan(src.schema, src.run, src.serialized)

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
            keyed = [(row, key_of(row, lkeys)) for row in lrows]
            if kind not in ("leftsemi", "leftanti"):
                size = sum(len(index.get(key, ())) if key is not None else 1 for _, key in keyed)
                if size > MAX_OPERATOR_ROWS:
                    raise runaway("join")
            for row, key in keyed:
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
            plans = []  # (row, its expansions, rows it makes): counted before any row is made
            total = 0
            for row in src.run():
                expanded = [(name, elements(f(row)), to_type) for name, f, to_type in items]
                count = max(len(values) for _, values, _ in expanded)
                if limit is not None:
                    count = min(count, limit)
                total += count
                if total > MAX_OPERATOR_ROWS:
                    raise runaway("mv-expand")
                plans.append((row, expanded, count))
            out: list[Row] = []
            for row, expanded, count in plans:
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
                results = sub.run()
                if len(out) + len(results) > MAX_OPERATOR_ROWS:
                    raise runaway("mv-apply")
                for result in results:
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


#: Prefix of the hidden columns that hold the aggregations inside a summarize expression.
_HIDDEN = "\x00agg"


def _hidden(k: int) -> str:
    return f"{_HIDDEN}{k}"


def _lift_aggregates(node: n.Expr, found: list[n.Call], offset: int) -> n.Expr:
    """``node`` with each aggregation call in it replaced by a hidden column (appended to
    ``found``, named from ``offset`` on): ``iff(make_set(X) contains "1", 1, 0)``, ``100.0 * countif(P) / count()``."""
    if isinstance(node, n.Call):
        if node.name in agg.AGGREGATES and node.name not in registry.FUNCTIONS:
            found.append(node)
            return n.Name(node.pos, _hidden(offset + len(found) - 1))
        return dataclasses.replace(node, args=[_lift_aggregates(a, found, offset) for a in node.args])
    if isinstance(node, n.Unary):
        return dataclasses.replace(node, operand=_lift_aggregates(node.operand, found, offset))
    if isinstance(node, n.Binary):
        return dataclasses.replace(
            node,
            left=_lift_aggregates(node.left, found, offset),
            right=_lift_aggregates(node.right, found, offset),
        )
    if isinstance(node, n.ListExpr) and node.query is None:
        return dataclasses.replace(node, items=[_lift_aggregates(a, found, offset) for a in node.items])
    if isinstance(node, n.Between):
        return dataclasses.replace(
            node,
            operand=_lift_aggregates(node.operand, found, offset),
            low=_lift_aggregates(node.low, found, offset),
            high=_lift_aggregates(node.high, found, offset),
        )
    if isinstance(node, n.Member):
        return dataclasses.replace(node, target=_lift_aggregates(node.target, found, offset))
    if isinstance(node, n.Index):
        return dataclasses.replace(
            node,
            target=_lift_aggregates(node.target, found, offset),
            index=_lift_aggregates(node.index, found, offset),
        )
    return node
