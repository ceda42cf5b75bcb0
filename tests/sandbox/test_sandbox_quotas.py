"""Sandbox quotas: per (family, tenant, app) minute/hour windows, 429 + Retry-After, time scale."""

from __future__ import annotations

import time

import httpx
import pytest

from enrich.sandbox import ClientSpec, Sandbox, SandboxConfig
from enrich.sandbox.quotas import Quotas, minute_hour_quota
from tests.mde_helpers import sandbox_token

pytestmark = pytest.mark.timeout(60)

TENANT = "0b0c0d0e-0000-4000-8000-0000000000bb"
APP_A = ClientSpec("bbbbbbbb-0000-4000-8000-000000000001", "sa", TENANT)
APP_B = ClientSpec("bbbbbbbb-0000-4000-8000-000000000002", "sb", TENANT)


def _client(sb, spec: ClientSpec) -> httpx.Client:
    token = sandbox_token(sb, client=spec)
    return httpx.Client(
        base_url=sb.base_url,
        verify=sb.ssl_context(),
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )


def test_sliding_window_unit():
    now = [100.0]
    q = Quotas((3, 5), (1, 1), time_scale=1.0, clock=lambda: now[0])
    assert all(q.admit("files", "t", "a") is None for _ in range(3))
    refusal = q.admit("files", "t", "a")
    assert refusal and refusal.window == "00:01:00" and refusal.limit == 3 and refusal.retry_after == 60
    assert q.admit("ips", "t", "a") is None  # other family, own budget
    assert q.admit("files", "t", "other-app") is None  # other app, own budget
    now[0] += 30
    assert q.admit("files", "t", "a").retry_after == 30  # refused calls are not counted
    now[0] += 30.5
    assert q.admit("files", "t", "a") is None
    assert q.admit("files", "t", "a") is None
    hour = q.admit("files", "t", "a")  # 5 in the hour
    assert hour and hour.window == "01:00:00" and hour.limit == 5
    assert "Maximum allowed 5 per 01:00:00 for the key Destination+TenantID+AppID" in hour.message()
    q.time_scale = 60.0  # windows now last 1 s and 60 s
    now[0] += 61
    assert q.admit("files", "t", "a") is None


def test_minute_hour_quota_from_call_windows():
    assert minute_hour_quota([(100, 60.0), (1500, 3600.0)], (1, 1)) == (100, 1500)
    assert minute_hour_quota([(10, 1.0)], (1, 99)) == (600, 99)
    assert minute_hour_quota([(100, 1.0), (1500, 60.0)], (1, 99)) == (1500, 99)
    assert minute_hour_quota([(250, 600.0), (20, 1800.0)], (7, 1)) == (7, 40)
    assert minute_hour_quota([], (45, 1500)) == (45, 1500)
    for window in (7.0, 420.0, 7200.0):
        with pytest.raises(ValueError, match="per minute and per hour"):
            minute_hour_quota([(10, window)], (1, 1))


def test_429_then_admitted_after_the_scaled_window():
    config = SandboxConfig(
        seed=2, time_scale=60, entity_limits=(5, 1000), clients=[APP_A, APP_B], sample_dir=""
    )
    with Sandbox(config) as sb, _client(sb, APP_A) as a, _client(sb, APP_B) as b:
        for _ in range(5):
            assert a.get("/api/ips/10.209.67.177/stats").status_code == 200
        resp = a.get("/api/ips/10.209.67.177/stats")
        assert resp.status_code == 429
        assert resp.headers["retry-after"] == "1"
        body = resp.json()
        assert body == {
            "error": {
                "code": "429",
                "message": "API calls quota exceeded! Maximum allowed 5 per 00:01:00 for the key "
                "Destination+TenantID+AppID. You can send requests again in 1 seconds.",
                "target": TENANT,
            }
        }
        # other families and other apps have their own budgets
        assert a.get("/api/domains/example.com/stats").status_code == 200
        assert b.get("/api/ips/10.209.67.177/stats").status_code == 200
        time.sleep(1.05)
        assert a.get("/api/ips/10.209.67.177/stats").status_code == 200
        assert sb.stats()["by_endpoint"]["ips/stats"]["429"] == 1


