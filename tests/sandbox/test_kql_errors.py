"""The KQL engine's errors: Kusto's wording and positions, and nothing but KqlError for any text."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from enrich.sandbox.kql import KqlError, QueryResult, run_query

NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)
SCHEMAS = {
    "T": [("Timestamp", "datetime"), ("Name", "string"), ("N", "long"), ("D", "dynamic")],
    "U": [("Name", "string"), ("Extra", "string")],
}
DATA: dict[str, list[dict[str, object]]] = {
    "T": [
        {"Timestamp": "2026-11-25T10:00:00.0000000Z", "Name": "a b", "N": 1, "D": [1, "x"]},
        {"Timestamp": "", "Name": "", "N": None, "D": None},
    ],
    "U": [{"Name": "a b", "Extra": "e"}],
}


def run(query: str) -> QueryResult:
    return run_query(query, DATA, NOW, schemas=SCHEMAS)


def message(query: str) -> str:
    with pytest.raises(KqlError) as info:
        run(query)
    return str(info.value)


MESSAGES = [
    ("NoSuchTable | take 1", "Failed to resolve table or column expression named 'NoSuchTable'"),
    ("union T, Nope", "Failed to resolve table or column expression named 'Nope'"),
    ("T | where Nope == 1", "'where' operator: Failed to resolve scalar expression named 'Nope'"),
    ("T | extend X = Nope", "'extend' operator: Failed to resolve scalar expression named 'Nope'"),
    ("T | project Nope", "'project' operator: Failed to resolve scalar expression named 'Nope'"),
    (
        "T | summarize count() by Nope",
        "'summarize' operator: Failed to resolve scalar expression named 'Nope'",
    ),
    ("T | project-away Nope", "'project-away' operator: Failed to resolve scalar expression named 'Nope'"),
    ("T | sort by Nope", "'sort' operator: Failed to resolve scalar expression named 'Nope'"),
    ("T | where N == 1 | whre N == 1", "Query could not be parsed at 'whre' on line [1,20]"),
    ("T\n| where N ==", "Query could not be parsed at '<EOF>' on line [2,13]"),
    (
        "T | where Name == 'abc",
        "Query could not be parsed at ''abc' on line [1,19]: unterminated string literal",
    ),
    (
        'T | where Name == "C:\\Users"',
        "Query could not be parsed at '\\U' on line [1,22]: invalid escape sequence",
    ),
    ("T | where Name == 1", "Cannot compare values of types string and long. Try adding explicit casts"),
    ("T | where Name", "'where' operator: the predicate must be of type bool, not string"),
    (
        "T | extend X = Name + 'x'",
        "Operator '+' cannot be applied to operands of types 'string' and 'string'",
    ),
    ("T | where frob(N)", "'where' operator: Unknown function: 'frob'"),
    ("T | where count() > 1", "Function 'count' cannot be invoked in current context"),
    (
        "T | summarize count() by D",
        "Summarize group key 'D' is of a 'dynamic' type. Please use an explicit cast "
        "(for example, 'summarize ... by tostring(D)')",
    ),
    (
        "T | summarize Name",
        "'summarize' operator: the expression is not an aggregation (count(), dcount(), make_set()...)",
    ),
    (
        "T | summarize sum(Name)",
        "'summarize' operator: aggregate function 'sum' expects a numeric argument, not string",
    ),
    (
        "T | mv-expand Name",
        "'mv-expand' operator: the expanded expression must be of type dynamic, not string",
    ),
    ("T | join (U) on Nope", "'join' operator: Failed to resolve scalar expression named 'Nope'"),
    ("T | invoke Nope()", "'invoke' operator: Unknown function: 'Nope'"),
    (
        "T | invoke FileProfile(Name, 0)",
        "FileProfile(): the number of records to enrich must be between 1 and 1000",
    ),
    ("T | take -1", "'take' operator: the row count must be non-negative"),
    ("let x = Name; T", "'let' operator: Failed to resolve scalar expression named 'Name'"),
    ("", "Query could not be parsed at '<EOF>' on line [1,1]: the query has no tabular expression"),
]


@pytest.mark.parametrize(("query", "expected"), MESSAGES)
def test_error_wording(query, expected):
    assert message(query) == expected


def test_error_carries_position():
    with pytest.raises(KqlError) as info:
        run("T\n| where Nope == 1")
    assert (info.value.line, info.value.column, info.value.position) == (2, 9, 10)


def test_function_type_errors_are_kql_errors():
    with pytest.raises(KqlError):
        run("T | extend X = strlen(N, N)")
    with pytest.raises(KqlError):
        run("T | extend X = ago('x')")


WORDS = [
    "T", "U", "union", "withsource=S", "kind=inner", "isfuzzy=true", "let", "x", "=", "==", "!=", "=~", "!~",
    "in", "in~", "!in", "!in~", "has", "!has", "has_cs", "has_any", "has_all", "contains", "startswith",
    "endswith", "matches", "regex", "between", "..", "and", "or", "not", "(", ")", "[", "]", "{", "}", ",", ";",
    "|", ":", ".", "+", "-", "*", "/", "%", "where", "extend", "project", "project-away", "project-rename",
    "project-reorder", "summarize", "by", "count", "count()", "dcount(Name)", "make_set(N, 2)", "arg_max(N, *)",
    "take_any(*)", "bin(Timestamp, 1h)", "take", "limit", "top", "sort", "order", "asc", "desc", "nulls", "first",
    "distinct", "join", "on", "$left.Name", "$right.Name", "mv-expand", "to", "typeof(string)", "parse", "with",
    "'a'", '"b"', "@'c\\d'", "Name", "N", "D", "D[0]", "D.k", "Timestamp", "1", "-1", "2.5", "30d", "1h",
    "ago(1d)", "now()", "datetime(2026-01-01)", "time(1:00:00)", "dynamic([1, 'a'])", "dynamic({'k': 1})",
    "tolower(Name)", "strcat(Name, 'x')", "iff(N > 1, 'a', 'b')", "parse_url(Name).Host", "tostring(D)",
    "invoke", "FileProfile()", "getschema", "//", "\n", "null", "true", "let f = (x:long) {", "x", "};", "f(1)",
    "f(N)", "toscalar(", "let g = () { T };", "g()", "print", "datatable(a:long)", "range", "from", "step",
    "lookup", "U*", "serialize", "row_number()", "prev(N)", "next(Name, 2)", "evaluate", "bag_unpack(D)",
    "search", "in (T)", "Name:", "'x*'", "kind=case_sensitive", "as X", "['$table']", "['N']", "mv-apply", "on (", "render", "timechart", "with (",
]  # fmt: skip


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=80), st.lists(st.sampled_from(WORDS), max_size=30).map(" ".join)))
def test_no_text_raises_anything_but_kql_error(text):
    try:
        result = run(text)
    except KqlError:
        return
    assert isinstance(result, QueryResult)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(WORDS[20:]), min_size=1, max_size=12).map(" ".join))
def test_piped_operator_soup_raises_only_kql_error(tail):
    with contextlib.suppress(KqlError):
        run("T | " + tail)
