"""`enrich run --to xlsx --report` and `enrich report` end to end against the sandbox over real
sockets: the workbook and the page agree with the run's summary, no secret reaches the page,
and bad report paths and too many rows for a sheet stop the run before any lookup."""

from __future__ import annotations

import json
import re
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from enrich.cli import cli
from enrich.sandbox import Sandbox, SandboxConfig
from tests.process_helpers import api_calls

SAMPLES = Path(__file__).resolve().parents[2] / "sample_data"
FAST = "100/1s,1500/60s"


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(SandboxConfig(time_scale=60, seed=11)) as sb:
        yield sb


@pytest.fixture
def env(sandbox, monkeypatch):
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "MDE_RATE_LIMIT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in sandbox.env().items():
        monkeypatch.setenv(name, value)
    return sandbox


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def page_data(path: Path) -> dict:
    html = path.read_text(encoding="utf-8")
    match = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', html, re.S)
    assert match
    return json.loads(match.group(1))


def test_run_writes_xlsx_and_report(env, tmp_path):
    out, page, summary = tmp_path / "out.xlsx", tmp_path / "run.html", tmp_path / "s.json"
    inputs = [str(SAMPLES / "mixed_indicators.csv"), str(SAMPLES / "stix21_bundle.json")]
    result = invoke(
        "run",
        *inputs,
        "-o",
        str(out),
        "--report",
        str(page),
        "--summary",
        str(summary),
        "--no-cache",
        "--rate-limit",
        FAST,
    )
    assert result.exit_code in (0, 3), result.stderr
    assert f"wrote {page} (report)" in result.stderr
    facts = json.loads(summary.read_text())
    book = openpyxl.load_workbook(out, read_only=True)
    assert book.sheetnames == ["mixed_indicators", "stix21_bundle", "Summary"]
    sheet_rows = sum(book[name].max_row - 1 for name in book.sheetnames[:2])
    assert sheet_rows == facts["rows"]["total"]

    data = page_data(page)
    head = data["headline"]
    assert head["rows"] == facts["rows"]["total"]
    assert head["indicators"] == facts["indicators"]["total"]
    assert head["rows_by_status"] == {k: v for k, v in facts["rows"]["by_status"].items() if v}
    assert head["lookback_hours"] == facts["lookback_hours"] == 720
    assert head["mode"].startswith(facts["mode"]["chosen"])  # e.g. "hunt (asked: auto)"
    assert [i["name"] for i in data["inputs"]] == inputs
    seen_rows = facts["rows"]["by_status"].get("seen", 0)
    assert len(data["seen"]) == seen_rows > 0
    html = page.read_text(encoding="utf-8")
    for secret in (env.env()["MDE_CLIENT_SECRET"], env.env()["MDE_CLIENT_ID"], env.env()["MDE_TENANT_ID"]):
        assert secret not in html


def test_report_command_from_csv_and_stix_outputs(env, tmp_path):
    csv_out, stix_out = tmp_path / "out.csv", tmp_path / "out.json"
    src = str(SAMPLES / "stix21_bundle.json")
    assert invoke("run", src, "-o", str(csv_out), "--no-cache", "--rate-limit", FAST).exit_code in (0, 3)
    assert invoke("run", src, "-o", str(stix_out), "--no-cache", "--rate-limit", FAST).exit_code in (0, 3)
    page = tmp_path / "r.html"
    result = invoke("report", str(csv_out), str(stix_out), "-o", str(page))
    assert result.exit_code == 0, result.stderr
    assert re.search(r"wrote .*r\.html \([0-9,]+ bytes\)", result.stderr)
    data = page_data(page)
    names = [i["name"] for i in data["inputs"]]
    assert names == [str(csv_out), str(stix_out)]
    cols = data["columns"]
    values = [{r[cols.index("value")] for r in data["seen"] if r[cols.index("file")] == k} for k in range(2)]
    # the same run read back both ways: every sighting's value is a seen row's value in the CSV
    # (a STIX output has one sighting per indicator and lookup, so a few CSV values may have none)
    assert values[1] and values[1] <= values[0]
    assert len(values[1]) >= len(values[0]) // 2
    assert data["headline"]["lookback_hours"] == "720"


