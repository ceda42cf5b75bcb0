"""Sandbox dataset: determinism, hunting tables consistent with the entity stats, samples, --data."""

from __future__ import annotations

import csv
import hashlib
import json
import re
import time

import httpx
import pytest

from enrich.sandbox import Sandbox, SandboxConfig, generate, samples, userdata
from enrich.sandbox.data import (
    TICKS_PER_HOUR,
    format_ticks,
    host_of,
    normalize_ip,
    parse_ticks,
    ticks_now,
)
from enrich.sandbox.kql import run_query
from enrich.sandbox.schema import TABLES
from enrich.sandbox.tables.counting import FILE_TABLES
from tests.mde_helpers import sandbox_token

pytestmark = pytest.mark.timeout(60)

TS7 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$")
NOW = parse_ticks("2026-11-20T12:00:00.1234567Z")


@pytest.fixture(scope="module")
def ds():
    return generate.build(4, NOW, "tenant", sample_dir="")


def test_timestamps_round_trip_and_trim():
    assert format_ticks(parse_ticks("2017-09-19T03:51:27.6785431Z")) == "2017-09-19T03:51:27.6785431Z"
    assert format_ticks(parse_ticks("2021-01-26T20:33:59.2Z")) == "2021-01-26T20:33:59.2Z"
    assert format_ticks(parse_ticks("2021-01-26T20:33:59Z")) == "2021-01-26T20:33:59Z"
    assert format_ticks(parse_ticks("2021-01-26T20:33:59Z"), trim=False) == "2021-01-26T20:33:59.0000000Z"
    assert parse_ticks("2021-01-26T22:33:59+02:00") == parse_ticks("2021-01-26T20:33:59Z")


def test_same_seed_same_data_other_seed_other_data(ds):
    again = generate.build(4, NOW, "tenant", sample_dir="")
    assert again.tables == ds.tables
    assert again.seen_keys() == ds.seen_keys()
    other = generate.build(5, NOW, "tenant", sample_dir="")
    assert other.tables != ds.tables


def test_size_and_spread(ds):
    summary = ds.summary()
    events = sum(summary["events"].values())
    assert summary["devices"] == 50 and 2000 <= events <= 10000
    oldest = min(parse_ticks(r["Timestamp"]) for rows in ds.tables.values() for r in rows)
    assert NOW - oldest > 35 * 24 * TICKS_PER_HOUR  # beyond the 30-day lookback
    old_only = [k for k in ds._sightings if ds.stats(*k)[0] == 0]
    assert old_only, "some indicators are only seen more than 30 days ago"


def test_tables_follow_the_schema(ds):
    for name, columns in TABLES.items():
        rows = ds.tables[name]
        assert rows, name
        names = [c for c, _ in columns]
        for row in rows[:200]:
            assert list(row) == names
            assert TS7.match(row["Timestamp"])
        if name in FILE_TABLES:  # every file event carries the file's three hashes
            for col, size in (("SHA1", 40), ("SHA256", 64), ("MD5", 32)):
                assert all(len(r[col]) == size for r in rows), (name, col)
    assert all(isinstance(r["RemotePort"], int) for r in ds.tables["DeviceNetworkEvents"])
    # rows are sorted by time
    stamps = [r["Timestamp"] for r in ds.tables["DeviceFileEvents"]]
    assert stamps == sorted(stamps)


