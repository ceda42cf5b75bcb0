"""Known answers of the KQL scalar functions (Microsoft's documented examples and Kusto's rules),
called through the registry: nulls and empties, conversions and how values render as text."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import pytest

from enrich.sandbox.kql.functions import FUNCTIONS, convert_to, format_value
from enrich.sandbox.kql.functions import ticks as tk


@dataclass
class Ctx:
    now: int


NOW = tk.parse_datetime("2026-11-20T10:11:12.1234567Z")
assert NOW is not None
CTX = Ctx(NOW)


def dt(text: str) -> int:
    ticks = tk.parse_datetime(text)
    assert ticks is not None, text
    return ticks


def call(name: str, *args: object, types: Sequence[str] | None = None) -> object:
    """Evaluate a function as the engine does: ``bind`` on the argument types when given."""
    fn = FUNCTIONS[name]
    if types is not None:
        fn.returns(types)  # the call site must type-check
        return fn.bind(types)(CTX, *args)
    return fn.call(CTX, *args)


# ---------------------------------------------------------------------------
# Strings


def test_case_and_length() -> None:
    assert call("tolower", "ABC Def") == "abc def"
    assert call("toupper", "abc") == "ABC"
    assert call("strlen", "hello") == 5
    assert call("strlen", "") == 0
    assert call("strlen", "⒦⒰⒮⒯⒪") == 5  # characters, not bytes


def test_strcat_renders_each_argument_by_its_type() -> None:
    assert call("strcat", "hello", " ", "world") == "hello world"
    assert call("strcat", "n=", 5, " ok=", True, " r=", 1.0) == "n=5 ok=true r=1"
    when = dt("2026-01-02T03:04:05Z")
    got = call(
        "strcat", "at ", when, " for ", 90 * tk.SECOND, types=["string", "datetime", "string", "timespan"]
    )
    assert got == "at 2026-01-02T03:04:05.0000000Z for 00:01:30"
    assert call("strcat_delim", "-", "a", "b", 3) == "a-b-3"
    assert call("strcat_delim", ", ", "a", "", "c") == "a, , c"


def test_substring_documented_examples_and_clamping() -> None:
    assert call("substring", "123456", 1) == "23456"
    assert call("substring", "123456", 2, 2) == "34"
    assert call("substring", "ABCD", 0, 2) == "AB"
    assert call("substring", "123456", -2, 2) == "56"
    assert call("substring", "abc", 10) == ""
    assert call("substring", "abc", 1, 100) == "bc"
    assert call("substring", "abc", -10, 2) == "ab"
    assert call("substring", "abc", None) == ""
    assert call("substring", "abc", 1, None) == ""  # a null length is not "to the end"


def test_split_with_and_without_index() -> None:
    assert call("split", "aa_bb", "_") == ["aa", "bb"]
    assert call("split", "aaa_bbb_ccc", "_", 1) == ["bbb"]
    assert call("split", "", "_") == [""]
    assert call("split", "a__b", "_") == ["a", "", "b"]
    assert call("split", "aabbcc", "bb") == ["aa", "cc"]
    assert call("split", "a_b", "_", 5) == []
    assert call("split", "a_b", "_", -1) == []
    assert call("split", "a_b", "_", None) == []


def test_extract_groups_types_and_no_match() -> None:
    text = "The price of PINEAPPLE ice cream is 20"
    assert call("extract", r"(\d+)", 1, text) == "20"
    assert call("extract", r"(\d+)", 1, text, "long") == 20
    assert call("extract", r"(\d+)", 1, text, "real") == 20.0
    assert call("extract", "PINE(APPLE)", 0, text) == "PINEAPPLE"
    assert call("extract", "x(y)", 1, text) == ""
    assert call("extract", "x(y)", 1, text, "long") is None
    assert call("extract", r"(?<num>\d+)", 1, "a17") == "17"  # RE2 named groups
    assert call("extract", "([a-z]+)", 2, "abc") == ""  # group beyond the regex


def test_extract_all() -> None:
    assert call("extract_all", r"(\d+)", "a1b22c333") == ["1", "22", "333"]
    assert call("extract_all", r"(\w)(\d)", "a1 b2") == [["a", "1"], ["b", "2"]]
    assert call("extract_all", r"(\w)(\d)", [2], "a1 b2") == ["1", "2"]
    assert call("extract_all", r"(\d+)", "none") is None


def test_replace_and_trim() -> None:
    assert call("replace_string", "A magic trick can turn a cat into a dog", "cat", "hamster") == (
        "A magic trick can turn a hamster into a dog"
    )
    assert call("replace_regex", "Number is 7", r"is (\d)", r"was: \1") == "Number was: 7"
    assert call("replace_regex", "abc", "b", r"[\0]") == "a[b]c"
    assert call("trim", "--", "--https://bing.com--") == "https://bing.com"
    assert call("trim", r"[^\w]+", "- Te st1// $") == "Te st1"
    assert call("trim", r"\s+", "  Hello, world!  ") == "Hello, world!"
    assert call("trim_start", "https://", "https://bing.com") == "bing.com"
    assert call("trim_start", r"[^\w]+", "- Te st1// $") == "Te st1// $"
    assert call("trim_end", r"[^\w]+", "- Te st1// $") == "- Te st1"
    assert call("trim", "--", "a---") == "a-"
    # a long run before a non-matching end: no exponential backtracking on the trailing anchor
    assert call("trim", r"[^\w]+", "!" * 60 + "x") == "x"


def test_indexof_documented_examples() -> None:
    assert call("indexof", "abcdefg", "cde") == 2
    assert call("indexof", "abcdefg", "cde", 1, 4) == 2
    assert call("indexof", "abcdefg", "cde", 1, 2) == -1  # the window ends before the match does
    assert call("indexof", "abcdefg", "cde", 3, 4) == -1
    assert call("indexof", "abcdefg", "cde", 1, 5, 2) == -1
    assert call("indexof", "abcdefg", "cde", -5) == 2
    assert call("indexof", 1234567, 5, 1, 4, types=["long", "long", "long", "long"]) == 4
    assert call("indexof", "abcdefg", "cde", 2, -1) == 2
    assert call("indexof", "abcdefgabcdefg", "cde", 1, -1, 3) == -1
    assert call("indexof", "abcdefg", "cde", 1, -2) is None
    assert call("indexof", "abcdefgabcdefg", "cde", 1, -1, 0) is None


def test_countof_documented_examples() -> None:
    assert call("countof", "aaa", "a") == 3
    assert call("countof", "aaaa", "aa") == 3
    assert call("countof", "ababa", "ab", "normal") == 2
    assert call("countof", "ababa", "aba") == 2
    assert call("countof", "ababa", "aba", "regex") == 1
    assert call("countof", "abcabc", "a.c", "regex") == 2


def test_reverse_url_base64_hashes() -> None:
    assert call("reverse", "ABCDEF") == "FEDCBA"
    assert call("reverse", 123, types=["long"]) == "321"
    assert call("url_encode_component", "https://www.bing.com/hello world") == (
        "https%3a%2f%2fwww.bing.com%2fhello%20world"
    )
    assert (
        call("url_encode", "https://www.bing.com/hello world") == "https%3a%2f%2fwww.bing.com%2fhello+world"
    )
    assert call("url_decode", "https%3a%2f%2fwww.bing.com%2f") == "https://www.bing.com/"
    assert call("url_decode", "a+b%20c") == "a b c"
    assert call("url_decode", "%ff") == ""  # not UTF-8: null
    assert call("base64_encode_tostring", "Kusto") == "S3VzdG8="
    assert call("base64_decode_tostring", "S3VzdG8=") == "Kusto"
    assert call("base64_decode_tostring", "S3VzdG8uIS==#") == ""
    assert call("hash_sha256", "World") == "78ae647dc5544d227130a0682a51e30bc7777fbb6d8a8f17007463a3ecd1d524"
    assert call("hash_md5", "World") == "f5a7924e621e84c9280a9a27e1bcb7f6"


# ---------------------------------------------------------------------------
# Logic and nulls


def test_iff_case_coalesce() -> None:
    assert call("iff", True, "a", "b") == "a"
    assert call("iff", False, "a", "b") == "b"
    assert call("iff", None, "a", "b") == "b"  # a null condition takes else
    assert call("iif", True, 1, 2) == 1
    assert call("iff", True, 1, 2.5, types=["bool", "long", "real"]) == 1.0
    assert isinstance(call("iff", True, 1, 2.5, types=["bool", "long", "real"]), float)
    assert call("case", False, "a", True, "b", "c") == "b"
    assert call("case", None, "a", False, "b", "c") == "c"
    assert call("coalesce", None, None, 5) == 5
    assert call("coalesce", "", "x") == "x"  # empty strings are skipped
    assert call("coalesce", "", "") == ""
    assert call("coalesce", None, None) is None


def test_empty_and_null() -> None:
    assert call("isempty", "") is True
    assert call("isempty", None) is True
    assert call("isempty", "x") is False
    assert call("isempty", 0) is False
    assert call("isempty", []) is False
    assert call("isnotempty", "x") is True
    assert call("isnull", None) is True
    assert call("isnull", "") is False  # a string is never null
    assert call("isnotnull", 0) is True


def test_max_of_min_of() -> None:
    assert call("max_of", 10, 1) == 10
    assert call("min_of", 10, 1) == 1
    assert call("max_of", None, 3, None) == 3
    assert call("max_of", None, None) is None
    assert call("max_of", 1, 2.5, types=["long", "real"]) == 2.5
    assert call("min_of", dt("2026-01-01"), dt("2025-01-01")) == dt("2025-01-01")


# ---------------------------------------------------------------------------
# Datetimes and timespans


def test_now_and_ago() -> None:
    assert call("now") == NOW
    assert call("now", -tk.HOUR) == NOW - tk.HOUR
    assert call("ago", tk.DAY) == NOW - tk.DAY
    assert call("ago", None) is None


def test_start_and_end_of_periods() -> None:
    d = dt("2017-01-01T10:10:17Z")
    assert call("startofday", d) == dt("2017-01-01")
    assert call("startofday", d, -1) == dt("2016-12-31")
    assert call("endofday", d) == dt("2017-01-01T23:59:59.9999999Z")
    assert call("startofweek", dt("2017-01-04")) == dt("2017-01-01")  # weeks start on Sunday
    assert call("startofweek", d, 1) == dt("2017-01-08")
    assert call("startofmonth", dt("2017-01-18")) == dt("2017-01-01")
    assert call("startofmonth", dt("2017-01-31"), 1) == dt("2017-02-01")
    assert call("endofmonth", dt("2017-02-10")) == dt("2017-02-28T23:59:59.9999999Z")
    assert call("startofyear", d, 1) == dt("2018-01-01")
    assert call("endofweek", d) == dt("2017-01-07T23:59:59.9999999Z")


def test_dayofweek_and_parts() -> None:
    assert call("dayofweek", dt("1947-11-30")) == 0  # Sunday
    assert call("dayofweek", dt("1970-05-11")) == 1 * tk.DAY  # Monday
    assert call("dayofweek", dt("2026-11-20")) == 5 * tk.DAY  # Friday
    assert call("dayofmonth", dt("2015-12-14")) == 14
    assert call("dayofyear", dt("2015-12-14")) == 348
    assert call("monthofyear", dt("2015-12-14")) == 12
    assert call("getyear", dt("2015-12-14")) == 2015
    assert call("hourofday", dt("2015-12-14T18:54:00Z")) == 18
    assert call("week_of_year", dt("2015-12-14")) == 51
    assert call("datetime_part", "Quarter", dt("2017-10-30T01:02:03.7654321Z")) == 4
    assert call("datetime_part", "nanosecond", dt("2017-10-30T01:02:03.7654321Z")) == 765432100


def test_datetime_add() -> None:
    base = dt("2017-10-30T01:02:03.7654321Z")
    assert call("datetime_add", "year", 1, base) == dt("2018-10-30T01:02:03.7654321Z")
    assert call("datetime_add", "quarter", 1, base) == dt("2018-01-30T01:02:03.7654321Z")
    assert call("datetime_add", "month", 1, base) == dt("2017-11-30T01:02:03.7654321Z")
    assert call("datetime_add", "week", 1, base) == dt("2017-11-06T01:02:03.7654321Z")
    assert call("datetime_add", "day", 1, base) == dt("2017-10-31T01:02:03.7654321Z")
    assert call("datetime_add", "hour", 1, base) == dt("2017-10-30T02:02:03.7654321Z")
    assert call("datetime_add", "millisecond", 1, base) == dt("2017-10-30T01:02:03.7664321Z")
    assert call("datetime_add", "month", 1, dt("2017-01-31")) == dt("2017-02-28")  # day clamped
    assert call("datetime_add", "Month", -1, dt("2017-03-31")) == dt("2017-02-28")
    assert call("datetime_add", "fortnight", 1, base) is None


def test_datetime_diff_documented_examples() -> None:
    assert call("datetime_diff", "year", dt("2017-01-01"), dt("2000-12-31")) == 17
    assert call("datetime_diff", "quarter", dt("2017-07-01"), dt("2017-03-30")) == 2
    assert call("datetime_diff", "month", dt("2017-01-01"), dt("2015-12-30")) == 13
    assert call("datetime_diff", "week", dt("2017-10-29 00:00"), dt("2017-09-30 23:59")) == 5
    assert call("datetime_diff", "day", dt("2017-10-29 00:00"), dt("2017-09-30 23:59")) == 29
    assert call("datetime_diff", "hour", dt("2017-10-31 01:00"), dt("2017-10-30 23:59")) == 2
    assert call("datetime_diff", "minute", dt("2017-10-30 23:05:01"), dt("2017-10-30 23:00:59")) == 5
    assert call("datetime_diff", "second", dt("2017-10-30 23:00:10.100"), dt("2017-10-30 23:00:00.900")) == 10
    assert (
        call(
            "datetime_diff", "millisecond", dt("2017-10-30 23:00:00.200100"), dt("2017-10-30 23:00:00.100900")
        )
        == 100
    )
    assert (
        call(
            "datetime_diff",
            "nanosecond",
            dt("2017-10-30 23:00:00.0000000"),
            dt("2017-10-30 23:00:00.0000007"),
        )
        == -700
    )


def test_format_datetime_and_timespan_documented_examples() -> None:
    d = dt("2015-12-14 02:03:04.12345")
    assert call("format_datetime", d, "y-M-d h:m:s.fffffff") == "15-12-14 2:3:4.1234500"
    assert call("format_datetime", d, "yy-MM-dd [HH:mm:ss]") == "15-12-14 [02:03:04]"
    assert call("format_datetime", d, "yyyy-M-dd [H:mm:ss]") == "2015-12-14 [2:03:04]"
    assert call("format_datetime", d, "yy-MM-dd [hh:mm:ss tt]") == "15-12-14 [02:03:04 AM]"
    assert call("format_datetime", dt("2015-12-14 14:03:04"), "HH:mm:ss.FFF") == "14:03:04"
    span = 29 * tk.DAY + 9 * tk.HOUR + 5 * tk.SECOND + 1_234_500
    assert call("format_timespan", span, "dd.hh:mm:ss [FF]") == "29.09:00:05 [12]"
    assert call("format_timespan", span, "ddd.h:mm:ss [fffffff]") == "029.9:00:05 [1234500]"


def test_bin_numbers_datetimes_timespans() -> None:
    assert call("bin", 4.5, 1) == 4.0
    assert call("bin", -4.5, 1) == -5.0
    assert call("bin", 17, 5) == 15
    assert call("bin", 16 * tk.DAY, 7 * tk.DAY, types=["timespan", "timespan"]) == 14 * tk.DAY
    got = call("bin", dt("1970-05-11 13:45:07"), tk.DAY, types=["datetime", "timespan"])
    assert got == dt("1970-05-11")
    assert call("bin", dt("2026-11-20T10:11:12Z"), tk.HOUR, types=["datetime", "timespan"]) == dt(
        "2026-11-20T10:00Z"
    )
    assert call("bin", 5, 0) is None
    assert call("bin", None, 1) is None
    assert call("floor", 4.5, 1) == 4.0
    fixed = call(
        "bin_at",
        dt("2017-05-15 10:20:00"),
        tk.DAY,
        dt("1970-01-01 12:00"),
        types=["datetime", "timespan", "datetime"],
    )
    assert fixed == dt("2017-05-14 12:00")
    assert call("bin_at", 6.5, 2.5, 7) == 4.5
    assert (
        call("bin_at", tk.HOUR, tk.DAY, 12 * tk.HOUR, types=["timespan", "timespan", "timespan"])
        == -12 * tk.HOUR
    )
    weekly = call(
        "bin_at",
        dt("2017-05-17 10:20"),
        7 * tk.DAY,
        dt("2017-06-04"),
        types=["datetime", "timespan", "datetime"],
    )
    assert weekly == dt("2017-05-14")  # bins on Sundays
    assert call("bin_at", 100 * tk.SECOND + 30 * tk.SECOND, tk.MINUTE, 30 * tk.SECOND) == 90 * tk.SECOND


def test_round_abs_logs() -> None:
    assert call("round", 2.98765, 3) == 2.988
    assert call("round", 2.15, 1) == 2.2
    assert call("round", 2.15) == 2
    assert call("round", -50.55, -2) == -100
    assert call("round", 21.5, -1) == 20
    assert call("round", 2.5) == 3.0  # half away from zero
    assert call("abs", -5) == 5
    assert call("log10", 100.0) == 2.0
    assert call("log10", 0.0) == -math.inf
    assert math.isnan(call("log10", -1.0))  # type: ignore[arg-type]
    assert call("exp", 0) == 1.0
    assert call("pow", 2, 10) == 1024.0


# ---------------------------------------------------------------------------
# Conversions and rendering


def test_tostring_of_every_type() -> None:
    assert call("tostring", "x") == "x"
    assert call("tostring", None) == ""
    assert call("tostring", 123) == "123"
    assert call("tostring", True) == "true"
    assert call("tostring", 1.0) == "1"
    assert call("tostring", 0.1) == "0.1"
    assert call("tostring", 1.5e20) == "1.5E+20"
    assert call("tostring", 1e-7) == "1E-07"
    assert call("tostring", 123456.789) == "123456.789"
    assert call("tostring", math.nan) == "NaN"
    assert call("tostring", -math.inf) == "-Infinity"
    assert call("tostring", {"a": [1, "b"], "c": None}) == '{"a":[1,"b"],"c":null}'
    assert (
        call("tostring", dt("2026-11-20T10:11:12.1234567Z"), types=["datetime"])
        == "2026-11-20T10:11:12.1234567Z"
    )
    assert call(
        "tostring", tk.DAY + 2 * tk.HOUR + 3 * tk.MINUTE + 4 * tk.SECOND + 5_000_000, types=["timespan"]
    ) == ("1.02:03:04.5000000")
    assert call("tostring", -tk.MINUTE, types=["timespan"]) == "-00:01:00"
    assert call("tostring", None, types=["datetime"]) == ""


def test_numeric_and_bool_conversions() -> None:
    assert call("toint", "123") == 123
    assert call("toint", 2.9) == 2
    assert call("toint", "abc") is None
    assert call("toint", "9999999999") is None  # beyond 32 bits
    assert call("tolong", "9999999999") == 9999999999
    assert call("tolong", " 12 ") == 12
    assert call("tolong", "1_000") is None
    assert call("tolong", True) == 1
    assert call("tolong", dt("2020-01-01"), types=["datetime"]) == 637134336000000000  # .NET ticks
    assert call("tolong", 90 * tk.SECOND, types=["timespan"]) == 900000000
    assert call("toint", dt("2020-01-01"), types=["datetime"]) is None  # beyond 32 bits
    assert call("toreal", "1.5") == 1.5
    assert call("todouble", "1e3") == 1000.0
    assert call("toreal", "x") is None
    assert math.isnan(call("toreal", "NaN"))  # type: ignore[arg-type]
    assert call("tobool", "TRUE") is True
    assert call("tobool", "false") is False
    assert call("tobool", 0) is False
    assert call("tobool", 5) is True
    assert call("tobool", "yes") is None


def test_datetime_timespan_guid_dynamic_conversions() -> None:
    assert call("todatetime", "2015-12-24") == dt("2015-12-24T00:00:00Z")
    assert call("todatetime", "2026-11-20T12:11:12+02:00") == dt("2026-11-20T10:11:12Z")
    assert call("todatetime", "Sat, 8 Nov 2014 15:05:02 GMT") == dt("2014-11-08T15:05:02Z")
    assert call("todatetime", "Saturday, 08-Nov-14 15:05:02 GMT") == dt("2014-11-08T15:05:02Z")  # RFC 850
    assert call("todatetime", "8 Nov 14 15:05 EST") == dt("2014-11-08T20:05:00Z")
    assert call("todatetime", "not a date") is None
    assert call("todatetime", "2026-02-30") is None
    assert call("totimespan", "0.00:01:00") == tk.MINUTE
    assert (
        call("totimespan", "1.02:03:04.5") == tk.DAY + 2 * tk.HOUR + 3 * tk.MINUTE + 4 * tk.SECOND + 5_000_000
    )
    assert call("totimespan", "30d") == 30 * tk.DAY
    assert call("totimespan", "nope") is None
    assert call("toguid", "{0697D3E0-AE7A-4E7F-B0B9-2C5E8E0F7E4A}") == "0697d3e0-ae7a-4e7f-b0b9-2c5e8e0f7e4a"
    assert call("toguid", "xyz") == ""
    assert call("parse_json", '{"a":[1,2]}') == {"a": [1, 2]}
    assert call("todynamic", "not json") == "not json"  # kept as a dynamic string
    assert call("parse_json", '"x"', types=["dynamic"]) == '"x"'  # a dynamic value is used as-is


def test_convert_to_and_format_value() -> None:
    assert convert_to(dt("2026-01-01"), "datetime", "string") == "2026-01-01T00:00:00.0000000Z"
    assert convert_to("12", "string", "long") == 12
    assert convert_to(tk.HOUR, "timespan", "dynamic") == "01:00:00"
    assert format_value(dt("2026-01-01"), "datetime") == "2026-01-01T00:00:00.0000000Z"
    assert format_value("2026-01-01 10:00", "datetime") == "2026-01-01T10:00:00.0000000Z"
    assert format_value(None, "datetime") is None
    assert format_value(90 * tk.MINUTE, "timespan") == "01:30:00"
    assert format_value(None, "string") == ""
    assert format_value({"a": 1}, "dynamic") == {"a": 1}
    with pytest.raises(ValueError, match="unknown KQL type"):
        convert_to(1, "long", "decimal128")


# ---------------------------------------------------------------------------
# Dynamic: URLs, paths, arrays, bags


def test_parse_url_documented_example() -> None:
    got = call("parse_url", "scheme://username:password@host:1234/this/is/a/path?k1=v1&k2=v2#fragment")
    assert got == {
        "Scheme": "scheme",
        "Host": "host",
        "Port": "1234",
        "Path": "/this/is/a/path",
        "Username": "username",
        "Password": "password",
        "Query Parameters": {"k1": "v1", "k2": "v2"},
        "Fragment": "fragment",
    }


def test_parse_url_without_scheme_has_an_empty_host() -> None:
    for text in ("bing.com", "www.contoso.com/path", "", "10.1.2.3"):
        got = call("parse_url", text)
        assert isinstance(got, dict)
        assert got["Host"] == "" and got["Scheme"] == "" and got["Query Parameters"] == {}
    plain = call("parse_url", "https://Evil.Example.com")
    assert isinstance(plain, dict)
    assert plain["Host"] == "Evil.Example.com" and plain["Port"] == "" and plain["Path"] == ""
    assert call("parse_urlquery", "k1=v1&k2=v%202") == {"Query Parameters": {"k1": "v1", "k2": "v 2"}}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (r"C:\temp\file.txt", ("", "C:", r"C:\temp", "temp", "file.txt", "txt", "")),
        (r"temp\file.txt", ("", "", "temp", "temp", "file.txt", "txt", "")),
        (
            "file://C:/temp/file.txt:some.exe",
            ("file", "C:", "C:/temp", "temp", "file.txt", "txt", "some.exe"),
        ),
        (
            r"\\shared\users\temp\file.txt.gz",
            ("", "", r"\\shared\users\temp", "temp", "file.txt.gz", "gz", ""),
        ),
        ("/usr/lib/temp/file.txt", ("", "", "/usr/lib/temp", "temp", "file.txt", "txt", "")),
    ],
)
def test_parse_path_documented_examples(path: str, expected: tuple[str, ...]) -> None:
    keys = (
        "Scheme",
        "RootPath",
        "DirectoryPath",
        "DirectoryName",
        "Filename",
        "Extension",
        "AlternateDataStreamName",
    )
    assert call("parse_path", path) == dict(zip(keys, expected, strict=True))


def test_arrays_sets_and_bags() -> None:
    assert call("pack_array", 1, "a", None) == [1, "a", None]
    when = dt("2026-01-01")
    assert call("pack_array", when, "x", types=["datetime", "string"]) == [
        "2026-01-01T00:00:00.0000000Z",
        "x",
    ]
    assert call("bag_pack", "a", 1, "b", "x") == {"a": 1, "b": "x"}
    assert call("pack", "a", 1) == {"a": 1}
    assert call("array_length", [1, 2, 3]) == 3
    assert call("array_length", "abc") is None
    assert call("array_concat", [1, 2], [3]) == [1, 2, 3]
    assert call("array_concat", [1], None) is None
    assert call("array_slice", [1, 2, 3, 4, 5], 1, 3) == [2, 3, 4]
    assert call("array_slice", [1, 2, 3, 4, 5], -2, -1) == [4, 5]
    assert call("array_slice", [1, 2, 3], 5, 9) == []
    assert call("set_has_element", ["this", "is", "an", "example"], "example") is True
    assert call("set_has_element", [1, 2, 3], 4) is False
    assert call("set_union", [1, 2, 3], [1, 2], [4, 5, 6]) == [1, 2, 3, 4, 5, 6]
    assert call("set_intersect", [1, 2, 3], [2, 3, 4]) == [2, 3]
    assert call("set_difference", [1, 2, 3], [1, 2]) == [3]
    assert call("bag_keys", {"a": 1, "b": {"c": 2}}) == ["a", "b"]
    assert call("bag_keys", [1]) is None
    assert call("bag_has_key", {"a": 1}, "a") is True
    assert call("strcat_array", [1, "b", 2.5], "-") == "1-b-2.5"
    assert call("array_index_of", ["a", "b"], "b") == 1


# ---------------------------------------------------------------------------
# IP addresses


def test_ipv4_functions_documented_examples() -> None:
    assert call("parse_ipv4", "127.0.0.1") == 2130706433
    assert call("parse_ipv4", "192.1.168.1") == 3221334017
    assert call("parse_ipv4", "192.1.168.1/24") == 3221334016
    assert call("parse_ipv4", "256.1.1.1") is None
    assert call("parse_ipv4_mask", "192.1.168.2", 24) == 3221334016
    assert call("ipv4_is_in_range", "192.168.1.1", "192.168.1.0/24") is True
    assert call("ipv4_is_in_range", "192.168.2.1", "192.168.1.0/24") is False
    assert call("ipv4_is_in_range", "192.168.1.1", "192.168.1.1") is True
    assert call("ipv4_is_in_range", "x", "192.168.1.0/24") is None
    assert call("ipv4_is_private", "192.168.1.1/24") is True
    assert call("ipv4_is_private", "10.1.2.3/24") is True
    assert call("ipv4_is_private", "202.1.2.3") is False
    assert call("ipv4_is_private", "172.32.0.1") is False
    assert call("ipv4_is_private", "127.0.0.1") is False
    assert call("ipv4_compare", "127.0.0.1", "127.0.0.1") == 0
    assert call("ipv4_compare", "192.168.1.1", "192.168.1.255") == -1
    assert call("ipv4_compare", "192.168.1.1/24", "192.168.1.255/24") == 0
    assert call("ipv4_compare", "192.168.1.1", "192.168.1.255", 24) == 0
    assert call("ipv4_is_match", "192.168.1.1/24", "192.168.1.255") is True
    assert call("ipv4_is_match", "192.168.1.1", "192.168.1.255") is False
    assert call("format_ipv4", "192.168.1.255", 24) == "192.168.1.0"
    assert call("format_ipv4", 3232236031) == "192.168.1.255"
    assert call("format_ipv4_mask", "192.168.1.255", 24) == "192.168.1.0/24"


def test_ipv6_and_ips_in_text() -> None:
    assert call("ipv6_compare", "::ffff:7f00:1", "127.0.0.1") == 0
    assert call("ipv6_compare", "fe80::85d:e82c:9446:7994", "fe80::85d:e82c:9446:7995") == -1
    assert call("ipv6_is_match", "fe80::85d:e82c:9446:7994/120", "fe80::85d:e82c:9446:7995/120") is True
    assert call("has_ipv4", "log 127.0.0.1 done", "127.0.0.1") is True
    assert call("has_ipv4", "log 127.0.0.256", "127.0.0.25") is False
    assert call("has_ipv4", "version 1.127.0.0.1", "127.0.0.1") is False
    assert call("has_any_ipv4", "Source 10.0.0.1 sent", ["10.0.0.2", "10.0.0.1"]) is True
    assert call("has_any_ipv4", "Source 10.0.0.1 sent", "10.0.0.3", "10.0.0.4") is False
    assert call("has_ipv4_prefix", "from 192.168.1.7", "192.168.") is True


# ---------------------------------------------------------------------------
# More functions


def test_hash_is_xxhash64_of_the_text() -> None:
    assert call("hash", "World") == 1846988464401551951
    assert call("hash", "World", 100) == 51
    assert call("hash", "World", 0) is None


def test_bits_hex_and_sizes() -> None:
    assert call("tohex", 256) == "100"
    assert call("tohex", -256) == "ffffffffffffff00"
    assert call("tohex", 256, 8) == "00000100"
    assert call("binary_and", 6, 3) == 2
    assert call("binary_or", 6, 3) == 7
    assert call("binary_xor", 6, 3) == 5
    assert call("binary_not", 0) == -1
    assert call("binary_shift_left", 1, 63) == -(2**63)
    assert call("binary_shift_right", -1, 60) == 15
    assert call("format_bytes", 564) == "564 Bytes"
    assert call("format_bytes", 10832) == "10.58 KB"
    assert call("format_bytes", 20833333) == "19.87 MB"
    assert call("format_bytes", 20833333, 0) == "20 MB"
    assert call("format_bytes", 11000, 3, "KB") == "10.742 KB"


def test_more_string_functions() -> None:
    assert call("strcmp", "abc", "abd") == -1
    assert call("strcmp", "b", "a") == 1
    assert call("translate", "krasp", "otsku", "spark") == "kusto"
    assert call("translate", "abc", "x", "abc") == "xxx"
    assert call("translate", "abc", "", "ab") == ""
    assert call("isascii", "abc") is True
    assert call("isascii", "abç") is False
    assert call("string_size", "⒦") == 3
    assert call("indexof_regex", "abcabc", "a.c") == 0
    assert call("indexof_regex", "abcabc", "a.c", 1) == 3
    assert call("indexof_regex", "abcabc", "a.c", 0, -1, 3) == -1
    line = r'"C:\Program Files\app.exe" -f "a b" x\"y c:\dir\\'
    assert call("parse_command_line", line, "windows") == [
        r"C:\Program Files\app.exe",
        "-f",
        "a b",
        'x"y',
        "c:\\dir\\\\",
    ]
    assert call("parse_csv", 'aa,"b,b,b",cc,"Escaping quotes: ""Title""","line1"') == [
        "aa",
        "b,b,b",
        "cc",
        'Escaping quotes: "Title"',
        "line1",
    ]
    first, second = call("new_guid"), call("new_guid")
    assert isinstance(first, str) and len(first) == 36 and first != second


