"""Scalar functions through the engine (`run_query`): the hunt-mode expressions, typing errors and
constant checks surfacing as KqlError, and values rendered in result rows."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from enrich.sandbox.kql import KqlError, run_query

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
SCHEMAS = {
    "Net": [
        ("Timestamp", "datetime"),
        ("DeviceName", "string"),
        ("RemoteUrl", "string"),
        ("RemoteIP", "string"),
        ("FolderPath", "string"),
    ]
}
ROWS = [
    {
        "Timestamp": "2026-11-20T09:00:00.0000000Z",
        "DeviceName": "pc1",
        "RemoteUrl": "https://Evil.Example.com/path?a=1",
        "RemoteIP": "10.1.2.3",
        "FolderPath": r"C:\Users\x\AppData\evil.exe",
    },
    {
        "Timestamp": "2026-11-19T09:30:00.0000000Z",
        "DeviceName": "pc2",
        "RemoteUrl": "evil.example.com",
        "RemoteIP": "8.8.8.8",
        "FolderPath": "/usr/bin/curl",
    },
    {
        "Timestamp": "2026-10-01T00:00:00.0000000Z",
        "DeviceName": "pc3",
        "RemoteUrl": "",
        "RemoteIP": "",
        "FolderPath": "",
    },
]


def run(query: str) -> list[dict[str, object]]:
    return run_query(query, {"Net": ROWS}, NOW, schemas=SCHEMAS).rows


def test_hunt_mode_host_extraction_handles_urls_and_bare_hosts() -> None:
    rows = run(
        "Net | where Timestamp > ago(30d) and isnotempty(RemoteUrl)"
        " | extend Host = tolower(coalesce(tostring(parse_url(RemoteUrl).Host), RemoteUrl))"
        " | project DeviceName, Host"
    )
    assert rows == [
        {"DeviceName": "pc1", "Host": "evil.example.com"},
        {"DeviceName": "pc2", "Host": "evil.example.com"},
    ]


def test_string_ip_and_path_functions_in_extend() -> None:
    rows = run(
        "Net | where isnotempty(RemoteIP)"
        " | extend Private = ipv4_is_private(RemoteIP), InRange = ipv4_is_in_range(RemoteIP, '10.0.0.0/8'),"
        " File = tostring(parse_path(FolderPath).Filename), Octet = toint(extract(@'^(\\d+)\\.', 1, RemoteIP)),"
        " Parts = array_length(split(RemoteIP, '.')), Hash = strlen(hash_sha256(DeviceName))"
        " | project DeviceName, Private, InRange, File, Octet, Parts, Hash"
    )
    assert rows == [
        {
            "DeviceName": "pc1",
            "Private": True,
            "InRange": True,
            "File": "evil.exe",
            "Octet": 10,
            "Parts": 4,
            "Hash": 64,
        },
        {
            "DeviceName": "pc2",
            "Private": False,
            "InRange": False,
            "File": "curl",
            "Octet": 8,
            "Parts": 4,
            "Hash": 64,
        },
    ]


def test_summarize_by_day_bins_and_datetime_functions() -> None:
    rows = run(
        "Net | summarize Events = count() by Day = bin(Timestamp, 1d)"
        " | extend Dow = dayofweek(Day), Month = startofmonth(Day), Age = datetime_diff('day', now(), Day)"
        " | sort by Day asc"
    )
    assert [r["Day"] for r in rows] == [
        "2026-10-01T00:00:00.0000000Z",
        "2026-11-19T00:00:00.0000000Z",
        "2026-11-20T00:00:00.0000000Z",
    ]
    assert [r["Month"] for r in rows] == [
        "2026-10-01T00:00:00.0000000Z",
        "2026-11-01T00:00:00.0000000Z",
        "2026-11-01T00:00:00.0000000Z",
    ]
    assert [r["Age"] for r in rows] == [50, 1, 0]


def test_iff_case_and_null_tests() -> None:
    rows = run(
        "Net | extend Kind = case(RemoteIP == '', 'none', ipv4_is_private(RemoteIP), 'lan', 'wan'),"
        " Empty = isempty(RemoteUrl), Flag = iff(DeviceName == 'pc1', 1, 0) | project Kind, Empty, Flag"
    )
    assert rows == [
        {"Kind": "lan", "Empty": False, "Flag": 1},
        {"Kind": "wan", "Empty": False, "Flag": 0},
        {"Kind": "none", "Empty": True, "Flag": 0},
    ]


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ("Net | extend x = strlen(5)", "strlen(): argument #1 expected to be a string expression, not long"),
        (
            "Net | extend x = extract('(', 1, RemoteUrl)",
            "extract(): argument #1 is not a valid regular expression",
        ),
        (
            "Net | extend x = format_datetime(Timestamp, 'yyyy Q')",
            "format_datetime(): argument #2 is not a valid format",
        ),
        ("Net | extend x = datetime_add('fortnight', 1, Timestamp)", "not a valid datetime part"),
        (
            "Net | extend x = iff(true, 'a', 1)",
            "iff(): argument #3 expected to be a string expression, not long",
        ),
        (
            "Net | extend x = substring(RemoteUrl)",
            "The function 'substring' expects between 2 and 3 argument(s), got 1",
        ),
        ("Net | extend x = array_length(RemoteUrl)", "expected to be a dynamic expression"),
    ],
)
def test_errors_surface_as_kql_errors(query: str, fragment: str) -> None:
    with pytest.raises(KqlError) as info:
        run(query)
    assert fragment in info.value.message


def test_values_render_by_their_type_through_bind() -> None:
    rows = run(
        "Net | where DeviceName == 'pc1'"
        " | extend S = tostring(Timestamp), C = strcat('at ', Timestamp, ' +', 90m),"
        " A = pack_array(Timestamp, 1h), T = gettype(Timestamp), H = hash(DeviceName, 100),"
        " F = format_datetime(Timestamp, 'yyyy-MM-dd HH:mm'), R = iff(true, 1, 2.5)"
        " | project S, C, A, T, F, R"
    )
    assert rows == [
        {
            "S": "2026-11-20T09:00:00.0000000Z",
            "C": "at 2026-11-20T09:00:00.0000000Z +01:30:00",
            "A": ["2026-11-20T09:00:00.0000000Z", "01:00:00"],
            "T": "datetime",
            "F": "2026-11-20 09:00",
            "R": 1.0,
        }
    ]
    assert isinstance(rows[0]["R"], float)
