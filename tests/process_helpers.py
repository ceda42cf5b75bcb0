"""Helpers for tests that run `python -m enrich` as real processes against a time-scaled sandbox."""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

API_FAMILIES = ("files", "ips", "domains")
CONCURRENCY = 4
RATE = "100/1s,1500/60s"  # the sandbox's entity quota at time scale 60
DONE = re.compile(r"enrich: (\d+)/(\d+) lookups done")


def api_calls(sb) -> int:  # noqa: ANN001
    fams = sb.stats()["by_family"]
    return sum(sum(fams.get(f, {}).values()) for f in API_FAMILIES)


def sandbox_env(sb) -> dict[str, str]:  # noqa: ANN001
    """This process's environment pointed at `sb` (no CA-bundle overrides, no rate-limit variable)."""
    drop = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "MDE_RATE_LIMIT")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(sb.env())
    return env


def unseen_input(path: Path, count: int, seed: int) -> int:
    """`count` distinct domains the sandbox has never seen (one lookup each), in a CSV with a comment column."""
    rng = random.Random(seed)
    values = list(dict.fromkeys(f"host{rng.randrange(10**12)}.stop-test.example" for _ in range(count)))
    path.write_text("indicator,comment\n" + "".join(f"{v},row {i}\n" for i, v in enumerate(values)))
    return len(values)


def run_command(
    inp: Path | str, out: Path | str, cache: Path | str, *extra: str, rate: str = RATE
) -> list[str]:
    """`python -m enrich run INP -o OUT --cache CACHE` with the test budget, progress every second."""
    return [
        sys.executable,
        "-m",
        "enrich",
        "run",
        str(inp),
        "-o",
        str(out),
        "--cache",
        str(cache),
        "--rate-limit",
        rate,
        "--concurrency",
        str(CONCURRENCY),
        "--progress-interval",
        "1",
        *extra,
    ]


def _default_signals() -> None:
    """In the child: SIGHUP and SIGTERM at their defaults, whatever the test runner ignores."""
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


class Process:
    """A `python -m enrich` process whose stderr is read line by line as it comes."""

    def __init__(
        self, args: list[str], env: dict[str, str], cwd: Path | None = None, *, new_group: bool = False
    ) -> None:
        self.proc = subprocess.Popen(
            args,
            env=env,
            cwd=cwd,
            process_group=0 if new_group else None,  # its own group: the test can signal all of it
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=_default_signals,  # noqa: PLW1509 - no threads of ours run in the child
        )
        self.pid = self.proc.pid
        self.lines: list[str] = []
        self._ended = False
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._ended = True
            self._cond.notify_all()

    def wait_for(self, predicate: Callable[[str], bool], timeout: float = 90) -> str:
        """The first stderr line `predicate` accepts; AssertionError when the process ends or time runs out."""
        with self._cond:
            self._cond.wait_for(lambda: self._ended or any(map(predicate, self.lines)), timeout)
            found = next((line for line in self.lines if predicate(line)), None)
        assert found is not None, "\n".join(self.lines)
        return found

    def wait_for_lookups(self, at_least: int = 1, timeout: float = 90) -> str:
        """Wait for a progress line saying at least `at_least` lookups are done (the run is mid-lookups)."""

        def mid(line: str) -> bool:
            m = DONE.search(line)
            return bool(m) and at_least <= int(m.group(1)) < int(m.group(2))

        return self.wait_for(mid, timeout)

    def finish(self, timeout: float = 120) -> tuple[int, str]:
        """Wait for the end: (exit code, all of stderr)."""
        code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout)
        return code, "\n".join(self.lines)
