"""The generated parts of ``docs/kql-subset.md``: tables, aggregations and scalar functions.

The doc holds each part between ``<!-- generated:NAME -->`` and ``<!-- /generated:NAME -->``;
:func:`refresh` rewrites them from the code (the schema, :mod:`.aggregates`, the functions
registry), so the doc cannot drift from what the engine serves.  Run
``python -m enrich.sandbox.kql.docs docs/kql-subset.md`` after changing any of them.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from enrich.sandbox.kql import registry
from enrich.sandbox.kql.aggregates import SIGNATURES
from enrich.sandbox.schema import TABLES

#: One line of semantics per aggregation (the signature comes from :data:`aggregates.SIGNATURES`).
AGGREGATION_NOTES = {
    "count": "`count()`: rows in the group (`count(x)`: rows where `x` is not null or empty).",
    "countif": "`countif(predicate)`: rows where the predicate is true.",
    "dcount": "`dcount(x [, accuracy])`: distinct non-null values (exact here; approximate in Kusto).",
    "dcountif": "`dcountif(x, predicate [, accuracy])`: `dcount` over the rows where the predicate is true.",
    "min": "`min(x)`: smallest non-null value.",
    "max": "`max(x)`: largest non-null value.",
    "minif": "`minif(x, predicate)`: `min` over the rows where the predicate is true.",
    "maxif": "`maxif(x, predicate)`: `max` over the rows where the predicate is true.",
    "sum": "`sum(x)`: sum of the non-null numbers or timespans (null when there are none).",
    "sumif": "`sumif(x, predicate)`: `sum` over the rows where the predicate is true.",
    "avg": "`avg(x)`: mean of the non-null values, a real (a timespan for timespans).",
    "avgif": "`avgif(x, predicate)`: `avg` over the rows where the predicate is true.",
    "make_set": "`make_set(x [, max])`: distinct values as a dynamic array, at most `max` (default 1048576); "
    "array values are flattened.",
    "make_set_if": "`make_set_if(x, predicate [, max])`: `make_set` over the rows where the predicate is true.",
    "make_list": "`make_list(x [, max])`: all non-null values as a dynamic array.",
    "make_list_if": "`make_list_if(x, predicate [, max])`: `make_list` over the rows where the predicate is true.",
    "arg_max": "`arg_max(x, col, ... | *)`: the row with the largest `x`: `x` and the listed columns "
    "(`*`: every column but the group keys).",
    "arg_min": "`arg_min(x, col, ... | *)`: the row with the smallest `x`, as `arg_max`.",
    "take_any": "`take_any(x, ... | *)`: the values of one row of the group (one column: a non-empty value if any).",
    "any": "`any(x, ...)`: deprecated `take_any`; its columns are named `any_x`.",
    "take_anyif": "`take_anyif(x, predicate)`: `take_any` over the rows where the predicate is true.",
    "count_distinct": "`count_distinct(x)`: distinct non-null values (exact).",
    "count_distinctif": "`count_distinctif(x, predicate)`: `count_distinct` over the rows where the predicate is true.",
    "stdev": "`stdev(x)`: sample standard deviation (n - 1) of the non-null numbers, a real.",
    "stdevif": "`stdevif(x, predicate)`: `stdev` over the rows where the predicate is true.",
    "stdevp": "`stdevp(x)`: population standard deviation (n).",
    "variance": "`variance(x)`: sample variance (n - 1).",
    "varianceif": "`varianceif(x, predicate)`: `variance` over the rows where the predicate is true.",
    "variancep": "`variancep(x)`: population variance (n).",
    "percentile": "`percentile(x, p)`: the nearest-rank `p`th percentile (0..100) of the non-null values; "
    "the column is `percentile_x_p`.",
    "percentiles": "`percentiles(x, p1, p2, ...)`: one `percentile_x_p` column per percentile.",
    "make_bag": "`make_bag(bag [, max])`: the keys of the property bags merged into one (first value wins).",
    "make_bag_if": "`make_bag_if(bag, predicate [, max])`: `make_bag` over the rows where the predicate is true.",
    "make_list_with_nulls": "`make_list_with_nulls(x [, max])`: all values, nulls included, as a dynamic array.",
}

_SECTION_RE = re.compile(r"(<!-- generated:(\w+) -->\n).*?(<!-- /generated:\2 -->)", re.DOTALL)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def tables_section() -> str:
    lines = ["| Table | Columns |", "|---|---|"]
    for name, columns in TABLES.items():
        lines.append(f"| `{name}` | {len(columns)}: " + ", ".join(f"`{c}` ({t})" for c, t in columns) + " |")
    return "\n".join(lines) + "\n"


def aggregations_section() -> str:
    lines = ["| Aggregation | Default column name | Semantics |", "|---|---|---|"]
    for name, (_, _, prefix) in SIGNATURES.items():
        if not prefix:
            default = "the argument's column name"
        elif name in ("count", "countif"):
            default = f"`{prefix}_`"
        else:
            default = f"`{prefix}_X`"
        lines.append(f"| `{name}` | {default} | {_cell(AGGREGATION_NOTES[name])} |")
    return "\n".join(lines) + "\n"


def functions_section() -> str:
    lines = ["| Function | Signature and semantics |", "|---|---|"]
    for name, text in registry.describe():
        lines.append(f"| `{name}` | {_cell(text)} |")
    return "\n".join(lines) + "\n"


SECTIONS = {"tables": tables_section, "aggregations": aggregations_section, "functions": functions_section}


def refresh(doc: str) -> str:
    """``doc`` with every generated section rewritten from the code."""

    def replace(match: re.Match[str]) -> str:
        render = SECTIONS.get(match.group(2))
        if render is None:
            return match.group(0)
        return match.group(1) + render() + match.group(3)

    return _SECTION_RE.sub(replace, doc)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m enrich.sandbox.kql.docs docs/kql-subset.md", file=sys.stderr)
        return 2
    path = Path(argv[0])
    text = path.read_text(encoding="utf-8")
    updated = refresh(text)
    if updated != text:
        path.write_text(updated, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
