"""Sandbox fault injection: every fault kind is observable by a client; faults are seeded."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from enrich.sandbox import Sandbox, SandboxConfig
from tests.mde_helpers import MDE_SCOPE, sandbox_token

pytestmark = pytest.mark.timeout(60)

STATS = "/api/ips/10.209.67.177/stats"


@pytest.fixture(scope="module")
def sb():
    with Sandbox(SandboxConfig(seed=5, slow_seconds=0.6, sample_dir="")) as sandbox:
        yield sandbox


@pytest.fixture()
def fresh(sb):
    yield sb
    sb.configure(faults={}, latency=(0.0, 0.0))


def _token(sb, scope: str = MDE_SCOPE) -> str:
    return sandbox_token(sb, scope)


def _get(sb, path: str = STATS, timeout: float = 5.0, token: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token or _token(sb)}"}
    return httpx.get(f"{sb.base_url}{path}", headers=headers, verify=sb.ssl_context(), timeout=timeout)


def test_500_and_503(fresh):
    token = _token(fresh)
    fresh.configure(faults={"500": 1.0})
    resp = _get(fresh, token=token)
    assert resp.status_code == 500 and resp.json()["error"]["code"] == "InternalServerError"
    fresh.configure(faults={"503": 1.0})
    resp = _get(fresh, token=token)
    assert resp.status_code == 503 and resp.json()["error"]["code"] == "ServiceUnavailable"
    assert resp.headers["content-type"] == "application/json; charset=utf-8"


def test_connection_reset(fresh):
    token = _token(fresh)
    fresh.configure(faults={"reset": 1.0})
    with pytest.raises(httpx.TransportError):
        _get(fresh, token=token)
    assert fresh.requests[-1].status == 0
    assert fresh.stats()["by_endpoint"]["ips/stats"].get("reset", 0) >= 1
    fresh.configure(faults={})
    assert _get(fresh, token=token).status_code == 200  # the server survived


def test_malformed_json(fresh):
    token = _token(fresh)
    fresh.configure(faults={"malformed": 1.0})
    resp = _get(fresh, token=token)
    assert resp.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(resp.text)


def test_slow_answer_times_out_a_client(fresh):
    token = _token(fresh)
    fresh.configure(faults={"slow": 1.0})
    with pytest.raises(httpx.ReadTimeout):
        _get(fresh, timeout=0.2, token=token)
    started = time.monotonic()
    assert _get(fresh, timeout=5, token=token).status_code == 200
    assert time.monotonic() - started >= 0.55


def test_latency(fresh):
    token = _token(fresh)
    fresh.configure(latency=(0.15, 0.2))
    started = time.monotonic()
    assert _get(fresh, token=token).status_code == 200
    assert 0.15 <= time.monotonic() - started < 2


def test_faults_do_not_apply_to_requests_refused_by_auth(fresh):
    fresh.configure(faults={"500": 1.0})
    resp = httpx.get(f"{fresh.base_url}{STATS}", verify=fresh.ssl_context())
    assert resp.status_code == 401
    # nor to the token endpoint (it has its own fault kinds)
    assert _token(fresh)


def test_token_endpoint_faults(fresh):
    url = f"{fresh.base_url}/{fresh.tenant_id}/oauth2/v2.0/token"
    form = {
        "grant_type": "client_credentials",
        "client_id": fresh.client_id,
        "client_secret": fresh.client_secret,
        "scope": "https://api.securitycenter.microsoft.com/.default",
    }
    fresh.configure(faults={"token_429": 1.0})
    resp = httpx.post(url, data=form, verify=fresh.ssl_context())
    assert resp.status_code == 429 and resp.headers["retry-after"] == "5"
    assert resp.json()["error"] == "temporarily_unavailable"
    fresh.configure(faults={"token_503": 1.0})
    assert httpx.post(url, data=form, verify=fresh.ssl_context()).status_code == 503


def test_graph_hunting_fault_uses_the_graph_envelope(fresh):
    token = _token(fresh, "https://graph.microsoft.com/.default")
    fresh.configure(faults={"503": 1.0})
    resp = httpx.post(
        f"{fresh.base_url}/v1.0/security/runHuntingQuery",
        json={"Query": "DeviceNetworkEvents | take 1"},
        headers={"Authorization": f"Bearer {token}"},
        verify=fresh.ssl_context(),
    )
    assert resp.status_code == 503
    assert set(resp.json()["error"]) == {"code", "message", "innerError"}


def _statuses(seed: int, n: int) -> list[int]:
    config = SandboxConfig(
        seed=seed, faults={"500": 0.2, "503": 0.1}, entity_limits=(1000, 1000), sample_dir=""
    )
    with Sandbox(config) as sb:
        token = _token(sb)
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=sb.base_url, verify=sb.ssl_context(), headers=headers) as c:
            out = [c.get(STATS).status_code for _ in range(n)]
        assert sb.stats()["faults_injected"] == {
            k: v for k, v in (("500", out.count(500)), ("503", out.count(503))) if v
        }
        return out


def test_fault_rates_are_seeded_and_roughly_right():
    first = _statuses(9, 120)
    assert first == _statuses(9, 120)
    assert 10 <= first.count(500) <= 40 and 3 <= first.count(503) <= 25
    assert first.count(200) + first.count(500) + first.count(503) == 120


def test_bad_fault_configuration_is_refused(sb):
    with pytest.raises(ValueError, match="unknown fault"):
        sb.configure(faults={"404": 0.1})
    with pytest.raises(ValueError, match="more than 1"):
        sb.configure(faults={"500": 0.7, "503": 0.7})
    with pytest.raises(ValueError, match="unknown fault family"):
        sb.configure(fault_families=("printers",))


def test_fault_families_and_hunting_only_faults_unit():
    from enrich.sandbox.faults import Faults

    families = ["files", "hunting", "graph_hunting", "ips"] * 50
    everywhere = Faults({"503": 0.3, "preempted": 0.3}, (0.0, 0.0), seed=4)
    drawn = [everywhere.api_fault(f) for f in families]
    # "preempted" lands on hunting routes only; 503 anywhere
    assert {d for d, f in zip(drawn, families, strict=True) if f in ("files", "ips")} <= {"503", None}
    assert "preempted" in drawn and "503" in drawn
    only = Faults({"503": 0.3, "preempted": 0.3}, (0.0, 0.0), seed=4, families=("graph_hunting",))
    limited = [only.api_fault(f) for f in families]
    for fault, wider, family in zip(limited, drawn, families, strict=True):
        # the same dice: a family in the list gets what it got before, the others nothing
        assert fault == (wider if family == "graph_hunting" else None)
    only.limit_to(None)
    assert only.families is None