def _independent_stats(ds, family: str, key: str, hours: int = 720) -> tuple[int, str | None, str | None]:
    """Prevalence as the brief defines it, computed straight from the hunting tables."""
    cutoff = format_ticks(ds.now - hours * TICKS_PER_HOUR, trim=False)
    hits = []
    if family == "files":  # the file's hashes, as target or as initiating process, in the four file tables
        info = ds.find_file(key)
        for table in ("DeviceFileEvents", "DeviceProcessEvents", "DeviceImageLoadEvents", "DeviceEvents"):
            hits += [
                r
                for r in ds.tables[table]
                if r["SHA1"] == info.sha1
                or r["InitiatingProcessMD5"] == info.md5
                or r["SHA256"] == info.sha256
            ]
    elif family == "ips":
        hits = [r for r in ds.tables["DeviceNetworkEvents"] if normalize_ip(r["RemoteIP"]) == key]
    else:
        hits = [r for r in ds.tables["DeviceNetworkEvents"] if host_of(r["RemoteUrl"]) == key]
    hits = [r for r in hits if r["Timestamp"] >= cutoff]
    if not hits:
        return 0, None, None
    stamps = sorted(r["Timestamp"] for r in hits)
    return len({r["DeviceId"] for r in hits}), stamps[0], stamps[-1]


def test_entity_stats_equal_what_the_tables_say(ds):
    keys = ds.seen_keys()
    assert len(keys) > 100
    for family, key in keys:
        n, first, last = _independent_stats(ds, family, key)
        truth = ds.truth(family, key)
        assert truth["prevalence"] == n, (family, key)
        assert parse_ticks(truth["first_seen"]) == parse_ticks(first)
        assert parse_ticks(truth["last_seen"]) == parse_ticks(last)
    for family, key in keys[::25]:
        assert ds.truth(family, key, 72)["prevalence"] == _independent_stats(ds, family, key, 72)[0]


def test_every_file_has_three_hashes_and_is_found_by_each(ds):
    for info in list(ds.files.values())[:50]:
        assert (len(info.sha1), len(info.sha256), len(info.md5)) == (40, 64, 32)
        assert ds.find_file(info.md5) is ds.find_file(info.sha256) is ds.find_file(info.sha1) is info


def test_sample_extraction_refangs_and_filters():
    text = (
        "hxxps://evil-site[.]com/path 10[.]1[.]2[.]3 2001:db8::dead:beef "
        "report.pdf invoice.exe e.g. file:hashes.'SHA-256' hashes.ssdeep mail from bob@phish.example.org "
        "d41d8cd98f00b204e9800998ecf8427e da39a3ee5e6b4b0d3255bfef95601890afd80709 "
        "10:11:12 00:1a:2b:3c:4d:5e"
    )
    found = samples.extract(text)
    assert ("domains", "evil-site.com") in found
    assert ("ips", "10.1.2.3") in found and ("ips", "2001:db8::dead:beef") in found
    assert ("domains", "phish.example.org") in found
    assert ("files", "d41d8cd98f00b204e9800998ecf8427e") in found
    assert ("files", "da39a3ee5e6b4b0d3255bfef95601890afd80709") in found
    domains = {k for f, k in found if f == "domains"}
    assert not domains & {"report.pdf", "invoice.exe", "hashes.ssdeep"}
    assert len([f for f, _ in found if f == "ips"]) == 2


def test_sample_indicators_about_half_seen(tmp_path):
    values = [hashlib.sha1(str(i).encode()).hexdigest() for i in range(40)]
    values += [f"198.51.100.{i}" for i in range(1, 41)]
    values += [f"host{i}.example.org" for i in range(40)]
    (tmp_path / "iocs.csv").write_text("indicator\n" + "\n".join(values) + "\n")
    (tmp_path / "ignored.bin").write_text("1.1.1.1")
    ds = generate.build(1, NOW, "t", sample_dir=str(tmp_path))
    planted = {k: v for k, v in ds.planted.items() if k[1] in values}
    assert len(planted) == 120
    seen = [k for k, v in planted.items() if v]
    assert 35 <= len(seen) <= 85
    for family, key in planted:
        prevalence = ds.stats(family, key)[0]
        assert (prevalence > 0) == planted[(family, key)] == samples.chosen_seen(key)
    assert ("ips", "1.1.1.1") not in ds.planted


def test_repository_sample_data_is_planted():
    found = samples.scan(samples.default_sample_dir())
    if not found:
        pytest.skip("no sample_data/ in this checkout")
    ds = generate.build(1, NOW, "t")
    assert all(k in ds.planted for k in found)
    assert any(ds.planted[k] for k in found) and not all(ds.planted[k] for k in found)