def test_json_paths_sorting_sums_and_zips() -> None:
    doc = '{"hosts":[{"name":"a","port":80}],"x":{"y":1}}'
    assert call("extract_json", "$.hosts[0].name", doc) == "a"
    assert call("extract_json", "$.hosts[0].port", doc, "long") == 80
    assert call("extract_json", "$.x", doc) == '{"y":1}'
    assert call("extract_json", "$['x']['y']", doc) == "1"
    assert call("extract_json", "$.missing", doc) == ""
    assert call("extract_json", "$.missing", doc, "long") is None
    assert call("array_sort_asc", [3, None, 1, "b", "a"]) == [1, 3, "a", "b", None]
    assert call("array_sort_desc", [3, 1, 2], False) == [3, 2, 1]
    assert call("array_sort_asc", [None, 2, 1], False) == [None, 1, 2]
    assert call("array_sum", [2, 5, 3]) == 10.0
    assert call("array_sum", [2, "x"]) is None
    assert call("zip", [1, 2], ["a"]) == [[1, "a"], [2, None]]
    assert call("bag_remove_keys", {"a": 1, "b": 2}, ["a"]) == {"b": 2}


def test_gettype_by_static_and_dynamic_type() -> None:
    assert call("gettype", "a", types=["string"]) == "string"
    assert call("gettype", 111, types=["long"]) == "long"
    assert call("gettype", NOW, types=["datetime"]) == "datetime"
    assert call("gettype", tk.SECOND, types=["timespan"]) == "timespan"
    assert call("gettype", 1, types=["dynamic"]) == "int"
    assert call("gettype", "abc", types=["dynamic"]) == "string"
    assert call("gettype", {"abc": 1}, types=["dynamic"]) == "dictionary"
    assert call("gettype", [1, 2, 3], types=["dynamic"]) == "array"
    assert call("gettype", None, types=["dynamic"]) == "null"
    assert call("gettype", 123.45, types=["real"]) == "real"


