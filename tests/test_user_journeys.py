"""Journeys a user makes through the whole product, as real processes where it matters: each
bounded in time; those that read the real feeds skip when `/work/shared/feeds` is absent."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from enrich.mde.settings import RATE_LIMIT_FAMILIES, parse_rate_limits
from enrich.runner import SANDBOX_RATE_LIMIT, SANDBOX_TIME_SCALE

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
