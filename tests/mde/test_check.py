"""`enrich check` preflight against the sandbox: what is missing, in plain words."""

from __future__ import annotations

import pytest

from enrich.mde.check import run_check
from enrich.mde.settings import load_settings
from tests.mde_helpers import (
    LIMITED,
    NO_ROLES,
    SECRET,
    settings_for,
)

pytestmark = pytest.mark.timeout(60)


def by_name(results):
    return {r.name: r for r in results}


def test_all_good(mde_sb):
    results = run_check(settings_for(mde_sb))
    assert [r.name for r in results] == [
        "credentials",
        "token",
        "roles",
        "api:files",
        "api:ips",
        "api:domains",
        "hunting:graph",
        "hunting:legacy",
        "mode:stats",
        "mode:hunt",
        "mode:auto",
    ]
    assert all(r.ok for r in results), results
    assert "File.Read.All" in by_name(results)["roles"].message
    assert "Microsoft Graph" in by_name(results)["mode:auto"].message
    # one cheap call per entity family, no hunting query (the roles tell)
    assert {k: sum(v.values()) for k, v in mde_sb.stats()["by_family"].items() if k != "login"} == {
        "files": 1,
        "ips": 1,
        "domains": 1,
    }


def test_missing_credentials_stop_early(mde_sb):
    settings = load_settings(None, require_credentials=False, environ={"MDE_CLIENT_ID": "x"})
    results = run_check(settings)
    assert len(results) == 1 and not results[0].ok
    assert "MDE_TENANT_ID" in results[0].message and "MDE_CLIENT_SECRET" in results[0].message
    assert mde_sb.stats()["total"] == 0


def test_wrong_secret_in_words(mde_sb):
    results = by_name(run_check(settings_for(mde_sb, secret="the-secret-id-not-its-value")))
    assert not results["token"].ok
    assert "secret's ID instead of its value" in results["token"].message
    assert "roles" not in results


def test_missing_role_named_with_consent_and_403(mde_sb):
    results = by_name(run_check(settings_for(mde_sb, client_id=LIMITED, secret=SECRET + "L")))
    assert results["token"].ok
    assert not results["roles"].ok
    assert "File.Read.All" in results["roles"].message and "admin consent" in results["roles"].message
    assert "Ip.Read.All" not in results["roles"].message.split("(has:")[0]
    assert not results["api:files"].ok and "File.Read.All" in results["api:files"].message
    assert results["api:ips"].ok and results["api:domains"].ok
    # the roles rule files out: not asked, no quota spent on a sure 403
    assert "files" not in mde_sb.stats()["by_family"]
    assert not results["mode:auto"].ok and results["mode:auto"].counts


def test_no_roles_at_all(mde_sb):
    results = by_name(run_check(settings_for(mde_sb, client_id=NO_ROLES, secret=SECRET + "N")))
    message = results["roles"].message
    assert all(role in message for role in ("File.Read.All", "Ip.Read.All", "URL.Read.All"))
    assert "has: none" in message
    assert not any(results[f"api:{f}"].ok for f in ("files", "ips", "domains"))
