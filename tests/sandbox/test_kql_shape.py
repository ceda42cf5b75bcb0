"""`query_shape`: equal for queries that differ only in literal values, different when a value injects syntax."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from enrich.sandbox.kql import KqlError, query_shape

TEMPLATES = [
    "DeviceFileEvents | where SHA1 == {v} | take 10",
    "let v = dynamic([{v}, {v}]);\nunion withsource=T DeviceFileEvents, DeviceProcessEvents"
    " | where Timestamp > ago(30d) | where SHA1 in~ (v) or InitiatingProcessSHA1 in~ (v)"
    " | summarize Devices=dcount(DeviceId), Events=count(), FirstSeen=min(Timestamp),"
    " LastSeen=max(Timestamp), DeviceNames=make_set(DeviceName, 10) by SHA1",
    "DeviceNetworkEvents | extend Host = tolower(tostring(parse_url(RemoteUrl).Host))"
    " | where Host has_any ({v}) | project Timestamp, Host",
    "DeviceProcessEvents | where ProcessCommandLine contains {v} and FileName !~ {v}",
]


def kql_string(value: str) -> str:
    """A KQL string literal holding ``value`` exactly (test-local escaping)."""
    escaped = (
        value.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\t", "\\t")
    )
    return f'"{escaped}"'


@pytest.mark.parametrize("template", TEMPLATES)
def test_shape_ignores_string_values(template):
    a = query_shape(template.format(v=kql_string("a")))
    b = query_shape(template.format(v=kql_string("3395856ce81f2b7382dee72602f798b642f14140")))
    assert a == b
    assert "3395856" not in b


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=40))
def test_escaped_values_keep_the_shape(value):
    for template in TEMPLATES:
        assert query_shape(template.format(v=kql_string(value))) == query_shape(
            template.format(v=kql_string("x"))
        )


INJECTIONS = [
    '"x" or SHA1 != "x"',
    '"x" | take 1 | where SHA1 == "x"',
    '"x", "y"',
    '"a" and true',
    '"a" )',
]


@pytest.mark.parametrize("injected", INJECTIONS)
def test_injected_syntax_changes_the_shape(injected):
    template = TEMPLATES[0]
    baseline = query_shape(template.format(v='"x"'))
    try:
        shape = query_shape(template.format(v=injected))
    except KqlError:
        return  # does not even parse: refused
    assert shape != baseline


def test_shape_keeps_structure_and_literal_types():
    shape = query_shape("DeviceFileEvents | where FileSize > 100 and Timestamp > ago(1d) | project SHA1")
    assert "<long>" in shape and "<timespan>" in shape and "ago" in shape and "SHA1" in shape
    assert "100" not in shape
    assert query_shape("DeviceFileEvents | where FileSize > 100") != query_shape(
        "DeviceFileEvents | where FileSize > 1.5"
    )  # a literal's type is part of the shape
    assert query_shape("let v = dynamic(['a', 'b']); DeviceFileEvents | where SHA1 in (v)") != query_shape(
        "let v = dynamic(['a', 'b', 'c']); DeviceFileEvents | where SHA1 in (v)"
    )  # so is the number of list items


def test_shape_ignores_layout_and_comments():
    assert query_shape("DeviceFileEvents|where SHA1=='a'") == query_shape(
        "DeviceFileEvents // files\n  | where SHA1 == 'b'"
    )


def test_shape_raises_kql_error_for_invalid_queries():
    with pytest.raises(KqlError):
        query_shape("DeviceFileEvents | where")
    with pytest.raises(KqlError):
        query_shape("DeviceFileEvents | where NoSuchColumn == 'a'")
    with pytest.raises(KqlError):
        query_shape("T | take 1", schemas={"U": [("A", "string")]})
    assert query_shape("T | take 1", schemas={"T": [("A", "string")]})
