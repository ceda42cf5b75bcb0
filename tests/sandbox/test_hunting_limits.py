"""MDE's advanced-hunting limits on both endpoints, over real HTTPS: rows, result size, time-out,
the per-tenant CPU quota (429 + Retry-After until the 15-minute cycle ends), per-tenant call
quotas counted per endpoint, and fault injection limited to the hunting routes."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from enrich.sandbox import ClientSpec, Sandbox, SandboxConfig, hunting
from enrich.sandbox.hunting import (
    GRAPH_QUERY_TIMEOUT,
    MAX_RESULT_BYTES,
    MAX_ROWS,
    PREEMPTED_MESSAGE,
    QUERY_TIMEOUT,
    RESULT_SIZE_MESSAGE,
    HuntingLimits,
    answer_graph,
    answer_legacy,
    cpu_seconds,
)
from enrich.sandbox.quotas import CpuQuota
from tests.mde_helpers import sandbox_token

pytestmark = pytest.mark.timeout(120)

TENANT = "0c0d0e0f-0000-4000-8000-0000000000c1"
OTHER_TENANT = "0c0d0e0f-0000-4000-8000-0000000000c2"
APP_A = ClientSpec("cccccccc-0000-4000-8000-000000000001", "sa", TENANT)
APP_B = ClientSpec("cccccccc-0000-4000-8000-000000000002", "sb", TENANT)
APP_OTHER = ClientSpec("cccccccc-0000-4000-8000-000000000003", "sc", OTHER_TENANT)
APP_NO_HUNTING = ClientSpec("cccccccc-0000-4000-8000-000000000004", "sd", TENANT, roles=("File.Read.All",))

GRAPH = "/v1.0/security/runHuntingQuery"
LEGACY = "/api/advancedqueries/run"
SCOPES = {
    GRAPH: "https://graph.microsoft.com/.default",
    LEGACY: "https://api.securitycenter.microsoft.com/.default",
}
ENDPOINTS = [GRAPH, LEGACY]
QUERY = "DeviceNetworkEvents | project DeviceId, RemoteIP, Timestamp"


@pytest.fixture(scope="module")
def module_sb():
    config = SandboxConfig(
        seed=4, time_scale=900, sample_dir="", clients=[APP_A, APP_B, APP_OTHER, APP_NO_HUNTING]
    )
    with Sandbox(config) as sb:
        yield sb


@pytest.fixture
def sb(module_sb):
    """The module's sandbox back at MDE's documented limits, with no quota spent."""
    module_sb.configure(
        faults={},
        fault_families=None,
        time_scale=900,
        hunting_limits=(1000, 100_000),
        graph_hunting_limits=None,
        hunting_max_rows=MAX_ROWS,
        hunting_max_result_bytes=MAX_RESULT_BYTES,
        hunting_timeout=None,
        hunting_cpu_quota=150.0,
    )
    module_sb.reset_quotas()
    return module_sb


_TOKENS: dict[tuple[int, str, str], str] = {}


def token(sb, path: str, client: ClientSpec = APP_A) -> str:
    key = (sb.port, path, client.client_id)
    if key not in _TOKENS:
        _TOKENS[key] = sandbox_token(sb, SCOPES[path], client)
    return _TOKENS[key]


def hunt(sb, path: str, query: str = QUERY, client: ClientSpec = APP_A, **extra) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token(sb, path, client)}", **extra.pop("headers", {})}
    return httpx.post(
        f"{sb.base_url}{path}",
        json={"Query": query, **extra},
        headers=headers,
        verify=sb.ssl_context(),
        timeout=30,
    )


def results(path: str, reply: httpx.Response) -> list[dict]:
    return reply.json()["results" if path == GRAPH else "Results"]


def assert_envelope(path: str, reply: httpx.Response, status: int, code: str, message: str) -> dict:
    """MDE's error envelope on the legacy endpoint, Graph's (with innerError) on Graph."""
    assert reply.status_code == status, reply.text[:300]
    error = reply.json()["error"]
    assert (error["code"], error["message"]) == (code, message)
    if path == GRAPH:
        assert set(error) == {"code", "message", "innerError"}
        assert set(error["innerError"]) == {"date", "request-id", "client-request-id"}
        assert reply.headers["request-id"] == error["innerError"]["request-id"]
    else:
        assert set(error) == {"code", "message", "target"} and error["target"]
    return error


# --- rows -----------------------------------------------------------------------------------

NOW = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)
STAMP = (NOW - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")


def test_a_result_over_100000_rows_is_cut_to_100000_on_both_endpoints():
    # "Results can return up to 100,000 rows": a maximum, answered 200, not an error
    table = {"DeviceNetworkEvents": [{"Timestamp": STAMP, "DeviceId": f"d{i}"} for i in range(MAX_ROWS + 1)]}
    body = json.dumps({"Query": "DeviceNetworkEvents | project DeviceId"})
    graph = answer_graph(body, table, NOW)
    legacy = answer_legacy(body, table, NOW)
    assert (graph.status, legacy.status) == (200, 200)
    assert len(graph.body["results"]) == len(legacy.body["Results"]) == MAX_ROWS == 100_000
    assert graph.body["results"][-1] == {"DeviceId": f"d{MAX_ROWS - 1}"}
    assert legacy.body["Stats"]["dataset_statistics"][0]["table_row_count"] == MAX_ROWS


@pytest.mark.parametrize("path", ENDPOINTS)
def test_the_row_limit_is_configurable(sb, path):
    everything = results(path, hunt(sb, path))
    assert len(everything) > 3
    sb.configure(hunting_max_rows=3)
    reply = hunt(sb, path)
    assert reply.status_code == 200
    assert results(path, reply) == everything[:3]


# --- size -----------------------------------------------------------------------------------


def test_the_size_limit_is_50_mb_by_default():
    assert HuntingLimits().max_result_bytes == MAX_RESULT_BYTES == 50 * 1024 * 1024


@pytest.mark.parametrize("path", ENDPOINTS)
def test_a_result_over_the_size_limit_is_microsofts_400(sb, path):
    size = len(json.dumps(results(path, hunt(sb, path)), separators=(",", ":")).encode())
    sb.configure(hunting_max_result_bytes=size)  # exactly the size: still allowed
    assert hunt(sb, path).status_code == 200
    sb.configure(hunting_max_result_bytes=size - 1)
    reply = hunt(sb, path)
    assert_envelope(path, reply, 400, "BadRequest", RESULT_SIZE_MESSAGE)
    assert hunt(sb, path, QUERY + " | take 1").status_code == 200  # a smaller answer fits


# --- time-out -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ENDPOINTS)
def test_a_query_over_the_time_out_gets_504(sb, path):
    rows = len(sb.data.tables["DeviceNetworkEvents"])
    sb.configure(hunting_timeout=rows * 1e-6 / 2)  # reading the table alone takes longer
    reply = hunt(sb, path, "DeviceNetworkEvents | count")
    if path == GRAPH:  # as observed on runHuntingQuery gateway time-outs
        assert_envelope(path, reply, 504, "UnknownError", "")
    else:
        error = assert_envelope(path, reply, 504, "GatewayTimeout", reply.json()["error"]["message"])
        assert error["message"].startswith("Query execution has exceeded the allowed time")
    sb.configure(hunting_timeout=None)
    assert hunt(sb, path, "DeviceNetworkEvents | count").status_code == 200


def test_the_documented_time_outs_are_the_defaults(monkeypatch):
    table = {"DeviceNetworkEvents": [{"Timestamp": STAMP, "DeviceId": "d"}]}
    body = json.dumps({"Query": "DeviceNetworkEvents"})
    # every query now models as 190 s: over Graph's 3 minutes, under legacy's 200 s
    monkeypatch.setattr(hunting, "cpu_seconds", lambda rows, size: 190.0)
    assert answer_legacy(body, table, NOW).status == 200
    assert answer_graph(body, table, NOW).status == 504
    assert (QUERY_TIMEOUT, GRAPH_QUERY_TIMEOUT) == (200.0, 180.0)


# --- CPU quota ------------------------------------------------------------------------------


def test_cpu_is_counted_from_rows_read_and_bytes_returned(sb):
    rows = len(sb.data.tables["DeviceNetworkEvents"])
    reply = hunt(sb, LEGACY, "DeviceNetworkEvents | count")
    assert reply.status_code == 200
    size = len(json.dumps(reply.json()["Results"], separators=(",", ":")).encode())
    expected = cpu_seconds(rows, size)
    assert sb.hunting_cpu_spent() == pytest.approx(expected)
    assert reply.json()["Stats"]["resource_usage"]["cpu"]["total cpu"].startswith("00:00:00.")
    assert hunt(sb, GRAPH, "DeviceNetworkEvents | count").status_code == 200
    assert sb.hunting_cpu_spent() == pytest.approx(2 * expected)  # the same query costs the same
    assert sb.hunting_cpu_spent(OTHER_TENANT) == 0.0
    stats = httpx.get(f"{sb.base_url}/_sandbox/stats", verify=sb.ssl_context()).json()
    assert stats["hunting_cpu_seconds"] == {TENANT: pytest.approx(2 * expected)}


@pytest.mark.parametrize(("first", "second"), [(GRAPH, LEGACY), (LEGACY, GRAPH)])
def test_a_heavy_query_uses_up_the_tenants_cpu_until_the_cycle_ends(sb, first, second):
    # time scale 90: the 15-minute cycle lasts 10 s, long enough for the refusals below
    sb.configure(hunting_cpu_quota=1e-6, time_scale=90)  # one query over a table uses it all
    assert hunt(sb, first).status_code == 200  # a query starts while the quota is not used up
    for path, client in ((first, APP_A), (second, APP_A), (second, APP_B)):  # per tenant, any app
        reply = hunt(sb, path, client=client)
        code = "TooManyRequests" if path == GRAPH else "429"
        message = reply.json()["error"]["message"]
        assert_envelope(path, reply, 429, code, message)
        assert message.startswith("Query CPU quota exceeded!") and "per 00:15:00" in message
        retry = int(reply.headers["retry-after"])
        assert 1 <= retry <= 10
        assert f"You can send requests again in {retry} seconds." in message
    assert hunt(sb, first, client=APP_OTHER).status_code == 200  # another tenant has its own
    sb.configure(time_scale=900)  # the cycle now lasts 1 s
    time.sleep(1.05)
    assert hunt(sb, second).status_code == 200  # a new cycle


def test_cpu_quota_cycle_unit():
    now = [10.0]
    quota = CpuQuota(5.0, time_scale=1.0, clock=lambda: now[0])
    assert quota.check("t") is None
    quota.charge("t", 4.0)
    assert quota.check("t") is None  # 4 of 5 used
    quota.charge("t", 4.0)  # this query overran the quota
    assert quota.check("t") == 900 and quota.check("u") is None
    now[0] += 899.5
    assert quota.check("t") == 1
    now[0] += 0.5
    assert quota.check("t") is None and quota.spent("t") == 0.0
    quota.time_scale = 60.0
    quota.charge("t", 6.0)
    assert quota.check("t") == 15


# --- call quotas ----------------------------------------------------------------------------


def test_call_quotas_count_per_tenant_and_per_endpoint(sb):
    for path in ENDPOINTS:  # tokens first: the minute window below is short
        for client in (APP_A, APP_B, APP_OTHER):
            token(sb, path, client)
    # time scale 6: the minute window lasts 10 s
    sb.configure(time_scale=6, hunting_limits=(2, 1000), graph_hunting_limits=(3, None))
    assert [hunt(sb, LEGACY, client=c).status_code for c in (APP_A, APP_B)] == [200, 200]
    refused = hunt(sb, LEGACY, client=APP_A)
    retry = int(refused.headers["retry-after"])
    assert refused.status_code == 429 and 1 <= retry <= 10
    assert refused.json()["error"]["message"] == (
        "API calls quota exceeded! Maximum allowed 2 per 00:01:00 for the key Destination+TenantID. "
        f"You can send requests again in {retry} seconds."
    )
    assert refused.json()["error"]["target"] == TENANT
    assert hunt(sb, LEGACY, client=APP_OTHER).status_code == 200  # another tenant
    # Graph counts on its own
    assert [hunt(sb, GRAPH, client=c).status_code for c in (APP_B, APP_A, APP_B)] == [200, 200, 200]
    graph = hunt(sb, GRAPH, client=APP_A)
    assert_envelope(GRAPH, graph, 429, "TooManyRequests", graph.json()["error"]["message"])
    assert "Maximum allowed 3 per 00:01:00" in graph.json()["error"]["message"]


def test_graph_has_no_hourly_cap_while_legacy_has_1500_per_hour(sb):
    sb.configure(time_scale=360, hunting_limits=(1000, 2), graph_hunting_limits=None)  # an hour: 10 s
    assert [hunt(sb, LEGACY).status_code for _ in range(2)] == [200, 200]
    hourly = hunt(sb, LEGACY)
    assert hourly.status_code == 429
    assert "Maximum allowed 2 per 01:00:00" in hourly.json()["error"]["message"]
    assert [hunt(sb, GRAPH).status_code for _ in range(4)] == [200] * 4


def test_default_call_quotas_are_45_per_minute_and_1500_per_hour():
    config = SandboxConfig()
    assert config.hunting_limits == (45, 1500) and config.graph_hunting_limits is None
    from enrich.sandbox.quotas import Quotas

    quotas = Quotas(config.entity_limits, config.hunting_limits)
    assert quotas.limits_for("hunting") == (45, 1500)
    assert quotas.limits_for("graph_hunting") == (45, None)


# --- faults ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ENDPOINTS)
def test_faults_limited_to_hunting(sb, path):
    sb.configure(faults={"503": 1.0}, fault_families=("hunting", "graph_hunting"))
    reply = hunt(sb, path)
    assert reply.status_code == 503
    assert reply.json()["error"]["code"] == "ServiceUnavailable"
    entity = httpx.get(
        f"{sb.base_url}/api/ips/10.0.0.1/stats",
        headers={"Authorization": f"Bearer {token(sb, LEGACY)}"},
        verify=sb.ssl_context(),
        timeout=10,
    )
    assert entity.status_code == 200  # entity APIs untouched
    sb.configure(faults={"reset": 1.0})
    with pytest.raises(httpx.TransportError):
        hunt(sb, path)
    sb.configure(faults={"500": 1.0}, fault_families=("graph_hunting",))
    assert hunt(sb, GRAPH).status_code == 500
    assert hunt(sb, LEGACY).status_code == 200


@pytest.mark.parametrize("path", ENDPOINTS)
def test_preempted_fault_is_the_observed_400(sb, path):
    sb.configure(faults={"preempted": 1.0})
    reply = hunt(sb, path, headers={"client-request-id": "c-42"})
    error = assert_envelope(path, reply, 400, "BadRequest", PREEMPTED_MESSAGE)
    if path == GRAPH:
        assert error["innerError"]["client-request-id"] == "c-42"
    entity = httpx.get(
        f"{sb.base_url}/api/domains/example.com/stats",
        headers={"Authorization": f"Bearer {token(sb, LEGACY)}"},
        verify=sb.ssl_context(),
        timeout=10,
    )
    assert entity.status_code == 200  # only hunting can be preempted
    assert sb.stats()["faults_injected"].get("preempted", 0) >= 1


def test_forced_429_on_hunting(sb):
    sb.force_429(count=1, retry_after=3, family="graph_hunting")
    reply = hunt(sb, GRAPH)
    assert_envelope(GRAPH, reply, 429, "TooManyRequests", reply.json()["error"]["message"])
    assert reply.headers["retry-after"] == "3"
    assert hunt(sb, GRAPH).status_code == 200


# --- Timespan over HTTP -------------------------------------------------------------------


def test_bad_timespan_is_graphs_400_echoing_the_client_request_id(sb):
    reply = hunt(sb, GRAPH, Timespan="last week", headers={"client-request-id": "abc-1"})
    error = assert_envelope(GRAPH, reply, 400, "BadRequest", reply.json()["error"]["message"])
    assert "Invalid Timespan" in error["message"]
    assert error["innerError"]["client-request-id"] == reply.headers["client-request-id"] == "abc-1"


def test_timespan_narrows_the_window(sb):
    everything = results(GRAPH, hunt(sb, GRAPH))
    cutoff = (sb.data.now_datetime() - timedelta(days=1, minutes=1)).strftime("%Y-%m-%dT%H:%M:%S")
    day = results(GRAPH, hunt(sb, GRAPH, Timespan="P1D"))
    assert all(r["Timestamp"][:19] >= cutoff for r in day)
    assert len(day) < len(everything)
    assert len(results(GRAPH, hunt(sb, GRAPH, Timespan="PT12H"))) <= len(day)


@pytest.mark.parametrize("path", ENDPOINTS)
def test_the_data_clock_is_read_per_request(sb, path, monkeypatch):
    assert results(path, hunt(sb, path))
    later = sb.data.now_datetime() + timedelta(days=31)
    monkeypatch.setattr(sb.data, "now_datetime", lambda: later)
    assert results(path, hunt(sb, path)) == []  # everything is now older than 30 days


# --- who may hunt -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ENDPOINTS)
def test_hunting_needs_its_role(sb, path):
    reply = hunt(sb, path, client=APP_NO_HUNTING)
    if path == GRAPH:
        message = (
            "Missing application roles. API required roles: ThreatHunting.Read.All. Application roles: none."
        )
        assert_envelope(path, reply, 403, "Forbidden", message)
    else:
        message = (
            "The application does not have any of the required application permissions "
            "(AdvancedQuery.Read.All) to access the resource."
        )
        assert_envelope(path, reply, 403, "Forbidden", message)
    assert sb.hunting_cpu_spent() == 0.0  # refused before it ran
