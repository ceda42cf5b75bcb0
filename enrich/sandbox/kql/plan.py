"""Compiled pieces of a query: scalar expressions and tabular plans (closures over rows)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from enrich.sandbox.kql.values import Row

RowFn = Callable[[Row], object]
Schema = list[tuple[str, str]]


@dataclass(slots=True)
class Expr:
    """A compiled scalar expression: its KQL type and ``row -> value`` (``value`` when constant)."""

    type: str
    fn: RowFn
    const: bool = False
    value: object = None
    column: str | None = None  # set when the expression is a plain column reference


@dataclass(slots=True)
class Plan:
    """A compiled tabular expression: its schema and ``run()``, which returns a fresh list of rows."""

    schema: Schema
    run: Callable[[], list[Row]]
    serialized: bool = False  # rows in a defined order: row_number(), prev() and next() may be used
