"""Sandbox entity APIs over real sockets: bodies field by field, not-found semantics, auth errors."""

from __future__ import annotations

import re
import time
import uuid
from urllib.parse import quote

import httpx
import pytest

from enrich.sandbox import ClientSpec, Sandbox, SandboxConfig
from tests.mde_helpers import MDE_SCOPE, sandbox_token

pytestmark = pytest.mark.timeout(60)

TENANT = "0b0c0d0e-0000-4000-8000-00000000000a"
FULL = ClientSpec("aaaaaaaa-0000-4000-8000-000000000001", "s1", TENANT)
IP_ONLY = ClientSpec("aaaaaaaa-0000-4000-8000-000000000002", "s2", TENANT, roles=("Ip.Read.All",))
TS7 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$")
PUA_SHA1 = "4388963aaa83afe2042a46a3c017ad50bdcdafb3"
PUA_SHA256 = "413c58c8267d2c8648d8f6384bacc2ae9c929b2b96578b6860b5087cd1bd6462"
IPV6 = "2a01:110:68:4:59e4:3916:3b3e:4f96"


def _token(sb, client: ClientSpec, scope: str = MDE_SCOPE) -> str:
    return sandbox_token(sb, scope, client)


@pytest.fixture(scope="module")
def sb():
    config = SandboxConfig(seed=11, clients=[FULL, IP_ONLY], entity_limits=(100_000, 100_000))
    with Sandbox(config) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def api(sb):
    headers = {"Authorization": f"Bearer {_token(sb, FULL)}"}
    with httpx.Client(base_url=sb.base_url, verify=sb.ssl_context(), headers=headers, timeout=10) as client:
        yield client


def _ctx(sb, fragment: str) -> str:
    return f"{sb.base_url}/api/$metadata#{fragment}"


def _assert_error(resp: httpx.Response, status: int, code: str) -> str:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == "application/json; charset=utf-8"
    body = resp.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "target"}
    assert body["error"]["code"] == code
    assert body["error"]["target"]
    return body["error"]["message"]


def test_file_entity_matches_the_documented_example(sb, api):
    for path in (f"/api/files/{PUA_SHA1}", f"/api/v1.0/files/{PUA_SHA256}", f"/api/files/{PUA_SHA1.upper()}"):
        resp = api.get(path)
        assert resp.status_code == 200, path
        assert resp.headers["content-type"] == "application/json; charset=utf-8"
        body = resp.json()
        assert body["@odata.context"] == _ctx(sb, "Files/$entity")
        assert body["sha1"] == PUA_SHA1 and body["sha256"] == PUA_SHA256
        assert body["globalPrevalence"] == 180022
        assert body["globalFirstObserved"] == "2017-09-19T03:51:27.6785431Z"
        assert body["globalLastObserved"] == "2020-01-06T03:59:21.3229314Z"
        assert body["size"] == 22139496 and body["fileType"] == "APP" and body["isPeFile"] is True
        assert body["filePublisher"] == "CHENGDU YIWO Tech Development Co., Ltd."
        assert body["fileProductName"] == "EaseUS MobiSaver for Android"
        assert body["issuer"] == "VeriSign Class 3 Code Signing 2010 CA"
        assert body["signerHash"] == "6c3245d4a9bc0244d99dff27af259cbbae2e2d16"
        assert body["isValidCertificate"] is False
        assert (body["determinationType"], body["determinationValue"]) == ("Pua", "PUA:Win32/FusionCore")
        assert re.fullmatch(r"[0-9a-f]{32}", body["md5"])


