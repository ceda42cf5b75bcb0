"""One quota, many processes: the budget's call log lives in the cache database.

Real `python -m enrich run` processes against a time-scaled sandbox (at 6x, MDE's 100/minute is
100 per 10 s, a window longer than a process takes to start, and short enough for a test; the
processes outrun it, so the quota binds), over HTTPS on 127.0.0.1:

- a run killed with SIGKILL and restarted at once with the same cache draws no 429 (before the
  shared budget, the new process started with an empty log while the sandbox's window still
  counted the dead process's calls: about 100 429s);
- two runs of the same app with different inputs and the same cache file, at the same time,
  draw no 429 and both finish.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from enrich.sandbox import Sandbox, SandboxConfig
from tests.process_helpers import API_FAMILIES, CONCURRENCY, run_command

SCALE = 6


def statuses(sb) -> dict[str, int]:
    out: dict[str, int] = {}
    fams = sb.stats()["by_family"]
    for family in API_FAMILIES:
        for status, n in fams.get(family, {}).items():
            out[str(status)] = out.get(str(status), 0) + n
    return out


def throttled(sb) -> int:
    return statuses(sb).get("429", 0)


def calls(sb) -> int:
    return sum(statuses(sb).values())


def write_input(path: Path, rng: random.Random, count: int, tag: str) -> int:
    """`count` distinct indicators the sandbox has not seen: IPs, domains and hashes in turn."""
    values: list[str] = []
    while len(values) < count:
        kind = len(values) % 3
        if kind == 0:
            values.append(f"198.{18 + rng.randrange(2)}.{rng.randrange(256)}.{rng.randrange(1, 255)}")
        elif kind == 1:
            values.append(f"{tag}{rng.randrange(10**9)}.shared-budget.example")
        else:
            values.append(f"{rng.getrandbits(160):040x}")
        values = list(dict.fromkeys(values))
    path.write_text("indicator,comment\n" + "".join(f"{v},row {i}\n" for i, v in enumerate(values)))
    return len(values)


def rate_limit(scale: float) -> str:
    """The client's budget scaled like the sandbox's quota clock."""
    return f"100/{60 / scale:g}s,1500/{3600 / scale:g}s"


def environment(sb) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")}
    env.update(sb.env())
    return env


@pytest.mark.timeout(180)
def test_restart_right_after_kill_9_draws_no_429(tmp_path):
    seed = int(os.environ.get("BUDGET_SEED", time.time_ns() % 10_000))
    rng = random.Random(seed)
    with Sandbox(SandboxConfig(time_scale=SCALE, entity_limits=(100, 1500), seed=3, sample_dir="")) as sb:
        env = environment(sb)
        inp = tmp_path / "iocs.csv"
        distinct = write_input(inp, rng, 600, "k")
        out, cache = tmp_path / "out.csv", tmp_path / "cache.sqlite3"
        run = run_command(inp, out, cache, "--mode", "stats", rate=rate_limit(SCALE))
        victim = subprocess.Popen(run, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # Kill once the first minute's calls are made (the sandbox's window is full); restart at once.
        deadline = time.monotonic() + 60
        while calls(sb) < 300 and victim.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.5))
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=30)
        first = calls(sb)
        assert 0 < first < distinct, (seed, first)

        again = subprocess.run(run, env=env, capture_output=True, text=True, timeout=150)
        assert again.returncode == 0, again.stderr
        assert throttled(sb) == 0, (seed, first, sb.stats())
        assert calls(sb) <= distinct + CONCURRENCY * len(API_FAMILIES), (seed, sb.stats())
        assert len(out.read_text().splitlines()) == distinct + 1


@pytest.mark.timeout(180)
def test_two_concurrent_runs_of_one_app_share_the_budget(tmp_path):
    rng = random.Random(11)
    with Sandbox(SandboxConfig(time_scale=SCALE, entity_limits=(100, 1500), seed=5, sample_dir="")) as sb:
        env = environment(sb)
        cache = tmp_path / "cache.sqlite3"
        runs = []
        for name in ("a", "b"):
            inp = tmp_path / f"{name}.csv"
            count = write_input(inp, rng, 300, name)
            runs.append((inp, tmp_path / f"{name}-out.csv", count))
        procs = [
            subprocess.Popen(
                run_command(inp, out, cache, "--mode", "stats", rate=rate_limit(SCALE)),
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            for inp, out, _ in runs
        ]
        errs = [proc.communicate(timeout=150)[1] for proc in procs]
        for proc, err in zip(procs, errs, strict=True):
            assert proc.returncode == 0, err
        for _, out, count in runs:
            assert len(out.read_text().splitlines()) == count + 1
        assert throttled(sb) == 0, sb.stats()
        assert calls(sb) == sum(count for _, _, count in runs), sb.stats()


def test_a_cache_whose_budget_tables_cannot_be_used_stops_the_run(tmp_path):
    """The budget is part of the cache: a file it cannot use is a cache error (exit 1), not 429s."""
    from click.testing import CliRunner

    from enrich.cli import cli

    cache = tmp_path / "cache.sqlite3"
    with sqlite3.connect(cache) as db:
        db.execute("CREATE TABLE budget_calls (something TEXT)")  # not the budget's table
    db.close()
    inp = tmp_path / "iocs.csv"
    inp.write_text("indicator\n198.51.100.7\n")
    result = CliRunner().invoke(
        cli, ["run", "--sandbox", str(inp), "-o", str(tmp_path / "out.csv"), "--cache", str(cache)]
    )
    assert result.exit_code == 1, result.stderr
    assert "shared budget" in result.stderr and str(cache) in result.stderr
    assert not (tmp_path / "out.csv").exists()
