"""Bodies of the sandbox's advanced-hunting endpoints (legacy MDE and Microsoft Graph)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from enrich.sandbox import hunting
from enrich.sandbox.hunting import (
    GRAPH_CONTEXT,
    MAX_RESULT_BYTES,
    MAX_ROWS,
    RESULT_SIZE_MESSAGE,
    HuntingLimits,
    run_graph,
    run_legacy,
)

NOW = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{7}Z")


def ts(days: float) -> str:
    return (NOW - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%S.") + "5000000Z"


NETWORK = [
    {
        "Timestamp": ts(1),
        "DeviceId": "d1",
        "DeviceName": "h1",
        "ActionType": "ConnectionSuccess",
        "RemoteIP": "203.0.113.5",
        "RemotePort": 443,
        "RemoteUrl": "www.example.com",
        "LocalIP": "10.0.0.1",
        "Protocol": "Tcp",
        "InitiatingProcessFileName": "chrome.exe",
        "InitiatingProcessSHA1": "",
    },
    {
        "Timestamp": ts(2),
        "DeviceId": "d2",
        "DeviceName": "h2",
        "ActionType": "ConnectionSuccess",
        "RemoteIP": "203.0.113.5",
        "RemotePort": 80,
        "RemoteUrl": "",
        "LocalIP": "10.0.0.2",
        "Protocol": "Tcp",
        "InitiatingProcessFileName": "curl.exe",
        "InitiatingProcessSHA1": "",
    },
    {
        "Timestamp": ts(60),
        "DeviceId": "d3",
        "DeviceName": "h3",
        "ActionType": "ConnectionSuccess",
        "RemoteIP": "203.0.113.5",
        "RemotePort": 443,
        "RemoteUrl": "",
        "LocalIP": "10.0.0.3",
        "Protocol": "Tcp",
        "InitiatingProcessFileName": "curl.exe",
        "InitiatingProcessSHA1": "",
    },
    {
        "Timestamp": ts(3),
        "DeviceId": "d1",
        "DeviceName": "h1",
        "ActionType": "ConnectionSuccess",
        "RemoteIP": "198.51.100.1",
        "RemotePort": 22,
        "RemoteUrl": "",
        "LocalIP": "10.0.0.1",
        "Protocol": "Tcp",
        "InitiatingProcessFileName": "ssh.exe",
        "InitiatingProcessSHA1": "",
    },
]
TABLES = {"DeviceNetworkEvents": NETWORK}
SUMMARY = "DeviceNetworkEvents | where RemoteIP in ('203.0.113.5') | summarize Devices = dcount(DeviceId), FirstSeen = min(Timestamp), Hits = count() by RemoteIP, RemotePort"


def body(**fields) -> bytes:
    return json.dumps(fields).encode()


def within(days: float) -> list[dict]:
    return [r for r in NETWORK if datetime.fromisoformat(r["Timestamp"]) > NOW - timedelta(days=days)]


# ---------------------------------------------------------------------------
# legacy /api/advancedqueries/run


def test_legacy_success_body():
    status, payload = run_legacy(body(Query=SUMMARY), TABLES, NOW)
    assert status == 200
    assert set(payload) == {"Stats", "Schema", "Results"}
    assert payload["Schema"] == [
        {"Name": "RemoteIP", "Type": "String"},
        {"Name": "RemotePort", "Type": "Int32"},
        {"Name": "Devices", "Type": "Int64"},
        {"Name": "FirstSeen", "Type": "DateTime"},
        {"Name": "Hits", "Type": "Int64"},
    ]
    recent = [r for r in within(30) if r["RemoteIP"] == "203.0.113.5"]  # the 60-day-old row is out of reach
    expected = sorted(
        (
            {
                "RemoteIP": "203.0.113.5",
                "RemotePort": port,
                "Devices": len({r["DeviceId"] for r in recent if r["RemotePort"] == port}),
                "FirstSeen": min(r["Timestamp"] for r in recent if r["RemotePort"] == port),
                "Hits": sum(1 for r in recent if r["RemotePort"] == port),
            }
            for port in {r["RemotePort"] for r in recent}
        ),
        key=lambda r: r["RemotePort"],
    )
    assert sorted(payload["Results"], key=lambda r: r["RemotePort"]) == expected
    assert all(TIMESTAMP.fullmatch(r["FirstSeen"]) for r in payload["Results"])
    stats = payload["Stats"]
    assert isinstance(stats["ExecutionTime"], float)
    assert stats["dataset_statistics"][0]["table_row_count"] == len(expected)
    assert set(stats["resource_usage"]) == {"cache", "cpu", "memory"}
    json.dumps(payload)  # serialisable as is


def test_legacy_plain_rows_keep_schema_order_and_types():
    status, payload = run_legacy(
        body(Query="DeviceNetworkEvents | project Timestamp, RemotePort, RemoteUrl | take 1"), TABLES, NOW
    )
    assert status == 200
    assert payload["Schema"] == [
        {"Name": "Timestamp", "Type": "DateTime"},
        {"Name": "RemotePort", "Type": "Int32"},
        {"Name": "RemoteUrl", "Type": "String"},
    ]
    assert payload["Results"] == [
        {"Timestamp": NETWORK[0]["Timestamp"], "RemotePort": 443, "RemoteUrl": "www.example.com"}
    ]


@pytest.mark.parametrize(
    "raw",
    [
        b"{}",
        b'{"query": "DeviceNetworkEvents"}',
        b'{"QUERY": "x"}',
        b'{"Query": ""}',
        b'{"Query": "   "}',
        b'{"Query": null}',
    ],
)
def test_legacy_missing_query(raw):
    status, payload = run_legacy(raw, TABLES, NOW)
    assert status == 400
    assert payload["error"]["code"] == "InvalidRequestBody"
    assert payload["error"]["message"] == "Missing query."
    assert payload["error"]["target"]


@pytest.mark.parametrize("raw", [b"", b"not json", b"[1, 2]", b'"Query"', b"\xff\xfe\x00", b"[" * 100_000])
def test_legacy_malformed_body(raw):
    status, payload = run_legacy(raw, TABLES, NOW)
    assert status == 400
    assert payload["error"]["code"] == "InvalidRequestBody"
    assert set(payload["error"]) == {"code", "message", "target"}


def test_legacy_syntax_error_is_400_bad_request():
    status, payload = run_legacy(body(Query="DeviceNetworkEvents | where"), TABLES, NOW, target="abc")
    assert status == 400
    assert payload == {
        "error": {"code": "BadRequest", "message": payload["error"]["message"], "target": "abc"}
    }
    assert payload["error"]["message"] == "Query could not be parsed at '<EOF>' on line [1,28]"


def test_legacy_sees_only_last_30_days():
    status, payload = run_legacy(body(Query="DeviceNetworkEvents | project DeviceId"), TABLES, NOW)
    assert status == 200
    assert payload["Results"] == [{"DeviceId": r["DeviceId"]} for r in within(30)]


def test_limits_are_the_documented_ones():
    assert MAX_ROWS == 100_000
    assert MAX_RESULT_BYTES == 50 * 1024 * 1024


@pytest.mark.parametrize("runner", [run_legacy, run_graph])
def test_rows_beyond_the_row_limit_are_cut(runner):
    status, payload = runner(body(Query="DeviceNetworkEvents"), TABLES, NOW, max_rows=2)
    assert status == 200
    results = payload.get("Results", payload.get("results"))
    assert len(results) == 2


@pytest.mark.parametrize("runner", [run_legacy, run_graph])
def test_result_size_limit_gives_documented_400(runner):
    status, payload = runner(body(Query="DeviceNetworkEvents"), TABLES, NOW, max_result_bytes=200)
    assert status == 400
    assert payload["error"]["code"] == "BadRequest"
    assert payload["error"]["message"] == RESULT_SIZE_MESSAGE
    small = HuntingLimits(max_result_bytes=10)
    assert runner(body(Query="DeviceNetworkEvents | take 1"), TABLES, NOW, limits=small)[0] == 400
    assert runner(body(Query="DeviceNetworkEvents | take 0"), TABLES, NOW, limits=small)[0] == 200
    assert HuntingLimits() == HuntingLimits(MAX_ROWS, MAX_RESULT_BYTES, hunting.QUERY_TIMEOUT)


# ---------------------------------------------------------------------------
# Graph /v1.0/security/runHuntingQuery


def test_graph_success_body():
    status, payload = run_graph(body(Query=SUMMARY), TABLES, NOW)
    assert status == 200
    assert list(payload) == ["@odata.context", "schema", "results"]
    assert payload["@odata.context"] == GRAPH_CONTEXT
    assert payload["schema"][0] == {"name": "RemoteIP", "type": "String"}
    assert {s["name"]: s["type"] for s in payload["schema"]}["FirstSeen"] == "DateTime"
    assert sum(r["Hits"] for r in payload["results"]) == sum(
        1 for r in within(30) if r["RemoteIP"] == "203.0.113.5"
    )


@pytest.mark.parametrize(
    ("timespan", "expected_days"),
    [
        (None, 30),
        ("P90D", 30),  # never further back than 30 days
        ("P1D", 1.5),
        ("PT36H", 1.5),
        ("PT12H", 0.5),
        ("P1W", 7),
        (
            f"{(NOW - timedelta(days=90)).strftime('%Y-%m-%dT%H:%M:%SZ')}/{NOW.strftime('%Y-%m-%dT%H:%M:%SZ')}",
            30,
        ),
        (f"P70D/{NOW.strftime('%Y-%m-%dT%H:%M:%SZ')}", 30),
        (f"{(NOW - timedelta(days=2, hours=12)).strftime('%Y-%m-%dT%H:%M:%SZ')}/P10D", 2.5),
        ((NOW - timedelta(days=2, hours=12)).strftime("%Y-%m-%dT%H:%M:%SZ"), 2.5),
    ],
)
def test_graph_timespan_window(timespan, expected_days):
    fields = {"Query": "DeviceNetworkEvents | project DeviceId, Timestamp"}
    if timespan is not None:
        fields["Timespan"] = timespan
    status, payload = run_graph(body(**fields), TABLES, NOW)
    assert status == 200, payload
    assert payload["results"] == [
        {"DeviceId": r["DeviceId"], "Timestamp": r["Timestamp"]} for r in within(expected_days)
    ]


def test_graph_timespan_never_shows_data_older_than_30_days():
    # the row 60 days old falls inside each of these windows, and is still not visible
    end = (NOW - timedelta(days=55)).strftime("%Y-%m-%dT%H:%M:%SZ")
    start = (NOW - timedelta(days=65)).strftime("%Y-%m-%dT%H:%M:%SZ")
    for timespan in (f"P10D/{end}", f"{start}/{end}", f"{start}/P10D", "P365D", start):
        status, payload = run_graph(
            body(Query="DeviceNetworkEvents | where DeviceId == 'd3' | count", Timespan=timespan), TABLES, NOW
        )
        assert (status, payload["results"]) == (200, [{"Count": 0}]), timespan


def test_graph_interval_end_excludes_later_rows():
    end = (NOW - timedelta(days=1, hours=12)).strftime("%Y-%m-%dT%H:%M:%SZ")
    status, payload = run_graph(
        body(Query="DeviceNetworkEvents | project DeviceId", Timespan=f"P30D/{end}"), TABLES, NOW
    )
    assert status == 200
    assert payload["results"] == [{"DeviceId": "d2"}, {"DeviceId": "d1"}]


@pytest.mark.parametrize(
    "timespan", ["bogus", "P", "PT", "P1DT", "", 30, "2026-01-01T00:00:00Z/2025-01-01T00:00:00Z"]
)
def test_graph_invalid_timespan(timespan):
    status, payload = run_graph(body(Query="DeviceNetworkEvents", Timespan=timespan), TABLES, NOW)
    assert status == 400
    assert payload["error"]["code"] == "BadRequest"


def test_graph_error_envelope():
    status, payload = run_graph(
        body(Query="DeviceNetworkEvents | where"), TABLES, NOW, request_id="r-1", client_request_id="c-1"
    )
    assert status == 400
    error = payload["error"]
    assert set(error) == {"code", "message", "innerError"}
    assert error["code"] == "BadRequest"
    assert error["message"].startswith("Query could not be parsed")
    assert error["innerError"] == {
        "date": "2026-11-26T12:00:00",
        "request-id": "r-1",
        "client-request-id": "c-1",
    }


@pytest.mark.parametrize("raw", [b"{}", b'{"Timespan": "P1D"}', b'{"Query": 5}', b"nope", b"[]"])
def test_graph_missing_query_or_bad_body(raw):
    status, payload = run_graph(raw, TABLES, NOW)
    assert status == 400
    assert payload["error"]["code"] == "BadRequest"
    assert set(payload["error"]["innerError"]) == {"date", "request-id", "client-request-id"}


def test_graph_accepts_lower_case_property_names():
    status, payload = run_graph(b'{"query": "DeviceNetworkEvents | count", "timespan": "P90D"}', TABLES, NOW)
    assert status == 200
    assert payload["results"] == [{"Count": len(within(30))}]


@settings(max_examples=150, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=60),
        st.builds(
            lambda q, t: json.dumps({"Query": q, "Timespan": t}).encode(),
            st.text(max_size=40),
            st.one_of(st.none(), st.text(max_size=20)),
        ),
    )
)
def test_endpoints_never_raise(raw):
    for runner in (run_legacy, run_graph):
        status, payload = runner(raw, TABLES, NOW)
        assert status in (200, 400)
        json.dumps(payload)
