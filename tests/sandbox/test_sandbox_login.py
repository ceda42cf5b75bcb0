"""Sandbox login side: discovery, v1/v2 tokens, MSAL, certificates and every AADSTS error path."""

from __future__ import annotations

import base64
import datetime as dt
import json
import time
import uuid

import httpx
import msal
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from enrich.sandbox import ClientSpec, Sandbox, SandboxConfig
from tests.mde_helpers import make_certificate

pytestmark = pytest.mark.timeout(60)

MDE_SCOPE = "https://api.securitycenter.microsoft.com/.default"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
TENANT = "6d8c7a0e-8c1e-4b6a-9b0e-2f7f3f7a0001"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def _make_cert() -> tuple[rsa.RSAPrivateKey, str, str]:
    return make_certificate("enrich-test-app")


KEY, KEY_PEM, CERT_PEM = _make_cert()
CLIENTS = [
    ClientSpec("11111111-1111-4111-8111-111111111111", "good-secret", TENANT),
    ClientSpec("22222222-2222-4222-8222-222222222222", "old-secret", TENANT, secret_expired=True),
    ClientSpec("33333333-3333-4333-8333-333333333333", "cert-app-secret", TENANT, certificate_pem=CERT_PEM),
    ClientSpec("44444444-4444-4444-8444-444444444444", "few-roles", TENANT, roles=("Ip.Read.All",)),
]


@pytest.fixture(scope="module")
def sb():
    with Sandbox(SandboxConfig(seed=7, clients=CLIENTS, sample_dir="")) as sandbox:
        yield sandbox


@pytest.fixture(autouse=True)
def _no_ca_override(monkeypatch):
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)


def _token(sb, data: dict, path: str | None = None, **kw) -> httpx.Response:
    url = f"{sb.base_url}{path or f'/{TENANT}/oauth2/v2.0/token'}"
    return httpx.post(url, data=data, verify=sb.ssl_context(), **kw)


def _form(client: ClientSpec, **extra) -> dict:
    return {
        "grant_type": "client_credentials",
        "client_id": client.client_id,
        "client_secret": client.secret,
        "scope": MDE_SCOPE,
        **extra,
    }


def _msal_app(sb, client_id: str, credential: object) -> msal.ConfidentialClientApplication:
    """MSAL's confidential client signing in at the sandbox's tenant (no instance discovery)."""
    return msal.ConfidentialClientApplication(
        client_id,
        client_credential=credential,
        authority=f"{sb.base_url}/{TENANT}",
        instance_discovery=False,
        verify=sb.ca_file,
    )


def _assert_aad_error(resp: httpx.Response, status: int, error: str, code: int) -> dict:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == "application/json; charset=utf-8"
    body = resp.json()
    assert body["error"] == error
    assert body["error_codes"] == [code]
    assert body["error_description"].startswith(f"AADSTS{code}: ")
    assert "\r\nTrace ID: " in body["error_description"]
    assert body["error_uri"] == f"https://login.microsoftonline.com/error?code={code}"
    uuid.UUID(body["trace_id"])
    uuid.UUID(body["correlation_id"])
    assert dt.datetime.strptime(body["timestamp"], "%Y-%m-%d %H:%M:%SZ")
    return body


def test_default_sandbox_client_and_env():
    with Sandbox(SandboxConfig(seed=3, sample_dir="")) as a:
        env = a.env()
        assert env["MDE_API_URL"] == env["MDE_LOGIN_URL"] == env["MDE_GRAPH_URL"] == a.base_url
        assert env["MDE_CA_BUNDLE"] == a.ca_file
        assert (env["MDE_TENANT_ID"], env["MDE_CLIENT_ID"], env["MDE_CLIENT_SECRET"]) == (
            a.tenant_id,
            a.client_id,
            a.client_secret,
        )
        assert a.base_url.startswith("https://127.0.0.1:")
    # the same seed gives the same credentials
    assert Sandbox(SandboxConfig(seed=3, sample_dir="")).client_secret == a.client_secret


