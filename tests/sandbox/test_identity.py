"""One file, one identity: the hashes sample_data and --data give for one file answer as that file
on the entity APIs, in FileProfile() data and in hunting; --data plants events with device names."""

from __future__ import annotations

import json

import httpx
import pytest

from enrich.sandbox import Sandbox, SandboxConfig, samples, userdata
from enrich.sandbox.data import TICKS_PER_HOUR, parse_ticks
from enrich.sandbox.kql import run_query
from enrich.sandbox.tables.counting import FILE_TABLES
from tests.mde_helpers import sandbox_token

pytestmark = pytest.mark.timeout(120)

NOW = parse_ticks("2026-11-20T12:00:00.1234567Z")
FILES_UNION = "union " + ", ".join(FILE_TABLES)
COLUMN = {40: "SHA1", 64: "SHA256", 32: "MD5"}


def _get(sb: Sandbox, token: str, path: str) -> httpx.Response:
    return httpx.get(
        f"{sb.base_url}{path}",
        headers={"Authorization": f"Bearer {token}"},
        verify=sb.ssl_context(),
        timeout=10,
    )


def _hunt_devices(sb: Sandbox, file_hash: str) -> tuple[set[str], list[str]]:
    """DeviceNames and Timestamps of the events whose file or initiating process has `file_hash`."""
    column = COLUMN[len(file_hash)]
    rows = run_query(
        f'{FILES_UNION} | where Timestamp > ago(30d) | where {column} == "{file_hash}" '
        f'or InitiatingProcess{column} == "{file_hash}" | project DeviceName, Timestamp',
        sb.data.tables,
        sb.data.now_datetime(),
    ).rows
    return {r["DeviceName"] for r in rows}, sorted(r["Timestamp"] for r in rows)


def test_linked_hashes_of_the_sample_files():
    groups = samples.linked_hashes(samples.default_sample_dir())
    as_sets = [set(g) for g in groups]
    # one CSV cell with three hashes, a STIX pattern ORing three, two STIX `hashes` objects
    assert {
        "e7649ec75d387f6883b127f9a2008d92f19d3c44",
        "30f0d24f2b12a67e0ff0cc69bd5c5ccc2c7f0c208dcb558fa873b2e140cc963c",
        "e37fd52b07449efb217a6338d05a8f3d",
    } in as_sets
    assert {
        "0cc175b9c0f1b6a831c399e269772661",
        "86f7e437faa5a7fce15d1ddcb9eaeaea377667b8",
        "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb",
    } in as_sets
    assert {
        "098f6bcd4621d373cade4e832627b4f6",
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    } in as_sets
    # two SHA-256 on one line are two files, never linked
    assert not any("560402110ff92eb800ec23a5bb207ed1c4970b35f3f75044aa8deee4459494a7" in g for g in groups)


def test_one_file_from_three_hashes():
    assert samples.one_file(
        ["sha1 86f7e437faa5a7fce15d1ddcb9eaeaea377667b8 md5 0cc175b9c0f1b6a831c399e269772661"]
    )
    assert (
        samples.one_file(
            ["86f7e437faa5a7fce15d1ddcb9eaeaea377667b8 a94a8fe5ccb19ba61c4c0875d91c8f2f7d3f3d1e"]
        )
        is None
    )
    assert samples.one_file(["only 86f7e437faa5a7fce15d1ddcb9eaeaea377667b8"]) is None


@pytest.fixture(scope="module")
def sb():
    with Sandbox(SandboxConfig(seed=5, md5_policy="accept")) as box:  # the repository's sample_data
        yield box