def test_ipv6_ranges_and_canonical_form() -> None:
    assert call("ipv6_is_in_range", "fe80::85d:e82c:9446:7994", "fe80::/10") is True
    assert call("ipv6_is_in_range", "2001:db8::1", "fe80::/10") is False
    assert call("parse_ipv6", "fe80::85d:e82c:9446:7994/120") == "fe80:0000:0000:0000:085d:e82c:9446:7900"
    assert call("parse_ipv6", "127.0.0.1") == "0000:0000:0000:0000:0000:ffff:7f00:0001"
    assert call("parse_ipv6", "nope") == ""


def test_coalesce_of_dynamic_skips_only_null() -> None:
    assert call("coalesce", None, "", "x", types=["dynamic", "dynamic", "dynamic"]) == ""
    assert call("coalesce", None, 3, types=["long", "long"]) == 3
    assert call("coalesce", "", "g", types=["guid", "string"]) == "g"


def test_compressed_and_binary_payloads() -> None:
    assert call("zlib_decompress_from_base64_string", "eJwzNDI2AQAB+ADL") == "1234"
    packed = call("gzip_compress_to_base64_string", "powershell -enc ...")
    assert call("gzip_decompress_from_base64_string", packed) == "powershell -enc ..."
    assert (
        call("zlib_decompress_from_base64_string", call("zlib_compress_to_base64_string", "x" * 1000))
        == "x" * 1000
    )
    assert call("zlib_decompress_from_base64_string", "eJwzNDIGAAGvAM0=") == ""  # bad checksum: null
    assert call("zlib_decompress_from_base64_string", "eJwzNDI2") == ""  # truncated stream: null
    assert call("gzip_decompress_from_base64_string", "not base64!") == ""
    assert call("base64_decode_toarray", "S3VzdG8=") == [75, 117, 115, 116, 111]
    assert call("base64_encode_fromarray", [75, 117, 115, 116, 111]) == "S3VzdG8="
    assert call("unicode_codepoints_from_string", "Kus") == [75, 117, 115]
    assert call("unicode_codepoints_to_string", 75, 117, 115, 116, 111) == "Kusto"
    assert call("make_string", [75, 117], 115) == "Kus"
    assert call("make_string", -1) == ""