def _write_data(tmp_path, kind: str):
    now = ticks_now()
    recs = [
        {"indicator": "5" * 40, "prevalence": 3, "first_seen": "10d", "last_seen": "2h", "events": 7},
        {
            "indicator": "hxxp://bad.example.com/x".replace("hxxp", "http"),
            "prevalence": 2,
            "first_seen": format_ticks(now - 100 * TICKS_PER_HOUR),
            "last_seen": format_ticks(now - 5 * TICKS_PER_HOUR),
        },
        {
            "indicator": "203.0.113.50",
            "devices": "pc-a.contoso.com;pc-b.contoso.com",
            "first_seen": "48h",
            "last_seen": "1h",
        },
        {"indicator": "6" * 64, "prevalence": 0},
        {"indicator": "old.example.net", "prevalence": 4, "first_seen": "900h", "last_seen": "800h"},
    ]
    path = tmp_path / f"data.{kind}"
    if kind == "json":
        path.write_text(json.dumps({"indicators": recs}))
    else:
        with open(path, "w", newline="") as fh:
            w = csv.DictWriter(
                fh, ["indicator", "prevalence", "first_seen", "last_seen", "devices", "events"]
            )
            w.writeheader()
            w.writerows(recs)
    return path, recs


@pytest.mark.parametrize("kind", ["json", "csv"])
def test_user_data_file(tmp_path, kind):
    path, recs = _write_data(tmp_path, kind)
    with Sandbox(SandboxConfig(seed=1, data_file=str(path))) as sb:
        assert sb.truth("files", "5" * 40)["prevalence"] == 3
        t = sb.truth("domains", "bad.example.com")
        assert t["prevalence"] == 2
        assert t["first_seen"] == recs[1]["first_seen"] and t["last_seen"] == recs[1]["last_seen"]
        assert sb.truth("ips", "203.0.113.50")["prevalence"] == 2
        assert sb.truth("files", "6" * 64) == {"prevalence": 0, "first_seen": None, "last_seen": None}
        assert sb.truth("domains", "old.example.net")["prevalence"] == 0
        assert sb.truth("domains", "old.example.net", lookback_hours=720)["prevalence"] == 0
        assert sb.data.stats("domains", "old.example.net", 10_000)[0] == 4
        assert sb.truth("files", "7" * 40) is None  # only the user's indicators exist
        rows = [r for r in sb.data.tables["DeviceFileEvents"] + sb.data.tables["DeviceProcessEvents"]]
        assert sum(r["SHA1"] == "5" * 40 for r in rows) == 7
        names = {
            r["DeviceName"] for r in sb.data.tables["DeviceNetworkEvents"] if r["RemoteIP"] == "203.0.113.50"
        }
        assert names == {"pc-a.contoso.com", "pc-b.contoso.com"}
        token = sandbox_token(sb, "https://api.securitycenter.microsoft.com/.default")
        body = httpx.get(
            f"{sb.base_url}/api/domains/bad.example.com/stats",
            headers={"Authorization": f"Bearer {token}"},
            verify=sb.ssl_context(),
        ).json()
        assert (body["organizationPrevalence"], body["orgFirstSeen"]) == (2, recs[1]["first_seen"])


def test_user_data_errors(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"indicator": "not an indicator!"}]))
    with pytest.raises(userdata.DataFileError, match="record 1"):
        userdata.load(str(bad), 1, NOW, "t")
    bad.write_text(json.dumps([{"indicator": "1.2.3.4", "first_seen": "yesterday"}]))
    with pytest.raises(userdata.DataFileError, match="ISO 8601"):
        userdata.load(str(bad), 1, NOW, "t")
    bad.write_text("value\n1.2.3.4\n")
    with pytest.raises(userdata.DataFileError, match="indicator"):
        userdata.load(str(bad), 1, NOW, "t")


