"""SIGTERM and SIGHUP stop a real `enrich run` as Ctrl-C does: answers kept, nothing at the output,
exit 143 / 129, no temporary file left; the rerun resumes from the cache."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from enrich import signals
from enrich.errors import EXIT_INTERRUPTED, EXIT_SIGHUP, EXIT_SIGTERM
from enrich.sandbox import Sandbox, SandboxConfig
from tests.process_helpers import (
    CONCURRENCY,
    Process,
    api_calls,
    run_command,
    sandbox_env,
    unseen_input,
)


@pytest.mark.timeout(240)
@pytest.mark.parametrize(
    ("signum", "code", "name"), [(signal.SIGTERM, 143, "SIGTERM"), (signal.SIGHUP, 129, "SIGHUP")]
)
def test_a_signal_mid_lookups_stops_cleanly_and_the_rerun_resumes(tmp_path, signum, code, name):
    with Sandbox(SandboxConfig(time_scale=60, entity_limits=(100, 1_000_000), seed=11)) as sb:
        env = sandbox_env(sb)
        inp = tmp_path / "iocs.csv"
        distinct = unseen_input(inp, 1200, seed=signum)
        out, cache = tmp_path / "out.csv", tmp_path / "cache.sqlite3"
        # what a kill -9 of an earlier run left: its temporary file and its lock file (a dead pid)
        (tmp_path / ".out.csv.0badc0de.tmp").write_text("half an output")
        (tmp_path / ".out.csv.lock").write_text("999999999\n")
        (tmp_path / ".other.csv.0badc0de.tmp").write_text("not ours")  # another output's: kept

        victim = Process(run_command(inp, out, cache, "--mode", "stats"), env)
        victim.wait_for_lookups(at_least=50)
        victim.proc.send_signal(signum)
        rc, err = victim.finish()
        assert rc == code, err
        assert "Traceback" not in err
        said = [line for line in err.splitlines() if line.startswith(f"enrich: stopped by {name}; ")]
        assert len(said) == 1, err  # one line, saying how to resume
        stop_line = said[0]
        assert "run the same command again to resume" in stop_line.lower()
        assert not out.exists(), "a stopped run writes nothing at the output"
        left = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("."))
        assert left == [".other.csv.0badc0de.tmp"], left  # no temporary or lock file of out.csv
        first = api_calls(sb)
        assert first > 0

        time.sleep(1.1)  # a new process starts with a fresh budget: let the server's minute window pass
        again = subprocess.run(
            run_command(inp, out, cache, "--mode", "stats"),
            env=env,
            capture_output=True,
            text=True,
            timeout=150,
        )
        assert again.returncode == 0, again.stderr
        assert "from cache" in again.stderr
        assert len(out.read_text().splitlines()) == distinct + 1
        assert api_calls(sb) <= distinct + CONCURRENCY, "answers saved before the stop are not asked again"
        assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == [
            ".other.csv.0badc0de.tmp"
        ]


def test_stopping_turns_sigterm_and_sighup_into_a_keyboard_interrupt_and_restores_handlers():
    before = {s: signal.getsignal(s) for s in signals.STOP_SIGNALS}
    for signum in signals.STOP_SIGNALS:
        with pytest.raises(signals.Stopped) as stop, signals.stopping():
            os.kill(os.getpid(), signum)
            for _ in range(100):  # the handler runs at the next bytecode; bounded anyway
                time.sleep(0.01)
        assert isinstance(stop.value, KeyboardInterrupt)
        assert (
            signals.exit_code(stop.value)
            == {signal.SIGTERM: EXIT_SIGTERM, signal.SIGHUP: EXIT_SIGHUP}[signum]
        )
        assert signals.stopped_by(stop.value) == f"stopped by {signal.Signals(signum).name}"
    assert {s: signal.getsignal(s) for s in signals.STOP_SIGNALS} == before
    assert signals.exit_code(KeyboardInterrupt()) == EXIT_INTERRUPTED
    assert signals.stopped_by(KeyboardInterrupt()) == "interrupted"


def test_a_hangup_ignored_at_start_stays_ignored():
    old = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        with signals.stopping():
            assert signal.getsignal(signal.SIGHUP) == signal.SIG_IGN  # nohup enrich ...: keeps running
            assert signal.getsignal(signal.SIGTERM) not in (signal.SIG_IGN, signal.SIG_DFL)
        assert signal.getsignal(signal.SIGHUP) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, old)


def _group_commands(pgid: int) -> list[str]:
    """The command lines of the processes in process group `pgid` (Linux /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.getpgid(int(entry)) == pgid:
                    with open(f"/proc/{entry}/cmdline", "rb") as fh:
                        found.append(fh.read().replace(b"\0", b" ").decode(errors="replace"))
            except (OSError, ProcessLookupError):
                continue
    return found


@pytest.mark.timeout(180)
@pytest.mark.skipif(not os.path.isdir("/proc") or (os.cpu_count() or 1) < 2, reason="needs Linux and 2 CPUs")
def test_a_hangup_of_the_whole_process_group_stops_classify_and_its_helpers_cleanly(tmp_path):
    """A closed terminal sends SIGHUP to every process of the group: classify's worker and
    multiprocessing's resource tracker must not die first and print tracebacks."""
    from enrich.classify_job import PARALLEL_BYTES

    big = tmp_path / "big.csv"
    with open(big, "w") as fh:
        fh.write("indicator,comment\n")
        line, n = 0, 0
        while n < PARALLEL_BYTES * 1.5:
            text = f"10.{line % 250}.{line // 250 % 250}.{line % 7},row {line}\n"
            fh.write(text)
            n += len(text)
            line += 1
    out = tmp_path / "out.csv"
    run = Process(
        [sys.executable, "-m", "enrich", "classify", str(big), "-o", str(out)],
        dict(os.environ),
        new_group=True,
    )
    run.wait_for(lambda text: text.startswith(f"{big}: "))
    for _ in range(300):  # until the worker and the resource tracker run (bounded: 30 s)
        commands = " ".join(_group_commands(run.pid))
        if "resource_tracker" in commands and "spawn_main" in commands:
            break
        time.sleep(0.1)
    os.killpg(run.pid, signal.SIGHUP)
    rc, err = run.finish()
    assert rc == EXIT_SIGHUP, err
    assert "Traceback" not in err and "Error" not in err, err
    assert "enrich classify: stopped by SIGHUP; no output written" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.csv"]