def test_sample_hashes_of_one_file_answer_as_one_file(sb):
    token = sandbox_token(sb)
    seen_groups = 0
    for group in samples.linked_hashes(samples.default_sample_dir()):
        infos = {h: sb.data.find_file(h) for h in group}
        assert len({id(i) for i in infos.values()}) == 1, group  # all known as one file, or all unknown
        entity = [_get(sb, token, f"/api/files/{h}") for h in group]
        stats = [_get(sb, token, f"/api/files/{h}/stats") for h in group]
        if infos[group[0]] is None:
            assert {r.status_code for r in entity + stats} == {404}
            assert all(sb.data.file_profile(h) is None for h in group)
            continue
        seen_groups += 1
        assert {r.status_code for r in entity + stats} == {200}
        bodies = [r.json() for r in entity]
        assert all(b == bodies[0] for b in bodies)
        assert set(group) <= {bodies[0]["sha1"], bodies[0]["sha256"], bodies[0]["md5"]}
        numbers = {(s.json()["sha1"], s.json()["orgPrevalence"], s.json()["orgFirstSeen"]) for s in stats}
        assert len(numbers) == 1
        profiles = [sb.data.file_profile(h.upper()) for h in group]
        assert all(p == profiles[0] for p in profiles)
        assert (profiles[0]["SHA1"], profiles[0]["SHA256"], profiles[0]["MD5"]) == (
            bodies[0]["sha1"],
            bodies[0]["sha256"],
            bodies[0]["md5"],
        )
        assert profiles[0]["GlobalPrevalence"] == bodies[0]["globalPrevalence"]
        assert profiles[0]["ThreatName"] == (bodies[0]["determinationValue"] or "")
        # hunting by each hash column finds the same events; prevalence as the stats API says
        found = [_hunt_devices(sb, h) for h in group]
        assert all(f == found[0] for f in found)
        _, prevalence, first = next(iter(numbers))
        assert len(found[0][0]) == int(prevalence) > 0
        assert parse_ticks(found[0][1][0]) == parse_ticks(first)
    assert seen_groups >= 1


def test_file_profile_unknown_and_fields(sb):
    assert sb.data.file_profile("0" * 40) is None
    assert sb.data.file_profile("not a hash") is None
    sha1 = sb.data.seen_keys("files")[0][1]
    profile = sb.data.file_profile(sha1)
    info = sb.data.find_file(sha1)
    assert profile["ProfileAvailability"] == "Available"
    assert profile["IsExecutable"] is info.is_pe
    assert profile["SignatureState"] in ("SignedValid", "SignedInvalid", "Unsigned")


def test_data_file_with_several_hashes_and_device_names_round_trips(tmp_path):
    sha1, sha256, md5 = "ab" * 20, "cd" * 32, "ef" * 16
    records = [
        {
            "sha1": sha1,
            "sha256": sha256,
            "md5": md5,
            "file_name": "drop.exe",
            "url": "https://files.example.org/d/drop.exe?src=mail",
            "devices": [
                "laptop-a.corp.example.com@30h",
                "laptop-a.corp.example.com@2h",
                "srv-b.corp.example.com@10h",
            ],
        },
        {
            "indicator": "https://c2.example.net/gate.php?id=7",
            "devices": [{"name": "srv-b.corp.example.com", "times": ["5h"]}],
        },
    ]
    path = tmp_path / "data.json"
    path.write_text(json.dumps(records), encoding="utf-8")
    ds = userdata.load(str(path), 1, NOW, "t")
    ds.freeze_clock(NOW)
    info = ds.find_file(md5)
    assert info is ds.find_file(sha1) is ds.find_file(sha256) and info.name == "drop.exe"
    assert ds.truth("files", sha256) == {
        "prevalence": 2,
        "first_seen": "2026-11-19T06:00:00.1234567Z",
        "last_seen": "2026-11-20T10:00:00.1234567Z",
    }
    rows = [r for t in FILE_TABLES for r in ds.tables[t] if r["SHA256"] == sha256]
    assert len(rows) == 3 and all((r["SHA1"], r["MD5"]) == (sha1, md5) for r in rows)
    assert sorted(r["DeviceName"] for r in rows) == [
        "laptop-a.corp.example.com",
        "laptop-a.corp.example.com",
        "srv-b.corp.example.com",
    ]
    assert {r["FileOriginUrl"] for r in ds.tables["DeviceFileEvents"] if r["SHA1"] == sha1} <= {
        "https://files.example.org/d/drop.exe?src=mail"
    }
    net = [
        r
        for r in ds.tables["DeviceNetworkEvents"]
        if r["RemoteUrl"] == "https://c2.example.net/gate.php?id=7"
    ]
    assert [(r["DeviceName"], r["Timestamp"]) for r in net] == [
        ("srv-b.corp.example.com", "2026-11-20T07:00:00.1234567Z")
    ]
    assert ds.truth("domains", "c2.example.net")["prevalence"] == 1
    named = ds.device_named("SRV-B.corp.example.com")
    assert named is not None and named.entity()["computerDnsName"] == "srv-b.corp.example.com"
    assert any(r["DeviceName"] == named.name for r in ds.tables["DeviceInfo"])  # heartbeats for named devices
    assert ds.now - 5 * TICKS_PER_HOUR == parse_ticks(net[0]["Timestamp"])


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"sha1": "12"}, "not a 40-digit hex SHA1"),
        ({"indicator": "ab" * 20, "sha1": "cd" * 20}, "name two files"),
        ({"indicator": "1.2.3.4", "md5": "ab" * 16}, "only go with a file"),
        ({"indicator": "example.org", "url": "https://other.org/x"}, "is not on example.org"),
        ({"indicator": "1.2.3.4", "devices": ["@5h"]}, "has no name"),
        ({"indicator": "1.2.3.4", "devices": ["a@soon"]}, "device a"),
        (
            {"indicator": "1.2.3.4", "first_seen": "2h", "last_seen": "1h", "devices": ["a@5h"]},
            "outside first_seen",
        ),
        ({"indicator": "1.2.3.4", "devices": [{"times": ["1h"]}]}, '"name"'),
        ({"prevalence": 2}, "is required"),
        ({"indicator": "1.2.3.4", "prevalence": "many"}, "must be integers"),
        ({"indicator": "1.2.3.4", "events": [3]}, "must be integers"),
    ],
)
def test_data_file_errors_say_what_is_wrong(tmp_path, record, message):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps([record]), encoding="utf-8")
    with pytest.raises(userdata.DataFileError, match="record 1") as err:
        userdata.load(str(path), 1, NOW, "t")
    assert message in str(err.value)


