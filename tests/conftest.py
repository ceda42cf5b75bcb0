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


MDE_ENV = (
    "MDE_TENANT_ID",
    "MDE_CLIENT_ID",
    "MDE_CLIENT_SECRET",
    "MDE_CLIENT_CERTIFICATE",
    "MDE_API_URL",
    "MDE_LOGIN_URL",
    "MDE_GRAPH_URL",
    "MDE_CA_BUNDLE",
    "MDE_RATE_LIMIT",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
)


@pytest.fixture
def clean_mde_env(monkeypatch):
    """No MDE_* (or CA-bundle) variable from the machine running the tests."""
    for var in MDE_ENV:
        monkeypatch.delenv(var, raising=False)
