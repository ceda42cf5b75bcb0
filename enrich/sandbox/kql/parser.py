"""The parser of the sandbox's KQL engine: tokens -> syntax tree (:mod:`enrich.sandbox.kql.nodes`).

Recursive descent over the tokens of :mod:`enrich.sandbox.kql.lexer`.  Syntax only: names are
resolved by the compiler (:mod:`enrich.sandbox.kql.compiler`).  Every syntax error is a
:class:`KqlError` worded like Kusto's: "Query could not be parsed at 'x' on line [1,5]".

Scalar precedence, loosest first: ``or``; ``and``; comparisons and string operators
(``==``, ``has``, ``in``, ``between``, ``matches regex``...); ``+``/``-``; ``*``/``/``/``%``;
unary ``-``; member access ``x.y`` and ``x[i]``; primaries.
"""

from __future__ import annotations

from enrich.sandbox.kql import nodes as n
from enrich.sandbox.kql.lexer import STRING_OPERATORS, _parse_error, _Token, _tokenize
from enrich.sandbox.kql.values import MAX_NESTING, KqlError

_COMPARISON_OPS = frozenset({"==", "!=", "<>", "<", "<=", ">", ">=", "=~", "!~"})
_LIST_OPS = frozenset({"in", "in~", "!in", "!in~", "has_any", "has_all"})
_JOIN_KINDS = frozenset(
    {
        "inner",
        "innerunique",
        "leftouter",
        "leftanti",
        "leftantisemi",
        "leftsemi",
        "rightouter",
        "rightanti",
        "rightantisemi",
        "rightsemi",
        "fullouter",
        "anti",
        "semi",
    }
)
_OPERATORS = frozenset(
    {
        "where",
        "filter",
        "project",
        "project-away",
        "project-keep",
        "project-rename",
        "project-reorder",
        "extend",
        "serialize",
        "summarize",
        "make-series",
        "take",
        "limit",
        "top",
        "sort",
        "order",
        "distinct",
        "count",
        "getschema",
        "as",
        "render",
        "search",
        "union",
        "join",
        "lookup",
        "mv-expand",
        "mvexpand",
        "mv-apply",
        "parse",
        "invoke",
        "evaluate",
    }
)
#: ``mvexpand`` (the obsolete form of mv-expand) expands at most this many values per row by default.
MVEXPAND_LEGACY_LIMIT = 128
_SCALAR_TYPES = frozenset(
    {
        "string",
        "bool",
        "boolean",
        "int",
        "long",
        "real",
        "double",
        "decimal",
        "datetime",
        "date",
        "timespan",
        "time",
        "dynamic",
        "guid",
    }
)
_TYPE_ALIASES = {
    "boolean": "bool",
    "double": "real",
    "decimal": "real",
    "date": "datetime",
    "time": "timespan",
}


def normalize_type(name: str) -> str | None:
    """The KQL type a type name denotes (``double`` -> ``real``), or None for an unknown name."""
    if name not in _SCALAR_TYPES:
        return None
    return _TYPE_ALIASES.get(name, name)


