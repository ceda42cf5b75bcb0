"""Real-world advanced-hunting queries, copied literally, each run against planted data with a known answer."""

from __future__ import annotations

from datetime import UTC, datetime

from enrich.sandbox.kql import run_query

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
