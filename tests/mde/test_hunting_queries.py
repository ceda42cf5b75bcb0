"""The hunting queries' semantics per family, run by the sandbox's KQL engine over small hand-made
tables; chunk sizing; reading both endpoints' result shapes."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from enrich.mde.hunting import HuntOptions, Sighting
from enrich.mde.hunting.chunks import MAX_BODY_BYTES, body_bytes, halves, plan_chunks
from enrich.mde.hunting.queries import build, url_key
from enrich.mde.hunting.run import read_sightings, result_rows
from enrich.sandbox import kql
from tests.mde.hunting_contract import FILE_TABLES, HASH_COLUMNS

NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
SHA1_A, SHA1_B = "a" * 40, "b" * 40
MD5_C = "c" * 32
SHA256_D = "d" * 64


def _at(days_ago: float) -> str:
    return (NOW - dt.timedelta(days=days_ago)).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")


def _event(device: str, days_ago: float, **columns: str) -> dict:
    row = {"Timestamp": _at(days_ago), "DeviceId": f"id-{device}", "DeviceName": device}
    row.update(columns)
    return row


def _file_tables(events: dict[str, list[dict]]) -> dict[str, list[dict]]:
    out = {}
    for table in FILE_TABLES:
        rows = []
        for event in events.get(table, []):
            row = dict.fromkeys(HASH_COLUMNS, "")
            if table == "DeviceFileEvents":
                row["FileOriginUrl"] = ""
            row.update(event)
            rows.append(row)
        out[table] = rows
    return out


def _hunt(family: str, values: list[str], tables: dict, max_devices: int = 10, lookback_hours: int = 720):
    plan = build(family, values, lookback_hours, max_devices)
    result = kql.run_query(plan.text, tables, NOW)
    return read_sightings(json.loads(json.dumps(result.rows, default=list)), plan, max_devices)


def test_files_in_either_hash_column_of_every_table_counted_once_per_event():
    tables = _file_tables(
        {
            "DeviceFileEvents": [
                _event("pc1", 3, SHA1=SHA1_A),
                _event("pc2", 2, InitiatingProcessSHA1=SHA1_A),
            ],
            # a process started by a process of the same file: one event of that file
            "DeviceProcessEvents": [_event("pc3", 1, SHA1=SHA1_A, InitiatingProcessSHA1=SHA1_A)],
            # two different values in one event: one event for each
            "DeviceImageLoadEvents": [_event("pc1", 5, SHA1=SHA1_B, InitiatingProcessSHA1=SHA1_A)],
            "DeviceEvents": [
                _event("pc4", 4, MD5=MD5_C),
                _event("pc4", 6, InitiatingProcessSHA256=SHA256_D),
                _event("pc5", 40, SHA1=SHA1_A),  # older than the lookback
            ],
        }
    )
    got = _hunt("files", [SHA1_A, SHA1_B, MD5_C, SHA256_D, "e" * 40], tables)
    assert got == {
        SHA1_A: Sighting(3, 4, _at(5), _at(1), ("pc1", "pc2", "pc3")),
        SHA1_B: Sighting(1, 1, _at(5), _at(5), ("pc1",)),
        MD5_C: Sighting(1, 1, _at(4), _at(4), ("pc4",)),
        SHA256_D: Sighting(1, 1, _at(6), _at(6), ("pc4",)),
    }


def _network(*events: dict) -> dict[str, list[dict]]:
    rows = [dict({"RemoteIP": "", "RemoteUrl": ""}, **event) for event in events]
    return {"DeviceNetworkEvents": rows, "DeviceFileEvents": []}


def test_ips_exact_address():
    tables = _network(
        _event("pc1", 1, RemoteIP="10.0.0.1"),
        _event("pc2", 2, RemoteIP="10.0.0.10"),
        _event("pc1", 3, RemoteIP="2001:db8::1"),
        _event("pc3", 4, RemoteIP="::ffff:10.0.0.1"),  # the IPv4 address as an IPv4-mapped one
    )
    got = _hunt("ips", ["10.0.0.1", "2001:db8::1", "10.0.0.2"], tables, max_devices=0)
    assert got == {
        "10.0.0.1": Sighting(2, 2, _at(4), _at(1)),
        "2001:db8::1": Sighting(1, 1, _at(3), _at(3)),
    }
    assert _hunt("ips", ["2001:db8::1"], tables, max_devices=0) == {
        "2001:db8::1": Sighting(1, 1, _at(3), _at(3))
    }


def test_domains_are_the_exact_host_of_remote_url_in_any_case():
    tables = _network(
        _event("pc1", 1, RemoteUrl="evil.example.com"),  # a bare FQDN
        _event("pc2", 2, RemoteUrl="https://EVIL.Example.com:8443/x?y=1"),  # a URL's host, any case
        _event("pc3", 3, RemoteUrl="http://user@evil.example.com/"),  # with user info
        _event("pc4", 4, RemoteUrl="evil.example.com/path"),  # no scheme, a path
        _event("pc8", 8, RemoteUrl="Evil.Example.com."),  # a fully qualified name's trailing dot
        _event("pc5", 5, RemoteUrl="www.evil.example.com"),  # a subdomain: not the host asked
        _event("pc6", 6, RemoteUrl="https://example.com/evil.example.com"),  # in the path only
        _event("pc7", 7, RemoteUrl="notevil.example.com"),
    )
    got = _hunt("domains", ["evil.example.com", "example.com", "other.example"], tables)
    assert got == {
        "evil.example.com": Sighting(5, 5, _at(8), _at(1), ("pc1", "pc2", "pc3", "pc4", "pc8")),
        "example.com": Sighting(1, 1, _at(6), _at(6), ("pc6",)),
    }


def test_urls_compare_scheme_and_host_in_any_case_and_the_rest_exactly():
    tables = _network(
        _event("pc1", 1, RemoteUrl="http://evil.example.com/a/B?x=1"),
        _event("pc2", 2, RemoteUrl="HTTP://Evil.Example.com/a/B?x=1"),  # scheme and host in another case
        _event("pc3", 3, RemoteUrl="evil.example.com/a/B?x=1"),  # no scheme: the http and https URL
        _event("pc4", 4, RemoteUrl="http://evil.example.com/a/b?x=1"),  # another path
        _event("pc5", 5, RemoteUrl="http://evil.example.com/a/B?x=2"),  # another query
        _event("pc6", 6, RemoteUrl="http://evil.example.com"),  # an empty path is "/"
    )
    tables["DeviceFileEvents"] = [
        _event("pc7", 7, FileOriginUrl="https://evil.example.com/a/B?x=1"),
    ]
    asked = [
        "http://evil.example.com/a/B?x=1",
        "https://evil.example.com/a/B?x=1",
        "http://evil.example.com/",
        "http://evil.example.com",
        "ftp://evil.example.com/a/B?x=1",
    ]
    got = _hunt("urls", asked, tables)
    assert got == {
        "http://evil.example.com/a/B?x=1": Sighting(3, 3, _at(3), _at(1), ("pc1", "pc2", "pc3")),
        "https://evil.example.com/a/B?x=1": Sighting(2, 2, _at(7), _at(3), ("pc3", "pc7")),
        "http://evil.example.com/": Sighting(1, 1, _at(6), _at(6), ("pc6",)),
        "http://evil.example.com": Sighting(1, 1, _at(6), _at(6), ("pc6",)),
    }


def test_url_key():
    assert url_key("HTTP://User@Evil.Example.com:80/A?b#C") == "http://user@evil.example.com:80/A?b#C"
    assert url_key("http://evil.example.com") == "http://evil.example.com/"
    assert url_key("http://evil.example.com?q") == "http://evil.example.com/?q"
    assert url_key("Evil.Example.com/X") == "evil.example.com/X"


# -- chunks ------------------------------------------------------------------------------------


def test_chunks_keep_the_order_and_the_value_cap():
    values = [f"10.0.{i // 256}.{i % 256}" for i in range(2500)]
    chunks = plan_chunks("ips", values, lookback_hours=720, max_devices=10, max_values=1000)
    assert [len(c) for c in chunks] == [1000, 1000, 500]
    assert [v for c in chunks for v in c] == values


def test_chunks_of_long_urls_stay_under_the_body_size():
    values = [f"http://evil{i}.example.com/" + "a" * 3000 for i in range(300)]
    chunks = plan_chunks("urls", values, lookback_hours=720, max_devices=10, max_values=1000)
    assert len(chunks) > 1 and [v for c in chunks for v in c] == values
    for chunk in chunks:
        assert body_bytes(build("urls", chunk, 720, 10).text, 720) <= MAX_BODY_BYTES


def test_chunks_shrink_with_the_device_names_kept():
    values = [f"{i:040x}" for i in range(1000)]
    few = plan_chunks("files", values, lookback_hours=720, max_devices=0, max_values=1000)
    many = plan_chunks("files", values, lookback_hours=720, max_devices=10_000, max_values=1000)
    assert len(few) == 1 and len(many) > 1


def test_halves():
    assert halves(("a", "b", "c")) == (("a", "b"), ("c",))
    assert halves(("a", "b")) == (("a",), ("b",))


# -- reading the answers ----------------------------------------------------------------------


def test_both_result_shapes_and_dynamic_cells_as_text():
    plan = build("ips", ["10.0.0.1", "10.0.0.2"], 720, 2)
    row = {"Value": "10.0.0.1", "Devices": 3, "Events": "7", "FirstSeen": "2026-11-01T00:00:00Z"}
    row["LastSeen"] = "2026-11-02T00:00:00.1234567Z"
    legacy = {
        "Stats": {},
        "Schema": [{"Name": "Value", "Type": "String"}],
        "Results": [dict(row, DeviceNames=["b", "a", "c"])],
    }
    graph = {
        "schema": [{"name": "Value", "type": "String"}],
        "results": [dict(row, DeviceNames='["b","a","c"]')],
    }
    expected = {
        "10.0.0.1": Sighting(3, 7, "2026-11-01T00:00:00Z", "2026-11-02T00:00:00.1234567Z", ("a", "b"))
    }
    for body in (legacy, graph):
        rows = result_rows(body)
        assert rows is not None and read_sightings(rows, plan, 2) == expected
    assert result_rows({"error": {}}) is None
    stray = [dict(row, Value="10.9.9.9", DeviceNames=[])]
    assert read_sightings(stray, plan, 2) == {}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"lookback_hours": 721}, "1 to 720 hours"),
        ({"lookback_hours": 0}, "1 to 720 hours"),
        ({"max_devices": -1}, "0 or more"),
        ({"paths": ()}, "hunting paths"),
        ({"paths": ("stats",)}, "hunting paths"),
        ({"chunk_values": 0}, "at least 1"),
        ({"request_timeout": 0}, "positive"),
    ],
)
def test_hunt_options_refuse_what_hunting_cannot_do(options, message):
    with pytest.raises(ValueError, match=message):
        HuntOptions(**options)
