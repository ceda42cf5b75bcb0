"""Property: for random planted data, entity statistics and hunting summaries agree for every indicator.

The statistics come from `Dataset.stats` and from the sandbox's HTTP stats APIs; the hunting
summaries from `enrich.sandbox.kql.run_query` over the same tables (dcount/min/max of DeviceId and
Timestamp), following the counting rule of `enrich.sandbox.tables.counting`. The data clock is
frozen for the comparison, so both sides see the same "now".
"""

from __future__ import annotations

import ipaddress
import json
import tempfile
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from enrich.sandbox import Sandbox, SandboxConfig
from enrich.sandbox.data import TICKS_PER_HOUR, parse_ticks
from enrich.sandbox.kql import run_query
from tests.mde_helpers import sandbox_token

pytestmark = pytest.mark.timeout(240)

DEVICES = [f"ws-{n:02d}.agree.contoso.test" for n in range(6)]
HASH_COLUMN = {40: "SHA1", 64: "SHA256", 32: "MD5"}
FILES_UNION = "union DeviceFileEvents, DeviceProcessEvents, DeviceImageLoadEvents, DeviceEvents"
SUMMARY = "summarize Devices = dcount(DeviceId), FirstSeen = min(Timestamp), LastSeen = max(Timestamp)"

hexes = st.integers(min_value=1, max_value=2**256 - 1)
ages = st.integers(min_value=1, max_value=900)  # hours; some fall outside the 30-day lookback
device_times = st.lists(
    st.tuples(st.sampled_from(DEVICES), ages), min_size=0, max_size=6
)  # empty: the file is known to MDE but never seen here


@st.composite
def file_records(draw) -> dict:
    """A file given by 1 to 3 of its hashes, on 0 devices (known to MDE, never seen here) or more."""
    sizes = {"sha1": 160, "sha256": 256, "md5": 128}
    given_hashes = draw(st.sets(st.sampled_from(sorted(sizes)), min_size=1))
    rec: dict = {}
    for name in sorted(given_hashes):
        rec[name] = f"{draw(st.integers(min_value=1, max_value=2 ** sizes[name] - 1)):0{sizes[name] // 4}x}"
    pairs = draw(device_times)
    rec["devices"] = [f"{d}@{h}h" for d, h in pairs]
    rec["prevalence"] = len({d for d, _ in pairs})
    return rec


@st.composite
def ip_records(draw) -> dict:
    n = draw(st.integers(min_value=1, max_value=2**24))
    v4 = f"45.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"
    v6 = f"2a01:4f8:{n >> 16:x}:{n & 0xFFFF:x}::1"
    ip = str(ipaddress.ip_address(v4 if draw(st.booleans()) else v6))  # the canonical text RemoteIP holds
    pairs = draw(device_times.filter(bool))
    return {"indicator": ip, "devices": [f"{d}@{h}h" for d, h in pairs]}


@st.composite
def domain_records(draw) -> dict:
    label = draw(st.from_regex(r"[a-z][a-z0-9]{2,10}", fullmatch=True))
    host = f"{label}.agree-test.net"
    form = draw(st.sampled_from(["bare", "path", "query", "port"]))
    url = {
        "bare": "",
        "path": f"https://{host}/dl/x.bin",
        "query": f"https://{host}/p?id=1&x=2",
        "port": f"http://{host}:8080/gate.php",
    }[form]
    pairs = draw(device_times.filter(bool))
    rec = {"indicator": host, "devices": [f"{d}@{h}h" for d, h in pairs]}
    if url:
        rec["url"] = url
    return rec


def _unique(records: list[dict]) -> bool:
    keys = [r.get("indicator") or r.get("sha1") or r.get("sha256") or r.get("md5") for r in records]
    hashes = [h for r in records for k in ("sha1", "sha256", "md5") if (h := r.get(k))]
    return len(set(keys)) == len(keys) and len(set(hashes)) == len(hashes)


datasets = st.lists(st.one_of(file_records(), ip_records(), domain_records()), min_size=1, max_size=6).filter(
    _unique
)


def _hunt(sb: Sandbox, query: str) -> tuple[int, int | None, int | None]:
    rows = run_query(query, sb.data.tables, sb.data.now_datetime()).rows
    if not rows or not rows[0]["Devices"]:
        return 0, None, None
    row = rows[0]
    return row["Devices"], parse_ticks(row["FirstSeen"]), parse_ticks(row["LastSeen"])


def _window(hours: int) -> str:
    return f"where Timestamp between (ago({hours}h) .. now())"


