"""`hunt` against the real sandbox over HTTPS: answers equal the planted truth, Graph then legacy,
chunks too big split, CPU 429s waited out, permissions missing named."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
import threading
import time
from urllib.parse import urlsplit

import pytest

from enrich.indicators import classify
from enrich.mde.auth import TokenProvider
from enrich.mde.client import MdeClient
from enrich.mde.errors import AuthError, PermissionDenied
from enrich.mde.hunting import (
    PATH_GRAPH,
    PATH_LEGACY,
    ChunkResult,
    HuntOptions,
    Sighting,
    UnsafeValue,
    hunt,
    hunting_paths,
)
from enrich.mde.hunting.paths import use_graph_tokens
from enrich.mde.hunting.queries import url_key
from enrich.mde.limits import Budget
from enrich.model import IndicatorType
from tests.mde.hunting_contract import FILE_TABLES, HASH_COLUMNS
from tests.mde_helpers import SECRET, TENANT, reset_sandbox, settings_for

pytestmark = pytest.mark.timeout(120)

GRAPH_LESS = "0f5e8a66-5d0f-4c1b-8a43-6b2f3d4e5b01"
LEGACY_LESS = "0f5e8a66-5d0f-4c1b-8a43-6b2f3d4e5b02"
NO_HUNTING = "0f5e8a66-5d0f-4c1b-8a43-6b2f3d4e5b03"
MAIN = "0f5e8a66-5d0f-4c1b-8a43-6b2f3d4e5b04"
ENTITY_ROLES = ("File.Read.All", "Ip.Read.All", "URL.Read.All")
HUNTING_CALLS = {"hunting": PATH_LEGACY, "graph_hunting": PATH_GRAPH}  # sandbox family -> our path


@pytest.fixture(scope="module")
def hunting_module_sandbox():
    from enrich.sandbox import ClientSpec, Sandbox, SandboxConfig

    clients = [
        ClientSpec(
            MAIN, SECRET, TENANT, roles=(*ENTITY_ROLES, "AdvancedQuery.Read.All", "ThreatHunting.Read.All")
        ),
        ClientSpec(GRAPH_LESS, SECRET + "G", TENANT, roles=(*ENTITY_ROLES, "AdvancedQuery.Read.All")),
        ClientSpec(LEGACY_LESS, SECRET + "L", TENANT, roles=(*ENTITY_ROLES, "ThreatHunting.Read.All")),
        ClientSpec(NO_HUNTING, SECRET + "N", TENANT, roles=ENTITY_ROLES),
    ]
    with Sandbox(SandboxConfig(time_scale=60, sample_dir="", clients=clients)) as sb:
        yield sb


@pytest.fixture
def sb(hunting_module_sandbox, monkeypatch):
    reset_sandbox(hunting_module_sandbox, monkeypatch)
    hunting_module_sandbox.configure(
        hunting_max_result_bytes=50 * 1024 * 1024, hunting_cpu_quota=1e9, hunting_timeout=200.0
    )
    return hunting_module_sandbox


def _run(sb, family, values, options=None, client_id=MAIN, secret=SECRET, graph_tokens=None, **client_kw):
    """(chunk results, the client, the paths it saw) of one `hunt` over real sockets."""
    settings = settings_for(sb, client_id, secret)
    options = options or HuntOptions(max_devices=0)
    results: list[ChunkResult] = []

    async def main():
        async with MdeClient(
            settings, TokenProvider(settings), Budget(settings.rate_limits), **client_kw
        ) as c:
            if graph_tokens is not None:
                use_graph_tokens(c, graph_tokens)
            await hunt(c, family, values, options, results.append)
            return c, await hunting_paths(c)

    client, paths = asyncio.run(asyncio.wait_for(main(), 100))
    return results, client, paths


def _hunting_statuses(sb) -> list[tuple[str, int]]:
    return [(HUNTING_CALLS[r.family], r.status) for r in sb.requests if r.family in HUNTING_CALLS]


def _merged(results: list[ChunkResult]) -> dict[str, Sighting]:
    out: dict[str, Sighting] = {}
    for result in results:
        assert not result.error, result.error
        assert set(result.sightings) <= set(result.values)
        out.update(result.sightings)
    return out


# -- the planted truth, computed from the sandbox's tables --------------------------------------


def _ticks(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text[:26].rstrip("Z") + "+00:00")


def _truth(sb, rows, max_devices: int) -> Sighting | None:
    """What a value seen in `rows` (the matching events) should get over the last 720 hours."""
    since = sb.data.now_datetime() - dt.timedelta(hours=720)
    rows = [row for row in rows if _ticks(str(row["Timestamp"])) > since]
    if not rows:
        return None
    names = sorted({str(row["DeviceName"]) for row in rows})
    times = sorted(str(row["Timestamp"]) for row in rows)
    return Sighting(
        devices=len({row["DeviceId"] for row in rows}),
        events=len(rows),
        first_seen=times[0],
        last_seen=times[-1],
        device_names=tuple(names[:max_devices]),
    )


def _check(sb, got: dict[str, Sighting], expected: dict[str, Sighting | None], max_devices: int) -> None:
    for value, truth in expected.items():
        if truth is None:
            assert value not in got, value
            continue
        seen = got[value]
        assert (seen.devices, seen.events, seen.first_seen, seen.last_seen) == (
            truth.devices,
            truth.events,
            truth.first_seen,
            truth.last_seen,
        ), value
        if max_devices == 0:
            assert seen.device_names == ()
        elif truth.devices <= max_devices:
            assert seen.device_names == truth.device_names
        else:  # any max_devices of them
            all_names = {row for row in truth.device_names} | set(seen.device_names)
            assert len(seen.device_names) == max_devices and set(seen.device_names) <= all_names


def _ips_truth(sb, values, max_devices):
    table = sb.data.tables["DeviceNetworkEvents"]
    return {
        v: _truth(sb, [r for r in table if r["RemoteIP"] in (v, "::ffff:" + v)], max_devices) for v in values
    }


def _some_ips(sb, count=8):
    seen = [key for _, key in sb.data.seen_keys("ips")][:count]
    return seen + ["203.0.113.250", "2001:db8::dead"]


# -- answers ----------------------------------------------------------------------------------


@pytest.mark.parametrize("max_devices", [0, 3])
def test_ips_equal_the_planted_truth_through_graph(sb, max_devices):
    values = _some_ips(sb)
    results, client, paths = _run(sb, "ips", values, HuntOptions(max_devices=max_devices))
    assert paths == {PATH_GRAPH: "", PATH_LEGACY: ""}
    assert [r.path for r in results] == [PATH_GRAPH] and results[0].values == tuple(values)
    _check(sb, _merged(results), _ips_truth(sb, values, max(max_devices, 10**6)), max_devices)
    for value in values[:8]:  # the stats API's prevalence agrees
        assert _merged(results)[value].devices == sb.truth("ips", value)["prevalence"]
    assert _hunting_statuses(sb) == [(PATH_GRAPH, 200)]
    assert client.metrics().calls == {"hunting-graph": 1}


def test_graph_without_its_permission_uses_legacy(sb):
    values = _some_ips(sb)
    results, client, paths = _run(sb, "ips", values, client_id=GRAPH_LESS, secret=SECRET + "G")
    assert "ThreatHunting.Read.All" in paths[PATH_GRAPH] and paths[PATH_LEGACY] == ""
    assert [r.path for r in results] == [PATH_LEGACY]
    _check(sb, _merged(results), _ips_truth(sb, values, 10), 0)
    assert _hunting_statuses(sb) == [(PATH_LEGACY, 200)]
    assert client.metrics().calls == {"hunting": 1}


class _NotAJwt:
    """A Graph token source whose token is no JWT (its roles unknown) and which Graph refuses (401)."""

    def __init__(self) -> None:
        self.acquisitions = 0
        self.token: str | None = None

    def cached_token(self) -> str | None:
        return self.token

    def get_token(self) -> str:
        self.acquisitions += 1
        self.token = f"not-a-jwt-{self.acquisitions}"
        return self.token

    def invalidate(self, token: str | None = None) -> None:
        self.token = None


def test_graph_refusing_our_token_falls_back_to_legacy_for_the_rest_of_the_run(sb):
    values = _some_ips(sb, 4)
    results, _, paths = _run(
        sb, "ips", values, HuntOptions(max_devices=0, chunk_values=3), graph_tokens=_NotAJwt()
    )
    assert "Microsoft Graph refused our token" in paths[PATH_GRAPH] and paths[PATH_LEGACY] == ""
    assert [r.path for r in results] == [PATH_LEGACY, PATH_LEGACY]
    _check(sb, _merged(results), _ips_truth(sb, values, 10), 0)
    assert _hunting_statuses(sb) == [
        (PATH_GRAPH, 401),
        (PATH_GRAPH, 401),
        (PATH_LEGACY, 200),
        (PATH_LEGACY, 200),
    ]


def test_legacy_only_when_asked(sb):
    results, _, _ = _run(sb, "ips", _some_ips(sb), HuntOptions(max_devices=0, paths=(PATH_LEGACY,)))
    assert [r.path for r in results] == [PATH_LEGACY] and _hunting_statuses(sb) == [(PATH_LEGACY, 200)]


def test_no_hunting_permission_is_a_clear_permission_denied(sb):
    with pytest.raises(PermissionDenied) as info:
        _run(sb, "ips", _some_ips(sb), client_id=NO_HUNTING, secret=SECRET + "N")
    message = str(info.value)
    assert (
        "ThreatHunting.Read.All (Microsoft Graph) or AdvancedQuery.Read.All (WindowsDefenderATP)" in message
    )
    assert info.value.permissions == ("ThreatHunting.Read.All", "AdvancedQuery.Read.All")
    assert _hunting_statuses(sb) == []  # decided from the tokens' roles: no call spent


def test_graph_only_without_its_permission_is_permission_denied(sb):
    with pytest.raises(PermissionDenied, match=r"ThreatHunting\.Read\.All"):
        _run(
            sb,
            "ips",
            _some_ips(sb),
            HuntOptions(paths=(PATH_GRAPH,)),
            client_id=GRAPH_LESS,
            secret=SECRET + "G",
        )


def test_a_bad_value_is_refused_before_any_call(sb):
    with pytest.raises(UnsafeValue, match="is not an IP address"):
        _run(sb, "ips", ["10.0.0.1", '10.0.0.2") | take 1 //'])
    assert sb.requests == []


def test_many_values_go_in_chunks_each_answered_once(sb):
    values = _some_ips(sb, 30)
    results, _, _ = _run(sb, "ips", values, HuntOptions(max_devices=0, chunk_values=7))
    assert sorted(len(r.values) for r in results) == [4, 7, 7, 7, 7]
    assert results[0].values == tuple(values[:7])  # the first query alone, then the rest a few at a time
    assert sorted(v for r in results for v in r.values) == sorted(values)
    _check(sb, _merged(results), _ips_truth(sb, values, 10), 0)
    assert _hunting_statuses(sb) == [(PATH_GRAPH, 200)] * 5


@pytest.mark.parametrize("in_flight", [1, 3])
def test_after_the_first_query_a_family_has_at_most_queries_in_flight_at_once(sb, monkeypatch, in_flight):
    from enrich.sandbox import hunting as sandbox_hunting

    lock, active, most, order = threading.Lock(), [0], [0], []
    real = sandbox_hunting.answer_graph

    def slow(*args, **kwargs):
        with lock:
            active[0] += 1
            most[0] = max(most[0], active[0])
            order.append(active[0])
        time.sleep(0.3)  # a query that takes a while to run, as MDE's do
        try:
            return real(*args, **kwargs)
        finally:
            with lock:
                active[0] -= 1

    monkeypatch.setattr(sandbox_hunting, "answer_graph", slow)
    values = _some_ips(sb, 30)
    options = HuntOptions(max_devices=0, chunk_values=5, queries_in_flight=in_flight)
    results, _, _ = _run(sb, "ips", values, options)
    _check(sb, _merged(results), _ips_truth(sb, values, 10), 0)
    assert len(results) >= 6 and order[0] == 1  # the first query ran alone
    assert most[0] == in_flight


# -- limits -----------------------------------------------------------------------------------


def test_a_chunk_over_the_result_size_is_split_and_completes(sb):
    values = _some_ips(sb, 12)
    sb.configure(hunting_max_result_bytes=700)  # about four result rows
    results, _, _ = _run(sb, "ips", values, HuntOptions(max_devices=0))
    statuses = _hunting_statuses(sb)
    assert statuses[0] == (PATH_GRAPH, 400) and statuses.count((PATH_GRAPH, 200)) == len(results) > 1
    assert sorted(v for r in results for v in r.values) == sorted(values)
    _check(sb, _merged(results), _ips_truth(sb, values, 10), 0)


def test_a_lone_value_over_the_result_size_is_that_values_error(sb):
    values = _some_ips(sb, 3)[:3]
    sb.configure(hunting_max_result_bytes=20)
    results, _, _ = _run(sb, "ips", values, HuntOptions(max_devices=0))
    assert sorted(r.values for r in results) == sorted((v,) for v in values)
    assert all("exceeded the allowed result size" in r.error and not r.sightings for r in results)
    assert len(_hunting_statuses(sb)) == 5  # 3 values: the chunk, its halves (2 + 1), the pair's halves


def test_a_time_out_splits_and_never_retries_the_same_query(sb):
    values = _some_ips(sb, 2)[:2]
    sb.configure(hunting_timeout=1e-9)  # every query "runs" too long: 504
    results, client, _ = _run(sb, "ips", values, HuntOptions(max_devices=0))
    assert sorted(r.values for r in results) == [(values[0],), (values[1],)]
    assert all(r.error.startswith("hunting could not answer") for r in results)
    assert _hunting_statuses(sb) == [(PATH_GRAPH, 504)] * 3
    assert client.metrics().retries == 0


def test_a_cpu_quota_429_is_waited_out(sb, caplog):
    values = _some_ips(sb, 4)
    sb.configure(time_scale=900, hunting_cpu_quota=1e-9)  # the first query uses up the 1-second cycle
    with caplog.at_level(logging.INFO, logger="enrich.mde.client"):
        results, client, _ = _run(sb, "ips", values, HuntOptions(max_devices=0, chunk_values=2))
    statuses = _hunting_statuses(sb)
    assert statuses[0] == (PATH_GRAPH, 200) and statuses[1] == (PATH_GRAPH, 429)
    assert statuses[-1] == (PATH_GRAPH, 200) and statuses.count((PATH_GRAPH, 200)) == len(results) == 3
    _check(sb, _merged(results), _ips_truth(sb, values, 10), 0)
    metrics = client.metrics()
    assert metrics.throttled["hunting-graph"] >= 1 and metrics.retries == 0
    pause = r"quota exceeded for hunting-graph \(429\); pausing that API for [0-9.]+ s \(.*CPU quota"
    assert any(re.search(pause, m) for m in caplog.messages)


# -- the other families against the sandbox's dataset ------------------------------------------


def _file_events(sb, value):
    return [
        row
        for table in FILE_TABLES
        for row in sb.data.tables[table]
        if any(row.get(column) == value for column in HASH_COLUMNS)
    ]


def test_files_of_every_hash_kind_equal_the_planted_truth(sb):
    rows = [row for table in FILE_TABLES for row in sb.data.tables[table]]
    picked: list[str] = []
    for column in ("SHA1", "MD5", "SHA256", "InitiatingProcessSHA1", "InitiatingProcessMD5"):
        picked += list(dict.fromkeys(row[column] for row in rows if row.get(column)))[:4]
    values = list(dict.fromkeys(picked)) + ["0" * 40, "1" * 32, "2" * 64]
    results, _, _ = _run(sb, "files", values, HuntOptions(max_devices=3))
    expected = {v: _truth(sb, _file_events(sb, v), 10**6) for v in values}
    assert sum(t is not None for t in expected.values()) >= 12
    _check(sb, _merged(results), expected, 3)


def _host(url: str) -> str:
    if "://" in url:
        return (urlsplit(url).hostname or "").lower().rstrip(".")
    return re.split(r"[/?#:]", url, maxsplit=1)[0].lower().rstrip(".")


def test_domains_equal_the_planted_truth(sb):
    values = [key for _, key in sb.data.seen_keys("domains")][:15] + ["never-seen.example.org"]
    results, _, _ = _run(sb, "domains", values, HuntOptions(max_devices=3))
    table = sb.data.tables["DeviceNetworkEvents"]
    expected = {
        v: _truth(sb, [r for r in table if r["RemoteUrl"] and _host(r["RemoteUrl"]) == v], 10**6)
        for v in values
    }
    assert sum(t is not None for t in expected.values()) >= 10
    _check(sb, _merged(results), expected, 3)


def _url_events(sb, url: str) -> list:
    wanted = url_key(url)
    out = []
    for table, column in (("DeviceNetworkEvents", "RemoteUrl"), ("DeviceFileEvents", "FileOriginUrl")):
        for row in sb.data.tables[table]:
            seen = row.get(column) or ""
            if not seen:
                continue
            key = url_key(seen)
            has_scheme = re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", seen) is not None
            forms = {key} if has_scheme else {"http://" + key, "https://" + key}
            if wanted in forms:
                out.append(row)
    return out


def test_full_urls_equal_the_planted_truth(sb):
    network = [r["RemoteUrl"] for r in sb.data.tables["DeviceNetworkEvents"] if "://" in r["RemoteUrl"]]
    origins = [r["FileOriginUrl"] for r in sb.data.tables["DeviceFileEvents"] if r["FileOriginUrl"]]
    picked = list(dict.fromkeys(network[:10] + origins[:10]))
    values = list(dict.fromkeys(classify(u).value for u in picked if classify(u).type is IndicatorType.URL))
    values += ["https://never-seen.example.org/x", values[0] + "/deeper"]
    results, _, _ = _run(sb, "urls", values, HuntOptions(max_devices=3))
    expected = {v: _truth(sb, _url_events(sb, v), 10**6) for v in values}
    assert sum(t is not None for t in expected.values()) >= 8
    _check(sb, _merged(results), expected, 3)


def test_a_preempted_query_is_split_down_to_each_values_error(sb):
    values = _some_ips(sb, 2)[:2]
    sb.configure(faults={"preempted": 1.0})  # every hunting query is "preempted" (400)
    results, client, _ = _run(sb, "ips", values)
    assert sorted(r.values for r in results) == [(values[0],), (values[1],)]
    assert all("preempted" in r.error and r.path == PATH_GRAPH for r in results)
    assert _hunting_statuses(sb) == [(PATH_GRAPH, 400)] * 3 and client.metrics().retries == 0


class _SignInRefused:
    """A Graph token source whose sign-in Entra ID refuses (the app has no Graph access)."""

    acquisitions = 0

    def cached_token(self) -> None:
        return None

    def get_token(self) -> str:
        raise AuthError(
            "AADSTS500011: The resource principal named https://graph.microsoft.com was not found"
        )

    def invalidate(self, token: str | None = None) -> None:
        pass


def test_a_refused_graph_sign_in_leaves_the_legacy_endpoint(sb):
    values = _some_ips(sb, 2)
    results, _, paths = _run(sb, "ips", values, graph_tokens=_SignInRefused())
    assert paths[PATH_GRAPH].startswith("signing in for Microsoft Graph failed: AADSTS500011")
    assert [r.path for r in results] == [PATH_LEGACY] and _hunting_statuses(sb) == [(PATH_LEGACY, 200)]


def test_bad_credentials_raise_the_sign_in_error(sb):
    with pytest.raises(AuthError, match="7000215|secret"):
        _run(sb, "ips", _some_ips(sb, 2), secret="wrong-secret-value-0123456789")
    assert _hunting_statuses(sb) == []


def test_splitting_a_chunk_too_slow_whatever_its_values_stops_at_a_bound(sb):
    from enrich.mde.hunting.run import MAX_REFUSED

    values = _some_ips(sb, 60)
    sb.configure(hunting_timeout=1e-9)  # every query "runs" too long: 504
    results, _, _ = _run(sb, "ips", values)
    assert sorted(v for r in results for v in r.values) == sorted(values)  # each value once
    assert all(r.error.startswith("hunting could not answer") and not r.sightings for r in results)
    assert _hunting_statuses(sb) == [(PATH_GRAPH, 504)] * MAX_REFUSED
    assert any("not asked" in r.error for r in results)


def test_no_answer_within_the_request_timeout_splits_without_retrying(sb):
    values = _some_ips(sb, 2)[:2]
    sb.configure(faults={"slow": 1.0}, slow_seconds=3.0)  # every request answers after 3 s
    options = HuntOptions(max_devices=0, request_timeout=0.5)
    results, client, _ = _run(sb, "ips", values, options)
    assert sorted(r.values for r in results) == [(values[0],), (values[1],)]
    assert all("did not answer within 0.5 s" in r.error and r.path == PATH_GRAPH for r in results)
    metrics = client.metrics()
    assert metrics.calls == {"hunting-graph": 3} and metrics.responses == {"timeout": 3}
    assert metrics.retries == 0