def test_time_zones_and_json_canonical_form() -> None:
    utc = dt("2021-05-11T10:00:00Z")
    assert call("datetime_utc_to_local", utc, "US/Pacific") == dt("2021-05-11T03:00:00Z")
    assert call("datetime_local_to_utc", utc, "Europe/Berlin") == dt("2021-05-11T08:00:00Z")
    assert call("datetime_utc_to_local", dt("2021-01-11T10:00:00Z"), "Europe/Berlin") == dt(
        "2021-01-11T11:00:00Z"
    )
    assert call("datetime_utc_to_local", utc, "Mars/Olympus") is None
    assert call("dynamic_to_json", {"b": 1, "a": [1, 2]}) == '{"a":[1,2],"b":1}'
    assert call("array_iff", [True, False, None], [1, 2, 3], [4, 5, 6]) == [1, 5, 6]
    assert call("array_iff", [True, False], 1, 0) == [1, 0]


def test_remaining_numeric_functions() -> None:
    assert call("ceiling", 1.1) == 2.0
    assert call("exp2", 3) == 8.0
    assert call("exp10", 2) == 100.0
    assert call("log", math.e) == 1.0
    assert call("log2", 8.0) == 3.0
    assert call("sqrt", 16) == 4.0
    assert math.isnan(call("sqrt", -1.0))  # type: ignore[arg-type]
    assert call("sign", -7) == -1
    assert call("sign", 0.0) == 0.0
    assert call("pi") == math.pi
    assert call("isnan", math.nan) is True
    assert call("isinf", -math.inf) is True
    assert call("isfinite", 1.0) is True
    value = call("rand")
    assert isinstance(value, float) and 0 <= value < 1
    dice = call("rand", 6)
    assert isinstance(dice, int) and 0 <= dice < 6