def test_file_stats_both_prevalence_fields(sb, api):
    resp = api.get(f"/api/files/{PUA_SHA1}/stats", params={"lookBackHours": 720})
    body = resp.json()
    assert resp.status_code == 200
    assert list(body) == [
        "@odata.context",
        "sha1",
        "orgPrevalence",
        "organizationPrevalence",
        "orgFirstSeen",
        "orgLastSeen",
        "globalPrevalence",
        "globallyPrevalence",
        "globalFirstObserved",
        "globalLastObserved",
        "topFileNames",
    ]
    assert body["@odata.context"] == _ctx(sb, "microsoft.windowsDefenderATP.api.InOrgFileStats")
    assert isinstance(body["orgPrevalence"], str) and isinstance(body["organizationPrevalence"], int)
    assert body["orgPrevalence"] == str(body["organizationPrevalence"]) and body["organizationPrevalence"] > 0
    assert body["globalPrevalence"] == "180022" and body["globallyPrevalence"] == 180022
    assert TS7.match(body["orgFirstSeen"]) and TS7.match(body["orgLastSeen"])
    assert body["orgFirstSeen"] <= body["orgLastSeen"]
    assert body["topFileNames"] == ["MobiSaver.exe"]
    truth = sb.truth("files", PUA_SHA1)
    assert (truth["prevalence"], truth["first_seen"], truth["last_seen"]) == (
        body["organizationPrevalence"],
        body["orgFirstSeen"],
        body["orgLastSeen"],
    )


def test_ip_stats_fields_ipv6_and_aliases(sb, api):
    resp = api.get("/api/ips/10.209.67.177/stats", params={"lookBackHours": "48"})
    body = resp.json()
    assert list(body) == [
        "@odata.context",
        "ipAddress",
        "orgPrevalence",
        "organizationPrevalence",
        "orgFirstSeen",
        "orgLastSeen",
    ]
    assert body["@odata.context"] == _ctx(sb, "microsoft.windowsDefenderATP.api.InOrgIPStats")
    assert body["ipAddress"] == "10.209.67.177"
    full = api.get("/api/v1.0/ips/10.209.67.177/stats").json()
    assert full["organizationPrevalence"] == sb.truth("ips", "10.209.67.177")["prevalence"] > 0
    assert full["orgPrevalence"] == str(full["organizationPrevalence"])
    raw = api.get(f"/api/ips/{IPV6}/stats").json()
    encoded = api.get(f"/api/ips/{quote(IPV6, safe='')}/stats").json()
    assert "%3A" in quote(IPV6, safe="")
    assert raw["organizationPrevalence"] == encoded["organizationPrevalence"] > 0
    assert raw["orgFirstSeen"] == encoded["orgFirstSeen"] == sb.truth("ips", IPV6)["first_seen"]
    assert raw["ipAddress"] == IPV6


def test_domain_stats_fields(sb, api):
    body = api.get("/api/domains/client.wns.windows.com/stats").json()
    assert body["@odata.context"] == _ctx(sb, "microsoft.windowsDefenderATP.api.InOrgDomainStats")
    assert body["host"] == "client.wns.windows.com"
    assert body["organizationPrevalence"] == int(body["orgPrevalence"]) > 0
    assert TS7.match(body["orgFirstSeen"])


def test_unknown_ip_and_domain_are_200_with_zero(api):
    for path, key in (
        ("/api/ips/203.0.113.7/stats", "ipAddress"),
        ("/api/domains/never-seen.example.net/stats", "host"),
    ):
        resp = api.get(path)
        assert resp.status_code == 200
        body = resp.json()
        assert body["orgPrevalence"] == "0" and body["organizationPrevalence"] == 0
        assert body["orgFirstSeen"] is None and body["orgLastSeen"] is None
        assert body[key]


def test_unknown_file_is_404(api):
    unknown = "1111111111111111111111111111111111111111"
    for path in (f"/api/files/{unknown}", f"/api/files/{unknown}/stats", f"/api/files/{'ab' * 32}/stats"):
        assert "was not found" in _assert_error(api.get(path), 404, "ResourceNotFound")
    # sub-collections of an unknown file are empty sets
    for sub in ("alerts", "machines"):
        resp = api.get(f"/api/files/{unknown}/{sub}")
        assert resp.status_code == 200 and resp.json()["value"] == []


def test_file_known_but_never_seen_in_org(sb, api):
    fam, sha1 = next(k for k in sb.data.unseen_keys("files") if sb.data.find_file(k[1]))
    body = api.get(f"/api/files/{sha1}/stats").json()
    assert body["organizationPrevalence"] == 0 and body["orgFirstSeen"] is None
    assert sb.truth(fam, sha1) == {"prevalence": 0, "first_seen": None, "last_seen": None}


