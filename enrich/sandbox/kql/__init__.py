"""The sandbox's KQL (Kusto Query Language) engine for advanced hunting.

Layout: :mod:`.lexer` (tokens), :mod:`.parser` (syntax tree of :mod:`.nodes`), :mod:`.compiler`
(tree -> closures over rows, with :mod:`.aggregates` for ``summarize`` and :mod:`.fileprofile` for
``invoke FileProfile()``), :mod:`.registry` (the scalar functions of :mod:`.functions`),
:mod:`.engine` (``run_query``) and :mod:`.shape` (``query_shape``).

Public API: `run_query` (parse and evaluate a query over in-memory tables), `query_shape` (a
query's structure with literal values replaced by their types), `KqlError` (every invalid or
unsupported query, phrased like Kusto's own errors), `QueryResult`, and the datetime helpers the
hunting endpoints use.  See docs/kql-subset.md for the language served.
"""

from __future__ import annotations

from enrich.sandbox.kql.engine import run_query
from enrich.sandbox.kql.shape import query_shape
from enrich.sandbox.kql.values import KqlError, QueryResult, format_datetime, parse_datetime

__all__ = ["KqlError", "QueryResult", "format_datetime", "parse_datetime", "query_shape", "run_query"]
