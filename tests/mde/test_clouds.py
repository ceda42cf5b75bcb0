"""`--cloud` / `--region`: each cloud's hosts and token scopes, checked against a sandbox serving that
cloud's audiences (`enrich sandbox --cloud X`) with MDE_LOGIN_URL/MDE_API_URL/MDE_GRAPH_URL pointing
at it: the scopes come from the cloud, so a run asking for another cloud's audience fails."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from enrich.cli import cli
from enrich.errors import EXIT_USAGE
from enrich.mde.auth import GRAPH, TokenProvider, decode_jwt_claims
from enrich.mde.clouds import CLOUDS, CloudChoiceError
from enrich.mde.errors import AuthError
from enrich.mde.settings import load_settings
from enrich.sandbox import ClientSpec, Sandbox, SandboxConfig

pytestmark = pytest.mark.timeout(180)

TENANT = "7e8c7a0e-8c1e-4b6a-9b0e-2f7f3f7a0011"
CLIENT = ClientSpec("66666666-6666-4666-8666-666666666666", "clouds-secret", TENANT)

# cloud -> (login host, MDE API host, Graph host, MDE token resource, Graph token resource), as
# Microsoft documents them (research 1.7, 2, 10): written out here, not read from enrich.mde.clouds.
EXPECTED = {
    "global": (
        "https://login.microsoftonline.com",
        "https://api.security.microsoft.com",
        "https://graph.microsoft.com",
        "https://api.securitycenter.microsoft.com",
        "https://graph.microsoft.com",
    ),
    "gcc": (
        "https://login.microsoftonline.com",
        "https://api-gcc.securitycenter.microsoft.us",
        "https://graph.microsoft.com",
        "https://api-gcc.securitycenter.microsoft.us",
        "https://graph.microsoft.com",
    ),
    "gcc-high": (
        "https://login.microsoftonline.us",
        "https://api-gov.securitycenter.microsoft.us",
        "https://graph.microsoft.us",
        "https://api-gov.securitycenter.microsoft.us",
        "https://graph.microsoft.us",
    ),
    "dod": (
        "https://login.microsoftonline.us",
        "https://api-gov.securitycenter.microsoft.us",
        "https://dod-graph.microsoft.us",
        "https://api-gov.securitycenter.microsoft.us",
        "https://dod-graph.microsoft.us",
    ),
}
# For each sandbox cloud, a cloud whose MDE resource it does not accept (refused at sign-in or by the API).
WRONG_MDE = {"global": "gcc-high", "gcc": "global", "gcc-high": "global", "dod": "gcc"}
# For each sandbox cloud, a cloud whose Graph resource it does not know (gcc-high and dod share the
# MDE resource: only their Graph tells them apart).
WRONG_GRAPH = {"global": "gcc-high", "gcc-high": "dod", "dod": "gcc-high", "gcc": "gcc-high"}
INPUT = "indicator\n8.8.8.8\nexample.com\n"


@pytest.fixture(autouse=True)
def _no_inherited(monkeypatch):
    for var in ("MDE_CLOUD", "MDE_REGION", "MDE_RATE_LIMIT", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(var, raising=False)
    for var in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(scope="module", params=sorted(EXPECTED))
def cloud_sb(request):
    with Sandbox(SandboxConfig(seed=3, sample_dir="", clients=[CLIENT], cloud=request.param)) as sb:
        yield request.param, sb


def _env(sb) -> dict[str, str]:
    env = sb.env()
    env.update(MDE_TENANT_ID=TENANT, MDE_CLIENT_ID=CLIENT.client_id, MDE_CLIENT_SECRET=CLIENT.secret)
    return env


# -- the data, without a network ----------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_cloud_sets_hosts_and_scopes(name):
    login, api, graph, mde_resource, graph_resource = EXPECTED[name]
    s = load_settings(None, require_credentials=False, environ={"MDE_CLOUD": name.upper()})
    assert (s.cloud, s.login_url, s.api_url, s.graph_url) == (name, login, api, graph)
    assert (s.mde_scope, s.graph_scope) == (f"{mde_resource}/.default", f"{graph_resource}/.default")
    assert name in s.describe_cloud() and api in s.describe_cloud()


def test_url_variables_change_hosts_never_scopes():
    env = {"MDE_API_URL": "https://127.0.0.1:8443", "MDE_LOGIN_URL": "https://127.0.0.1:8443"}
    s = load_settings(None, require_credentials=False, environ=env, cloud="dod")
    assert (s.api_url, s.login_url, s.graph_url) == (
        "https://127.0.0.1:8443",
        "https://127.0.0.1:8443",
        "https://dod-graph.microsoft.us",
    )
    assert s.mde_scope == "https://api-gov.securitycenter.microsoft.us/.default"
    assert TokenProvider(s).scope == s.mde_scope
    assert TokenProvider(s, scope=GRAPH).scope == "https://dod-graph.microsoft.us/.default"


@pytest.mark.parametrize("region", ["us", "eu", "uk", "au", "swa", "ina", "aea"])
def test_regions_pick_the_regional_host_and_keep_the_scope(region):
    s = load_settings(None, require_credentials=False, environ={"MDE_REGION": region.upper()})
    assert s.api_url == f"https://{region}.api.security.microsoft.com"
    assert s.mde_scope == "https://api.securitycenter.microsoft.com/.default"
    given = load_settings(
        None, require_credentials=False, environ={"MDE_API_URL": "https://h.example"}, region=region
    )
    assert given.api_url == "https://h.example"  # MDE_API_URL still wins


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"MDE_CLOUD": "china"}, "global, gcc, gcc-high, dod"),
        ({"MDE_REGION": "mars"}, "us, eu, uk, au"),
        ({"MDE_CLOUD": "gcc-high", "MDE_REGION": "eu"}, "no regional API hosts"),
    ],
)
def test_unknown_cloud_or_region_is_a_usage_error_naming_the_choices(env, words):
    with pytest.raises(CloudChoiceError, match=words) as caught:
        load_settings(None, require_credentials=False, environ=env)
    assert caught.value.exit_code == EXIT_USAGE


def test_cli_refuses_an_unknown_cloud_or_region(tmp_path, monkeypatch):
    src = tmp_path / "in.csv"
    src.write_text(INPUT)
    result = CliRunner().invoke(cli, ["run", str(src), "--cloud", "mooncake"])
    assert result.exit_code == EXIT_USAGE and "gcc-high" in result.output
    monkeypatch.setenv("MDE_CLOUD", "mooncake")
    result = CliRunner().invoke(cli, ["run", str(src), "--sandbox", "-o", str(tmp_path / "o.csv")])
    assert result.exit_code == EXIT_USAGE, result.output
    assert "unknown cloud 'mooncake'" in result.output and "Traceback" not in result.output


def test_job_file_cloud_region_and_log_format_keys(tmp_path):
    from enrich.errors import JobError
    from enrich.jobfile import load_job

    (tmp_path / "in.csv").write_text(INPUT)
    job = tmp_path / "job.toml"
    job.write_text('inputs = ["in.csv"]\ncloud = "GCC-High"\nregion = "eu"\nlog_format = "json"\n')
    req = load_job(str(job)).request
    assert (req.cloud, req.region, req.log_format) == ("gcc-high", "eu", "json")
    job.write_text('inputs = ["in.csv"]\ncloud = "azure-china"\n')
    with pytest.raises(JobError, match="'cloud' must be one of global, gcc, gcc-high, dod"):
        load_job(str(job))


def test_the_sandbox_clouds_match_ours():
    """The sandbox's clouds (built separately) name the same hosts as the client's."""
    from enrich.sandbox.login import CLOUDS as SERVED

    for name, cloud in CLOUDS.items():
        served = SERVED[name]
        assert cloud.login_url == f"https://{served.login_host}"
        assert cloud.graph_url == f"https://{served.graph_host}"
        assert cloud.mde_resource in served.mde_audiences and cloud.graph_resource == served.graph_audience


# -- against a sandbox serving each cloud -------------------------------------------------------


def test_tokens_carry_the_clouds_audiences(cloud_sb):
    name, sb = cloud_sb
    _, _, _, mde_resource, graph_resource = EXPECTED[name]
    s = load_settings(None, environ=_env(sb), cloud=name)
    mde, graph = TokenProvider(s), TokenProvider(s, scope=GRAPH)
    try:
        assert decode_jwt_claims(mde.get_token())["aud"] == mde_resource
        assert decode_jwt_claims(graph.get_token())["aud"] == graph_resource
    finally:
        mde.close()
        graph.close()


def test_check_passes_in_the_right_cloud_and_says_it(cloud_sb, monkeypatch):
    name, sb = cloud_sb
    for var, value in _env(sb).items():
        monkeypatch.setenv(var, value)
    result = CliRunner().invoke(cli, ["check", "--mode", "stats", "--cloud", name])
    assert result.exit_code == 0, result.output
    assert f"cloud {name}: login {sb.base_url}" in result.output
    assert f"tokens for {EXPECTED[name][3]}/.default" in result.output
    monkeypatch.setenv("MDE_CLOUD", WRONG_MDE[name])
    result = CliRunner().invoke(cli, ["check", "--mode", "stats"])
    assert result.exit_code == 1, result.output
    assert f"cloud {WRONG_MDE[name]}:" in result.output


def test_run_works_in_the_right_cloud_and_fails_in_a_wrong_one(cloud_sb, tmp_path, monkeypatch):
    name, sb = cloud_sb
    for var, value in _env(sb).items():
        monkeypatch.setenv(var, value)
    src = tmp_path / "in.csv"
    src.write_text(INPUT)
    common = [str(src), "--mode", "stats", "--no-cache", "--rate-limit", "100/1s,1500/60s"]
    good = CliRunner().invoke(cli, ["run", *common, "-o", str(tmp_path / "ok.csv"), "--cloud", name])
    assert good.exit_code == 0, good.output
    assert "mde_status" in (tmp_path / "ok.csv").read_text()
    wrong = WRONG_MDE[name]
    bad = CliRunner().invoke(cli, ["run", *common, "-o", str(tmp_path / "bad.csv"), "--cloud", wrong])
    assert bad.exit_code == 1, bad.output
    assert not (tmp_path / "bad.csv").exists()
    assert "Traceback" not in bad.output


def test_graph_scope_of_another_cloud_is_refused(cloud_sb):
    name, sb = cloud_sb
    s = load_settings(None, environ=_env(sb), cloud=WRONG_GRAPH[name])
    graph = TokenProvider(s, scope=GRAPH)
    try:
        with pytest.raises(AuthError):
            graph.get_token()
    finally:
        graph.close()


@pytest.mark.parametrize("name", ["gcc", "dod"])
def test_run_sandbox_serves_the_chosen_cloud(name, tmp_path):
    src = tmp_path / "in.csv"
    src.write_text(INPUT)
    out = tmp_path / "out.csv"
    result = CliRunner().invoke(
        cli, ["run", str(src), "-o", str(out), "--sandbox", "--cloud", name, "--mode", "stats"]
    )
    assert result.exit_code == 0, result.output
    assert out.read_text().count("\n") == INPUT.count("\n")
