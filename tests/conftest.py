"""Shared fixtures. Helpers may append their own fixtures below."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FEEDS = REPO.parent / "shared" / "feeds"
SAMPLE_DATA = REPO / "sample_data"


@pytest.fixture
def feeds_dir() -> Path:
    """`<repo>/../shared/feeds` (real public feed files); the test is skipped when it is absent."""
    if not FEEDS.is_dir():
        pytest.skip("shared feeds folder not present")
    return FEEDS


@pytest.fixture
def sample_dir() -> Path:
    """The repository's `sample_data/` folder."""
    return SAMPLE_DATA
