"""`enrich sandbox`: option parsing, --help, and a real foreground run stopped with Ctrl-C."""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
import time

import httpx
import pytest
from click.testing import CliRunner

from enrich.cli import cli
from enrich.sandbox.serve import parse_faults, parse_latency, parse_rate

pytestmark = pytest.mark.timeout(60)


def test_parse_rate():
    assert parse_rate("100/min,1500/hour", (1, 1)) == (100, 1500)
    assert parse_rate("10/minute", (1, 99)) == (10, 99)
    assert parse_rate("2/s, 50/h", (1, 1)) == (120, 50)
    with pytest.raises(ValueError):
        parse_rate("100 per minute", (1, 1))


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
    ):
        assert option in result.output


@pytest.mark.parametrize(
    "args", [["--fault", "404=0.1"], ["--rate-limit", "lots"], ["--latency", "2,1"], ["--fault", "500=2"]]
)
def test_bad_options_are_usage_errors(args):
    result = CliRunner().invoke(cli, ["sandbox", *args])
    assert result.exit_code == 2, result.output


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