def test_invalid_inputs_are_400(api):
    assert "256.1.2.3" in _assert_error(api.get("/api/ips/256.1.2.3/stats"), 400, "InvalidIpAddress")
    _assert_error(api.get("/api/ips/not-an-ip/alerts"), 400, "InvalidIpAddress")
    _assert_error(api.get("/api/files/xyz/stats"), 400, "InvalidHashValue")
    _assert_error(api.get(f"/api/files/{'a' * 39}"), 400, "InvalidHashValue")
    _assert_error(api.get(f"/api/files/{'a' * 32}"), 400, "InvalidHashValue")  # MD5 rejected by default
    _assert_error(api.get(f"/api/files/{PUA_SHA256}/alerts"), 400, "InvalidHashValue")  # SHA-1 only
    _assert_error(api.get("/api/domains/bad_domain!.com/stats"), 400, "InvalidDomainName")
    _assert_error(api.get("/api/domains/nodot/stats"), 400, "InvalidDomainName")
    _assert_error(
        api.get(f"/api/domains/{quote('https://x.com/a', safe='')}/stats"), 400, "InvalidDomainName"
    )


def test_lookback_hours_policy(sb, api):
    key = sb.data.seen_keys("ips")[0][1]
    assert api.get(f"/api/ips/{key}/stats", params={"lookbackhours": "24"}).status_code == 200
    for bad in ("0", "721", "-5", "abc"):
        _assert_error(api.get(f"/api/ips/{key}/stats", params={"lookBackHours": bad}), 400, "InvalidInput")
    with Sandbox(SandboxConfig(seed=11, lookback_policy="clamp", sample_dir="")) as other:
        token = _token(other, other.clients[0])
        r = httpx.get(
            f"{other.base_url}/api/ips/{key}/stats?lookBackHours=5000",
            headers={"Authorization": f"Bearer {token}"},
            verify=other.ssl_context(),
        )
        assert r.status_code == 200


def test_lookback_changes_the_answer(sb, api):
    """An indicator only seen 30-40 days ago is not counted; shorter windows count fewer devices."""
    for fam, key in sb.data.seen_keys():
        if fam == "files":
            continue
        short = sb.truth(fam, key, lookback_hours=24)
        body = api.get(f"/api/{fam}/{key}/stats", params={"lookBackHours": 24}).json()
        assert (body["organizationPrevalence"], body["orgFirstSeen"], body["orgLastSeen"]) == (
            short["prevalence"],
            short["first_seen"],
            short["last_seen"],
        )
        assert short["prevalence"] <= sb.truth(fam, key)["prevalence"]
        break
    total = {k for k in sb.data.planted} | set(sb.data.seen_keys())
    assert total


