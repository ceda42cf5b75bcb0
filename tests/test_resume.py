"""`kill -9` in the middle of a run, then the same command again: same output, no call asked twice."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

from enrich.sandbox import Sandbox, SandboxConfig
from tests.process_helpers import CONCURRENCY, api_calls, run_command


def make_input(sb, path: Path, rng: random.Random) -> int:
    """2,000 distinct indicators: every key the sandbox has seen, then unseen IPs, domains and hashes."""
    values = [key for _, key in sb.data.seen_keys()]
    kinds = ["ip", "domain", "hash"]
    while len(values) < 2000:
        kind = kinds[len(values) % 3]
        if kind == "ip":
            values.append(f"198.18.{rng.randrange(256)}.{rng.randrange(1, 255)}")
        elif kind == "domain":
            values.append(f"host{rng.randrange(10**9)}.resume-test.example")
        else:
            values.append(f"{rng.getrandbits(160):040x}")
    values = list(dict.fromkeys(values))[:2000]
    path.write_text("indicator,comment\n" + "".join(f"{v},row {i}\n" for i, v in enumerate(values)))
    return len(values)


STATS = ("--mode", "stats")  # these runs count entity calls: one per lookup


def without_answered_by(path) -> tuple[list[list[str]], list[str]]:  # noqa: ANN001
    """The CSV's rows without the `mde_answered_by` column, and that column."""
    import csv

    rows = list(csv.reader(path.open(encoding="utf-8", newline="")))
    at = rows[0].index("mde_answered_by")
    return [r[:at] + r[at + 1 :] for r in rows], [r[at] for r in rows[1:]]


@pytest.mark.timeout(180)
def test_kill_9_then_resume_gives_identical_output(tmp_path):
    seed = int(os.environ.get("RESUME_SEED", time.time_ns() % 10_000))
    rng = random.Random(seed)
    with Sandbox(SandboxConfig(time_scale=60, entity_limits=(100, 1_000_000), seed=3)) as sb:
        env = {k: v for k, v in os.environ.items() if k not in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")}
        env.update(sb.env())
        inp = tmp_path / "iocs.csv"
        distinct = make_input(sb, inp, rng)

        reference = tmp_path / "reference.csv"
        done = subprocess.run(
            run_command(inp, reference, tmp_path / "ref.sqlite3", *STATS),
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert api_calls(sb) == distinct

        time.sleep(1.1)  # let the time-scaled minute window pass
        sb.reset_stats()
        out, cache = tmp_path / "out.csv", tmp_path / "cache.sqlite3"
        victim = subprocess.Popen(
            run_command(inp, out, cache, *STATS),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        started = time.monotonic()  # kill it once it has started asking (start-up is slow under load)
        while api_calls(sb) == 0 and victim.poll() is None and time.monotonic() - started < 60:
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 2.5))
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=30)
        assert not out.exists(), "a killed run must not leave a file at the output path"
        first = api_calls(sb)

        time.sleep(1.1)  # a new process starts with a fresh budget: let the server's minute window pass
        again = subprocess.run(
            run_command(inp, out, cache, *STATS), env=env, capture_output=True, text=True, timeout=120
        )
        assert again.returncode == 0, again.stderr
        total = api_calls(sb)
        # the same output but for `mde_answered_by`: answers obtained before the kill come from the cache
        got, expected = without_answered_by(out), without_answered_by(reference)
        assert got[0] == expected[0], f"seed {seed}"
        assert {by for by in got[1] if by} <= {"stats", "cache"}, f"seed {seed}"
        assert 0 < first <= total <= distinct + CONCURRENCY, (seed, first, total, distinct, sb.stats())
        assert "from cache" in again.stderr


@pytest.mark.timeout(120)
def test_ctrl_c_stops_cleanly_and_says_how_to_resume(tmp_path):
    rng = random.Random(1)
    with Sandbox(SandboxConfig(time_scale=60, entity_limits=(100, 1_000_000), seed=4)) as sb:
        env = {k: v for k, v in os.environ.items() if k not in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")}
        env.update(sb.env())
        inp = tmp_path / "iocs.csv"
        distinct = make_input(sb, inp, rng)
        out, cache = tmp_path / "out.csv", tmp_path / "cache.sqlite3"
        run = subprocess.Popen(
            run_command(inp, out, cache, *STATS),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(2.5)
        run.send_signal(signal.SIGINT)
        _, err = run.communicate(timeout=30)
        assert run.returncode == 130, err
        assert "Traceback" not in err and "run the same command again" in err.lower()
        assert not out.exists()
        assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.csv")], "temporary file left"
        time.sleep(1.1)
        again = subprocess.run(
            run_command(inp, out, cache, *STATS), env=env, capture_output=True, text=True, timeout=90
        )
        assert again.returncode == 0, again.stderr
        assert api_calls(sb) <= distinct + CONCURRENCY
        assert len(out.read_text().splitlines()) == distinct + 1
