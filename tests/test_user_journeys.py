"""Journeys a user makes through the whole product, as real processes where it matters: each
bounded in time; those that read the real feeds skip when `/work/shared/feeds` is absent."""

from __future__ import annotations

import json
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
