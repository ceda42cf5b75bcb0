"""`enrich job`, `check`, `cache`, progress lines and `python -m enrich`, through the real CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from enrich.cli import cli

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "sample_data"


pytestmark = pytest.mark.usefixtures("clean_mde_env")


def test_job_file_runs_with_dated_output(tmp_path):
    job = tmp_path / "nightly.toml"
    job.write_text(
        f'inputs = ["{SAMPLES}/plain_list.txt", "{SAMPLES}/*.jsonl"]\n'
        'output = "out-{date:%Y}.csv"\nsummary = "out.summary.json"\nlookback = "7d"\nmax_age = "1h"\n'
    )
    result = CliRunner().invoke(cli, ["job", str(job), "--sandbox"])
    assert result.exit_code == 0, result.stderr
    produced = list(tmp_path.glob("out-2*.csv"))
    assert len(produced) == 1
    summary = json.loads((tmp_path / "out.summary.json").read_text())
    assert summary["lookback_hours"] == 168
    assert summary["rows"]["total"] > 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("inputs = []", "at least one"),
        ('inputs = ["x.csv"]\ncolour = "red"', "unknown key"),
        ("inputs = [", "not valid TOML"),
        ('inputs = ["nothing-*.csv"]', "no file matches"),
        ('inputs = ["a.csv"]\nconcurrency = "many"', "'concurrency' must be an integer, not a string"),
    ],
)
def test_bad_job_files_say_what_is_wrong(tmp_path, text, message):
    job = tmp_path / "bad.toml"
    job.write_text(text)
    result = CliRunner().invoke(cli, ["job", str(job)])
    assert result.exit_code == 1
    assert message in result.stderr and "Traceback" not in result.stderr


def test_check_against_sandbox_passes():
    result = CliRunner().invoke(cli, ["check", "--sandbox"])
    assert result.exit_code == 0, result.stdout
    assert "all checks passed" in result.stdout


def test_check_without_credentials_names_the_variables():
    result = CliRunner().invoke(cli, ["check"])
    assert result.exit_code == 1
    assert "MDE_TENANT_ID" in result.stdout and "Traceback" not in result.stdout


def test_run_without_credentials_is_fatal_in_plain_words(tmp_path):
    result = CliRunner().invoke(cli, ["run", str(SAMPLES / "plain_list.txt"), "-o", str(tmp_path / "o.csv")])
    assert result.exit_code == 1
    assert "MDE_TENANT_ID" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "o.csv").exists()


def test_cache_stats_and_clear(tmp_path):
    cache = tmp_path / "c.sqlite3"
    out = tmp_path / "o.csv"
    result = CliRunner().invoke(
        cli, ["run", "--sandbox", str(SAMPLES / "plain_list.txt"), "-o", str(out), "--cache", str(cache)]
    )
    assert result.exit_code == 0, result.stderr
    stats = CliRunner().invoke(cli, ["cache", "stats", "--cache", str(cache)])
    assert stats.exit_code == 0 and "answers" in stats.stdout
    entries = int(stats.stdout.split(":")[1].split()[0])
    assert entries > 0
    cleared = CliRunner().invoke(cli, ["cache", "clear", "--cache", str(cache), "--older-than", "1d"])
    assert cleared.exit_code == 0 and "removed 0 " in cleared.stdout
    cleared = CliRunner().invoke(cli, ["cache", "clear", "--cache", str(cache)])
    assert cleared.exit_code == 0 and f"removed {entries} " in cleared.stdout


def test_progress_lines_when_not_a_terminal(tmp_path):
    result = CliRunner().invoke(
        cli,
        [
            "run",
            "--mode",
            "stats",  # one entity call per lookup: slow enough under this quota to show progress
            "--sandbox",
            str(SAMPLES),
            "-o",
            str(tmp_path / "o.csv"),
            "--no-cache",
            "--progress-interval",
            "1",
            "--rate-limit",
            "20/1s,1500/60s",
        ],
    )
    assert result.exit_code == 0, result.stderr
    assert "lookups done" in result.stderr and "waited on quota" in result.stderr


def test_usage_errors_exit_2():
    assert CliRunner().invoke(cli, ["run"]).exit_code == 2
    assert CliRunner().invoke(cli, ["run", "x.csv", "--lookback", "90d"]).exit_code == 2
    assert CliRunner().invoke(cli, ["run", "x.csv", "--to", "xml"]).exit_code == 2


def test_python_dash_m_enrich():
    done = subprocess.run(
        [sys.executable, "-m", "enrich", "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and "classify" in done.stdout and "sandbox" in done.stdout


def test_missing_permission_is_fatal_and_named(tmp_path, monkeypatch):
    from enrich.sandbox import ClientSpec, Sandbox, SandboxConfig

    tenant = "0c0c0c0c-0000-4000-8000-0000000000cc"
    app = ClientSpec(
        "cccccccc-0000-4000-8000-000000000001",
        "Secret~Value.0123456789",
        tenant,
        roles=("File.Read.All", "URL.Read.All"),
    )
    with Sandbox(SandboxConfig(clients=[app], time_scale=60)) as sb:
        for name, value in sb.env().items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("MDE_TENANT_ID", tenant)
        monkeypatch.setenv("MDE_CLIENT_ID", app.client_id)
        monkeypatch.setenv("MDE_CLIENT_SECRET", app.secret)
        out = tmp_path / "o.csv"
        result = CliRunner().invoke(
            cli, ["run", str(SAMPLES / "banner_export.csv"), "-o", str(out), "--no-cache"]
        )
        assert result.exit_code == 1, result.stderr
        assert "Ip.Read.All" in result.stderr and "Traceback" not in result.stderr
        assert not out.exists()
        check = CliRunner().invoke(cli, ["check"])
        assert check.exit_code == 1 and "Ip.Read.All" in check.stdout


def test_stix_run_counts_sightings_in_the_summary(tmp_path):
    out, summary = tmp_path / "o.json", tmp_path / "s.json"
    result = CliRunner().invoke(
        cli,
        [
            "run",
            "--sandbox",
            str(SAMPLES / "stix21_bundle.json"),
            "-o",
            str(out),
            "--summary",
            str(summary),
            "--negative-sightings",
        ],
    )
    assert result.exit_code == 0, result.stderr
    objects = json.loads(out.read_text())["objects"]
    sightings = [o for o in objects if o["type"] == "sighting"]
    stix = json.loads(summary.read_text())["stix"]
    assert stix["sightings"] == sum(o["count"] > 0 for o in sightings) > 0
    assert stix["negative_sightings"] == sum(o["count"] == 0 for o in sightings) > 0
    assert "sightings" in result.stderr