def test_remaining_datetime_functions() -> None:
    assert call("endofyear", dt("2017-01-01T10:10:17Z")) == dt("2017-12-31T23:59:59.9999999Z")
    assert call("getmonth", dt("2015-10-12")) == 10
    assert call("weekofyear", dt("2015-12-14")) == 51
    assert call("make_datetime", 2017, 10, 1) == dt("2017-10-01")
    assert call("make_datetime", 2017, 10, 1, 12, 10, 15.5) == dt("2017-10-01T12:10:15.5Z")
    assert call("make_datetime", 2017, 2, 30) is None
    assert (
        call("make_timespan", 1, 12, 30, 55.2)
        == tk.DAY + 12 * tk.HOUR + 30 * tk.MINUTE + 55 * tk.SECOND + 2_000_000
    )
    assert call("make_timespan", 12, 30) == 12 * tk.HOUR + 30 * tk.MINUTE
    assert call("unixtime_seconds_todatetime", 1546300800) == dt("2019-01-01")
    assert call("unixtime_milliseconds_todatetime", 1546300800000) == dt("2019-01-01")
    assert call("unixtime_microseconds_todatetime", 1546300800000000) == dt("2019-01-01")
    assert call("unixtime_nanoseconds_todatetime", 1546300800000000000) == dt("2019-01-01")
    assert call("unixtime_seconds_todatetime", 1546300800.5) == dt("2019-01-01T00:00:00.5Z")


