"""Shared helpers for tests that run the MDE client against the real sandbox over sockets."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import time
import uuid
from collections.abc import Iterable

from enrich.answering.stats import lookup_many
from enrich.mde.auth import TokenProvider
from enrich.mde.client import MdeClient
from enrich.mde.limits import Budget
from enrich.mde.settings import Settings, load_settings
from enrich.model import Answer, LookupKey

MDE_SCOPE = "https://api.securitycenter.microsoft.com/.default"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"

TENANT = "7d1c4f7e-3b9a-4c55-9a57-2c1f0e6b9d11"
MAIN = "0f5e8a66-5d0f-4c1b-8a43-6b2f3d4e5a01"
LIMITED = "0f5e8a66-5d0f-4c1b-8a43-6b2f3d4e5a02"
EXPIRED = "0f5e8a66-5d0f-4c1b-8a43-6b2f3d4e5a03"
CERT_APP = "0f5e8a66-5d0f-4c1b-8a43-6b2f3d4e5a04"
NO_ROLES = "0f5e8a66-5d0f-4c1b-8a43-6b2f3d4e5a05"
SECRET = "Zx9~8Q~sandbox.Secret-Value_0123456789abcdefXYZ"


def make_certificate(common_name: str = "enrich-test"):
    """(private key, key PEM, certificate PEM) of a fresh self-signed RSA certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return key, key_pem, cert.public_bytes(serialization.Encoding.PEM).decode()


def certificate_pem() -> tuple[str, str]:
    """(key + certificate PEM, certificate PEM) of a fresh self-signed RSA certificate."""
    _, key_pem, cert_pem = make_certificate()
    return key_pem + cert_pem, cert_pem


def sandbox_clients(cert_pem: str):
    from enrich.sandbox import ClientSpec

    return [
        ClientSpec(client_id=MAIN, secret=SECRET, tenant_id=TENANT),
        ClientSpec(
            client_id=LIMITED, secret=SECRET + "L", tenant_id=TENANT, roles=("Ip.Read.All", "URL.Read.All")
        ),
        ClientSpec(client_id=EXPIRED, secret=SECRET + "E", tenant_id=TENANT, secret_expired=True),
        ClientSpec(client_id=CERT_APP, secret=SECRET + "C", tenant_id=TENANT, certificate_pem=cert_pem),
        ClientSpec(client_id=NO_ROLES, secret=SECRET + "N", tenant_id=TENANT, roles=()),
    ]


def reset_sandbox(sb, monkeypatch) -> None:
    """Clean state between tests; requests' CA variables point elsewhere on purpose (they must not matter)."""
    import certifi

    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())
    monkeypatch.setenv("CURL_CA_BUNDLE", certifi.where())
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    sb.configure(
        faults={},
        token_lifetime=3599,
        time_scale=60,
        entity_limits=(100, 1500),
        latency=(0.0, 0.0),
        slow_seconds=30.0,
        forbidden_wording="permissions",
    )
    sb.reset_quotas()
    sb.reset_stats()


def settings_for(sb, client_id: str = MAIN, secret: str | None = SECRET, **overrides) -> Settings:
    env = dict(sb.env())
    env["MDE_CLIENT_ID"] = client_id
    env["MDE_CLIENT_SECRET"] = secret or ""
    if secret is None:
        env.pop("MDE_CLIENT_SECRET")
    overrides.setdefault("rate_limit", "100/1s,1500/60s")
    return load_settings(None, environ=env, **overrides)


def random_keys(family: str, count: int, seed: int = 7) -> list[LookupKey]:
    rng = random.Random(f"{family}/{seed}")
    out = []
    for i in range(count):
        if family == "files":
            value = f"{rng.getrandbits(160):040x}"
        elif family == "ips":
            value = f"198.18.{(i // 256) % 256}.{i % 256}" if i < 65536 else f"2001:db8::{i:x}"
        else:
            value = f"k{seed}-{i}-{uuid.UUID(int=rng.getrandbits(128)).hex[:8]}.example.net"
        out.append(LookupKey(family, value))
    return out


def run_lookups(
    settings: Settings,
    keys: Iterable[LookupKey],
    *,
    provider: TokenProvider | None = None,
    budget: Budget | None = None,
    file_info: bool = False,
    lookback_hours: int = 720,
    timeout: float = 120.0,
    **client_kw,
) -> tuple[dict[LookupKey, Answer], MdeClient, float]:
    """Run lookup_many over real sockets; returns (answers, the client, seconds taken by lookup_many)."""
    provider = provider or TokenProvider(settings)
    budget = budget or Budget(settings.rate_limits)
    client = MdeClient(settings, provider, budget, **client_kw)
    answers: dict[LookupKey, Answer] = {}
    keys = list(keys)

    def on_answer(key: LookupKey, answer: Answer) -> None:
        assert key not in answers, f"{key} answered twice"
        answers[key] = answer

    async def main() -> float:
        async with client:
            start = time.perf_counter()
            await lookup_many(client, keys, lookback_hours, file_info, on_answer, settings.concurrency)
            return time.perf_counter() - start

    elapsed = asyncio.run(asyncio.wait_for(main(), timeout))
    return answers, client, elapsed


def sandbox_token(sb, scope: str = MDE_SCOPE, client=None) -> str:
    """A token from the sandbox's v2 endpoint for `client` (a ClientSpec; default: the sandbox's own)."""
    import httpx

    tenant = client.tenant_id if client else sb.tenant_id
    resp = httpx.post(
        f"{sb.base_url}/{tenant}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client.client_id if client else sb.client_id,
            "client_secret": client.secret if client else sb.client_secret,
            "scope": scope,
        },
        verify=sb.ssl_context(),
        timeout=10,
    )
    assert resp.status_code == 200, resp.text
    return resp.json()["access_token"]
