"""`enrich sandbox`: option parsing, --help, and a real foreground run stopped with Ctrl-C."""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from enrich.cli import cli
from enrich.sandbox import SandboxConfig
from enrich.sandbox.serve import parse_faults, parse_graph_quota, parse_latency, parse_quota, parse_size
from enrich.units import parse_rate_limit

pytestmark = pytest.mark.timeout(60)

PLAIN_LIST = Path(__file__).resolve().parents[2] / "sample_data" / "plain_list.txt"


@pytest.mark.parametrize(
    ("spec", "default", "quota"),
    [
        ("100/min,1500/hour", (1, 1), (100, 1500)),
        ("10/minute", (1, 99), (10, 99)),  # a quota not given keeps its default
        ("2/s, 50/h", (1, 1), (120, 50)),
        ("10/s", (100, 1500), (600, 1500)),  # per second: scaled to the minute, as before
        ("", (45, 1500), (45, 1500)),
        # forms that only `enrich run` read before
        ("100/1s,1500/60s", (100, 1500), (1500, 1500)),  # both apply: the smaller per minute holds
        ("1500/60s,100/1s", (100, 1500), (1500, 1500)),
        ("50/30s,250/10m", (1, 1), (100, 1500)),
        ("100/0.1s", (1, 1), (60000, 1)),
        ("1/0.5h", (1, 1), (1, 2)),
    ],
)
def test_parse_quota(spec, default, quota):
    assert parse_quota(spec, default) == quota


@pytest.mark.parametrize("spec", ["100 per minute", "0/min", "10/7s", "10/7min", "10/day"])
def test_parse_quota_refuses(spec):
    with pytest.raises(ValueError):
        parse_quota(spec, (1, 1))


def test_run_and_sandbox_accept_the_same_rate_limit(tmp_path, monkeypatch, clean_mde_env):
    seen: list[SandboxConfig] = []

    def serve(config: SandboxConfig, out: object, err: object) -> int:
        seen.append(config)
        return 0

    monkeypatch.setattr("enrich.sandbox.serve.serve", serve)
    spec = "100/1s,1500/60s"
    served = CliRunner().invoke(cli, ["sandbox", "--rate-limit", spec, "--hunting-rate-limit", spec])
    assert served.exit_code == 0, served.output
    assert (seen[0].entity_limits, seen[0].hunting_limits) == ((1500, 1500), (1500, 1500))
    args = ["run", "--sandbox", "--no-cache", str(PLAIN_LIST), "-o", str(tmp_path / "o.csv")]
    ran = CliRunner().invoke(cli, [*args, "--rate-limit", spec])
    assert ran.exit_code == 0, ran.stderr


@pytest.mark.parametrize("spec", ["lots", "100/fortnight", "0/min"])
def test_run_and_sandbox_refuse_a_bad_rate_limit_alike(tmp_path, spec, clean_mde_env):
    with pytest.raises(ValueError) as refused:
        parse_rate_limit(spec)
    served = CliRunner().invoke(cli, ["sandbox", "--rate-limit", spec])
    assert served.exit_code == 2 and str(refused.value) in served.stderr
    args = ["run", "--sandbox", "--no-cache", str(PLAIN_LIST), "-o", str(tmp_path / "o.csv")]
    ran = CliRunner().invoke(cli, [*args, "--rate-limit", spec])
    assert ran.exit_code == 2 and str(refused.value) in ran.stderr  # a usage error in both


def test_parse_faults_and_latency():
    assert parse_faults(["500=0.05", "reset=0.02,slow=0.01"]) == {"500": 0.05, "reset": 0.02, "slow": 0.01}
    with pytest.raises(ValueError):
        parse_faults(["500"])
    assert parse_latency("0.01,0.05") == (0.01, 0.05)
    assert parse_latency("0.2") == (0.2, 0.2)
    with pytest.raises(ValueError):
        parse_latency("a,b")


def test_help_lists_every_option():
    result = CliRunner().invoke(cli, ["sandbox", "--help"])
    assert result.exit_code == 0
    for option in (
        "--port",
        "--seed",
        "--time-scale",
        "--rate-limit",
        "--hunting-rate-limit",
        "--token-lifetime",
        "--fault",
        "--slow-seconds",
        "--latency",
        "--data",
        "--lookback-policy",
        "--md5",
        "--graph-hunting-rate-limit",
        "--hunting-max-rows",
        "--hunting-max-result-bytes",
        "--hunting-timeout",
        "--hunting-cpu-quota",
        "--fault-family",
        "--cloud",
    ):
        assert option in result.output


