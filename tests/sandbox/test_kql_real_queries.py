"""Real-world advanced-hunting queries, copied literally, each run against planted data with a known answer."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from enrich.sandbox.kql import KqlError, run_query

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def scalar(query: str) -> tuple[list[tuple[str, str]], list[dict[str, object]]]:
    result = run_query(query, {}, NOW)
    return [tuple(c) for c in result.schema], result.rows


# --- engine fixes the real queries needed -------------------------------------------------------


def test_typeof_argument_gives_extract_its_type():
    schema, rows = scalar('print x = extract(@"(\\d+)", 1, "ab12", typeof(long)) | extend y = x + 1')
    assert schema == [("x", "long"), ("y", "long")]
    assert rows == [{"x": 12, "y": 13}]
    schema, rows = scalar('print x = extract_json("$.a", "{\\"a\\":3}", typeof(int))')
    assert schema == [("x", "int")] and rows == [{"x": 3}]


def test_a_dynamic_value_is_taken_as_text_where_a_string_is_expected():
    schema, rows = scalar(
        'print a = strlen(split("host.corp.contoso.com", ".")[0]), b = tolower(dynamic("AB")),'
        ' c = substring(split("x.y", ".")[1], 0, 1), d = strlen(dynamic(null)), e = tolower(dynamic([1,"A"]))'
    )
    assert schema == [("a", "long"), ("b", "string"), ("c", "string"), ("d", "long"), ("e", "string")]
    assert rows == [{"a": 4, "b": "ab", "c": "y", "d": 0, "e": '[1,"a"]'}]


def test_deprecated_aggregation_names_answer_as_their_aggregation():
    rows = 'datatable(a: long, b: string) [1, "x", 2, "y", 2, "y"]'
    schema, got = scalar(f"{rows} | summarize makeset(b), L=makelist(a), M=argmax(a, b)")
    assert schema == [("set_b", "dynamic"), ("L", "dynamic"), ("M", "long"), ("b", "string")]
    assert got == [{"set_b": ["x", "y"], "L": [1, 2, 2], "M": 2, "b": "y"}]
    assert scalar(f"{rows} | summarize argmin(a, b)")[1] == [{"a": 1, "b": "x"}]


def test_a_tuple_of_names_renames_the_columns_of_one_aggregation():
    schema, rows = scalar('print a=1, b="x" | summarize (Low, Name)=arg_min(a, b), c=count() by b')
    assert schema == [("b", "string"), ("Low", "long"), ("Name", "string"), ("c", "long")]
    assert rows == [{"b": "x", "Low": 1, "Name": "x", "c": 1}]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("print a=1 | extend (x, y) = a", "a tuple of names is allowed only in summarize"),
        ('print a=1, b="x" | summarize (x) = arg_max(a, b)', "1 names for the 2 columns of arg_max()"),
    ],
)
def test_a_misused_tuple_of_names_is_refused(query, message):
    with pytest.raises(KqlError, match=re.escape(message)):
        scalar(query)


def test_mvexpand_is_mv_expand_with_its_legacy_limit_of_128():
    values = 'print d=split(strrep("x", 200, ","), ",")'
    assert scalar(f"{values} | mvexpand d | count")[1] == [{"Count": 128}]
    assert scalar(f"{values} | mvexpand d limit 150 | count")[1] == [{"Count": 150}]
    assert scalar(f"{values} | mv-expand d | count")[1] == [{"Count": 200}]