def parse(text: str) -> n.Query:
    """Parse a whole query: ``let`` statements then one tabular expression."""
    return _Parser(text).parse_query()


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0
        self.depth = 0
        self.searching = False  # parsing a `search` predicate: bare strings are search terms

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

    def op_at(self, k: int, value: str) -> bool:
        tok = self.peek(k)
        return tok.kind == "op" and tok.value == value

    def expect_op(self, value: str) -> _Token:
        if not self.at_op(value):
            raise self.error(self.peek())
        return self.next()

    def expect_word(self, value: str) -> _Token:
        if not self.at_word(value):
            raise self.error(self.peek())
        return self.next()

    def expect_ident(self) -> str:
        tok = self.peek()
        if tok.kind != "id" or str(tok.value).startswith("$"):
            raise self.error(tok)
        self.next()
        return str(tok.value)

    def error(self, tok: _Token, detail: str | None = None) -> KqlError:
        return _parse_error(self.text, tok.pos, tok.text, detail)

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise self.error(self.peek(), f"the query is nested too deeply (more than {MAX_NESTING} levels)")

    def leave(self) -> None:
        self.depth -= 1

    def at_stage_end(self) -> bool:
        return self.peek().kind == "eof" or self.at_op("|", ")", ";")

    def comma(self) -> bool:
        if self.at_op(","):
            self.next()
            return True
        return False

    # -- statements --------------------------------------------------------------------

    def parse_query(self) -> n.Query:
        lets: list[n.Let] = []
        while self.at_word("let"):
            lets.append(self.parse_let())
        if self.peek().kind == "eof":
            raise self.error(self.peek(), "the query has no tabular expression")
        body = self.parse_tabular()
        while self.at_op(";"):
            self.next()
        if self.peek().kind != "eof":
            raise self.error(self.peek())
        return n.Query(lets, body)

    def parse_let(self) -> n.Let:
        pos = self.next().pos  # let
        name = self.expect_ident()
        self.expect_op("=")
        value = self.parse_let_value()
        if not self.at_op(";"):
            raise self.error(self.peek())
        self.next()
        return n.Let(pos, name, value)

    def at_function_definition(self) -> bool:
        """At ``(`` opening a parameter list: ``()`` then ``{``, or ``(name:``."""
        if not self.at_op("("):
            return False
        if self.op_at(1, ")"):
            return self.op_at(2, "{")
        return self.peek(1).kind == "id" and self.op_at(2, ":")

    def parse_function(self) -> n.Function:
        pos = self.expect_op("(").pos
        params: list[n.Param] = []
        if not self.at_op(")"):
            while True:
                tok = self.peek()
                name = self.expect_ident()
                self.expect_op(":")
                type_tok = self.peek()
                kql_type = normalize_type(self.expect_ident())
                if kql_type is None:
                    raise self.error(type_tok, "parameters of user-defined functions are scalars")
                param = n.Param(tok.pos, name, kql_type)
                if self.at_op("="):
                    self.next()
                    param.default = self.parse_expr()
                params.append(param)
                if not self.comma():
                    break
        self.expect_op(")")
        self.expect_op("{")
        self.enter()
        lets: list[n.Let] = []
        while self.at_word("let"):
            lets.append(self.parse_let())
        start, depth = self.i, self.depth
        body: n.Expr | n.Tabular
        try:
            body = self.parse_expr()
            if not self.at_op("}", ";"):
                raise self.error(self.peek())
        except KqlError:
            self.i, self.depth = start, depth
            body = self.parse_tabular()
        while self.at_op(";"):
            self.next()
        self.expect_op("}")
        self.leave()
        return n.Function(pos, params, lets, body)

    def parse_let_value(self) -> n.Expr | n.Tabular | n.Function:
        """A function definition, a scalar expression, else a tabular one (``T | where ...``,
        ``(T | ...)``, ``union ...``)."""
        if self.at_function_definition():
            return self.parse_function()
        if self.at_word("materialize") and self.op_at(1, "("):
            self.next()
            self.next()
            value = self.parse_tabular()
            self.expect_op(")")
            return value
        if self.at_word("union"):
            return self.parse_tabular()
        start, depth = self.i, self.depth
        try:
            expr = self.parse_expr()
            if self.at_op(";"):
                return expr
            scalar_error = self.error(self.peek())
        except KqlError as exc:
            scalar_error = exc
        scalar_end = self.i
        self.i, self.depth = start, depth
        try:
            return self.parse_tabular()
        except KqlError as exc:
            if (exc.position or 0) >= (scalar_error.position or 0) or self.i > scalar_end:
                raise
            raise scalar_error from None

    # -- tabular expressions -----------------------------------------------------------

    def parse_tabular(self) -> n.Tabular:
        self.enter()
        plan = self.parse_source()
        while self.at_op("|"):
            tok = self.next()
            plan = n.Pipe(tok.pos, plan, self.parse_operator())
        self.leave()
        return plan

    def parse_source(self) -> n.Tabular:
        tok = self.peek()
        if self.at_op("("):
            self.next()
            plan = self.parse_tabular()
            self.expect_op(")")
            return plan
        if tok.kind != "id" or str(tok.value).startswith("$"):
            raise self.error(tok)
        if tok.value == "union":
            return self.parse_union()
        if tok.value == "search" and not self.op_at(1, "|"):
            return self.parse_search()
        if tok.value == "find" and not self.op_at(1, "|"):
            return self.parse_find()
        if tok.value == "print" and not self.op_at(1, "|"):
            self.next()
            return n.Print(tok.pos, self.parse_assignments())
        if tok.value == "datatable" and self.op_at(1, "("):
            return self.parse_datatable()
        if (
            tok.value == "range"
            and self.peek(1).kind == "id"
            and self.peek(2).kind == "id"
            and self.peek(2).value == "from"
        ):
            self.next()
            name = self.expect_ident()
            self.expect_word("from")
            start = self.parse_additive()
            self.expect_word("to")
            stop = self.parse_additive()
            self.expect_word("step")
            return n.Range(tok.pos, name, start, stop, self.parse_additive())
        if self.op_at(1, "("):
            self.next()
            call = self.parse_call(tok)
            if not isinstance(call, n.Call):
                raise self.error(tok)
            return n.TabularCall(tok.pos, call.name, call.args)
        self.next()
        return n.TableRef(tok.pos, str(tok.value))

    def parse_find(self) -> n.Tabular:
        """``find [withsource=C] [in (T, ...)] where P project A, B, ...``: the rows of the listed
        tables (every table without ``in``) where ``P`` holds, a column a table lacks being null,
        as a ``source_`` (or ``C``) column naming the table and the listed columns. Read as
        ``union withsource=C T, ... | where P | project C, A, B, ...``."""
        pos = self.next().pos  # find
        source = "source_"
        if self.at_word("withsource") and self.op_at(1, "="):
            self.next()
            self.next()
            source = self.expect_ident()
        legs: list[n.Tabular] = []
        if self.at_word("in") and self.op_at(1, "("):
            self.next()
            self.next()
            while True:
                tok = self.peek()
                if tok.kind != "id" or str(tok.value).startswith("$"):
                    raise self.error(tok)
                legs.append(n.TableRef(tok.pos, self.parse_name_patterns(single=True)[0]))
                if not self.comma():
                    break
            self.expect_op(")")
        else:
            legs.append(n.TableRef(pos, "*"))
        where = self.expect_word("where")
        predicate = self.parse_expr()
        tok = self.peek()
        if not self.at_word("project"):
            raise self.error(tok, "find is served with an explicit 'project' list only")
        self.next()
        items = [n.Assign(pos, None, n.Name(pos, source))]
        while True:
            tok = self.peek()
            if tok.kind != "id" or str(tok.value).startswith("$") or self.op_at(1, ":"):
                raise self.error(tok, "find's project takes column names")
            items.append(n.Assign(tok.pos, None, n.Name(tok.pos, self.expect_ident())))
            if not self.comma():
                break
        union = n.Union(pos, legs, withsource=source)
        return n.Pipe(pos, n.Pipe(where.pos, union, n.Where(where.pos, predicate)), n.Project(pos, items))

    def parse_search(self) -> n.Search:
        pos = self.next().pos  # search
        search = n.Search(pos, n.Lit(pos, "bool", True))
        if self.at_word("kind") and self.op_at(1, "="):
            self.next()
            self.next()
            tok = self.peek()
            if tok.kind != "id" or tok.value not in ("case_sensitive", "case_insensitive"):
                raise self.error(tok)
            search.case_sensitive = self.next().value == "case_sensitive"
        if self.at_word("in") and self.op_at(1, "("):
            self.next()
            self.next()
            search.tables = self.parse_name_patterns()
            self.expect_op(")")
        self.searching = True
        try:
            search.predicate = self.parse_expr()
        finally:
            self.searching = False
        return search

    def op_search(self, pos: int) -> n.Operator:
        self.i -= 1  # parse_search consumes the keyword
        search = self.parse_search()
        if search.tables is not None:
            raise self.error(self.peek(), "'search in (...)' starts a query; after a pipe, search the input")
        return n.SearchOp(pos, search)

    def at_term_end(self, k: int) -> bool:
        tok = self.peek(k)
        return (
            tok.kind == "eof"
            or (tok.kind == "op" and tok.value in (")", "|", ";"))
            or (tok.kind == "id" and tok.value in ("and", "or"))
        )

    def parse_datatable(self) -> n.DataTable:
        pos = self.next().pos  # datatable
        self.expect_op("(")
        columns: list[tuple[str, str]] = []
        while True:
            name = self.expect_ident()
            self.expect_op(":")
            type_tok = self.peek()
            kql_type = normalize_type(self.expect_ident())
            if kql_type is None:
                raise self.error(type_tok)
            columns.append((name, kql_type))
            if not self.comma():
                break
        self.expect_op(")")
        self.expect_op("[")
        values: list[n.Expr] = []
        if not self.at_op("]"):
            values.append(self.parse_expr())
            while self.comma():
                if self.at_op("]"):
                    break  # a trailing comma is allowed
                values.append(self.parse_expr())
        self.expect_op("]")
        return n.DataTable(pos, columns, values)

    def parse_union(self) -> n.Union:
        pos = self.next().pos  # union
        union = n.Union(pos, [])
        while self.peek().kind == "id" and self.op_at(1, "="):
            key_tok = self.next()
            self.next()
            key = str(key_tok.value)
            value_tok = self.next()
            if key == "kind" and value_tok.kind == "id" and value_tok.value in ("inner", "outer"):
                union.kind = str(value_tok.value)
            elif key == "withsource" and value_tok.kind == "id":
                union.withsource = str(value_tok.value)
            elif key == "isfuzzy" and value_tok.kind == "id" and value_tok.value in ("true", "false"):
                union.isfuzzy = value_tok.value == "true"
            else:
                raise self.error(key_tok if key not in ("kind", "withsource", "isfuzzy") else value_tok)
        while True:
            tok = self.peek()
            if self.at_op("("):
                self.next()
                union.legs.append(self.parse_tabular())
                self.expect_op(")")
            elif (tok.kind == "id" and not str(tok.value).startswith("$")) or self.at_op("*"):
                union.legs.append(n.TableRef(tok.pos, self.parse_name_patterns(single=True)[0]))
            else:
                raise self.error(tok)
            if not self.comma():
                break
        return union

    def parse_operator(self) -> n.Operator:
        tok = self.peek()
        if tok.kind != "id":
            raise self.error(tok)
        name = str(tok.value)
        method = getattr(self, "op_" + name.replace("-", "_"), None) if name in _OPERATORS else None
        if method is None:
            raise self.error(tok)
        self.next()
        result: n.Operator = method(tok.pos)
        return result

    def op_where(self, pos: int) -> n.Operator:
        return n.Where(pos, self.parse_expr())

    op_filter = op_where

    def parse_assignments(self) -> list[n.Assign]:
        items = []
        while True:
            tok = self.peek()
            name = None
            names = self.name_tuple()
            if (
                names is None
                and tok.kind == "id"
                and self.op_at(1, "=")
                and not str(tok.value).startswith("$")
            ):
                name = str(tok.value)
                self.next()
                self.next()
            elif names is None and self.at_bracketed_name() and self.op_at(3, "="):
                name = self.bracketed_name()
                self.next()
            items.append(n.Assign(tok.pos, name, self.parse_expr(), names))
            if not self.comma():
                return items

    def at_bracketed_name(self) -> bool:
        """At ``['Name']`` / ``["Name"]``: a column name that is not an identifier (``['$table']``)."""
        return self.at_op("[") and self.peek(1).kind == "str" and self.op_at(2, "]")

    def bracketed_name(self) -> str:
        self.next()
        name = str(self.next().value)
        self.next()
        return name

    def name_tuple(self) -> list[str] | None:
        """``(A, B, ...) =`` before an expression (consumed), or None (nothing consumed)."""
        if not self.at_op("("):
            return None
        k = 1
        names: list[str] = []
        while True:
            tok = self.peek(k)
            if tok.kind != "id" or str(tok.value).startswith("$"):
                return None
            names.append(str(tok.value))
            if self.op_at(k + 1, ","):
                k += 2
                continue
            if self.op_at(k + 1, ")") and self.op_at(k + 2, "="):
                break
            return None
        for _ in range(k + 3):
            self.next()
        return names

    def op_project(self, pos: int) -> n.Operator:
        return n.Project(pos, self.parse_assignments())

    def op_extend(self, pos: int) -> n.Operator:
        return n.Extend(pos, self.parse_assignments())

    def op_serialize(self, pos: int) -> n.Operator:
        return n.Serialize(pos, [] if self.at_stage_end() else self.parse_assignments())

    def parse_name_patterns(self, single: bool = False) -> list[str]:
        """Names with ``*`` wildcards (``Initiating*``), comma-separated unless ``single``."""
        patterns = []
        while True:
            tok = self.peek()
            text = ""
            while (tok.kind == "id" and not str(tok.value).startswith("$")) or (
                tok.kind == "op" and tok.value == "*"
            ):
                text += str(tok.value)
                self.next()
                following = self.peek()
                if following.pos != tok.pos + len(tok.text):
                    break
                tok = following
            if not text:
                raise self.error(self.peek())
            patterns.append(text)
            if single:
                return patterns
            if self.at_word("asc", "desc"):
                self.next()
            if not self.comma():
                return patterns

    def op_project_away(self, pos: int) -> n.Operator:
        return n.ProjectNames(pos, "project-away", self.parse_name_patterns())

    def op_project_keep(self, pos: int) -> n.Operator:
        return n.ProjectNames(pos, "project-keep", self.parse_name_patterns())

    def op_project_reorder(self, pos: int) -> n.Operator:
        return n.ProjectNames(pos, "project-reorder", self.parse_name_patterns())

    def op_project_rename(self, pos: int) -> n.Operator:
        pairs = []
        while True:
            new = self.expect_ident()
            self.expect_op("=")
            old = self.expect_ident()
            pairs.append((new, old))
            if not self.comma():
                return n.ProjectRename(pos, pairs)

    def op_summarize(self, pos: int) -> n.Operator:
        while self.at_word("hint") and self.op_at(1, "."):
            # hint.strategy=shuffle and friends: accepted and ignored
            self.next()
            self.expect_op(".")
            self.expect_ident()
            self.expect_op("=")
            self.next()
        aggregates: list[n.Assign] = []
        if not self.at_word("by") and not self.at_stage_end():
            aggregates = self.parse_assignments()
        by: list[n.Assign] = []
        if self.at_word("by"):
            self.next()
            by = self.parse_assignments()
        if not aggregates and not by:
            raise self.error(self.peek())
        return n.Summarize(pos, aggregates, by)

    def op_make_series(self, pos: int) -> n.Operator:
        aggregates: list[n.Assign] = []
        defaults: list[n.Expr | None] = []
        while True:
            tok = self.peek()
            name = None
            if tok.kind == "id" and tok.value != "default" and self.op_at(1, "="):
                name = self.expect_ident()
                self.next()
            aggregates.append(n.Assign(tok.pos, name, self.parse_expr()))
            default = None
            if self.at_word("default") and self.op_at(1, "="):
                self.next()
                self.next()
                default = self.parse_unary()
            defaults.append(default)
            if not self.comma():
                break
        self.expect_word("on")
        axis = self.parse_additive()
        start = end = None
        if self.at_word("from"):
            self.next()
            start = self.parse_additive()
        if self.at_word("to"):
            self.next()
            end = self.parse_additive()
        self.expect_word("step")
        step = self.parse_additive()
        by: list[n.Assign] = []
        if self.at_word("by"):
            self.next()
            by = self.parse_assignments()
        return n.MakeSeries(pos, aggregates, defaults, axis, start, end, step, by)

    def op_take(self, pos: int) -> n.Operator:
        if self.at_stage_end():
            raise self.error(self.peek())
        return n.Take(pos, self.parse_expr())

    op_limit = op_take

    def parse_sort_key(self) -> n.SortKey:
        tok = self.peek()
        key = n.SortKey(tok.pos, self.parse_expr())
        if self.at_word("asc", "desc"):
            key.descending = self.next().value == "desc"
        if self.at_word("nulls"):
            self.next()
            if not self.at_word("first", "last"):
                raise self.error(self.peek())
            key.nulls_first = self.next().value == "first"
        return key

    def op_sort(self, pos: int) -> n.Operator:
        self.expect_word("by")
        keys = [self.parse_sort_key()]
        while self.comma():
            keys.append(self.parse_sort_key())
        return n.Sort(pos, keys)

    op_order = op_sort

    def op_top(self, pos: int) -> n.Operator:
        count = self.parse_additive()
        self.expect_word("by")
        return n.Top(pos, count, self.parse_sort_key())

    def op_distinct(self, pos: int) -> n.Operator:
        if self.at_op("*"):
            return n.Distinct(pos, [n.Star(self.next().pos)])
        items = [self.parse_expr()]
        while self.comma():
            items.append(self.parse_expr())
        return n.Distinct(pos, items)

    def op_count(self, pos: int) -> n.Operator:
        return n.Count(pos)

    def op_getschema(self, pos: int) -> n.Operator:
        return n.GetSchema(pos)

    def op_render(self, pos: int) -> n.Operator:
        chart = self.expect_ident()
        if self.at_word("with") and self.op_at(1, "("):
            self.next()
            self.next()
            depth = 1
            while depth:
                tok = self.next()
                if tok.kind == "eof":
                    raise self.error(tok)
                if tok.kind == "op" and tok.value in ("(", ")"):
                    depth += 1 if tok.value == "(" else -1
        if not (self.peek().kind == "eof" or self.at_op(";")):
            raise self.error(self.peek(), "'render' must be the last operator of the query")
        return n.Render(pos, chart)

    def op_as(self, pos: int) -> n.Operator:
        while self.at_word("hint") and self.op_at(1, "."):
            self.next()
            self.next()
            self.expect_ident()
            self.expect_op("=")
            self.next()
        return n.As(pos, self.expect_ident())

    def op_union(self, pos: int) -> n.Operator:
        self.i -= 1  # parse_union consumes the keyword
        return n.UnionOp(pos, self.parse_union())

    def op_lookup(self, pos: int) -> n.Operator:
        join = self.op_join(pos, default="leftouter")
        assert isinstance(join, n.Join)
        if join.kind not in ("leftouter", "inner"):
            raise self.error(self.tokens[self.i - 1], "'lookup' supports kind=leftouter and kind=inner")
        join.lookup = True
        return join

    def op_join(self, pos: int, default: str = "innerunique") -> n.Operator:
        kind = default
        while self.peek().kind == "id" and (self.op_at(1, "=") or self.op_at(1, ".")):
            key_tok = self.next()
            if key_tok.value == "kind" and self.op_at(0, "="):
                self.next()
                value = self.peek()
                if value.kind != "id" or value.value not in _JOIN_KINDS:
                    raise self.error(value)
                kind = str(self.next().value)
            elif key_tok.value == "hint":
                self.next()
                self.expect_ident()
                self.expect_op("=")
                self.next()
            else:
                raise self.error(key_tok)
        kind = {
            "anti": "leftanti",
            "semi": "leftsemi",
            "leftantisemi": "leftanti",
            "rightantisemi": "rightanti",
        }.get(kind, kind)
        if self.at_op("("):
            self.next()
            right = self.parse_tabular()
            self.expect_op(")")
        else:
            tok = self.peek()
            right = n.TableRef(tok.pos, self.expect_ident())
        self.expect_word("on")
        on: list[n.JoinOn] = []
        while True:
            tok = self.peek()
            if tok.kind == "id" and str(tok.value) in ("$left", "$right"):
                first_side, first = self.join_side()
                self.expect_op("==")
                second_side, second = self.join_side()
                if first_side == second_side:
                    raise self.error(tok, "a join condition compares $left with $right")
                left, right_col = (first, second) if first_side == "$left" else (second, first)
                on.append(n.JoinOn(tok.pos, left, right_col))
            else:
                name = self.expect_ident()
                on.append(n.JoinOn(tok.pos, name, name))
            if not (self.comma() or (self.at_word("and") and self.next())):
                return n.Join(pos, kind, right, on)

    def join_side(self) -> tuple[str, str]:
        tok = self.peek()
        if tok.kind != "id" or tok.value not in ("$left", "$right"):
            raise self.error(tok)
        self.next()
        self.expect_op(".")
        return str(tok.value), self.expect_ident()

    def op_mv_expand(self, pos: int) -> n.Operator:
        op = n.MvExpand(pos, [])
        while (
            self.peek().kind == "id"
            and self.op_at(1, "=")
            and self.peek().value in ("bagexpansion", "with_itemindex")
        ):
            key = self.next().value
            self.next()
            value = self.expect_ident()
            if key == "with_itemindex":
                op.itemindex = value
            elif value not in ("bag", "array"):
                raise self.error(self.tokens[self.i - 1])
        while True:
            tok = self.peek()
            name = None
            if tok.kind == "id" and self.op_at(1, "="):
                name = self.expect_ident()
                self.next()
            item = n.MvExpandItem(tok.pos, name, self.parse_expr())
            if self.at_word("to"):
                self.next()
                self.expect_word("typeof")
                self.expect_op("(")
                type_tok = self.peek()
                to_type = normalize_type(self.expect_ident())
                if to_type is None:
                    raise self.error(type_tok)
                item.to_type = to_type
                self.expect_op(")")
            op.items.append(item)
            if not self.comma():
                break
        if self.at_word("limit"):
            self.next()
            tok = self.next()
            if tok.kind != "num" or not isinstance(tok.value, int):
                raise self.error(tok)
            op.limit = tok.value
        return op

    def op_mvexpand(self, pos: int) -> n.Operator:
        """``mvexpand``: the legacy spelling of mv-expand, whose default row limit is 128."""
        op = self.op_mv_expand(pos)
        assert isinstance(op, n.MvExpand)
        if op.limit is None:
            op.limit = MVEXPAND_LEGACY_LIMIT
        return op

    def op_mv_apply(self, pos: int) -> n.Operator:
        expand = self.op_mv_expand(pos)
        assert isinstance(expand, n.MvExpand)
        self.expect_word("on")
        self.enter()
        self.expect_op("(")
        operators = [self.parse_operator()]
        while self.at_op("|"):
            self.next()
            operators.append(self.parse_operator())
        self.expect_op(")")
        self.leave()
        return n.MvApply(pos, expand, operators)

    def op_parse(self, pos: int) -> n.Operator:
        kind = "simple"
        if self.at_word("kind") and self.op_at(1, "="):
            self.next()
            self.next()
            tok = self.peek()
            if tok.kind != "id" or tok.value not in ("simple", "regex", "relaxed"):
                raise self.error(tok)
            kind = str(self.next().value)
            if self.at_word("flags") and self.op_at(1, "="):
                raise self.error(self.peek(), "parse flags are not supported")
        source = self.parse_additive()
        self.expect_word("with")
        op = n.Parse(pos, kind, source)
        while not self.at_stage_end():
            tok = self.peek()
            if tok.kind == "str":
                op.parts.append(n.ParsePart(tok.pos, text=str(self.next().value)))
            elif self.at_op("*"):
                op.parts.append(n.ParsePart(self.next().pos))
            elif tok.kind == "id":
                part = n.ParsePart(tok.pos, name=self.expect_ident())
                if self.at_op(":"):
                    self.next()
                    type_tok = self.peek()
                    kql_type = normalize_type(self.expect_ident())
                    if kql_type is None:
                        raise self.error(type_tok)
                    part.type = kql_type
                op.parts.append(part)
            else:
                raise self.error(tok)
        if not any(part.name for part in op.parts):
            raise self.error(self.peek(), "'parse' needs at least one column to extract")
        return op

    def op_invoke(self, pos: int) -> n.Operator:
        tok = self.peek()
        name = self.expect_ident()
        if not self.at_op("("):
            raise self.error(self.peek())
        call = self.parse_call(tok)
        if not isinstance(call, n.Call):
            raise self.error(tok, f"'{name}' is not a tabular function")
        return n.Invoke(pos, name, call.args)

    def op_evaluate(self, pos: int) -> n.Operator:
        invoke = self.op_invoke(pos)
        assert isinstance(invoke, n.Invoke)
        invoke.evaluate = True
        return invoke

    # -- scalar expressions ------------------------------------------------------------

    def parse_expr(self) -> n.Expr:
        self.enter()
        left = self.parse_and()
        while self.at_word("or"):
            tok = self.next()
            left = n.Binary(tok.pos, "or", left, self.parse_and())
        self.leave()
        return left

    def parse_and(self) -> n.Expr:
        left = self.parse_comparison()
        while self.at_word("and"):
            tok = self.next()
            left = n.Binary(tok.pos, "and", left, self.parse_comparison())
        return left

    def parse_comparison(self) -> n.Expr:
        if self.searching:
            tok = self.peek()
            if tok.kind == "str" and self.at_term_end(1):
                self.next()
                return n.SearchTerm(tok.pos, None, str(tok.value))
            if tok.kind == "id" and self.op_at(1, ":") and self.peek(2).kind == "str" and self.at_term_end(3):
                self.next()
                self.next()
                return n.SearchTerm(tok.pos, str(tok.value), str(self.next().value))
        left = self.parse_additive()
        tok = self.peek()
        if tok.kind not in ("op", "id"):
            return left
        op = str(tok.value)
        if tok.kind == "op" and op in _COMPARISON_OPS:
            self.next()
            return n.Binary(tok.pos, op, left, self.parse_additive())
        if op in _LIST_OPS:
            self.next()
            return n.Binary(tok.pos, op, left, self.parse_list())
        if op.lstrip("!") in STRING_OPERATORS:
            self.next()
            return n.Binary(tok.pos, op, left, self.parse_additive())
        if tok.kind == "id" and op == "matches":
            self.next()
            self.expect_word("regex")
            return n.Binary(tok.pos, "matches regex", left, self.parse_additive())
        if op in ("between", "!between"):
            self.next()
            self.enter()
            self.expect_op("(")
            low = self.parse_additive()
            self.expect_op("..")
            high = self.parse_additive()
            self.expect_op(")")
            self.leave()
            return n.Between(tok.pos, op.startswith("!"), left, low, high)
        return left

    def parse_list(self) -> n.ListExpr:
        searching, self.searching = self.searching, False
        try:
            return self.parse_list_items()
        finally:
            self.searching = searching

    def parse_list_items(self) -> n.ListExpr:
        self.enter()
        tok = self.expect_op("(")
        result = n.ListExpr(tok.pos, [])
        if self.starts_tabular():
            result.query = self.parse_tabular()
        elif not self.at_op(")"):
            result.items.append(self.parse_expr())
            while self.comma():
                result.items.append(self.parse_expr())
        self.expect_op(")")
        self.leave()
        return result

    def starts_tabular(self) -> bool:
        """At a tabular sub-query inside ``in (...)``: ``T | ...``, ``(T | ...)`` or ``union ...``."""
        tok = self.peek()
        if tok.kind == "id" and (tok.value == "union" or self.op_at(1, "|")):
            return True
        if tok.kind == "id" and tok.value == "datatable" and self.op_at(1, "("):
            return True
        if self.at_op("("):
            k = 1
            while self.op_at(k, "("):
                k += 1
            return self.peek(k).kind == "id" and (self.peek(k).value == "union" or self.op_at(k + 1, "|"))
        return False

    def parse_additive(self) -> n.Expr:
        left = self.parse_multiplicative()
        while self.at_op("+", "-"):
            tok = self.next()
            left = n.Binary(tok.pos, str(tok.value), left, self.parse_multiplicative())
        return left

    def parse_multiplicative(self) -> n.Expr:
        left = self.parse_unary()
        while self.at_op("*", "/", "%"):
            tok = self.next()
            left = n.Binary(tok.pos, str(tok.value), left, self.parse_unary())
        return left

    def parse_unary(self) -> n.Expr:
        if self.at_op("-", "+"):
            tok = self.next()
            nxt = self.peek()
            if tok.value == "-" and nxt.kind in ("num", "span") and nxt.value is not None:
                self.next()
                literal = self.literal(nxt)
                assert isinstance(literal, n.Lit)
                literal.value = -literal.value  # type: ignore[operator]
                literal.pos = tok.pos
                return self.parse_postfix(literal)
            self.enter()
            operand = self.parse_unary()
            self.leave()
            return n.Unary(tok.pos, str(tok.value), operand)
        return self.parse_postfix(self.parse_primary())

    def parse_postfix(self, expr: n.Expr) -> n.Expr:
        while True:
            if self.at_op("."):
                tok = self.next()
                key = self.peek()
                if key.kind != "id":
                    raise self.error(key)
                self.next()
                expr = n.Member(tok.pos, expr, str(key.value))
            elif self.at_op("["):
                tok = self.next()
                self.enter()
                index = self.parse_expr()
                self.expect_op("]")
                self.leave()
                expr = n.Index(tok.pos, expr, index)
            else:
                return expr

    def literal(self, tok: _Token) -> n.Expr:
        if tok.kind == "str":
            return n.Lit(tok.pos, "string", tok.value)
        if tok.kind == "num":
            return n.Lit(tok.pos, "long" if isinstance(tok.value, int) else "real", tok.value)
        if tok.kind == "span":
            return n.Lit(tok.pos, "timespan", tok.value)
        assert tok.kind == "date"
        return n.Lit(tok.pos, "datetime", tok.value)

    def parse_primary(self) -> n.Expr:
        tok = self.peek()
        if tok.kind in ("str", "num", "span", "date"):
            self.next()
            return self.literal(tok)
        if self.at_op("("):
            self.enter()
            self.next()
            expr = self.parse_expr()
            self.expect_op(")")
            self.leave()
            return expr
        if self.at_op("*"):
            return n.Star(self.next().pos)
        if self.at_bracketed_name():
            return n.Name(tok.pos, self.bracketed_name())
        if tok.kind != "id" or str(tok.value).startswith("$"):
            raise self.error(tok)
        name = str(tok.value)
        if self.op_at(1, "("):
            self.next()
            return self.parse_call(tok)
        self.next()
        if name in ("true", "false"):
            return n.Lit(tok.pos, "bool", name == "true")
        if name == "null":
            return n.Lit(tok.pos, "dynamic", None)
        return n.Name(tok.pos, name)

    def parse_call(self, tok: _Token) -> n.Expr:
        """A call whose name token was consumed; handles the literal forms (dynamic, typeof, long(1)...)."""
        name = str(tok.value)
        if name == "dynamic":
            self.expect_op("(")
            json_value = self.parse_json()
            self.expect_op(")")
            return n.Lit(tok.pos, "dynamic", json_value)
        if name == "toscalar":
            self.enter()
            self.expect_op("(")
            query = self.parse_tabular()
            self.expect_op(")")
            self.leave()
            return n.ToScalar(tok.pos, query)
        if name == "typeof":
            self.expect_op("(")
            type_tok = self.peek()
            kql_type = normalize_type(self.expect_ident())
            if kql_type is None:
                raise self.error(type_tok)
            self.expect_op(")")
            return n.Lit(tok.pos, "type", kql_type)
        literal_type = normalize_type(name)
        if literal_type in ("bool", "int", "long", "real", "guid", "string") and name not in ("string",):
            self.expect_op("(")
            value_tok = self.next()
            value: object
            if value_tok.kind == "id" and value_tok.value == "null":
                value = None
            elif literal_type == "bool" and value_tok.kind == "id" and value_tok.value in ("true", "false"):
                value = value_tok.value == "true"
            elif (
                literal_type in ("int", "long")
                and value_tok.kind == "num"
                and isinstance(value_tok.value, int)
            ):
                value = value_tok.value
            elif literal_type == "real" and value_tok.kind == "num":
                value = float(value_tok.value)  # type: ignore[arg-type]
            elif literal_type == "guid" and value_tok.kind in ("id", "num", "op", "str"):
                # guid(74be27de-1e4e-49d9-b579-fe0b331d3642): read the raw text up to ")"
                close = self.text.find(")", value_tok.pos)
                if close < 0:
                    raise self.error(value_tok)
                value = self.text[value_tok.pos : close].strip()
                while self.peek().kind != "eof" and self.peek().pos < close:
                    self.next()
            else:
                raise self.error(value_tok)
            self.expect_op(")")
            return n.Lit(tok.pos, "string" if literal_type == "guid" else literal_type, value)
        self.enter()
        self.expect_op("(")
        args: list[n.Expr] = []
        searching, self.searching = self.searching, False  # a string argument is a value
        try:
            if not self.at_op(")"):
                args.append(self.parse_expr())
                while self.comma():
                    args.append(self.parse_expr())
        finally:
            self.searching = searching
        self.expect_op(")")
        self.leave()
        return n.Call(tok.pos, name, args)

    def parse_json(self) -> object:
        """The JSON-like body of ``dynamic(...)``: arrays, property bags, strings, numbers, bools, null."""
        self.enter()
        tok = self.next()
        result: object
        if tok.kind == "op" and tok.value == "[":
            items: list[object] = []
            if not self.at_op("]"):
                items.append(self.parse_json())
                while self.comma():
                    items.append(self.parse_json())
            self.expect_op("]")
            result = items
        elif tok.kind == "op" and tok.value == "{":
            bag: dict[str, object] = {}
            if not self.at_op("}"):
                while True:
                    key = self.next()
                    if key.kind not in ("str", "id"):
                        raise self.error(key)
                    self.expect_op(":")
                    bag[str(key.value)] = self.parse_json()
                    if not self.comma():
                        break
            self.expect_op("}")
            result = bag
        elif tok.kind in ("str", "num"):
            result = tok.value
        elif tok.kind == "op" and tok.value == "-" and self.peek().kind == "num":
            result = -self.next().value  # type: ignore[operator]
        elif tok.kind == "id" and tok.value in ("true", "false"):
            result = tok.value == "true"
        elif tok.kind == "id" and tok.value == "null":
            result = None
        else:
            raise self.error(tok)
        self.leave()
        return result