def test_remaining_string_array_and_ip_functions() -> None:
    assert call("strrep", "ABC", 2) == "ABCABC"
    assert call("strrep", "123", 3, ",") == "123,123,123"
    assert call("strrep", "x", 0) == ""
    assert call("hash_sha1", "World") == "70c07ec18ef89c5309bbb0937f3a6342411e1fdd"
    assert call("array_reverse", [1, "a", None]) == [None, "a", 1]
    assert call("bag_merge", {"a": 1, "b": 2}, {"b": 3, "c": 4}) == {"a": 1, "b": 2, "c": 4}
    assert call("ipv4_is_in_any_range", "10.1.2.3", "192.168.0.0/16", "10.0.0.0/8") is True
    assert call("ipv4_is_in_any_range", "10.1.2.3", ["192.168.0.0/16", "172.16.0.0/12"]) is False
    assert call("ipv4_netmask_suffix", "192.168.1.1/24") == 24
    assert call("ipv4_netmask_suffix", "192.168.1.1") == 32


@pytest.mark.parametrize(
    ("alias", "name", "args"),
    [
        ("array_iif", "array_iff", ([True], [1], [2])),
        ("base64_decodestring", "base64_decode_tostring", ("S3VzdG8=",)),
        ("base64_encodestring", "base64_encode_tostring", ("Kusto",)),
        ("extractjson", "extract_json", ("$.a", '{"a":1}')),
        ("notempty", "isnotempty", ("",)),
        ("notnull", "isnotnull", (None,)),
        ("pack_dictionary", "bag_pack", ("k", 1)),
        ("parseurl", "parse_url", ("https://h/p",)),
        ("toboolean", "tobool", ("true",)),
        ("todecimal", "toreal", ("1.5",)),
        ("toobject", "todynamic", ('{"a":1}',)),
        ("totime", "totimespan", ("00:01:00",)),
    ],
)
def test_aliases_answer_as_their_function(alias: str, name: str, args: tuple[object, ...]) -> None:
    assert call(alias, *args) == call(name, *args)
    assert (
        FUNCTIONS[alias].summary.endswith(f"(alias of {name})")
        or FUNCTIONS[alias].call is FUNCTIONS[name].call
    )
