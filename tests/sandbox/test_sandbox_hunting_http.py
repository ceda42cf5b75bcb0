"""Advanced hunting over HTTPS: a batched 1,000-value query returns exactly the matching rows."""

from __future__ import annotations

import random
from collections import Counter
from datetime import timedelta

import httpx
import pytest

from enrich.sandbox import Sandbox, SandboxConfig
from tests.mde_helpers import sandbox_token


@pytest.fixture(scope="module")
def sb():
    with Sandbox(SandboxConfig(seed=11, hunting_limits=(1000, 10000))) as sandbox:
        yield sandbox


def hunt(sb, path: str, scope: str, query: str) -> httpx.Response:
    return httpx.post(
        f"{sb.base_url}{path}",
        json={"Query": query},
        verify=sb.ssl_context(),
        timeout=30,
        headers={"Authorization": f"Bearer {sandbox_token(sb, scope)}"},
    )


def in_window(sb, rows):
    """Hunting sees the last 30 days, as MDE does."""
    cutoff = (sb.data.now_datetime() - timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%S")
    return [r for r in rows if r["Timestamp"][:19] >= cutoff]


GRAPH = ("/v1.0/security/runHuntingQuery", "https://graph.microsoft.com/.default", "results")
LEGACY = ("/api/advancedqueries/run", "https://api.securitycenter.microsoft.com/.default", "Results")


@pytest.mark.parametrize(("path", "scope", "field"), [GRAPH, LEGACY])
def test_batched_query_over_1000_values_returns_exactly_the_matching_rows(sb, path, scope, field):
    rows = in_window(sb, sb.data.tables["DeviceFileEvents"])
    present = sorted({r["SHA256"] for r in rows if r.get("SHA256")})
    rng = random.Random(5)
    wanted = rng.sample(present, min(300, len(present)))
    values = wanted + [f"{rng.getrandbits(256):064x}" for _ in range(1000 - len(wanted))]
    rng.shuffle(values)
    listed = ", ".join(f'"{v}"' for v in values)
    query = (
        f"let iocs = dynamic([{listed}]);\n"
        "DeviceFileEvents | where SHA256 in (iocs) | project DeviceId, SHA256, Timestamp"
    )
    reply = hunt(sb, path, scope, query)
    assert reply.status_code == 200, reply.text[:500]
    got = Counter((r["DeviceId"], r["SHA256"], r["Timestamp"]) for r in reply.json()[field])
    chosen = set(values)
    expected = Counter((r["DeviceId"], r["SHA256"], r["Timestamp"]) for r in rows if r["SHA256"] in chosen)
    assert got == expected and sum(got.values()) > 0


@pytest.mark.parametrize(("path", "scope", "field"), [GRAPH, LEGACY])
def test_batched_summary_per_value_matches_the_tables(sb, path, scope, field):
    rows = in_window(sb, sb.data.tables["DeviceNetworkEvents"])
    ips = sorted({r["RemoteIP"] for r in rows})[:200]
    listed = ", ".join(f"'{v}'" for v in ips)
    query = (
        f"DeviceNetworkEvents | where RemoteIP in ({listed}) "
        "| summarize Devices = dcount(DeviceId), Events = count() by RemoteIP"
    )
    reply = hunt(sb, path, scope, query)
    assert reply.status_code == 200, reply.text[:500]
    got = {r["RemoteIP"]: (r["Devices"], r["Events"]) for r in reply.json()[field]}
    expected = {}
    for ip in ips:
        matching = [r for r in rows if r["RemoteIP"] == ip]
        expected[ip] = (len({r["DeviceId"] for r in matching}), len(matching))
    assert got == expected


@pytest.mark.parametrize(
    "query",
    [
        "DeviceFileEvents | where SHA1 == ",
        "NoSuchTable | take 1",
        "DeviceFileEvents | where NoSuchColumn == 1",
        "DeviceFileEvents | extend x = no_such_function(FileName)",
    ],
)
@pytest.mark.parametrize(("path", "scope", "field"), [GRAPH, LEGACY])
def test_a_query_mde_cannot_run_gets_400(sb, path, scope, field, query):
    reply = hunt(sb, path, scope, query)
    assert reply.status_code == 400, reply.text[:300]
    assert "error" in reply.json()


@pytest.mark.parametrize(("path", "scope", "field"), [GRAPH, LEGACY])
def test_file_profile_answers_from_the_dataset(sb, path, scope, field):
    rows = in_window(sb, sb.data.tables["DeviceFileEvents"])
    sha1s = sorted({r["SHA1"] for r in rows if r.get("SHA1")})[:5]
    listed = ", ".join(f'"{v}"' for v in sha1s)
    query = (
        f"DeviceFileEvents | where SHA1 in ({listed}) | distinct SHA1 "
        "| invoke FileProfile(SHA1, 10) | project SHA1, GlobalPrevalence"
    )
    reply = hunt(sb, path, scope, query)
    assert reply.status_code == 200, reply.text[:500]
    got = {r["SHA1"]: r["GlobalPrevalence"] for r in reply.json()[field]}
    assert set(got) == set(sha1s)
    for sha1, prevalence in got.items():
        assert prevalence == sb.data.file_profile(sha1)["GlobalPrevalence"]
