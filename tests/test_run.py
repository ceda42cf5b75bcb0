"""`enrich run` end to end against the sandbox over real sockets: values, dedupe, cache, faults."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner

from enrich.cli import cli
from enrich.sandbox import Sandbox, SandboxConfig
from tests.process_helpers import API_FAMILIES, api_calls

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "sample_data"
FEEDS = REPO.parent / "shared" / "feeds"
FAST = "100/1s,1500/60s"  # the sandbox's quota at time scale 60


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(SandboxConfig(time_scale=60, seed=7)) as sb:
        yield sb


@pytest.fixture
def env(sandbox, monkeypatch):
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "MDE_RATE_LIMIT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in sandbox.env().items():
        monkeypatch.setenv(name, value)
    sandbox.configure(faults={}, token_lifetime=3599)
    return sandbox


def run_cli(*args: str) -> tuple[int, str]:
    """`enrich run` in stats mode (what these tests check: one entity call per lookup, the stats
    columns) unless `args` name a mode."""
    mode = () if "--mode" in args else ("--mode", "stats")
    result = CliRunner().invoke(cli, ["run", *mode, *args, "--rate-limit", FAST], catch_exceptions=False)
    return result.exit_code, result.stderr


def read_rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


def iso_millis(mde_time: str | None) -> str:
    """MDE's 7-digit timestamp as the CSV shows it (truncated to ms), computed independently of the client."""
    if not mde_time:
        return ""
    moment = datetime.strptime(mde_time[:19], "%Y-%m-%dT%H:%M:%S")
    fraction = (mde_time[20:-1] + "000")[:3] if "." in mde_time else "000"
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + fraction + "Z"


def expected_key(mde_type: str, value: str) -> tuple[str, str] | None:
    if mde_type in ("sha1", "sha256"):
        return ("files", value)
    if mde_type in ("ipv4", "ipv6"):
        return ("ips", value)
    if mde_type == "domain":
        return ("domains", value)
    if mde_type == "url":
        host = urlsplit(value).hostname or ""
        family = "ips" if host.replace(".", "").isdigit() or ":" in host else "domains"
        return (family, host)
    return None


def check_multi(sb, row: dict[str, str]) -> int:
    """A row with several indicators: the largest prevalence of its lookups, seen iff any was seen."""
    keys = [tuple(k.split("/", 1)) for k in row["mde_lookup"].split(";") if k]
    if not keys:
        assert row["mde_status"] in ("invalid", "unsupported"), row
        return 0
    truths = [sb.truth(*k) for k in keys]
    prevalences = [t["prevalence"] if t else 0 for t in truths]
    assert row["mde_status"] == ("seen" if max(prevalences) > 0 else "not_seen"), (row, truths)
    assert row["mde_org_prevalence"] == str(max(prevalences))
    return 1


def check_values(sb, rows: list[dict[str, str]]) -> int:
    """Every single-indicator row agrees with the sandbox's ground truth; returns rows checked."""
    checked = 0
    for row in rows:
        if ";" in row["mde_type"]:
            checked += check_multi(sb, row)
            continue
        key = expected_key(row["mde_type"], row["mde_value"])
        status = row["mde_status"]
        if row["mde_type"] == "md5":
            assert status == "unsupported" and "MD5" in row["mde_error"], row
            continue
        if key is None or status in ("invalid", "unsupported"):
            assert status in ("invalid", "unsupported"), row
            assert row["mde_error"], row
            continue
        truth = sb.truth(*key)
        if truth is None or truth["prevalence"] == 0:
            assert status == "not_seen", (row, truth)
            assert row["mde_org_prevalence"] in ("0", "") and not row["mde_org_first_seen"]
        else:
            assert status == "seen", (row, truth)
            assert row["mde_org_prevalence"] == str(truth["prevalence"])
            assert row["mde_org_first_seen"] == iso_millis(truth["first_seen"])
            assert row["mde_org_last_seen"] == iso_millis(truth["last_seen"])
        if row["mde_type"] == "url":
            assert f"host {key[1]}" in row["mde_note"]
        checked += 1
    return checked


