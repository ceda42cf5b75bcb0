"""`enrich sandbox --cloud`: each cloud's token audiences over real HTTPS (MSAL v2 and v1), and a
token for another cloud's audience refused as Entra ID (AADSTS500011) or the API (401) would."""

from __future__ import annotations

import base64
import json

import httpx
import msal
import pytest
from click.testing import CliRunner

from enrich.cli import cli
from enrich.sandbox import ClientSpec, Sandbox, SandboxConfig
from enrich.sandbox.login import CLOUDS, MDE_APP_ID

pytestmark = pytest.mark.timeout(120)

TENANT = "7e8c7a0e-8c1e-4b6a-9b0e-2f7f3f7a0002"
CLIENT = ClientSpec("55555555-5555-4555-8555-555555555555", "cloud-secret", TENANT)
GLOBAL_MDE = "https://api.securitycenter.microsoft.com"
GLOBAL_GRAPH = "https://graph.microsoft.com"

# cloud -> (its MDE resource, its Graph resource, its login host)
EXPECTED = {
    "global": (GLOBAL_MDE, GLOBAL_GRAPH, "login.microsoftonline.com"),
    "gcc": ("https://api-gcc.securitycenter.microsoft.us", GLOBAL_GRAPH, "login.microsoftonline.com"),
    "gcc-high": (
        "https://api-gov.securitycenter.microsoft.us",
        "https://graph.microsoft.us",
        "login.microsoftonline.us",
    ),
    "dod": (
        "https://api-gov.securitycenter.microsoft.us",
        "https://dod-graph.microsoft.us",
        "login.microsoftonline.us",
    ),
}


@pytest.fixture(scope="module", params=sorted(EXPECTED))
def cloud_sb(request, tmp_path_factory):
    with Sandbox(SandboxConfig(seed=5, sample_dir="", clients=[CLIENT], cloud=request.param)) as sb:
        yield request.param, sb


@pytest.fixture(autouse=True)
def _no_ca_override(monkeypatch):
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)


def claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def msal_token(sb, resource: str) -> dict:
    app = msal.ConfidentialClientApplication(
        CLIENT.client_id,
        client_credential=CLIENT.secret,
        authority=f"{sb.base_url}/{TENANT}",
        instance_discovery=False,
        verify=sb.ca_file,
    )
    return app.acquire_token_for_client([f"{resource}/.default"])


def v1_token(sb, resource: str) -> httpx.Response:
    return httpx.post(
        f"{sb.base_url}/{TENANT}/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": CLIENT.client_id,
            "client_secret": CLIENT.secret,
            "resource": resource,
        },
        verify=sb.ssl_context(),
    )


def call(sb, token: str, graph: bool) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"}
    if graph:
        return httpx.post(
            f"{sb.base_url}/v1.0/security/runHuntingQuery",
            json={"Query": "DeviceNetworkEvents | take 1"},
            headers=headers,
            verify=sb.ssl_context(),
        )
    return httpx.get(f"{sb.base_url}/api/ips/10.0.0.1/stats", headers=headers, verify=sb.ssl_context())


def test_the_clouds_own_audiences_work_through_msal_and_v1(cloud_sb):
    name, sb = cloud_sb
    mde, graph, login_host = EXPECTED[name]
    assert (sb.cloud.name, sb.cloud.login_host) == (name, login_host)
    for resource, is_graph in ((mde, False), (MDE_APP_ID, False), (graph, True)):
        v2 = msal_token(sb, resource)
        assert "access_token" in v2, v2
        v1 = v1_token(sb, resource)
        assert v1.status_code == 200, v1.text
        for token in (v2["access_token"], v1.json()["access_token"]):
            assert claims(token)["aud"] == resource
            reply = call(sb, token, is_graph)
            assert reply.status_code == 200, (resource, reply.text[:300])


def test_discovery_names_the_clouds_graph(cloud_sb):
    name, sb = cloud_sb
    doc = httpx.get(f"{sb.base_url}/{TENANT}/v2.0/.well-known/openid-configuration", verify=sb.ssl_context())
    graph_host = EXPECTED[name][1].removeprefix("https://")
    assert doc.json()["msgraph_host"] == graph_host
    assert doc.json()["cloud_instance_name"] == EXPECTED[name][2].removeprefix("login.")


def test_another_clouds_audience_is_refused(cloud_sb):
    name, sb = cloud_sb
    mde, graph, _ = EXPECTED[name]
    others = {resource for other, (m, g, _) in EXPECTED.items() if other != name for resource in (m, g)} - {
        mde,
        graph,
    }
    assert others
    for resource in sorted(others):
        v2 = msal_token(sb, resource)
        v1 = v1_token(sb, resource)
        if v1.status_code == 200:
            # the same Entra ID issues it (GCC signs in with the commercial cloud), and the
            # API refuses the audience
            assert name == "gcc" and resource == GLOBAL_MDE, resource
            assert "access_token" in v2
            for token in (v2["access_token"], v1.json()["access_token"]):
                reply = call(sb, token, graph=False)
                assert reply.status_code == 401, reply.text
                assert reply.json()["error"]["code"] == "Unauthorized"
                assert f"not valid for {sb.cloud.api_host}" in reply.json()["error"]["message"]
            continue
        assert v1.status_code == 400 and v1.json()["error"] == "invalid_resource", resource
        assert v1.json()["error_codes"] == [500011]
        assert v1.json()["error_description"].startswith(
            f"AADSTS500011: The resource principal named {resource}"
        )
        assert v2.get("error") == "invalid_resource" and v2.get("error_codes") == [500011], v2


def test_sandbox_cloud_option(monkeypatch):
    seen: list[SandboxConfig] = []

    def serve(config: SandboxConfig, out: object, err: object) -> int:
        seen.append(config)
        return 0

    monkeypatch.setattr("enrich.sandbox.serve.serve", serve)
    result = CliRunner().invoke(cli, ["sandbox", "--cloud", "gcc-high"])
    assert result.exit_code == 0, result.output
    assert seen[0].cloud == "gcc-high"
    bad = CliRunner().invoke(cli, ["sandbox", "--cloud", "mooncake"])
    assert bad.exit_code == 2 and "mooncake" in bad.stderr
    assert set(CLOUDS) == set(EXPECTED)


def test_serve_names_the_clouds_hosts():
    import threading

    from enrich.sandbox.serve import serve

    stop = threading.Event()
    stop.set()  # serve starts, prints, and stops at once
    out: list[str] = []
    err: list[str] = []
    assert serve(SandboxConfig(seed=5, sample_dir="", cloud="dod"), out.append, err.append, stop) == 0
    banner = "\n".join(err)
    assert "cloud dod" in banner and "https://dod-graph.microsoft.us" in banner
    assert "login.microsoftonline.us" in banner and "api-gov.securitycenter.microsoft.us" in banner
    assert any(line.startswith("export MDE_API_URL=") for line in out)
