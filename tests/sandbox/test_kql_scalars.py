"""The KQL engine's scalar operators and literals: known answers over a one-row table.

Each case evaluates ``extend X = <expression>`` on the row below; expected values are written out
by hand from Kusto's documented semantics.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from enrich.sandbox.kql import KqlError, run_query

NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)
SCHEMAS = {
    "Row": [
        ("Timestamp", "datetime"),
        ("Url", "string"),
        ("Path", "string"),
        ("N", "long"),
        ("M", "int"),
        ("R", "real"),
        ("Empty", "string"),
        ("Null", "long"),
        ("Bag", "dynamic"),
    ]
}
ROW = {
    "Timestamp": "2026-11-25T10:00:00.0000000Z",
    "Url": "https://Mail.Example.com:8443/login?next=/home",
    "Path": r"C:\Users\bob\AppData\evil.exe",
    "N": 7,
    "M": -7,
    "R": 2.5,
    "Empty": "",
    "Null": None,
    "Bag": {"ips": ["10.0.0.1", "10.0.0.2"], "port": 443, "name": "x"},
}


def value(expression: str, let: str = "") -> object:
    result = run_query(
        f"{let}Row | extend X = {expression} | project X", {"Row": [ROW]}, NOW, schemas=SCHEMAS
    )
    return result.rows[0]["X"]


def where_count(predicate: str, let: str = "") -> int:
    result = run_query(f"{let}Row | where {predicate} | count", {"Row": [ROW]}, NOW, schemas=SCHEMAS)
    return int(result.rows[0]["Count"])  # type: ignore[call-overload]


# (expression, expected value)
VALUES = [
    # term matching (has): case-insensitive, on alphanumeric boundaries
    ("Url has 'example'", True),
    ("Url has 'EXAMPLE.com'", True),
    ("Url has 'exam'", False),
    ("Url !has 'exam'", True),
    ("Url has_cs 'Example'", True),
    ("Url has_cs 'example'", False),
    ("Url !has_cs 'example'", True),
    ("Url hasprefix 'exam'", True),
    ("Url hasprefix 'ample'", False),
    ("Url hassuffix 'ample'", True),
    ("Url has_any ('nope', 'login')", True),
    ("Url has_any ('nope', 'logi')", False),
    ("Url has_all ('mail', 'home')", True),
    ("Url has_all ('mail', 'away')", False),
    # substring operators
    ("Url contains 'AMPLE.C'", True),
    ("Url contains_cs 'AMPLE'", False),
    ("Url !contains 'zzz'", True),
    ("Url !contains_cs 'Mail'", False),
    ("Url startswith 'HTTPS://'", True),
    ("Url startswith_cs 'HTTPS://'", False),
    ("Url !startswith 'http:'", True),
    ("Url endswith '=/HOME'", True),
    ("Url endswith_cs '=/HOME'", False),
    ("Url !endswith 'home'", False),
    ("Url matches regex @':\\d{4}/'", True),
    ("Url matches regex '^mail'", False),
    # equality
    ("Url == 'https://mail.example.com:8443/login?next=/home'", False),
    ("Url =~ 'https://mail.example.com:8443/login?next=/home'", True),
    ("Url !~ 'HTTPS://MAIL.EXAMPLE.COM:8443/LOGIN?NEXT=/HOME'", False),
    ("Empty == ''", True),
    ("N != 7", False),
    ("N <> 8", True),
    # membership
    ("N in (1, 7)", True),
    ("N !in (1, 7)", False),
    ("Path in~ ('c:\\\\users\\\\bob\\\\appdata\\\\evil.exe')", True),
    ("Path in ('c:\\\\users\\\\bob\\\\appdata\\\\evil.exe')", False),
    ("Path !in~ ('x', 'y')", True),
    ("Null in (1)", None),
    # between
    ("N between (1 .. 7)", True),
    ("N between (8 .. 9)", False),
    ("N !between (8 .. 9)", True),
    ("R between (2.0 .. 3)", True),
    ("Timestamp between (datetime(2026-11-25) .. 1d)", True),
    ("Timestamp between (ago(1h) .. now())", False),
    # arithmetic: long, int, real, integer division truncates toward zero (as .NET)
    ("N + 1", 8),
    ("N - 10", -3),
    ("N * 3", 21),
    ("N / 2", 3),
    ("M / 2", -3),
    ("M % 3", -1),
    ("N % 3", 1),
    ("N / 2.0", 3.5),
    ("R * 2", 5.0),
    ("N / 0", None),
    ("-N", -7),
    ("Null + 1", None),
    ("(N + 1) * 2", 16),
    ("9223372036854775807 + 1", -9223372036854775808),  # longs are 64-bit and wrap, as in Kusto
    ("(9223372036854775807 * 9223372036854775807) / 2.0", 0.5),
    ("1h * 1e300", None),
    ("1.5 * 1h", "01:30:00"),
    ("N + 1 * 2", 9),
    # datetimes and timespans
    ("Timestamp + 1d", "2026-11-26T10:00:00.0000000Z"),
    ("Timestamp - 30m", "2026-11-25T09:30:00.0000000Z"),
    ("now() - Timestamp", "1.02:00:00"),
    ("1h + 30m", "01:30:00"),
    ("2h * 3", "06:00:00"),
    ("1d / 4", "06:00:00"),
    ("1d / 1h", 24.0),
    ("-1h", "-01:00:00"),
    ("ago(1d)", "2026-11-25T12:00:00.0000000Z"),
    ("datetime(2026-01-02 03:04:05)", "2026-01-02T03:04:05.0000000Z"),
    ("datetime(null)", None),
    ("time(1.02:03:04)", "1.02:03:04"),
    ("timespan(90s)", "00:01:30"),
    ("1.5h", "01:30:00"),
    ("10ms", "00:00:00.0100000"),
    ("Timestamp > ago(2d)", True),
    ("Timestamp < datetime(2026-11-25T09:59:59Z)", False),
    ("datetime(2026-11-25T10:00:00Z) == Timestamp", True),
    # literals
    ("@'C:\\Users'", "C:\\Users"),
    ('@"say ""hi"""', 'say "hi"'),
    ("'it\\'s'", "it's"),
    ('"tab\\there"', "tab\there"),
    ("'\\u0041'", "A"),
    ("dynamic({'a': [1, 2.5, true, null]})", {"a": [1, 2.5, True, None]}),
    ("dynamic(null)", None),
    ("long(5)", 5),
    ("real(2)", 2.0),
    ("bool(false)", False),
    ("true and not(false)", True),
    ("true and (Null == 1)", None),
    ("false and (Null == 1)", False),
    ("true or (Null == 1)", True),
    # dynamic access
    ("Bag.port", 443),
    ("Bag['name']", "x"),
    ("Bag.ips[1]", "10.0.0.2"),
    ("Bag.ips[-1]", "10.0.0.2"),
    ("Bag.ips[5]", None),
    ("Bag.missing.deeper", None),
    ("Bag.port == 443", True),
    ("Bag.name == 'x'", True),
]