def test_csv_data_file_with_hash_columns_and_timed_devices(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text(
        "indicator,sha256,devices\n"
        f"{'12' * 20},{'34' * 32},ws-1.corp.example.com@3h;ws-2.corp.example.com@4h\n"
        "203.0.113.9,,ws-1.corp.example.com@1d\n",
        encoding="utf-8",
    )
    ds = userdata.load(str(path), 1, NOW, "t")
    ds.freeze_clock(NOW)
    assert ds.stats("files", "34" * 32)[0] == 2 and ds.find_file("34" * 32).sha1 == "12" * 20
    assert ds.stats("ips", "203.0.113.9") == (1, NOW - 24 * TICKS_PER_HOUR, NOW - 24 * TICKS_PER_HOUR)


def test_sample_urls_are_read_whole():
    text = (
        "see hxxps://files[.]example[.]net/payload[.]zip, and https://docs.example.com/share?id=42#section-2"
    )
    assert samples.extract_urls(text) == [
        "https://files.example.net/payload.zip",
        "https://docs.example.com/share?id=42",
    ]
    pattern = r"[url:value = 'http://shop.example/it\'s-free']"
    assert samples.extract_urls(pattern) == ["http://shop.example/it's-free"]


def test_seen_sample_urls_are_in_remote_url_whole(sb):
    urls = samples.scan_urls(samples.default_sample_dir())
    planted = 0
    for host, host_urls in urls.items():
        family = "ips" if sb.data._key("ips", host) else "domains"
        rows = [r for r in sb.data.tables["DeviceNetworkEvents"] if r["RemoteUrl"] in host_urls]
        if sb.data.truth(family, host)["prevalence"] == 0:
            assert not rows, host
            continue
        planted += 1
        assert rows, f"the seen host {host} has none of its sample URLs in RemoteUrl"
        hunted = run_query(
            f'DeviceNetworkEvents | where RemoteUrl == "{host_urls[0]}" | summarize n = count()',
            sb.data.tables,
            sb.data.now_datetime(),
        ).rows
        assert hunted[0]["n"] >= 1
    assert planted >= 1


def test_records_load_without_a_file():
    ds = userdata.load_records(
        [
            {
                "indicator": "198.51.100.7",
                "devices": ["kiosk-1.corp.example.com@6h", "kiosk-2.corp.example.com@7h"],
            }
        ],
        2,
        NOW,
        "t",
    )
    ds.freeze_clock(NOW)
    assert ds.stats("ips", "198.51.100.7") == (2, NOW - 7 * TICKS_PER_HOUR, NOW - 6 * TICKS_PER_HOUR)
    with pytest.raises(userdata.DataFileError, match="planted: record 1"):
        userdata.load_records([{"indicator": "?"}], 2, NOW, "t", source="planted")
    with pytest.raises(
        userdata.DataFileError, match="record 2: an earlier record gave this file other hashes"
    ):
        userdata.load_records([{"sha1": "ab" * 20}, {"sha1": "ab" * 20, "md5": "cd" * 16}], 2, NOW, "t")
    same = userdata.load_records(
        [{"sha1": "ab" * 20, "devices": ["a@1h"]}, {"indicator": "ab" * 20}], 2, NOW, "t"
    )
    assert same.stats("files", "ab" * 20)[0] == 1  # a file named twice by the same hash is one file
