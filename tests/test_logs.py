"""Logs under cron: UTC-stamped progress that keeps coming while calls wait, repeated warnings counted,
`--summary` written on a fatal exit, `-v` and `-q` on `run` and `job` (real sockets throughout)."""

from __future__ import annotations

import io
import json
import logging
import re
import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from enrich.cli import cli
from enrich.logs import RunLogHandler

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "sample_data"
STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"
PROGRESS = re.compile(rf"^{STAMP} enrich: (\d+)/(\d+) lookups done", re.MULTILINE)

pytestmark = [pytest.mark.usefixtures("clean_mde_env"), pytest.mark.timeout(180)]


def _ips(tmp_path: Path, count: int) -> Path:
    feed = tmp_path / "ips.csv"
    feed.write_text("indicator\n" + "".join(f"198.18.7.{i}\n" for i in range(1, count + 1)))
    return feed


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- progress --------------------------------------------------------------------------------


def test_progress_lines_are_stamped_and_come_while_every_call_waits_on_quota(tmp_path):
    # One call per 3 s: between answers every call waits on the quota; lines must keep coming.
    result = CliRunner().invoke(
        cli,
        [
            "run",
            "--mode",
            "stats",  # one entity call per lookup, each waiting on this quota
            "--sandbox",
            str(_ips(tmp_path, 3)),
            "-o",
            str(tmp_path / "o.csv"),
            "--no-cache",
            "--progress-interval",
            "1",
            "--rate-limit",
            "1/3s",
        ],
    )
    assert result.exit_code == 0, result.stderr
    done = [int(m.group(1)) for m in PROGRESS.finditer(result.stderr)]
    assert done, result.stderr
    assert any(a == b for a, b in zip(done, done[1:], strict=False)), (
        f"no progress line came between two answers: {done}\n{result.stderr}"
    )


# --- repeated warnings, summary on a fatal exit ------------------------------------------------


@pytest.fixture
def api_env(monkeypatch):
    """The sandbox's API, and a login host that refuses connections (retries made quick)."""
    from enrich.mde import client as client_module
    from enrich.sandbox import Sandbox, SandboxConfig

    monkeypatch.setattr(client_module, "TOKEN_RETRY_FLOOR", 0.01)
    monkeypatch.setattr(client_module.MdeClient, "_backoff", lambda self, failures: 0.01)
    with Sandbox(SandboxConfig(time_scale=60)) as sb:
        for name, value in sb.env().items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("MDE_LOGIN_URL", f"https://127.0.0.1:{_closed_port()}")
        yield sb


def test_unreachable_login_host_is_said_once_then_counted_and_the_summary_says_why(api_env, tmp_path):
    out, summary = tmp_path / "o.csv", tmp_path / "s.json"
    result = CliRunner().invoke(
        cli,
        [
            "run",
            str(_ips(tmp_path, 12)),
            "-o",
            str(out),
            "--no-cache",
            "--summary",
            str(summary),
            "--progress-interval",
            "600",
        ],
    )
    assert result.exit_code == 1, result.stderr
    lines = [line for line in result.stderr.splitlines() if "token request failed" in line]
    assert len(lines) == 2, result.stderr
    assert re.match(rf"{STAMP} enrich: warning: token request failed \(cannot reach the login host", lines[0])
    assert re.search(r"\(repeated \d+ more times?\)$", lines[1]), lines
    assert not out.exists()
    data = json.loads(summary.read_text())
    assert (data["status"], data["exit_code"]) == ("failed", 1)
    assert "cannot reach the login host" in data["error"]
    assert data["inputs"] == [str(tmp_path / "ips.csv")] and data["output"] == str(out)
    assert not list(tmp_path.glob(".s.json.*.tmp"))


def test_output_not_writable_still_writes_the_summary(tmp_path):
    summary = tmp_path / "s.json"
    result = CliRunner().invoke(
        cli,
        [
            "run",
            "--sandbox",
            str(_ips(tmp_path, 2)),
            "-o",
            str(tmp_path / "no" / "x.csv"),
            "--summary",
            str(summary),
        ],
    )
    assert result.exit_code == 1, result.stderr
    data = json.loads(summary.read_text())
    assert (data["status"], data["exit_code"], data["rows"]) == ("failed", 1, None)
    assert "x.csv" in data["error"]


def test_a_finished_run_says_so_in_the_summary(tmp_path):
    summary = tmp_path / "s.json"
    result = CliRunner().invoke(
        cli,
        [
            "run",
            "--sandbox",
            str(_ips(tmp_path, 2)),
            "-o",
            str(tmp_path / "o.csv"),
            "--summary",
            str(summary),
        ],
    )
    assert result.exit_code == 0, result.stderr
    data = json.loads(summary.read_text())
    assert (data["status"], data["exit_code"], data["error"]) == ("finished", 0, None)
    assert list(data)[:4] == ["version", "status", "exit_code", "error"]


