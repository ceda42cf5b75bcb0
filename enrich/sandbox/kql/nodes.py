"""The syntax tree of a parsed KQL query (what the parser builds and the compiler and `query_shape` read).

Every node carries ``pos``, the 0-based offset of its first token in the query text, for error messages.
Nodes hold syntax only: names are resolved (columns, lets, tables, functions) by the compiler.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# ---------------------------------------------------------------------------
# Scalar expressions


@dataclass(slots=True)
class Lit:
    """A literal: ``type`` is a KQL type ("string", "long", "real", "bool", "datetime", "timespan",
    "dynamic") or "type" for ``typeof(T)`` (value: the type name); values follow the shared value model."""

    pos: int
    type: str
    value: object


@dataclass(slots=True)
class Name:
    pos: int
    name: str


@dataclass(slots=True)
class Star:
    """``*`` as an argument (``arg_max(Timestamp, *)``, ``take_any(*)``)."""

    pos: int


@dataclass(slots=True)
class Call:
    pos: int
    name: str
    args: list[Expr]


@dataclass(slots=True)
class Unary:
    pos: int
    op: str  # "-" or "+"
    operand: Expr


@dataclass(slots=True)
class Binary:
    """Arithmetic, comparisons, string operators, ``and``/``or``, ``matches regex``, ``has_any``/``has_all``
    (whose right side is a :class:`ListExpr`)."""

    pos: int
    op: str
    left: Expr
    right: Expr


@dataclass(slots=True)
class ListExpr:
    """The parenthesised right side of ``in``/``has_any``: items, or one tabular sub-query."""

    pos: int
    items: list[Expr]
    query: Tabular | None = None


@dataclass(slots=True)
class Between:
    pos: int
    negated: bool
    operand: Expr
    low: Expr
    high: Expr


@dataclass(slots=True)
class Member:
    """``x.Key`` on a dynamic value."""

    pos: int
    target: Expr
    key: str


@dataclass(slots=True)
class Index:
    """``x[i]`` / ``x["Key"]`` on a dynamic value."""

    pos: int
    target: Expr
    index: Expr


@dataclass(slots=True)
class ToScalar:
    """``toscalar(T | ...)``: the first column of the sub-query's first row."""

    pos: int
    query: Tabular


@dataclass(slots=True)
class SearchTerm:
    """A term of ``search``: ``"text"`` (any column) or ``Col:"text"``; ``*`` at either end is a
    wildcard (``"*x*"`` contains, ``"x*"`` prefix, ``"*x"`` suffix; no wildcard: a whole term)."""

    pos: int
    column: str | None
    text: str


Expr = Lit | Name | Star | Call | Unary | Binary | ListExpr | Between | Member | Index | ToScalar | SearchTerm

# ---------------------------------------------------------------------------
# Tabular expressions and operators


@dataclass(slots=True)
class TableRef:
    """A table or a tabular ``let`` name."""

    pos: int
    name: str


@dataclass(slots=True)
class Union:
    pos: int
    legs: list[Tabular]
    kind: str = "outer"  # "outer" | "inner"
    withsource: str | None = None
    isfuzzy: bool = False


@dataclass(slots=True)
class Pipe:
    """``source | op``."""

    pos: int
    source: Tabular
    op: Operator


@dataclass(slots=True)
class Assign:
    """``[Name =] expr`` in project/extend/summarize; ``name`` None when the name is inferred.
    ``names`` holds the tuple of ``(A, B) = arg_max(...)`` (summarize only)."""

    pos: int
    name: str | None
    expr: Expr
    names: list[str] | None = None


@dataclass(slots=True)
class SortKey:
    pos: int
    expr: Expr
    descending: bool = True
    nulls_first: bool | None = None  # None: the default of the direction


@dataclass(slots=True)
class Where:
    pos: int
    predicate: Expr


@dataclass(slots=True)
class Project:
    pos: int
    items: list[Assign]


@dataclass(slots=True)
class ProjectNames:
    """``project-away`` / ``project-keep`` / ``project-reorder``: column names, ``*`` wildcards allowed."""

    pos: int
    kind: str
    patterns: list[str]


@dataclass(slots=True)
class ProjectRename:
    pos: int
    pairs: list[tuple[str, str]]  # (new, old)


@dataclass(slots=True)
class Extend:
    pos: int
    items: list[Assign]


@dataclass(slots=True)
class Serialize:
    """``serialize [Name = expr, ...]``: freezes the row order (and extends like ``extend``)."""

    pos: int
    items: list[Assign]


@dataclass(slots=True)
class Summarize:
    pos: int
    aggregates: list[Assign]
    by: list[Assign]


@dataclass(slots=True)
class MakeSeries:
    """``make-series agg [default = v], ... on Axis [from a] [to b] step s [by ...]``."""

    pos: int
    aggregates: list[Assign]
    defaults: list[Expr | None]
    axis: Expr
    start: Expr | None
    end: Expr | None
    step: Expr
    by: list[Assign]


@dataclass(slots=True)
class Take:
    pos: int
    count: Expr