def _api(sb: Sandbox, token: str, path: str, hours: int) -> tuple[int, int | None, int | None] | None:
    resp = httpx.get(
        f"{sb.base_url}{path}",
        params={"lookBackHours": hours},
        headers={"Authorization": f"Bearer {token}"},
        verify=sb.ssl_context(),
        timeout=10,
    )
    if resp.status_code == 404:
        return None
    assert resp.status_code == 200, resp.text
    body = resp.json()
    first, last = body["orgFirstSeen"], body["orgLastSeen"]
    return (
        body["organizationPrevalence"],
        parse_ticks(first) if first else None,
        parse_ticks(last) if last else None,
    )


def _check(sb: Sandbox, token: str, records: list[dict], hours: int) -> None:
    data = sb.data
    for rec in records:
        if "indicator" not in rec:  # a file: every hash it was given answers as the same file
            for name in ("sha1", "sha256", "md5"):
                value = rec.get(name)
                if not value:
                    continue
                column = HASH_COLUMN[len(value)]
                hunted = _hunt(
                    sb,
                    f"{FILES_UNION} | {_window(hours)} "
                    f'| where {column} =~ "{value}" or InitiatingProcess{column} =~ "{value}" | {SUMMARY}',
                )
                assert data.stats("files", value, hours) == hunted, (rec, name)
                assert _api(sb, token, f"/api/files/{value}/stats", hours) == hunted, (rec, name)
            continue
        value = rec["indicator"]
        if ":" in value or value[0].isdigit():
            query = f'DeviceNetworkEvents | {_window(hours)} | where RemoteIP == "{value}" | {SUMMARY}'
            family, path = "ips", f"/api/ips/{value}/stats"
        else:
            query = (
                f"DeviceNetworkEvents | {_window(hours)} | where isnotempty(RemoteUrl) "
                "| extend Host = tolower(coalesce(tostring(parse_url(RemoteUrl).Host), RemoteUrl)) "
                f'| where Host == "{value}" | {SUMMARY}'
            )
            family, path = "domains", f"/api/domains/{value}/stats"
        hunted = _hunt(sb, query)
        assert data.stats(family, value, hours) == hunted, rec
        assert _api(sb, token, path, hours) == hunted, rec
        # and both say what was planted (ages count from the start; the clock has moved on a little)
        planted = [(d.split("@")[0], int(d.rsplit("@", 1)[1][:-1])) for d in rec["devices"]]
        inside = [(d, h) for d, h in planted if h < hours]
        assert hunted[0] == len({d for d, _ in inside}), rec
        if inside:
            assert hunted[1] == data.start - max(h for _, h in inside) * TICKS_PER_HOUR
            assert hunted[2] == data.start - min(h for _, h in inside) * TICKS_PER_HOUR


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records=datasets, hours=st.sampled_from([720, 500, 72, 5]))
def test_entity_stats_and_hunting_agree(records, hours):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "planted.json"
        path.write_text(json.dumps({"indicators": records}), encoding="utf-8")
        config = SandboxConfig(
            seed=3, data_file=str(path), sample_dir="", md5_policy="accept", entity_limits=(10_000, 100_000)
        )
        with Sandbox(config) as sb:
            sb.data.freeze_clock()
            token = sandbox_token(sb)
            _check(sb, token, records, hours)


BULK = {
    "files": (
        f"{FILES_UNION} | {{window}} | project DeviceId, Timestamp, Key = pack_array(SHA1, InitiatingProcessSHA1) "
        "| mv-expand Key to typeof(string) | where isnotempty(Key)"
    ),
    "ips": "DeviceNetworkEvents | {window} | project DeviceId, Timestamp, Key = RemoteIP",
    "domains": (
        "DeviceNetworkEvents | {window} | where isnotempty(RemoteUrl) "
        "| extend Key = tolower(coalesce(tostring(parse_url(RemoteUrl).Host), RemoteUrl))"
    ),
}


@pytest.mark.parametrize("hours", [720, 72])
def test_bulk_hunting_summaries_equal_the_stats_of_every_generated_indicator(hours):
    from enrich.sandbox import generate

    ds = generate.build(4, parse_ticks("2026-11-20T12:00:00Z"), "tenant")  # with the repository's sample_data
    ds.freeze_clock()
    for family, source in BULK.items():
        query = source.format(window=_window(hours)) + f" | {SUMMARY} by Key"
        hunted = {
            row["Key"]: (row["Devices"], parse_ticks(row["FirstSeen"]), parse_ticks(row["LastSeen"]))
            for row in run_query(query, ds.tables, ds.now_datetime()).rows
        }
        if family == "domains":  # hosts that are not domain names (IP literals) have no domain stats
            hunted = {k: v for k, v in hunted.items() if ds._key("domains", k)}
        seen = {key for _, key in ds.seen_keys(family, hours)}
        assert set(hunted) == seen, family
        assert seen, family
        for key, summary in hunted.items():
            assert ds.stats(family, key, hours) == summary, (family, key)
