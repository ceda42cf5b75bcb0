"""`run_query`: parse, compile and evaluate one query over in-memory tables."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from enrich.sandbox.kql import registry
from enrich.sandbox.kql.compiler import Compiler, FileProfileHook
from enrich.sandbox.kql.parser import parse
from enrich.sandbox.kql.values import KqlError, QueryResult, Row, _getter, datetime_to_ticks, format_datetime
from enrich.sandbox.schema import TABLES

_AS_IS = frozenset({"string", "guid", "int", "long", "bool"})


def run_query(
    text: str,
    tables: Mapping[str, Sequence[Mapping[str, object]]],
    now: datetime,
    *,
    window: tuple[datetime | None, datetime | None] | None = None,
    schemas: Mapping[str, Sequence[tuple[str, str]]] | None = None,
    file_profile: FileProfileHook | None = None,
) -> QueryResult:
    """Parse and evaluate ``text`` over ``tables``; ``now`` anchors ``ago()`` and ``now()``.

    ``window`` (start, end), either bound optional, hides rows whose ``Timestamp`` falls outside
    it (the hunting APIs' lookback).  ``schemas`` overrides the column types of
    :data:`enrich.sandbox.schema.TABLES`.  ``file_profile(hash)`` feeds ``invoke FileProfile()``
    (a file's profile keyed by FileProfile's column names, or None).

    Raises :class:`KqlError` (and nothing else) for a query that is invalid or unsupported.
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
        query = parse(text)
        compiler = Compiler(
            text, tables, TABLES if schemas is None else schemas, now_ticks, bounds, file_profile
        )
        plan = compiler.compile_query(query)
        rows = plan.run()
    except RecursionError:
        raise KqlError("Query is too complex (too many nested operators)") from None
    return QueryResult(schema=list(plan.schema), rows=_render_rows(plan.schema, rows))


def _render_rows(schema: Sequence[tuple[str, str]], rows: list[Row]) -> list[dict[str, object]]:
    """Rows as results carry them: datetimes as ISO strings, timespans as Kusto prints them."""
    getters: list[tuple[str, Callable[[Row], object]]] = []
    for name, kql_type in schema:
        get = _getter(name, kql_type)
        if kql_type not in _AS_IS:
            get = _formatted(get, kql_type)
        getters.append((name, get))
    return [{name: get(row) for name, get in getters} for row in rows]


def _formatted(get: Callable[[Row], object], kql_type: str) -> Callable[[Row], object]:
    fmt = registry.format_value
    return lambda row: fmt(get(row), kql_type)