def test_hour_window_message_and_retry_after():
    config = SandboxConfig(seed=2, time_scale=3600, entity_limits=(1000, 3), sample_dir="")
    with Sandbox(config) as sb:
        spec = sb.clients[0]
        with _client(sb, spec) as c:
            for _ in range(3):
                assert c.get("/api/files/4388963aaa83afe2042a46a3c017ad50bdcdafb3").status_code == 200
            resp = c.get("/api/files/4388963aaa83afe2042a46a3c017ad50bdcdafb3/stats")
            assert resp.status_code == 429
            assert int(resp.headers["retry-after"]) >= 1
            assert "Maximum allowed 3 per 01:00:00" in resp.json()["error"]["message"]
            time.sleep(1.05)
            assert c.get("/api/files/4388963aaa83afe2042a46a3c017ad50bdcdafb3/stats").status_code == 200


def test_hunting_limits_are_separate_and_auth_failures_do_not_count():
    config = SandboxConfig(
        seed=2, time_scale=60, entity_limits=(2, 1000), hunting_limits=(1, 1000), sample_dir=""
    )
    with Sandbox(config) as sb, _client(sb, sb.clients[0]) as c:
        unauth = httpx.get(f"{sb.base_url}/api/ips/1.1.1.1/stats", verify=sb.ssl_context())
        assert unauth.status_code == 401
        assert c.get("/api/ips/1.1.1.1/stats").status_code == 200
        assert c.get("/api/ips/1.1.1.1/stats").status_code == 200
        assert c.get("/api/ips/1.1.1.1/stats").status_code == 429
        first = c.post("/api/advancedqueries/run", json={"Query": "DeviceNetworkEvents | take 1"})
        assert first.status_code == 200
        second = c.post("/api/advancedqueries/run", json={"Query": "DeviceNetworkEvents | take 1"})
        assert second.status_code == 429
        assert "Maximum allowed 1 per 00:01:00" in second.json()["error"]["message"]


def test_force_429_and_runtime_limits():
    with Sandbox(SandboxConfig(seed=2, sample_dir="")) as sb, _client(sb, sb.clients[0]) as c:
        sb.force_429(count=2, retry_after=7, family="ips")
        assert c.get("/api/domains/example.com/stats").status_code == 200  # other family untouched
        for _ in range(2):
            resp = c.get("/api/ips/10.209.67.177/stats")
            assert resp.status_code == 429 and resp.headers["retry-after"] == "7"
            assert "You can send requests again in 7 seconds." in resp.json()["error"]["message"]
        assert c.get("/api/ips/10.209.67.177/stats").status_code == 200
        sb.force_429(count=1, retry_after=1)  # any family
        assert c.get("/api/machines").status_code == 429
        sb.configure(entity_limits=(1, 10), time_scale=60)
        sb.reset_quotas()
        assert c.get("/api/domains/example.com/stats").status_code == 200
        assert c.get("/api/domains/example.com/stats").status_code == 429


def test_hunting_counts_per_tenant_and_graph_has_no_hourly_cap_unit():
    now = [0.0]
    q = Quotas((100, 1500), (2, 3), time_scale=1.0, clock=lambda: now[0])
    assert q.admit("hunting", "t", "app-1") is None
    assert q.admit("hunting", "t", "app-2") is None  # every app of the tenant counts together
    refusal = q.admit("hunting", "t", "app-3")
    assert refusal and refusal.limit == 2 and refusal.key == "Destination+TenantID"
    assert "for the key Destination+TenantID. You can" in refusal.message()
    assert q.admit("hunting", "other-tenant", "app-1") is None
    assert q.limits_for("graph_hunting") == (2, None)  # legacy per minute, no hourly cap
    for _ in range(10):  # 10 minutes of two Graph calls a minute: never an hourly refusal
        assert q.admit("graph_hunting", "t", "app-1") is None
        assert q.admit("graph_hunting", "t", "app-2") is None
        assert q.admit("graph_hunting", "t", "app-1").window == "00:01:00"
        now[0] += 60
    now[0] += 3600
    assert [q.admit("hunting", "t", "a") for _ in range(2)] == [None, None]
    now[0] += 61
    assert q.admit("hunting", "t", "a") is None
    assert q.admit("hunting", "t", "a").window == "01:00:00"  # 3 per hour for the legacy endpoint
    q.graph_hunting_limits = (1, 5)
    assert q.limits_for("graph_hunting") == (1, 5)
