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


@pytest.fixture(scope="module")
def mde_module_sandbox():
    """A sandbox with the test clients of `tests.mde_helpers` (one per module; reset per test)."""
    from enrich.sandbox import Sandbox, SandboxConfig
    from tests.mde_helpers import certificate_pem, sandbox_clients

    with Sandbox(
        SandboxConfig(time_scale=60, sample_dir="", clients=sandbox_clients(certificate_pem()[1]))
    ) as sb:
        yield sb


@pytest.fixture
def mde_sb(mde_module_sandbox, monkeypatch):
    """`mde_module_sandbox`, reset to its defaults, with MDE_* variables cleared."""
    from tests.mde_helpers import reset_sandbox

    reset_sandbox(mde_module_sandbox, monkeypatch)
    return mde_module_sandbox