def test_truth_agrees_with_the_api_for_many_keys(sb, api):
    keys = sb.data.seen_keys()
    picked = keys[:: max(1, len(keys) // 60)] + sb.data.unseen_keys()
    for fam, key in picked:
        if fam == "files" and len(key) == 32:
            continue  # MD5: /api/files rejects it (md5_policy="reject"); hunting answers those
        truth = sb.truth(fam, key)
        resp = api.get(f"/api/{fam}/{key}/stats")
        if truth is None:
            assert fam == "files" and resp.status_code == 404
            continue
        body = resp.json()
        assert resp.status_code == 200, (fam, key, resp.text)
        assert body["organizationPrevalence"] == truth["prevalence"], (fam, key)
        assert body["orgFirstSeen"] == truth["first_seen"] and body["orgLastSeen"] == truth["last_seen"]


def test_alerts_and_machines_collections(sb, api):
    alerts = api.get("/api/alerts").json()
    assert alerts["@odata.context"] == _ctx(sb, "Alerts")
    assert len(alerts["value"]) == len(sb.data.alerts) > 0
    first = alerts["value"][0]
    for field in (
        "id",
        "incidentId",
        "severity",
        "status",
        "title",
        "machineId",
        "computerDnsName",
        "evidence",
    ):
        assert field in first
    assert TS7.match(first["firstEventTime"])
    assert len(api.get("/api/alerts", params={"$top": 2, "$skip": 1}).json()["value"]) == 2
    assert api.get(f"/api/alerts/{first['id']}").json()["id"] == first["id"]
    _assert_error(api.get("/api/alerts/nope"), 404, "ResourceNotFound")
    _assert_error(api.get("/api/alerts", params={"$filter": "severity eq 'High'"}), 400, "ODataError")
    machines = api.get("/api/v1.0/machines").json()
    assert machines["@odata.context"] == _ctx(sb, "Machines") and len(machines["value"]) == 50
    machine = machines["value"][0]
    assert {"id", "computerDnsName", "osPlatform", "lastIpAddress", "healthStatus"} <= set(machine)
    assert api.get(f"/api/machines/{machine['id']}").json()["computerDnsName"] == machine["computerDnsName"]
    # a file with an alert: its alerts and machines; IP and domain sub-collections
    sha1 = "f2a00fd2f2de1be0214b8529f1e9f67096c1aa70"
    file_alerts = api.get(f"/api/files/{sha1}/alerts").json()["value"]
    assert file_alerts and all(a["evidence"][0]["sha1"] == sha1 for a in file_alerts)
    file_machines = api.get(f"/api/files/{sha1}/machines").json()
    assert file_machines["@odata.context"] == _ctx(sb, "Machines")
    assert len(file_machines["value"]) == sb.truth("files", sha1)["prevalence"]
    assert api.get("/api/domains/client.wns.windows.com/alerts").json()["value"]
    dom_machines = api.get("/api/domains/client.wns.windows.com/machines").json()["value"]
    assert len(dom_machines) == sb.truth("domains", "client.wns.windows.com")["prevalence"]
    assert api.get("/api/ips/203.0.113.7/alerts").json() == {
        "@odata.context": _ctx(sb, "Alerts"),
        "value": [],
    }
    assert api.get("/api/domains/never-seen.example.net/machines").json()["value"] == []
    files = api.get(f"/api/alerts/{file_alerts[0]['id']}/files").json()
    assert files["value"][0]["sha1"] == sha1


def test_401_missing_invalid_and_expired_token(sb):
    verify = sb.ssl_context()
    url = f"{sb.base_url}/api/ips/10.209.67.177/stats"
    resp = httpx.get(url, verify=verify)
    _assert_error(resp, 401, "Unauthorized")
    assert resp.headers["www-authenticate"].startswith("Bearer")
    _assert_error(
        httpx.get(url, verify=verify, headers={"Authorization": "Bearer abc.def.ghi"}), 401, "Unauthorized"
    )
    forged = _token(sb, FULL)[:-4] + "AAAA"
    _assert_error(
        httpx.get(url, verify=verify, headers={"Authorization": f"Bearer {forged}"}), 401, "Unauthorized"
    )
    sb.configure(token_lifetime=1)
    try:
        short = _token(sb, FULL)
    finally:
        sb.configure(token_lifetime=3599)
    assert httpx.get(url, verify=verify, headers={"Authorization": f"Bearer {short}"}).status_code == 200
    time.sleep(1.2)
    msg = _assert_error(
        httpx.get(url, verify=verify, headers={"Authorization": f"Bearer {short}"}), 401, "Unauthorized"
    )
    assert "expired" in msg


def test_403_missing_role_and_wrong_audience(sb):
    verify = sb.ssl_context()
    limited = {"Authorization": f"Bearer {_token(sb, IP_ONLY)}"}
    assert (
        httpx.get(f"{sb.base_url}/api/ips/10.209.67.177/stats", headers=limited, verify=verify).status_code
        == 200
    )
    msg = _assert_error(
        httpx.get(f"{sb.base_url}/api/files/{PUA_SHA1}", headers=limited, verify=verify), 403, "Forbidden"
    )
    assert msg == (
        "The application does not have any of the required application permissions (File.Read.All) "
        "to access the resource."
    )
    msg = _assert_error(
        httpx.get(f"{sb.base_url}/api/machines", headers=limited, verify=verify), 403, "Forbidden"
    )
    assert "(Machine.Read.All, Machine.ReadWrite.All)" in msg
    for scope in ("https://graph.microsoft.com/.default", "https://api.security.microsoft.com/.default"):
        wrong = {"Authorization": f"Bearer {_token(sb, FULL, scope)}"}
        resp = httpx.get(f"{sb.base_url}/api/ips/10.209.67.177/stats", headers=wrong, verify=verify)
        _assert_error(resp, 403, "Forbidden")


def test_unknown_route_and_method(api):
    _assert_error(api.get("/api/urls/example.com/stats"), 404, "NotFound")
    assert api.post(f"/api/files/{PUA_SHA1}", json={}).status_code == 405


def test_request_log_and_stats_endpoint(sb, api):
    sb.reset_stats()
    api.get(f"/api/files/{PUA_SHA1}/stats")
    api.get("/api/files/1111111111111111111111111111111111111111/stats")
    api.get("/api/ips/1.2.3.999/stats")
    stats = sb.stats()
    assert stats["total"] == 3
    assert stats["by_endpoint"]["files/stats"] == {"200": 1, "404": 1}
    assert stats["by_endpoint"]["ips/stats"] == {"400": 1}
    assert stats["by_family"]["files"] == {"200": 1, "404": 1}
    rec = sb.requests[0]
    assert (rec.method, rec.family, rec.endpoint, rec.status, rec.client_id) == (
        "GET",
        "files",
        "files/stats",
        200,
        FULL.client_id,
    )
    assert rec.path == f"/api/files/{PUA_SHA1}/stats"
    over_http = api.get("/_sandbox/stats").json()
    assert over_http["by_endpoint"]["files/stats"] == {"200": 1, "404": 1}
    assert over_http["data"]["devices"] == 50
    truth = api.get("/_sandbox/truth", params={"family": "files", "key": PUA_SHA1}).json()["truth"]
    assert truth == sb.truth("files", PUA_SHA1)
    uuid.UUID(sb.tenant_id)


def test_hunting_routes_auth_and_bodies(sb, api):
    query = "DeviceNetworkEvents | where RemoteIP == '10.209.67.177' | project DeviceId, Timestamp"
    legacy = api.post("/api/advancedqueries/run", json={"Query": query})
    assert legacy.status_code == 200, legacy.text
    body = legacy.json()
    assert {"Stats", "Schema", "Results"} <= set(body) and body["Results"]
    assert all(TS7.match(r["Timestamp"]) for r in body["Results"])
    assert api.post("/api/v1.0/advancedqueries/run", json={"Query": query}).status_code == 200
    assert _assert_error(
        api.post("/api/advancedqueries/run", json={"query": query}), 400, "InvalidRequestBody"
    ) == ("Missing query.")
    limited = {"Authorization": f"Bearer {_token(sb, IP_ONLY)}"}
    resp = httpx.post(
        f"{sb.base_url}/api/advancedqueries/run",
        json={"Query": query},
        headers=limited,
        verify=sb.ssl_context(),
    )
    assert "(AdvancedQuery.Read.All)" in _assert_error(resp, 403, "Forbidden")
    # Graph: an MDE token has the wrong audience; a Graph token works
    wrong = api.post("/v1.0/security/runHuntingQuery", json={"Query": query})
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "InvalidAuthenticationToken"
    graph = {"Authorization": f"Bearer {_token(sb, FULL, 'https://graph.microsoft.com/.default')}"}
    ok = httpx.post(
        f"{sb.base_url}/v1.0/security/runHuntingQuery",
        json={"Query": query},
        headers=graph,
        verify=sb.ssl_context(),
    )
    assert ok.status_code == 200
    assert ok.json()["@odata.context"].endswith("#microsoft.graph.security.huntingQueryResults")
    assert len(ok.json()["results"]) == len(body["Results"])
    no_role = {"Authorization": f"Bearer {_token(sb, IP_ONLY, 'https://graph.microsoft.com/.default')}"}
    denied = httpx.post(
        f"{sb.base_url}/v1.0/security/runHuntingQuery",
        json={"Query": query},
        headers=no_role,
        verify=sb.ssl_context(),
    )
    assert denied.status_code == 403 and set(denied.json()["error"]) == {"code", "message", "innerError"}
    stats = sb.stats()["by_family"]
    assert stats["hunting"]["200"] >= 2 and stats["graph_hunting"]["200"] >= 1