def test_plain_msal_gets_a_v2_token(sb):
    client = CLIENTS[0]
    app = _msal_app(sb, client.client_id, client.secret)
    result = app.acquire_token_for_client([MDE_SCOPE])
    assert "access_token" in result, result
    assert result["token_type"] == "Bearer"
    assert result["expires_in"] == 3599
    claims = _claims(result["access_token"])
    assert claims["aud"] == "https://api.securitycenter.microsoft.com"
    assert claims["iss"] == f"https://sts.windows.net/{TENANT}/"
    assert claims["tid"] == TENANT
    assert claims["appid"] == client.client_id
    assert claims["ver"] == "1.0"
    assert claims["exp"] - claims["iat"] == 3599 and claims["nbf"] == claims["iat"]
    assert "File.Read.All" in claims["roles"] and "ThreatHunting.Read.All" not in claims["roles"]
    # second call is served from MSAL's cache
    assert app.acquire_token_for_client([MDE_SCOPE])["token_source"] == "cache"


def test_msal_with_a_certificate_credential(sb):
    client = CLIENTS[2]
    app = _msal_app(sb, client.client_id, {"private_key": KEY_PEM, "public_certificate": CERT_PEM})
    result = app.acquire_token_for_client([MDE_SCOPE])
    assert "access_token" in result, result
    assert _claims(result["access_token"])["appidacr"] == "2"


def _assertion(client_id: str, aud: str, alg: str = "RS256", key=KEY, exp_in: int = 600) -> str:
    header = _b64(json.dumps({"alg": alg, "typ": "JWT", "x5t": "abc"}).encode())
    now = int(time.time())
    claims = {
        "aud": aud,
        "iss": client_id,
        "sub": client_id,
        "jti": str(uuid.uuid4()),
        "nbf": now,
        "exp": now + exp_in,
    }
    body = _b64(json.dumps(claims).encode())
    sig = key.sign(f"{header}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{header}.{body}.{_b64(sig)}"


def test_certificate_assertion_rs256_and_its_failures(sb):
    client = CLIENTS[2]
    aud = f"{sb.base_url}/{TENANT}/oauth2/v2.0/token"
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "scope": MDE_SCOPE,
    }
    ok = _token(sb, {**form, "client_assertion": _assertion(client.client_id, aud)})
    assert ok.status_code == 200, ok.text
    assert _claims(ok.json()["access_token"])["appid"] == client.client_id
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    bad = _token(sb, {**form, "client_assertion": _assertion(client.client_id, aud, key=other_key)})
    _assert_aad_error(bad, 401, "invalid_client", 700027)
    expired = _token(sb, {**form, "client_assertion": _assertion(client.client_id, aud, exp_in=-10)})
    _assert_aad_error(expired, 401, "invalid_client", 700024)
    # an app registered without a certificate cannot use an assertion
    no_cert = _token(sb, {**form, "client_assertion": _assertion(CLIENTS[0].client_id, aud)})
    _assert_aad_error(no_cert, 401, "invalid_client", 700027)


def test_v1_token_has_string_numbers(sb):
    client = CLIENTS[0]
    data = {
        "grant_type": "client_credentials",
        "client_id": client.client_id,
        "client_secret": client.secret,
        "resource": "https://api.securitycenter.microsoft.com",
    }
    resp = _token(sb, data, path=f"/{TENANT}/oauth2/token")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["token_type"] == "Bearer"
    for name in ("expires_in", "ext_expires_in", "expires_on", "not_before"):
        assert isinstance(body[name], str) and body[name].isdigit(), name
    assert body["expires_in"] == "3599"
    assert int(body["expires_on"]) - int(body["not_before"]) == 3599
    assert body["resource"] == "https://api.securitycenter.microsoft.com"
    assert _claims(body["access_token"])["aud"] == "https://api.securitycenter.microsoft.com"
    bad = _token(sb, {**data, "resource": "https://nope.example.com"}, path=f"/{TENANT}/oauth2/token")
    _assert_aad_error(bad, 400, "invalid_resource", 500011)