def test_report_command_errors(tmp_path):
    out = tmp_path / "o.csv"
    out.write_text("a,b\n1,2\n")
    result = invoke("report", str(out), "-o", str(out))
    assert result.exit_code == 2 and "one of the outputs read" in result.stderr
    result = invoke("report", str(out), "-o", str(tmp_path / "r.html"))
    assert result.exit_code == 1 and "not an output of enrich run" in result.stderr
    result = invoke("report", str(tmp_path / "missing.csv"), "-o", str(tmp_path / "r.html"))
    assert result.exit_code == 1 and "cannot read" in result.stderr
    assert not (tmp_path / "r.html").exists()


def test_bad_report_path_stops_before_any_lookup(env, tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("indicator\nstop-early-1.example\nstop-early-2.example\n")
    before = api_calls(env)
    result = invoke(
        "run",
        str(src),
        "-o",
        str(tmp_path / "o.csv"),
        "--report",
        str(src),
        "--no-cache",
        "--rate-limit",
        FAST,
    )
    assert result.exit_code == 2 and "--report" in result.stderr and "is the input" in result.stderr
    result = invoke(
        "run",
        str(src),
        "-o",
        str(tmp_path / "o.csv"),
        "--report",
        str(tmp_path / "nope" / "r.html"),
        "--no-cache",
    )
    assert result.exit_code == 1 and "does not exist" in result.stderr
    result = invoke(
        "run", str(src), "-o", str(tmp_path / "o.csv"), "--report", str(tmp_path / "o.csv"), "--no-cache"
    )
    assert result.exit_code == 2 and "is also -o" in result.stderr
    assert api_calls(env) == before
    assert not (tmp_path / "o.csv").exists()


def test_too_many_rows_for_a_sheet_stops_before_any_lookup(env, tmp_path, monkeypatch):
    from enrich.sinks import xlsx

    monkeypatch.setattr(xlsx, "MAX_SHEET_ROWS", 6)  # a sheet of a header and 5 rows
    src = tmp_path / "big.csv"
    src.write_text("indicator\n" + "".join(f"too-many-{i}.example\n" for i in range(6)))
    small = tmp_path / "small.csv"
    small.write_text("indicator\nfits-1.example\n")
    before = api_calls(env)
    out = tmp_path / "o.xlsx"
    result = invoke("run", str(small), str(src), "-o", str(out), "--no-cache", "--rate-limit", FAST)
    assert result.exit_code == 2
    assert f"{src}: 6 rows, more than an Excel sheet holds (5 under the header)" in result.stderr
    assert "--to csv" in result.stderr
    assert api_calls(env) == before and not out.exists()
    # 5 rows fit
    src.write_text("indicator\n" + "".join(f"fits-{i}.example\n" for i in range(5)))
    result = invoke("run", str(small), str(src), "-o", str(out), "--no-cache", "--rate-limit", FAST)
    assert result.exit_code in (0, 3), result.stderr
    assert openpyxl.load_workbook(out, read_only=True)["big"].max_row == 6


def test_job_key_report_is_a_path_with_the_date(tmp_path):
    from datetime import UTC, datetime

    from enrich.jobfile import load_job

    (tmp_path / "in.csv").write_text("indicator\nx.example\n")
    job = tmp_path / "job.toml"
    job.write_text('inputs = ["in.csv"]\noutput = "out.xlsx"\nreport = "reports/{date:%Y-%m-%d}.html"\n')
    request = load_job(str(job), datetime(2026, 12, 7, tzinfo=UTC)).request
    assert request.report == str(tmp_path / "reports" / "2026-12-07.html")