def test_repeats_are_reported_at_most_once_per_interval_and_at_the_end():
    now = [0.0]
    stream = io.StringIO()
    handler = RunLogHandler(stream, interval=30.0, clock=lambda: now[0])
    logger = logging.getLogger("enrich.test_repeats")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        for second in range(100):  # one failure a second, each with another delay
            now[0] = float(second)
            logger.warning("login failed (%s); retrying in %.1f s", "refused at 0x7f3a", 5.5 + second)
            handler.tick()
        logger.warning("another problem")
        handler.flush()
    finally:
        logger.removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert "retrying in 5.5 s" in lines[0] and "repeated" not in lines[0]
    repeats = [int(m.group(1)) for m in re.finditer(r"\(repeated (\d+) more times?\)", stream.getvalue())]
    assert sum(repeats) == 99 and len(repeats) == 4  # at 30, 60, 90 s and at the end
    assert sum("another problem" in line for line in lines) == 1
    assert all(re.match(rf"{STAMP} enrich: warning: ", line) for line in lines)


# --- -v and -q ---------------------------------------------------------------------------------


def test_verbose_logs_every_request(tmp_path):
    result = CliRunner().invoke(
        cli,
        [
            "run",
            "--mode",
            "stats",
            "--sandbox",
            str(_ips(tmp_path, 3)),
            "-o",
            str(tmp_path / "o.csv"),
            "--no-cache",
            "-v",
        ],
    )
    assert result.exit_code == 0, result.stderr
    requests = re.findall(
        rf"^{STAMP} enrich: GET /api/ips/198\.18\.7\.\d/stats -> 200 in \d+\.\d+ s$", result.stderr, re.M
    )
    assert len(requests) == 3, result.stderr
    assert re.search(
        rf"^{STAMP} enrich: POST 127\.0\.0\.1:\d+/[-0-9a-f]+/oauth2/v2\.0/token -> 200 in ",
        result.stderr,
        re.M,
    )
    assert "Bearer" not in result.stderr and "eyJ" not in result.stderr


def test_quiet_keeps_only_errors_and_the_final_lines(tmp_path):
    args = ["run", "--sandbox", str(_ips(tmp_path, 3)), "-o", str(tmp_path / "o.csv"), "--no-cache"]
    result = CliRunner().invoke(cli, [*args, "-q", "--progress-interval", "1", "--rate-limit", "1/2s"])
    assert result.exit_code == 0, result.stderr
    err = result.stderr
    assert "distinct lookups (" not in err and "sandbox serving" not in err and "lookups done" not in err
    assert "3 rows:" in err and "finished in" in err and "wrote " in err
    both = CliRunner().invoke(cli, [*args, "-q", "-v"])
    assert both.exit_code == 2 and "contradict" in both.stderr
    failed = CliRunner().invoke(cli, ["run", "--sandbox", "-q", str(tmp_path / "missing.csv")])
    assert failed.exit_code == 1 and "missing.csv" in failed.stderr


def test_job_quiet_key_and_verbose_flag(tmp_path):
    _ips(tmp_path, 2)
    job = tmp_path / "j.toml"
    job.write_text('inputs = ["ips.csv"]\noutput = "o.csv"\nno_cache = true\nquiet = true\nmode = "stats"\n')
    quiet = CliRunner().invoke(cli, ["job", str(job), "--sandbox"])
    assert quiet.exit_code == 0, quiet.stderr
    assert "distinct lookups (" not in quiet.stderr and "finished in" in quiet.stderr
    loud = CliRunner().invoke(cli, ["job", str(job), "--sandbox", "-v"])
    assert loud.exit_code == 0, loud.stderr
    assert "distinct lookups (" in loud.stderr and re.search(r"GET /api/ips/\S+ -> 200", loud.stderr)


def test_missing_permission_still_writes_the_summary(tmp_path, monkeypatch):
    from enrich.sandbox import ClientSpec, Sandbox, SandboxConfig

    tenant = "0c0c0c0c-0000-4000-8000-0000000000dd"
    app = ClientSpec("dddddddd-0000-4000-8000-000000000001", "Secret~Value.9876543210", tenant, roles=())
    summary = tmp_path / "s.json"
    with Sandbox(SandboxConfig(clients=[app], time_scale=60)) as sb:
        for name, value in sb.env().items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("MDE_TENANT_ID", tenant)
        monkeypatch.setenv("MDE_CLIENT_ID", app.client_id)
        monkeypatch.setenv("MDE_CLIENT_SECRET", app.secret)
        result = CliRunner().invoke(
            cli,
            [
                "run",
                str(_ips(tmp_path, 2)),
                "-o",
                str(tmp_path / "o.csv"),
                "--no-cache",
                "--summary",
                str(summary),
            ],
        )
    assert result.exit_code == 1, result.stderr
    data = json.loads(summary.read_text())
    assert (data["status"], data["exit_code"]) == ("failed", 1)
    assert "Ip.Read.All" in data["error"] and data["error"] in result.stderr
    assert app.secret not in summary.read_text()