def test_sample_data_values_dedupe_and_cache(env, tmp_path):
    out = tmp_path / "out.csv"
    summary = tmp_path / "summary.json"
    cache = tmp_path / "cache.sqlite3"
    inputs = sorted(str(p) for p in SAMPLES.glob("*.csv")) + sorted(str(p) for p in SAMPLES.glob("*.txt"))
    env.reset_stats()
    code, err = run_cli(*inputs, "-o", str(out), "--cache", str(cache), "--summary", str(summary))
    assert code == 0, err
    rows = read_rows(out)
    statuses = {r["mde_status"] for r in rows}
    assert "seen" in statuses and "not_seen" in statuses and "error" not in statuses
    assert check_values(env, rows) > 50
    # exactly one request per distinct lookup
    distinct = json.loads(summary.read_text())["lookups"]["distinct"]
    assert api_calls(env) == distinct
    assert env.stats()["by_family"]  # sanity: the sandbox counted
    # a rerun within --max-age asks nothing and writes the same rows, each answer now from the cache
    first = read_rows(out)
    assert {r["mde_answered_by"] for r in first if r["mde_lookup"]} == {"stats"}
    env.reset_stats()
    code, err = run_cli(*inputs, "-o", str(out), "--cache", str(cache))
    assert code == 0, err
    assert api_calls(env) == 0
    again = read_rows(out)
    assert {r["mde_answered_by"] for r in again if r["mde_lookup"]} == {"cache"}
    unsaid = [{k: v for k, v in r.items() if k != "mde_answered_by"} for r in (*first, *again)]
    assert unsaid[: len(first)] == unsaid[len(first) :]
    # --max-age 0 asks again
    code, err = run_cli(*inputs, "-o", str(out), "--cache", str(cache), "--max-age", "0s")
    assert code == 0 and api_calls(env) == distinct


def test_stix_inputs_to_csv(env, tmp_path):
    out = tmp_path / "stix.csv"
    inputs = sorted(str(p) for p in SAMPLES.glob("*.json*"))
    code, err = run_cli(*inputs, "-o", str(out), "--no-cache")
    assert code == 0, err
    rows = read_rows(out)
    assert rows and check_values(env, rows) > 5


@pytest.mark.skipif(not FEEDS.is_dir(), reason="shared feeds folder absent")
def test_feed_csv_values(env, tmp_path):
    # URLhaus alone has ~11,000 rows over a few thousand hosts: too many calls for a unit test.
    files = [p for p in sorted((FEEDS / "csv").iterdir()) if "urlhaus" not in p.name]
    out = tmp_path / "feeds"
    out.mkdir()
    code, err = run_cli(*map(str, files), "-o", str(out), "--cache", str(tmp_path / "c.sqlite3"))
    assert code == 0, err
    checked = 0
    for produced in sorted(out.iterdir()):
        checked += check_values(env, read_rows(produced))
    assert len(list(out.iterdir())) == len(files)
    assert checked > 500


def test_faults_token_expiry_and_429_burst_end_without_errors(env, tmp_path):
    out = tmp_path / "out.csv"
    env.configure(faults={"500": 0.04, "503": 0.03, "reset": 0.03}, token_lifetime=2)
    env.force_429(count=15, retry_after=1)
    try:
        code, err = run_cli(str(SAMPLES), "-o", str(out), "--no-cache", "--concurrency", "4")
    finally:
        env.configure(faults={}, token_lifetime=3599)
    assert code == 0, err
    rows = read_rows(out)
    assert not [r for r in rows if r["mde_status"] == "error"]
    assert check_values(env, rows) > 50
    stats = env.stats()
    codes = {c for fam in API_FAMILIES for c in stats["by_family"].get(fam, {})}
    assert {"500", "503", "429"} <= codes, stats


