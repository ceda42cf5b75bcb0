"""`enrich check` per mode: which hunting path is usable, what each mode lacks, no quota spent where roles tell.

Apps of one tenant with different grants, against a real sandbox over HTTPS.
"""

from __future__ import annotations

import io

import pytest

from enrich.checking import check
from enrich.mde.check import run_check
from tests.mde_helpers import SECRET, TENANT, reset_sandbox, settings_for

pytestmark = pytest.mark.timeout(90)

STATS_ONLY = "1f5e8a66-5d0f-4c1b-8a43-6b2f3d4e5b01"
GRAPH_ONLY = "1f5e8a66-5d0f-4c1b-8a43-6b2f3d4e5b02"
LEGACY_ONLY = "1f5e8a66-5d0f-4c1b-8a43-6b2f3d4e5b03"
EVERYTHING = "1f5e8a66-5d0f-4c1b-8a43-6b2f3d4e5b04"
ROLES = {
    STATS_ONLY: ("File.Read.All", "Ip.Read.All", "URL.Read.All"),
    GRAPH_ONLY: ("ThreatHunting.Read.All",),
    LEGACY_ONLY: ("AdvancedQuery.Read.All",),
    EVERYTHING: (
        "File.Read.All",
        "Ip.Read.All",
        "URL.Read.All",
        "AdvancedQuery.Read.All",
        "ThreatHunting.Read.All",
    ),
}


@pytest.fixture(scope="module")
def apps_sandbox():
    from enrich.sandbox import ClientSpec, Sandbox, SandboxConfig

    clients = [
        ClientSpec(client_id=app, secret=SECRET + app[-2:], tenant_id=TENANT, roles=r)
        for app, r in ROLES.items()
    ]
    with Sandbox(SandboxConfig(time_scale=60, sample_dir="", clients=clients)) as sb:
        yield sb


@pytest.fixture
def sb(apps_sandbox, monkeypatch):
    reset_sandbox(apps_sandbox, monkeypatch)
    return apps_sandbox


def checked(sb, app: str, mode: str = "auto") -> dict:
    results = run_check(settings_for(sb, client_id=app, secret=SECRET + app[-2:]), mode=mode)
    return {r.name: r for r in results}


def calls(sb) -> dict[str, int]:
    """API calls by family (sign-ins aside)."""
    return {k: sum(v.values()) for k, v in sb.stats()["by_family"].items() if k != "login"}


def passed(results: dict) -> bool:
    return all(r.ok for r in results.values() if r.counts)


def test_everything_granted_auto_hunts_through_graph(sb):
    results = checked(sb, EVERYTHING)
    assert passed(results) and all(r.ok for r in results.values())
    assert "usable" in results["hunting:graph"].message and "usable" in results["hunting:legacy"].message
    assert "Microsoft Graph" in results["mode:auto"].message
    assert calls(sb) == {"files": 1, "ips": 1, "domains": 1}  # no hunting query: the roles tell


def test_stats_only_app_runs_auto_as_stats_and_says_what_hunting_needs(sb):
    results = checked(sb, STATS_ONLY)
    assert passed(results)
    assert not results["hunting:graph"].ok and "ThreatHunting.Read.All" in results["hunting:graph"].message
    assert not results["hunting:legacy"].ok and "AdvancedQuery.Read.All" in results["hunting:legacy"].message
    hunt = results["mode:hunt"]
    assert not hunt.ok and not hunt.counts  # information about another mode
    assert "ThreatHunting.Read.All" in hunt.message and "AdvancedQuery.Read.All" in hunt.message
    auto = results["mode:auto"]
    assert auto.ok and "statistics APIs" in auto.message and "MD5" in auto.message
    assert results["mode:stats"].ok
    assert calls(sb) == {"files": 1, "ips": 1, "domains": 1}

    strict = checked(sb, STATS_ONLY, mode="hunt")
    assert not passed(strict)
    assert not strict["roles"].ok and "admin consent" in strict["roles"].message
    assert strict["mode:hunt"].counts and not strict["mode:auto"].counts
    assert not strict["api:files"].counts  # hunt mode asks no statistics API


def test_graph_only_app_hunts_and_spends_no_entity_quota(sb):
    results = checked(sb, GRAPH_ONLY)
    assert passed(results)
    assert results["roles"].ok
    assert results["hunting:graph"].ok and not results["hunting:legacy"].ok
    for family in ("files", "ips", "domains"):
        probe = results[f"api:{family}"]
        assert not probe.ok and not probe.counts and "not asked" in probe.message
    stats = results["mode:stats"]
    assert not stats.ok and not stats.counts
    assert all(role in stats.message for role in ("File.Read.All", "Ip.Read.All", "URL.Read.All"))
    assert results["mode:auto"].ok and "Microsoft Graph" in results["mode:auto"].message
    assert calls(sb) == {}  # not one entity or hunting call

    strict = checked(sb, GRAPH_ONLY, mode="stats")
    assert not passed(strict) and strict["api:files"].counts and strict["mode:stats"].counts
    assert "File.Read.All" in strict["roles"].message


def test_legacy_only_app_is_told_the_endpoint_retires(sb):
    results = checked(sb, LEGACY_ONLY, mode="hunt")
    assert passed(results)
    assert not results["hunting:graph"].ok and "ThreatHunting.Read.All" in results["hunting:graph"].message
    hunt = results["mode:hunt"]
    assert hunt.ok and "legacy" in hunt.message and "1 February 2027" in hunt.message
    assert "ThreatHunting.Read.All" in hunt.message  # what to grant to move to Graph
    assert "legacy" in results["mode:auto"].message


def test_printed_marks_and_exit_codes(sb, monkeypatch):
    for name, value in sb.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MDE_CLIENT_ID", GRAPH_ONLY)
    monkeypatch.setenv("MDE_CLIENT_SECRET", SECRET + GRAPH_ONLY[-2:])
    monkeypatch.setenv("MDE_RATE_LIMIT", "100/1s,1500/60s")
    out = io.StringIO()
    assert check(None, False, out, mode="auto") == 0
    lines = out.getvalue().splitlines()
    assert lines[-1] == "all checks passed (for --mode auto)"
    assert any(line.startswith("--   mode:stats: ") for line in lines)  # fails, but not for auto
    assert any(line.startswith("ok   mode:auto: ") for line in lines)

    out = io.StringIO()
    assert check(None, False, out, mode="stats") == 1
    text = out.getvalue()
    assert "FAIL mode:stats: " in text and "FAIL api:files: " in text and "--   mode:hunt" not in text
    assert text.splitlines()[-1] == "some checks failed: see above"


@pytest.mark.parametrize("mode", ["stats", "hunt", "auto"])
def test_the_cli_takes_the_mode(mode, clean_mde_env):
    from click.testing import CliRunner

    from enrich.cli import cli

    result = CliRunner().invoke(cli, ["check", "--sandbox", "--mode", mode])
    assert result.exit_code == 0, result.stdout
    assert result.stdout.splitlines()[-1] == f"all checks passed (for --mode {mode})"
    assert "ok   hunting:graph: " in result.stdout and "ok   mode:hunt: " in result.stdout
    bad = CliRunner().invoke(cli, ["check", "--sandbox", "--mode", "fast"])
    assert bad.exit_code == 2 and "'fast' is not one of" in bad.stderr