def _graph(sb, query: str) -> dict:
    token = sandbox_token(sb, "https://graph.microsoft.com/.default")
    resp = httpx.post(
        f"{sb.base_url}/v1.0/security/runHuntingQuery",
        json={"Query": query},
        headers={"Authorization": f"Bearer {token}"},
        verify=sb.ssl_context(),
        timeout=20,
    )
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_hunting_agrees_with_the_entity_stats():
    config = SandboxConfig(seed=8, sample_dir="", hunting_limits=(1000, 1000))
    with Sandbox(config) as sb:
        sha1 = sb.data.seen_keys("files")[5][1]
        md5 = sb.data.find_file(sha1).md5
        devices, stamps = set(), []
        for table in FILE_TABLES:
            out = _graph(
                sb,
                f'{table} | where Timestamp > ago(30d) | where MD5 == "{md5}" or InitiatingProcessMD5 == "{md5}" '
                "| project DeviceId, Timestamp",
            )
            devices |= {r["DeviceId"] for r in out["results"]}
            stamps += [r["Timestamp"] for r in out["results"]]
        truth = sb.truth("files", sha1)
        assert len(devices) == truth["prevalence"]
        assert parse_ticks(min(stamps)) == parse_ticks(truth["first_seen"])
        ip = sb.data.seen_keys("ips")[3][1]
        out = _graph(
            sb,
            f'DeviceNetworkEvents | where Timestamp > ago(30d) and RemoteIP == "{ip}" '
            "| summarize Devices = dcount(DeviceId), FirstSeen = min(Timestamp), "
            "LastSeen = max(Timestamp) by RemoteIP",
        )
        row = out["results"][0]
        truth = sb.truth("ips", ip)
        assert row["Devices"] == truth["prevalence"]
        assert parse_ticks(row["LastSeen"]) == parse_ticks(truth["last_seen"])


def test_md5_accept_policy():
    with Sandbox(SandboxConfig(seed=3, md5_policy="accept", sample_dir="")) as sb:
        sha1 = sb.data.seen_keys("files")[0][1]
        info = sb.data.find_file(sha1)
        token = sandbox_token(sb, "https://api.securitycenter.microsoft.com/.default")
        body = httpx.get(
            f"{sb.base_url}/api/files/{info.md5}/stats",
            headers={"Authorization": f"Bearer {token}"},
            verify=sb.ssl_context(),
        ).json()
        assert body["sha1"] == sha1
        assert body["organizationPrevalence"] == sb.truth("files", info.md5)["prevalence"] > 0


def test_the_data_clock_moves_and_both_answers_move_with_it():
    ds = generate.build(4, NOW, "tenant", sample_dir="")
    before = ds.now
    time.sleep(0.01)
    assert ds.now > before >= NOW  # running since finish(): events stay put, "now" advances
    assert ds.start == NOW
    # ten days later (a long-running sandbox): the 30-day window has moved for stats and hunting alike
    ds.freeze_clock(NOW + 10 * 24 * TICKS_PER_HOUR)
    moved = 0
    for family, key in ds.seen_keys()[::7]:
        query = {
            "ips": f'DeviceNetworkEvents | where Timestamp > ago(30d) and RemoteIP == "{key}"',
            "files": f"union {', '.join(FILE_TABLES)} | where Timestamp > ago(30d) "
            f'| where SHA1 == "{key}" or InitiatingProcessSHA1 == "{key}"',
        }.get(family)
        if query is None:
            continue
        rows = run_query(
            query + " | summarize D = dcount(DeviceId), F = min(Timestamp)", ds.tables, ds.now_datetime()
        ).rows
        then = _independent_stats(ds, family, key)
        assert ds.truth(family, key)["prevalence"] == then[0] == (rows[0]["D"] if rows else 0)
        moved += then[0] != len({d for t, d in ds.sightings(family, key, now=NOW)})
    assert moved > 0, "some indicators aged out of the window"
    ds.time_scale = 3600.0  # an hour a second
    ds.run_clock()
    start = ds.now
    time.sleep(0.01)
    assert ds.now - start >= 36 * 10_000_000
