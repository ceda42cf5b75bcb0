"""Values written into hunting queries never change a query's structure, and read back unchanged.

The structure is the sandbox KQL parser's `query_shape` (every literal's value replaced by a
placeholder); the read-back runs the query through the sandbox's engine over a one-row table.
"""

from __future__ import annotations

import datetime as dt
import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from enrich.mde.hunting import UnsafeValue
from enrich.mde.hunting.literals import canonical, canonical_values, dynamic_list, kql_string
from enrich.mde.hunting.queries import domains_query, files_query, ips_query, urls_query
from enrich.sandbox import kql

NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
TRICKS = [
    '"',
    "'",
    "\\",
    "\n",
    "\r",
    "\t",
    "|",
    "//",
    ";",
    '@"',
    "@'",
    "h'",
    "*/",
    "/*",
    "\\u0041",
    "\\n",
    '")',
    "])",
    "]);",
    "dynamic([",
    "let x = 1;",
    " or true",
    "é",
    "😀",
    "\u202e",
    "’",
    "\u00a0",
    "x",
]


def _writable(char: str) -> bool:
    return char in "\n\r\t" or (unicodedata.category(char) not in ("Cc", "Cs") and char not in "\u2028\u2029")


# Text KQL can carry: tricky fragments mixed with any printable or escaped character.
values = st.lists(
    st.one_of(st.sampled_from(TRICKS), st.text(st.characters().filter(_writable), max_size=8)),
    max_size=12,
).map("".join)


def _shape(text: str) -> str:
    return kql.query_shape(text)


def _count(query: str, url: str) -> int:
    row = {
        "Timestamp": "2026-11-30T00:00:00.0000000Z",
        "DeviceId": "d1",
        "DeviceName": "pc1",
        "RemoteUrl": url,
    }
    other = dict(row, RemoteUrl=url + "x")
    result = kql.run_query(query, {"DeviceNetworkEvents": [row, other]}, NOW)
    count = result.rows[0]["Count"]
    assert isinstance(count, int)
    return count


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values)
def test_a_literal_reads_back_as_the_value(value):
    literal = kql_string(value)
    assert _count(f"DeviceNetworkEvents | where RemoteUrl == {literal} | count", value) == 1
    listed = f"let v = {dynamic_list([value, 'y'])};\nDeviceNetworkEvents | where RemoteUrl in (v) | count"
    assert _count(listed, value) == 1


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values)
def test_a_literal_never_changes_the_structure(value):
    template = "let v = {list};\nDeviceNetworkEvents\n| where RemoteUrl == {one} or RemoteIP in (v)\n| count"
    baseline = _shape(template.format(list=dynamic_list(["a", "b"]), one=kql_string("c")))
    text = template.format(list=dynamic_list([value, value + "|"]), one=kql_string(value))
    assert _shape(text) == baseline


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values)
def test_the_hunting_queries_keep_their_structure_whatever_the_values(value):
    # A value like the baseline's first in what the builders read of it (ips: whether it has a dot,
    # an IPv4 address being also asked in its IPv4-mapped form), any text otherwise.
    first = "a.example" if "." in value else "a"
    for build in (ips_query, domains_query, urls_query):
        baseline = _shape(build([first, "b.example"], 720, 10))
        assert _shape(build([value, "b.example"], 720, 10)) == baseline, build.__name__
    sha1 = "a" * 40
    assert _shape(files_query([sha1], 720, 10)) == _shape(files_query(["b" * 40], 720, 10))


def test_escapes_are_kql_s():
    assert kql_string('a"b\\c\nd\re\tf') == '"a\\"b\\\\c\\nd\\re\\tf"'
    assert kql_string("it's | // ;") == '"it\'s | // ;"'
    assert kql_string("é😀") == '"é😀"'
    assert dynamic_list(["a", 'b"']) == 'dynamic(["a", "b\\""])'


@pytest.mark.parametrize("char", ["\x00", "\x1b", "\x7f", "\u2028", "\u2029", "\ud800"])
def test_characters_kql_cannot_escape_are_refused(char):
    with pytest.raises(UnsafeValue, match=f"U\\+{ord(char):04X}"):
        kql_string(f"a{char}b")


@pytest.mark.parametrize(
    ("family", "value"),
    [
        ("files", "3395856ce81f2b7382dee72602f798b642f14140"),
        ("files", "d41d8cd98f00b204e9800998ecf8427e"),
        ("files", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("ips", "10.1.2.3"),
        ("ips", "2001:db8::1"),
        ("domains", "evil.example.com"),
        ("domains", "xn--bcher-kva.example"),
        ("urls", "http://evil.example.com/a?b=1&c='x'"),
        ("urls", 'https://evil.example.com/p"q|r;s//t'),
    ],
)
def test_canonical_accepts_normalised_values(family, value):
    assert canonical(family, value) == value


@pytest.mark.parametrize(
    ("family", "value", "why"),
    [
        ("files", "3395856CE81F2B7382DEE72602F798B642F14140", "not normalised"),
        ("files", "10.1.2.3", "is not an MD5, SHA-1 or SHA-256 hash"),
        ("ips", "010.1.2.3", "not"),
        ("ips", '1.2.3.4") | take 1 //', "is not an IP address"),
        ("domains", "Evil.Example.com", "not normalised"),
        ("domains", 'evil.com"]);DeviceInfo', "is not a domain name"),
        ("domains", "evil.com\n| take 1", "is not a domain name"),
        ("urls", "evil.example.com/a", "not normalised; enrich writes it as .http://evil.example.com/a."),
        ("urls", "HTTP://Evil.example.com/a", "not normalised"),
        ("urls", "http://evil.example.com/a\nb", "is not a URL"),
        ("sha1", "3395856ce81f2b7382dee72602f798b642f14140", "hunting answers"),
    ],
)
def test_canonical_refuses_anything_else(family, value, why):
    with pytest.raises(UnsafeValue, match=why):
        canonical(family, value)


def test_canonical_values_dedupe_and_name_the_bad_ones():
    assert canonical_values("ips", ["10.0.0.1", "10.0.0.2", "10.0.0.1"]) == ("10.0.0.1", "10.0.0.2")
    with pytest.raises(UnsafeValue, match=r"cannot hunt these ips values: .*'x'.*'y'.*'z' .*\(and 1 more\)"):
        canonical_values("ips", ["10.0.0.1", "x", "y", "z", "w"])
