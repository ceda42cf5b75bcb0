"""Journeys a user makes through the whole product, as real processes where it matters: each
bounded in time; those that read the real feeds skip when `/work/shared/feeds` is absent."""

from __future__ import annotations

import csv
import json
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from enrich.errors import EXIT_INTERRUPTED
from enrich.mde.settings import RATE_LIMIT_FAMILIES, parse_rate_limits
from enrich.runner import SANDBOX_RATE_LIMIT, SANDBOX_TIME_SCALE
from enrich.sandbox import Sandbox, SandboxConfig
from tests.process_helpers import Process, run_command, sandbox_env, unseen_input

FEEDS = Path("/work/shared/feeds")
needs_feeds = pytest.mark.skipif(not FEEDS.is_dir(), reason="the real feeds are not on this machine")


def enrich(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`python -m enrich ARGS` in `cwd`, bounded in time."""
    return subprocess.run(
        [sys.executable, "-m", "enrich", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_sandbox_quotas_are_time_scaled_for_every_family():
    """`run --sandbox` scales every family's client quota as the sandbox scales its windows:
    hunting left at 45/min made runs sharing a --cache (its budget tables) wait real minutes."""
    limits = parse_rate_limits(SANDBOX_RATE_LIMIT)
    assert set(limits) == set(RATE_LIMIT_FAMILIES)
    for family, windows in limits.items():
        for _count, window in windows:
            assert window <= 3600 / SANDBOX_TIME_SCALE, (family, windows)


@pytest.mark.timeout(120)
def test_ctrl_c_mid_run_rewrites_the_summary_as_stopped_and_the_rerun_finishes(tmp_path):
    """A monitored cron run stopped by Ctrl-C: its --summary says "stopped" and 130, not the
    "finished" an earlier run left there; the rerun resumes and writes "finished"."""
    with Sandbox(SandboxConfig(time_scale=60, entity_limits=(100, 1_000_000), seed=5)) as sb:
        env = sandbox_env(sb)
        inp, out, cache = tmp_path / "iocs.csv", tmp_path / "out.csv", tmp_path / "cache.sqlite3"
        distinct = unseen_input(inp, 1200, seed=3)
        summary = tmp_path / "run.json"
        summary.write_text(json.dumps({"status": "finished", "exit_code": 0}))  # yesterday's run
        args = run_command(inp, out, cache, "--mode", "stats", "--summary", str(summary))
        victim = Process(args, env)
        victim.wait_for_lookups(at_least=50)
        victim.proc.send_signal(signal.SIGINT)
        rc, err = victim.finish()
        assert rc == EXIT_INTERRUPTED, err
        assert "Traceback" not in err and not out.exists()
        stopped = json.loads(summary.read_text())
        assert (stopped["status"], stopped["exit_code"], stopped["error"]) == ("stopped", 130, "interrupted")
        again = subprocess.run(args, env=env, capture_output=True, text=True, timeout=90, check=False)
        assert again.returncode == 0, again.stderr
        done = json.loads(summary.read_text())
        assert done["status"] == "finished" and done["rows"]["total"] == distinct
        assert done["lookups"]["from_cache"] > 0


def _rows(path: Path) -> list[list[str]]:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        return list(csv.reader(handle))


@needs_feeds
@pytest.mark.timeout(180)
def test_a_real_feed_through_run_summary_and_report(tmp_path):
    """A real CSV feed through `run --sandbox`: every input row in order with its cells unchanged,
    the summary's counts those of the output; then the STIX feed (separate, nothing seen there)
    and `enrich report` over both outputs."""
    feed = FEEDS / "csv" / "volexity_3cx_iocs.csv"
    out, summary = tmp_path / "out.csv", tmp_path / "run.json"
    done = enrich(
        "run", "--sandbox", str(feed), "-o", str(out), "--summary", str(summary), "-q", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    inp, got = _rows(feed), _rows(out)
    width = len(inp[0])
    assert got[0][:width] == inp[0] and got[0][width] == "mde_type"
    assert [r[:width] for r in got[1:]] == inp[1:]
    status = got[0].index("mde_status")
    counts: dict[str, int] = {}
    for row in got[1:]:
        counts[row[status]] = counts.get(row[status], 0) + 1
    facts = json.loads(summary.read_text())
    assert facts["rows"] == {"total": len(inp) - 1, "by_status": counts}

    stix = FEEDS / "stix" / "sekoia_apt31_stix21.jsonl"
    sightings = tmp_path / "sightings.json"
    done = enrich(
        "run", "--sandbox", str(stix), "--stix-output", "separate", "-o", str(sightings), "-q", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    page = tmp_path / "report.html"
    made = enrich("report", str(out), str(sightings), "-o", str(page), cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    block = re.search(
        r'<script type="application/json" id="report-data">(.*?)</script>',
        page.read_text(encoding="utf-8"),
        re.S,
    )
    assert block, "no data block in the report"
    data = json.loads(block.group(1))
    assert [(i["name"], i["rows"]) for i in data["inputs"]] == [(str(out), len(inp) - 1), (str(sightings), 0)]
    assert data["headline"]["rows"] == len(inp) - 1


@pytest.mark.timeout(120)
def test_the_workbook_says_what_auto_chose(tmp_path):
    """`run --sandbox` (auto) to xlsx: the Summary sheet names the mode that answered, as the
    report does ("hunt (asked: auto)"), not only the "auto" the user asked for."""
    import openpyxl

    book = tmp_path / "out.xlsx"
    sample = Path(__file__).resolve().parents[1] / "sample_data" / "plain_list.txt"
    done = enrich("run", "--sandbox", str(sample), "-o", str(book), "-q", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    wb = openpyxl.load_workbook(book, read_only=True)
    facts = {r[0]: r[1] for r in wb["Summary"].iter_rows(values_only=True) if r and r[0]}
    assert facts["mode (how MDE was asked)"] == "hunt (asked: auto)"