def test_secret_appears_nowhere(env, tmp_path):
    out = tmp_path / "out.csv"
    summary = tmp_path / "s.json"
    code, err = run_cli(str(SAMPLES), "-o", str(out), "--no-cache", "--summary", str(summary))
    assert code == 0
    secret = env.client_secret
    for text in (err, out.read_text(), summary.read_text()):
        assert secret not in text
    # a wrong secret: plain words, no traceback, no secret
    bad = "Wrong~Secret.Value-123456789"
    result = CliRunner().invoke(
        cli, ["run", str(SAMPLES), "-o", str(out), "--no-cache"], env={"MDE_CLIENT_SECRET": bad}
    )
    assert result.exit_code == 1
    assert "secret" in result.stderr.lower() and "Traceback" not in result.stderr
    assert bad not in result.stderr and bad not in result.stdout
    # auto mode's choice is no place for the sign-in error: it is said once, as the run's error
    assert result.stderr.count("AADSTS7000215") == 1, result.stderr
    assert "mode auto" not in result.stderr


def test_exit_code_3_when_rows_error(env, tmp_path):
    out = tmp_path / "out.csv"
    env.configure(faults={"500": 1.0})
    try:
        result = CliRunner().invoke(
            cli,
            [
                "run",
                str(SAMPLES / "plain_list.txt"),
                "-o",
                str(out),
                "--no-cache",
                "--rate-limit",
                FAST,
                "--timeout",
                "5",
                "--mode",
                "stats",  # auto's hunting path is tested so in tests/answering/test_auto_fallback.py
            ],
        )
    finally:
        env.configure(faults={})
    assert result.exit_code == 3, result.stderr
    rows = read_rows(out)
    assert any(r["mde_status"] == "error" and r["mde_error"] for r in rows)


def test_unreadable_input_and_unwritable_output(env, tmp_path):
    result = CliRunner().invoke(cli, ["run", str(tmp_path / "missing.csv")])
    assert result.exit_code == 1 and "missing.csv" in result.stderr and "Traceback" not in result.stderr
    result = CliRunner().invoke(cli, ["run", str(SAMPLES), "-o", str(tmp_path / "no" / "dir" / "x.csv")])
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    assert env.stats()["total"] >= 0


def test_file_info_fills_file_columns_and_refreshes_cached_answers(env, tmp_path):
    out = tmp_path / "out.csv"
    cache = tmp_path / "c.sqlite3"
    inputs = [str(SAMPLES / "mixed_indicators.csv")]
    code, err = run_cli(*inputs, "-o", str(out), "--cache", str(cache))
    assert code == 0, err
    plain = read_rows(out)
    seen_files = [r for r in plain if r["mde_type"] in ("sha1", "sha256") and r["mde_status"] == "seen"]
    assert seen_files, "sample data should hold a file the sandbox has seen"
    assert all(r["mde_global_prevalence"] and not r["mde_file_signer"] for r in seen_files)
    assert all(r["mde_lookup"].startswith("files/") for r in seen_files)
    env.reset_stats()
    code, err = run_cli(*inputs, "-o", str(out), "--cache", str(cache), "--file-info")
    assert code == 0, err
    by_endpoint = env.stats()["by_endpoint"]
    asked_info = sum(by_endpoint.get("files", {}).values())
    assert asked_info >= len({r["mde_lookup"] for r in seen_files})  # cached answers lacked file info
    rich = [r for r in read_rows(out) if r["mde_lookup"] in {s["mde_lookup"] for s in seen_files}]
    assert any(r["mde_file_signer"] or r["mde_file_determination_type"] for r in rich)
    env.reset_stats()
    code, err = run_cli(*inputs, "-o", str(out), "--cache", str(cache), "--file-info")
    assert code == 0 and api_calls(env) == 0  # now cached with file info