@dataclass(slots=True)
class Top:
    pos: int
    count: Expr
    key: SortKey


@dataclass(slots=True)
class Sort:
    pos: int
    keys: list[SortKey]


@dataclass(slots=True)
class Distinct:
    pos: int
    items: list[Expr]  # [Star] for `distinct *`


@dataclass(slots=True)
class Count:
    pos: int


@dataclass(slots=True)
class JoinOn:
    pos: int
    left: str
    right: str


@dataclass(slots=True)
class Join:
    """``join`` (or ``lookup``, which keeps one copy of the key columns and defaults to leftouter)."""

    pos: int
    kind: str
    right: Tabular
    on: list[JoinOn]
    lookup: bool = False


@dataclass(slots=True)
class UnionOp:
    """``T | union U, V``: the piped input is the first leg."""

    pos: int
    union: Union


@dataclass(slots=True)
class MvExpandItem:
    pos: int
    name: str | None
    expr: Expr
    to_type: str | None = None


@dataclass(slots=True)
class MvExpand:
    pos: int
    items: list[MvExpandItem]
    itemindex: str | None = None
    limit: int | None = None


@dataclass(slots=True)
class MvApply:
    """``mv-apply <mv-expand items> on (operators)``: the operators run on each row's expansion."""

    pos: int
    expand: MvExpand
    operators: list[Operator]


@dataclass(slots=True)
class ParsePart:
    """A piece of a ``parse`` pattern: a literal (``name`` None), a column capture, or ``*`` (both None)."""

    pos: int
    text: str | None = None
    name: str | None = None
    type: str = "string"


@dataclass(slots=True)
class Parse:
    pos: int
    kind: str  # "simple" | "regex" | "relaxed"
    source: Expr
    parts: list[ParsePart] = field(default_factory=list)


@dataclass(slots=True)
class Invoke:
    """``invoke F(args)``, or ``evaluate plugin(args)`` (``evaluate`` True)."""

    pos: int
    name: str
    args: list[Expr]
    evaluate: bool = False


@dataclass(slots=True)
class GetSchema:
    pos: int


@dataclass(slots=True)
class Render:
    """``render chart [with (...)]``: a visualization hint for the client; the rows pass unchanged."""

    pos: int
    chart: str


@dataclass(slots=True)
class As:
    """``as Name``: the input, also bound to ``Name`` for the rest of the query."""

    pos: int
    name: str


@dataclass(slots=True)
class Search:
    """``search [kind=case_sensitive] [in (T1, T2...)] predicate``; ``tables`` None: every table
    (as a source) or the piped input (as an operator)."""

    pos: int
    predicate: Expr
    tables: list[str] | None = None
    case_sensitive: bool = False


@dataclass(slots=True)
class SearchOp:
    """``T | search ...``."""

    pos: int
    search: Search


Operator = (
    Where
    | Project
    | ProjectNames
    | ProjectRename
    | Extend
    | Serialize
    | Summarize
    | MakeSeries
    | Take
    | Top
    | Sort
    | Distinct
    | Count
    | Join
    | UnionOp
    | MvExpand
    | MvApply
    | Parse
    | Invoke
    | GetSchema
    | Render
    | As
    | SearchOp
)


@dataclass(slots=True)
class TabularCall:
    """A user-defined tabular function called as a source: ``f(x, 1)``."""

    pos: int
    name: str
    args: list[Expr]


@dataclass(slots=True)
class Print:
    """``print [Name =] expr, ...``: one row."""

    pos: int
    items: list[Assign]


@dataclass(slots=True)
class DataTable:
    """``datatable(Col:type, ...) [v1, v2, ...]``: rows from literals, filled column by column."""

    pos: int
    columns: list[tuple[str, str]]
    values: list[Expr]


@dataclass(slots=True)
class Range:
    """``range Name from start to stop step step``."""

    pos: int
    name: str
    start: Expr
    stop: Expr
    step: Expr


Tabular = TableRef | Union | Pipe | TabularCall | Print | DataTable | Range | Search

# ---------------------------------------------------------------------------
# Statements


@dataclass(slots=True)
class Param:
    """A parameter of a user-defined function: ``name:type [= default]``."""

    pos: int
    name: str
    type: str
    default: Expr | None = None


@dataclass(slots=True)
class Function:
    """``(params) { [let ...;] body }``: a user-defined function (scalar or tabular body)."""

    pos: int
    params: list[Param]
    lets: list[Let]
    body: Expr | Tabular


@dataclass(slots=True)
class Let:
    """``let name = value;``: a scalar expression, a tabular expression or a function (decided by the
    parser; a bare name is a :class:`Name` and resolved by the compiler)."""

    pos: int
    name: str
    value: Expr | Tabular | Function


@dataclass(slots=True)
class Query:
    lets: list[Let]
    body: Tabular


#: The node classes of tabular expressions (for isinstance checks).
TABULAR_NODES = (TableRef, Union, Pipe, TabularCall, Print, DataTable, Range, Search)