def test_v2_token_numbers_are_ints_and_basic_auth_works(sb):
    client = CLIENTS[0]
    resp = _token(
        sb, {"grant_type": "client_credentials", "scope": MDE_SCOPE}, auth=(client.client_id, client.secret)
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["expires_in"] == 3599 and body["ext_expires_in"] == 3599
    assert set(body) == {"token_type", "expires_in", "ext_expires_in", "access_token"}


def test_alternate_mde_scope_and_graph_scope(sb):
    client = CLIENTS[0]
    alt = _token(sb, _form(client, scope="https://securitycenter.onmicrosoft.com/windowsatpservice/.default"))
    assert alt.status_code == 200
    assert "File.Read.All" in _claims(alt.json()["access_token"])["roles"]
    graph = _token(sb, _form(client, scope=GRAPH_SCOPE))
    claims = _claims(graph.json()["access_token"])
    assert claims["aud"] == "https://graph.microsoft.com"
    assert claims["roles"] == ["ThreatHunting.Read.All"]


def test_openid_configuration_and_instance_discovery(sb):
    resp = httpx.get(f"{sb.base_url}/{TENANT}/v2.0/.well-known/openid-configuration", verify=sb.ssl_context())
    assert resp.status_code == 200
    doc = resp.json()
    assert doc["token_endpoint"] == f"{sb.base_url}/{TENANT}/oauth2/v2.0/token"
    assert doc["authorization_endpoint"] == f"{sb.base_url}/{TENANT}/oauth2/v2.0/authorize"
    assert doc["issuer"] == f"{sb.base_url}/{TENANT}/v2.0"
    assert "private_key_jwt" in doc["token_endpoint_auth_methods_supported"]
    disc = httpx.get(
        f"{sb.base_url}/common/discovery/instance",
        params={
            "authorization_endpoint": f"https://127.0.0.1/{TENANT}/oauth2/v2.0/authorize",
            "api-version": "1.0",
        },
        verify=sb.ssl_context(),
    ).json()
    assert (
        disc["tenant_discovery_endpoint"] == f"{sb.base_url}/{TENANT}/v2.0/.well-known/openid-configuration"
    )
    # MSAL pointed at the sandbox's discovery endpoint works as well
    app = msal.ConfidentialClientApplication(
        CLIENTS[0].client_id,
        client_credential=CLIENTS[0].secret,
        authority=f"{sb.base_url}/{TENANT}",
        instance_discovery=f"{sb.base_url}/common/discovery/instance",
        verify=sb.ca_file,
    )
    assert "access_token" in app.acquire_token_for_client([MDE_SCOPE])


def test_unknown_tenant(sb):
    resp = httpx.get(
        f"{sb.base_url}/no-such-tenant/v2.0/.well-known/openid-configuration", verify=sb.ssl_context()
    )
    body = _assert_aad_error(resp, 400, "invalid_tenant", 90002)
    assert "Tenant 'no-such-tenant' not found" in body["error_description"]
    token = _token(sb, _form(CLIENTS[0]), path="/no-such-tenant/oauth2/v2.0/token")
    _assert_aad_error(token, 400, "invalid_request", 90002)
    with pytest.raises(ValueError, match="Unable to get authority configuration"):
        msal.ConfidentialClientApplication(
            CLIENTS[0].client_id,
            client_credential=CLIENTS[0].secret,
            authority=f"{sb.base_url}/no-such-tenant",
            instance_discovery=False,
            verify=sb.ca_file,
        )


def test_bad_secret_is_401_7000215(sb):
    body = _assert_aad_error(
        _token(sb, _form(CLIENTS[0], client_secret="wrong")), 401, "invalid_client", 7000215
    )
    assert CLIENTS[0].client_id in body["error_description"]
    assert "wrong" not in body["error_description"]


def test_expired_secret_is_401_7000222(sb):
    _assert_aad_error(_token(sb, _form(CLIENTS[1])), 401, "invalid_client", 7000222)


def test_unknown_client_is_400_700016(sb):
    form = _form(CLIENTS[0], client_id="99999999-9999-4999-8999-999999999999")
    body = _assert_aad_error(_token(sb, form), 400, "unauthorized_client", 700016)
    assert "was not found in the directory" in body["error_description"]


def test_bad_scope_is_400_70011(sb):
    _assert_aad_error(
        _token(sb, _form(CLIENTS[0], scope="https://foo.microsoft.com/.default")), 400, "invalid_scope", 70011
    )
    _assert_aad_error(
        _token(sb, _form(CLIENTS[0], scope="https://api.securitycenter.microsoft.com/File.Read.All")),
        400,
        "invalid_scope",
        1002012,
    )


def test_missing_parameters_and_wrong_grant(sb):
    _assert_aad_error(_token(sb, _form(CLIENTS[0], scope="")), 400, "invalid_request", 900144)
    no_secret = _form(CLIENTS[0])
    del no_secret["client_secret"]
    _assert_aad_error(_token(sb, no_secret), 401, "invalid_client", 7000218)
    _assert_aad_error(
        _token(sb, _form(CLIENTS[0], grant_type="password")), 400, "unsupported_grant_type", 70003
    )


def test_msal_returns_login_errors_as_dicts(sb):
    app = _msal_app(sb, CLIENTS[0].client_id, "not-the-secret")
    result = app.acquire_token_for_client([MDE_SCOPE])
    assert result["error"] == "invalid_client"
    assert result["error_codes"] == [7000215]


def test_tokens_issued_are_counted(sb):
    before = sb.stats()["tokens_issued"]
    assert _token(sb, _form(CLIENTS[0])).status_code == 200
    assert sb.stats()["tokens_issued"] == before + 1
    record = [r for r in sb.requests if r.endpoint == "token"][-1]
    assert record.family == "login" and record.status == 200 and record.client_id == CLIENTS[0].client_id


OLD_MDE_NAMES = [
    "https://api.securitycenter.windows.com",
    "https://securitycenter.onmicrosoft.com/windowsatpservice",
    "fc780465-2017-40d4-a0c5-307022471b92",  # the WindowsDefenderATP application's id
]


@pytest.mark.parametrize("resource", OLD_MDE_NAMES)
def test_older_app_id_uris_and_the_app_guid_give_the_mde_roles(sb, resource):
    client = CLIENTS[0]
    v1 = _token(
        sb,
        {
            "grant_type": "client_credentials",
            "client_id": client.client_id,
            "client_secret": client.secret,
            "resource": resource,
        },
        path=f"/{TENANT}/oauth2/token",
    )
    assert v1.status_code == 200, v1.text
    assert v1.json()["resource"] == resource
    app = _msal_app(sb, client.client_id, client.secret)
    v2 = app.acquire_token_for_client([f"{resource}/.default"])
    assert "access_token" in v2, v2
    for token in (v1.json()["access_token"], v2["access_token"]):
        claims = _claims(token)
        assert claims["aud"] == resource
        assert set(claims["roles"]) == set(client.roles) - {"ThreatHunting.Read.All"}
        stats = httpx.get(
            f"{sb.base_url}/api/ips/10.0.0.1/stats",
            headers={"Authorization": f"Bearer {token}"},
            verify=sb.ssl_context(),
        )
        assert stats.status_code == 200, stats.text
        hunting = httpx.post(
            f"{sb.base_url}/api/advancedqueries/run",
            json={"Query": "DeviceNetworkEvents | take 1"},
            headers={"Authorization": f"Bearer {token}"},
            verify=sb.ssl_context(),
        )
        assert hunting.status_code == 200, hunting.text
        graph = httpx.post(  # an MDE token is not a Graph token
            f"{sb.base_url}/v1.0/security/runHuntingQuery",
            json={"Query": "DeviceNetworkEvents | take 1"},
            headers={"Authorization": f"Bearer {token}"},
            verify=sb.ssl_context(),
        )
        assert graph.status_code == 401 and graph.json()["error"]["code"] == "InvalidAuthenticationToken"


def test_a_role_less_resource_token_is_403_at_mde(sb):
    client = CLIENTS[0]
    xdr = _token(sb, _form(client, scope="https://api.security.microsoft.com/.default"))
    assert xdr.status_code == 200 and _claims(xdr.json()["access_token"])["roles"] == []
    resp = httpx.get(
        f"{sb.base_url}/api/ips/10.0.0.1/stats",
        headers={"Authorization": f"Bearer {xdr.json()['access_token']}"},
        verify=sb.ssl_context(),
    )
    assert resp.status_code == 403 and resp.json()["error"]["code"] == "Forbidden"
