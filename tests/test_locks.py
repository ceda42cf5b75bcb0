"""Overlapping runs: a second run on the same output (or job file) exits with 75 naming the first's
pid, or waits with --wait. Real processes against a time-scaled sandbox."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
from click.testing import CliRunner

from enrich.cli import cli
from enrich.errors import EXIT_LOCKED, LockError
from enrich.locks import FileLock, hold_job, hold_outputs, lock_path
from enrich.sandbox import Sandbox, SandboxConfig
from tests.process_helpers import Process, run_command, sandbox_env, unseen_input

# the first run goes slowly (1000 lookups: 40 s), so the second surely starts while it runs; it is stopped
SLOW = ("--mode", "stats", "--rate-limit", "25/1s,1500/60s")


@pytest.mark.timeout(240)
def test_a_second_run_on_the_same_output_exits_75_and_waits_with_wait(tmp_path):
    with Sandbox(SandboxConfig(time_scale=60, entity_limits=(100, 1_000_000), seed=12)) as sb:
        env = sandbox_env(sb)
        inp = tmp_path / "iocs.csv"
        distinct = unseen_input(inp, 1000, seed=12)
        out, cache = tmp_path / "out.csv", tmp_path / "cache.sqlite3"
        first = Process(run_command(inp, out, cache, *SLOW), env)
        first.wait_for_lookups()

        # the same output spelled otherwise (relative, from the output's folder): refused at once
        second = subprocess.run(
            run_command("iocs.csv", "out.csv", tmp_path / "other.sqlite3", "--mode", "stats"),
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == EXIT_LOCKED, second.stderr
        assert f"enrich: another run is writing out.csv, pid {first.pid}" in second.stderr
        assert "Traceback" not in second.stderr
        assert not (tmp_path / "other.sqlite3").exists(), "refused before any lookup"

        waiting = Process(run_command(inp, out, cache, "--wait", "--mode", "stats"), env)
        said = waiting.wait_for(lambda line: "waiting for it to finish" in line)
        assert f"another run is writing {out}, pid {first.pid}" in said
        first.proc.send_signal(signal.SIGTERM)
        assert first.finish()[0] == 143
        rc, err = waiting.finish(timeout=150)
        assert rc == 0, err
        assert err.count("waiting for it to finish") == 1
        assert "from cache" in err  # it went on from the answers the first run saved
        assert len(out.read_text().splitlines()) == distinct + 1
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.mark.timeout(240)
def test_a_second_run_of_the_same_job_exits_75(tmp_path):
    with Sandbox(SandboxConfig(time_scale=60, entity_limits=(100, 1_000_000), seed=13)) as sb:
        env = sandbox_env(sb)
        unseen_input(tmp_path / "iocs.csv", 1000, seed=13)
        job = tmp_path / "nightly.toml"
        job.write_text(
            'inputs = ["iocs.csv"]\noutput = "out-{date:%Y%m%d%H%M%S%f}.csv"\ncache = "c.sqlite3"\n'
            f'rate_limit = "{SLOW[-1]}"\nprogress_interval = 1\nmode = "stats"\n'
        )
        command = [sys.executable, "-m", "enrich", "job", str(job)]
        first = Process(command, env)
        first.wait_for_lookups()
        second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
        assert second.returncode == EXIT_LOCKED, second.stderr
        assert f"another run is running the job {job}, pid {first.pid}" in second.stderr
        first.proc.send_signal(signal.SIGTERM)
        assert first.finish()[0] == 143


def test_lock_file_is_next_to_the_real_output_and_gone_after(tmp_path):
    real = tmp_path / "data" / "out.csv"
    real.parent.mkdir()
    link = tmp_path / "link.csv"
    link.symlink_to(real)
    assert lock_path(str(link)) == str(tmp_path / "data" / ".out.csv.lock")
    with hold_outputs([str(link), "-"]) as held:
        assert held == [str(link)]
        assert (tmp_path / "data" / ".out.csv.lock").read_text() == f"{os.getpid()}\n"
        # another spelling of the same output meets the same lock (flock: a second open file conflicts)
        with pytest.raises(LockError, match=f"another run is writing {real}, pid {os.getpid()}"):
            FileLock(lock_path(str(real)), f"writing {real}", own_file=True).acquire()
    assert not (tmp_path / "data" / ".out.csv.lock").exists()


def test_the_job_file_itself_is_locked_and_kept(tmp_path):
    job = tmp_path / "j.toml"
    job.write_text('inputs = ["x.csv"]\n')
    with hold_job(str(job)), pytest.raises(LockError, match="another run is running the job"):
        FileLock(str(job), f"running the job {job}", own_file=False).acquire()
    assert job.read_text() == 'inputs = ["x.csv"]\n'


def test_classify_refuses_an_output_another_run_holds(tmp_path):
    (tmp_path / "in.csv").write_text("indicator\n198.51.100.7\n")
    out = tmp_path / "out.csv"
    with hold_outputs([str(out)]):
        result = CliRunner().invoke(cli, ["classify", str(tmp_path / "in.csv"), "-o", str(out)])
    assert result.exit_code == EXIT_LOCKED, result.output
    assert result.stderr.strip() == (
        f"enrich classify: another run is writing {out}, pid {os.getpid()} (--wait waits for it)"
    )
    assert not out.exists()


@pytest.mark.parametrize("command", ["run", "job", "classify"])
def test_help_documents_wait_and_the_exit_codes(command):
    text = " ".join(CliRunner().invoke(cli, [command, "--help"]).output.split())
    assert "--wait" in text and "75" in text
    if command != "job":  # job: "Exit codes as `run`"
        assert "143" in text and "129" in text