@pytest.mark.parametrize(("expression", "expected"), VALUES)
def test_value(expression, expected):
    assert value(expression) == expected


def test_let_bound_values():
    lets = (
        "let n = 7; let v = dynamic(['A', 'b']); let names = dynamic(['mail.example.com']); let s = 'login';"
    )
    assert where_count("N == n", lets) == 1
    assert where_count("'a' in~ (v)", lets) == 1
    assert where_count("'a' in (v)", lets) == 0
    assert where_count("'b' in (v, 'c')", lets) == 1
    assert where_count("Url has_any (names)", lets) == 1
    assert where_count("Url has s", lets) == 1
    assert value("n * 2", lets) == 14


def test_in_list_of_many_values_is_a_set():
    values = ", ".join(f"'{i}'" for i in range(5000))
    assert where_count(f"tostring(N) in ({values})") == 1
    assert where_count(f"tostring(N + 10000) in ({values})") == 0


def test_has_is_term_match_not_substring():
    # 'example.com' occurs on term boundaries in 'mail.example.com', but 'xample' does not
    assert value("'a.example.com:443' has 'example.com'") is True
    assert value("'badexample.com' has 'example.com'") is False
    assert value("'x-example.com' has 'example.com'") is True


def test_long_literal_out_of_range():
    with pytest.raises(KqlError, match="number out of range"):
        value("9223372036854775808")


def test_backslash_escapes_follow_kusto():
    with pytest.raises(KqlError, match="could not be parsed"):
        value('"C:\\Users"')  # \U is not an escape in Kusto
    assert value('"C:\\\\Users"') == "C:\\Users"


def test_multi_line_string_literal():
    assert value("```first\nsecond \\d```") == "first\nsecond \\d"
    with pytest.raises(KqlError, match="unterminated string literal"):
        value("```open")


def test_matches_regex_is_re2():
    assert value("'abc' matches regex '(?<x>b)'") is True  # RE2 named group
    with pytest.raises(KqlError, match="lookaround or atomic group"):
        value("'abc' matches regex '(?=b)'")  # RE2 has no lookaround
