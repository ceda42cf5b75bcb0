"""The sandbox's KQL (Kusto Query Language) engine for advanced hunting: lexer, parser, evaluator, functions.

Public API: `run_query` (parse and evaluate a query over in-memory tables), `KqlError` (every
invalid or unsupported query, phrased like Kusto's own errors), `QueryResult`, and the datetime
helpers the hunting endpoints use. See docs/kql-subset.md for the language served.
"""

from __future__ import annotations

from enrich.sandbox.kql.parser import KqlError, QueryResult, format_datetime, parse_datetime, run_query

__all__ = ["KqlError", "QueryResult", "format_datetime", "parse_datetime", "run_query"]
