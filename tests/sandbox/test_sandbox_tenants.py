"""A multi-tenant sandbox (`SandboxConfig.tenants`, `enrich sandbox --tenants N`): credentials for
each tenant, the same data for all, quotas counted per tenant."""

from __future__ import annotations

import json
import stat
import threading

import httpx
import pytest

from enrich.sandbox import Sandbox, SandboxConfig
from enrich.sandbox.serve import serve, tenant_lines
from enrich.sandbox.server import default_client, tenant_clients
from tests.mde_helpers import sandbox_token

pytestmark = pytest.mark.timeout(60)

IP = "/api/ips/{}/stats?lookBackHours=720"


def test_tenant_clients_are_distinct_and_deterministic():
    made = tenant_clients(5, 4)
    assert made[0] == default_client(5)  # a one-tenant sandbox is the sandbox as it was
    assert tenant_clients(5, 4) == made
    assert (
        len({c.tenant_id for c in made})
        == len({c.client_id for c in made})
        == len({c.secret for c in made})
        == 4
    )
    assert all("8Q~" in c.secret for c in made)


def test_config_refuses_a_bad_tenant_count():
    for count in (0, 1001):
        with pytest.raises(ValueError, match="tenants must be between 1 and 1000"):
            SandboxConfig(tenants=count).validate()


def test_each_tenant_signs_in_sees_the_same_data_and_has_its_own_quota():
    with Sandbox(SandboxConfig(time_scale=1, tenants=3, sample_dir="", entity_limits=(2, 100))) as sb:
        ip = "10.209.67.177"
        answers, bodies = [], []
        for client in sb.clients:
            token = sandbox_token(sb, client=client)
            with httpx.Client(
                base_url=sb.base_url, verify=sb.ssl_context(), headers={"Authorization": f"Bearer {token}"}
            ) as http:
                replies = [http.get(IP.format(ip)) for _ in range(3)]
            answers.append([r.status_code for r in replies])
            bodies.append(replies[0].json())
        # each tenant gets its 2 calls a minute, then 429: tenant 1 using its quota up leaves tenant 2's whole
        assert answers == [[200, 200, 429]] * 3
        assert bodies == [bodies[0]] * 3 and bodies[0]["orgPrevalence"] is not None  # the same data
        by_tenant = sb.tenant_stats()
        for client in sb.clients:
            assert by_tenant[client.tenant_id].get("429") == 1
        assert sb.env(2)["MDE_TENANT_ID"] == sb.clients[2].tenant_id
        assert sb.env(2)["MDE_API_URL"] == sb.env()["MDE_API_URL"]


def test_serve_prints_every_tenant_and_writes_secrets(tmp_path):
    out: list[str] = []
    err: list[str] = []
    stop = threading.Event()
    folder = tmp_path / "secrets"

    def said(line: str) -> None:
        out.append(line)
        if len([x for x in out if x.startswith("# tenant ")]) == 3:
            stop.set()

    config = SandboxConfig(tenants=3, sample_dir="")
    thread = threading.Thread(
        target=serve, args=(config, said, err.append, stop), kwargs={"secrets_dir": str(folder)}
    )
    thread.start()
    thread.join(30)
    assert not thread.is_alive()
    tenants = [line for line in out if line.startswith("# tenant ")]
    clients = tenant_clients(config.seed, 3)
    for number, (line, client) in enumerate(zip(tenants, clients, strict=True), start=1):
        assert line.startswith(
            f"# tenant {number}: MDE_TENANT_ID={client.tenant_id} MDE_CLIENT_ID={client.client_id}"
        )
        assert client.secret in line
        written = folder / f"tenant-{number}.json"
        assert json.loads(written.read_text()) == {
            "mde_tenant_id": client.tenant_id,
            "mde_client_id": client.client_id,
            "mde_client_secret": client.secret,
        }
        assert stat.S_IMODE(written.stat().st_mode) == 0o600
    assert any("quotas per tenant and app: 100/min and 1500/hour" in line for line in out)
    assert any("wrote 3 secrets files" in line for line in err)


def test_one_tenant_prints_no_tenant_lines():
    with Sandbox(SandboxConfig(sample_dir="")) as sb:
        assert tenant_lines(sb) == []