@pytest.mark.parametrize(
    "args",
    [
        ["--fault", "404=0.1"],
        ["--rate-limit", "lots"],
        ["--latency", "2,1"],
        ["--fault", "500=2"],
        ["--graph-hunting-rate-limit", "10/7s"],
        ["--hunting-max-rows", "0"],
        ["--hunting-max-result-bytes", "50 parsecs"],
        ["--hunting-max-result-bytes", "0"],
        ["--hunting-timeout", "0"],
        ["--hunting-cpu-quota", "-1"],
        ["--fault-family", "printers"],
        ["--cloud", "mooncake"],
    ],
)
def test_bad_options_are_usage_errors(args):
    result = CliRunner().invoke(cli, ["sandbox", *args])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output


def test_parse_size_and_graph_quota():
    assert parse_size("50MB") == 50 * 1024 * 1024
    assert parse_size("64 KiB") == 65536
    assert parse_size("2000") == parse_size("2000b") == 2000
    assert parse_size("1.5kb") == 1536
    for bad in ("", "MB", "-1MB", "3 apples", "0"):
        with pytest.raises(ValueError):
            parse_size(bad)
    assert parse_graph_quota("") is None  # the legacy per-minute quota, no hourly cap
    assert parse_graph_quota("60/min") == (60, None)
    assert parse_graph_quota("2/s,500/hour") == (120, 500)


def test_hunting_limit_options_reach_the_config(monkeypatch):
    seen: list[SandboxConfig] = []
    monkeypatch.setattr("enrich.sandbox.serve.serve", lambda config, out, err: seen.append(config) or 0)
    args = [
        "sandbox",
        "--hunting-rate-limit", "10/min,100/hour",
        "--graph-hunting-rate-limit", "20/min",
        "--hunting-max-rows", "500",
        "--hunting-max-result-bytes", "64KB",
        "--hunting-timeout", "3.5",
        "--hunting-cpu-quota", "0.25",
        "--fault", "preempted=0.5",
        "--fault-family", "hunting",
        "--fault-family", "graph_hunting",
    ]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    config = seen[0]
    assert config.hunting_limits == (10, 100) and config.graph_hunting_limits == (20, None)
    assert (config.hunting_max_rows, config.hunting_max_result_bytes) == (500, 65536)
    assert (config.hunting_timeout, config.hunting_cpu_quota) == (3.5, 0.25)
    assert config.faults == {"preempted": 0.5}
    assert config.fault_families == ("hunting", "graph_hunting")
    defaults = CliRunner().invoke(cli, ["sandbox"])
    assert defaults.exit_code == 0
    config = seen[1]
    assert config.hunting_limits == (45, 1500) and config.graph_hunting_limits is None
    assert (config.hunting_max_rows, config.hunting_max_result_bytes) == (100_000, 50 * 1024 * 1024)
    assert (config.hunting_timeout, config.hunting_cpu_quota, config.fault_families) == (None, 150.0, None)


def test_foreground_run_prints_exports_and_stops_on_ctrl_c():
    env = {k: v for k, v in os.environ.items() if k not in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "enrich", "sandbox", "--seed", "2", "--time-scale", "60"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        exports = {}
        deadline = time.monotonic() + 20
        while len(exports) < 7 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            assert line.startswith("export MDE_")
            name, _, value = line[len("export ") :].strip().partition("=")
            exports[name] = value.strip("'")
        assert set(exports) == {
            "MDE_TENANT_ID",
            "MDE_CLIENT_ID",
            "MDE_CLIENT_SECRET",
            "MDE_API_URL",
            "MDE_LOGIN_URL",
            "MDE_GRAPH_URL",
            "MDE_CA_BUNDLE",
        }
        hint = proc.stderr.readline()
        assert "Ctrl-C" in hint and exports["MDE_API_URL"] in hint
        verify = ssl.create_default_context(cafile=exports["MDE_CA_BUNDLE"])
        token = httpx.post(
            f"{exports['MDE_LOGIN_URL']}/{exports['MDE_TENANT_ID']}/oauth2/v2.0/token",
            data={
                "grant_type": "client_credentials",
                "client_id": exports["MDE_CLIENT_ID"],
                "client_secret": exports["MDE_CLIENT_SECRET"],
                "scope": "https://api.securitycenter.microsoft.com/.default",
            },
            verify=verify,
        ).json()["access_token"]
        resp = httpx.get(
            f"{exports['MDE_API_URL']}/api/domains/example.com/stats",
            headers={"Authorization": f"Bearer {token}"},
            verify=verify,
        )
        assert resp.status_code == 200 and resp.json()["organizationPrevalence"] > 0
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=15) == 0
        assert "stopped" in proc.stderr.read()
        assert not os.path.exists(exports["MDE_CA_BUNDLE"])  # temporary CA removed
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
