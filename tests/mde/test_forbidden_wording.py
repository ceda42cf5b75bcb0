"""403 in every observed wording: the run's message names the permission(s) to grant.

MDE answers "The application does not have any of the required application permissions (X, Y)
to access the resource." and, since 2026, also "Missing application roles. API required roles:
X, Y" (mde-api.md §10); Graph answers "Missing application roles. API required roles: X.
Application roles: ...". The sandbox speaks all of them (`forbidden_wording` for MDE).
"""

from __future__ import annotations

import asyncio

import pytest
from click.testing import CliRunner

from enrich.cli import cli
from enrich.mde.auth import GRAPH_SCOPE, TokenProvider
from enrich.mde.client import MdeClient, permission_denied, required_permissions
from enrich.mde.errors import PermissionDenied
from enrich.mde.limits import Budget
from tests.mde_helpers import LIMITED, NO_ROLES, SECRET, settings_for

pytestmark = pytest.mark.timeout(60)

PERMS = (
    "The application does not have any of the required application permissions ({}) to access the resource."
)
ROLES = "Missing application roles. API required roles: {}"


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (
            PERMS.format("Machine.Read.All, Machine.ReadWrite.All"),
            ("Machine.Read.All", "Machine.ReadWrite.All"),
        ),
        (PERMS.format("File.Read.All"), ("File.Read.All",)),
        (ROLES.format("Ti.ReadWrite.All, Ti.ReadWrite"), ("Ti.ReadWrite.All", "Ti.ReadWrite")),
        (ROLES.format("File.Read.All") + ".", ("File.Read.All",)),
        (
            ROLES.format("ThreatHunting.Read.All") + ". Application roles: Ip.Read.All, URL.Read.All.",
            ("ThreatHunting.Read.All",),
        ),
        ("missing application roles. api required roles:Ip.Read.All", ("Ip.Read.All",)),
        ("Forbidden", ()),
        ("Tenant feature isn't enabled.", ()),
        (ROLES.format(""), ()),
    ],
)
def test_required_permissions_in_either_wording(message, expected):
    assert required_permissions(message) == expected


def test_permission_denied_names_what_the_403_names_else_the_family_default():
    body = {"error": {"code": "Forbidden", "message": ROLES.format("Ti.ReadWrite.All, Ti.ReadWrite")}}
    error = permission_denied("ips", body)
    assert error.permissions == ("Ti.ReadWrite.All", "Ti.ReadWrite")
    assert "permission Ti.ReadWrite.All or Ti.ReadWrite of WindowsDefenderATP" in str(error)
    assert permission_denied("files", {"error": {"code": "Forbidden", "message": ""}}).permissions == (
        "File.Read.All",
    )
    graph = permission_denied("hunting", {"error": {"code": "Forbidden", "message": "Forbidden"}}, graph=True)
    assert graph.permissions == ("ThreatHunting.Read.All",) and "Microsoft Graph" in str(graph)


def _get(settings, family, path, provider=None):
    async def main():
        provider_ = provider or TokenProvider(settings)
        async with MdeClient(settings, provider_, Budget(settings.rate_limits)) as client:
            return await client.get(family, path)

    return asyncio.run(main())


@pytest.mark.parametrize("wording", ["permissions", "roles"])
def test_a_403_over_sockets_names_the_roles_mde_requires(mde_sb, wording):
    # The machines route needs Machine.Read.All or Machine.ReadWrite.All: not the family's default
    # (Ip.Read.All), so only a parsed 403 names them.
    mde_sb.configure(forbidden_wording=wording)
    settings = settings_for(mde_sb, client_id=NO_ROLES, secret=SECRET + "N")
    with pytest.raises(PermissionDenied) as info:
        _get(settings, "ips", "/api/machines")
    assert info.value.permissions == ("Machine.Read.All", "Machine.ReadWrite.All")
    message = str(info.value)
    assert "Machine.Read.All or Machine.ReadWrite.All of WindowsDefenderATP" in message
    said = "Missing application roles. API required roles:" if wording == "roles" else "permissions ("
    assert said in message  # the sandbox answered in that wording
    assert mde_sb.stats()["by_endpoint"]["machines"] == {"403": 1}  # fatal: not retried


def test_a_graph_403_names_the_graph_permission(mde_sb):
    settings = settings_for(mde_sb, client_id=LIMITED, secret=SECRET + "L")
    graph_tokens = TokenProvider(settings, scope=GRAPH_SCOPE)

    async def main():
        async with MdeClient(settings, TokenProvider(settings), Budget(settings.rate_limits)) as client:
            return await client.post(
                "hunting",
                "/v1.0/security/runHuntingQuery",
                {"Query": "DeviceNetworkEvents | take 1"},
                base_url=settings.graph_url,
                tokens=graph_tokens,
            )

    with pytest.raises(PermissionDenied) as info:
        asyncio.run(main())
    assert info.value.permissions == ("ThreatHunting.Read.All",)
    assert "ThreatHunting.Read.All of Microsoft Graph" in str(info.value)
    assert "AdvancedQuery" not in str(info.value)


def test_a_run_refused_in_the_roles_wording_names_the_permission(mde_sb, monkeypatch, tmp_path):
    mde_sb.configure(forbidden_wording="roles")
    for name, value in mde_sb.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MDE_CLIENT_ID", LIMITED)
    monkeypatch.setenv("MDE_CLIENT_SECRET", SECRET + "L")
    monkeypatch.delenv("MDE_RATE_LIMIT", raising=False)
    source = tmp_path / "in.csv"
    source.write_text("sha1\n" + "ab" * 20 + "\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["run", str(source), "-o", str(tmp_path / "out.csv"), "--no-cache"])
    assert result.exit_code == 1, result.stderr
    error_lines = [line for line in result.stderr.splitlines() if "403" in line]
    assert len(error_lines) == 1 and "File.Read.All" in error_lines[0], result.stderr
    assert "API required roles: File.Read.All" in error_lines[0] and "Traceback" not in result.stderr
