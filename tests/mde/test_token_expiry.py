"""Tokens that expire while calls wait for the quota, over real sockets against the sandbox.

Real runs wait up to an hour for the 1,500/hour window with one-hour tokens: a call must never
send a token that aged while it waited, and a 401 after a wait means "log in again", never the
end of the run. Only a freshly obtained token refused at once is fatal.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from enrich.answering.stats import lookup
from enrich.cli import cli
from enrich.mde.auth import TokenProvider
from enrich.mde.client import MdeClient
from enrich.mde.errors import AuthError
from enrich.mde.limits import Budget
from enrich.model import LookupKey, Status
from enrich.sandbox import Sandbox, SandboxConfig
from tests.mde_helpers import TENANT, run_lookups, sandbox_clients, settings_for

pytestmark = pytest.mark.timeout(120)


def _use_sandbox(sb, monkeypatch, **overrides: str) -> None:
    for name, value in {**sb.env(), **overrides}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("MDE_RATE_LIMIT", raising=False)


def _ips_file(tmp_path, count: int):
    path = tmp_path / "ips.csv"
    path.write_text("ip\n" + "".join(f"198.18.7.{i}\n" for i in range(count)), encoding="utf-8")
    return path


def test_a_run_whose_quota_waits_outlast_the_token_finishes(mde_sb, monkeypatch, tmp_path):
    # Tokens live 2 s; the budget lets 3 calls start per 4 s, so most calls wait longer than a
    # token lives. Before the fix the token was taken before the wait: the call went out with an
    # expired token, logged in again, waited again, and the second 401 ended the run (exit 1).
    mde_sb.configure(token_lifetime=2)
    _use_sandbox(mde_sb, monkeypatch)
    out, summary = tmp_path / "out.csv", tmp_path / "summary.json"
    args = [str(_ips_file(tmp_path, 9)), "-o", str(out), "--no-cache", "--summary", str(summary)]
    result = CliRunner().invoke(
        cli, ["run", "--mode", "stats", *args, "--rate-limit", "3/4s", "--concurrency", "3"]
    )
    assert result.exit_code == 0, result.stderr
    assert "Traceback" not in result.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert len(rows) == 9
    assert all(row["mde_status"] == "not_seen" for row in rows), rows
    report = json.loads(summary.read_text(encoding="utf-8"))
    assert report["quota_wait_seconds"] > 2  # the calls did wait longer than a token lives
    assert mde_sb.stats()["by_endpoint"]["ips/stats"].get("200") == 9
    assert mde_sb.stats()["tokens_issued"] >= 2  # renewed as the run went on


def test_a_401_after_a_wait_is_a_new_login_even_after_a_relogin(mde_sb):
    # A provider whose clock never moves keeps handing out tokens the server has expired. The
    # call: 401 (old token) -> new login -> 429, pause 3 s -> 401 (the new token aged in the
    # pause) -> new login -> 200. Before the fix the second 401 of the call was fatal.
    mde_sb.configure(token_lifetime=2)
    settings = settings_for(mde_sb)
    frozen = TokenProvider(settings, clock=lambda: 0.0)
    key = LookupKey("ips", "198.51.100.9")

    async def main():
        async with MdeClient(settings, frozen, Budget(settings.rate_limits), fresh_token_seconds=1.0) as c:
            await lookup(c, key, 720)
            await asyncio.sleep(2.2)  # the server now refuses that token
            mde_sb.force_429(count=1, retry_after=3, family="ips")
            return await lookup(c, key, 720), c

    answer, client = asyncio.run(main())
    assert answer.status is Status.NOT_SEEN
    assert mde_sb.stats()["by_endpoint"]["ips/stats"] == {"200": 2, "401": 2, "429": 1}
    assert client.reauths == 2


class _Tampered:
    """Tokens of the real login endpoint with a broken signature: each one is new and refused at once."""

    def __init__(self, inner: TokenProvider) -> None:
        self.inner = inner
        self.acquisitions = 0

    def cached_token(self) -> str | None:
        return None

    def get_token(self) -> str:
        self.inner.invalidate()
        self.acquisitions += 1
        head, body, _ = self.inner.get_token().split(".")
        return f"{head}.{body}.AAAA{self.acquisitions}"

    def invalidate(self, token: str | None = None) -> None:
        pass


def test_a_fresh_token_refused_at_once_is_fatal(mde_sb):
    settings = settings_for(mde_sb)
    with pytest.raises(AuthError, match=r"freshly issued token \(401 Unauthorized\)") as info:
        run_lookups(
            settings, [LookupKey("ips", "198.51.100.10")], provider=_Tampered(TokenProvider(settings))
        )
    assert "MDE_API_URL" in str(info.value)
    assert mde_sb.stats()["by_endpoint"]["ips/stats"] == {"401": 2}  # one new login, then fatal


def test_a_run_whose_tokens_every_api_call_refuses_stops_with_exit_1(mde_sb, monkeypatch, tmp_path):
    # Tokens from another login host (its own signing key): MDE refuses every one of them.
    clients = sandbox_clients(mde_sb.config.clients[3].certificate_pem)
    with Sandbox(SandboxConfig(time_scale=60, sample_dir="", clients=clients)) as login:
        bundle = tmp_path / "cas.pem"
        bundle.write_text(
            Path(mde_sb.ca_file).read_text(encoding="ascii") + Path(login.ca_file).read_text(encoding="ascii")
        )
        _use_sandbox(mde_sb, monkeypatch, MDE_LOGIN_URL=login.base_url, MDE_CA_BUNDLE=str(bundle))
        assert mde_sb.tenant_id == TENANT == login.tenant_id
        out = tmp_path / "out.csv"
        result = CliRunner().invoke(
            cli,
            [
                "run",
                "--mode",
                "stats",
                str(_ips_file(tmp_path, 3)),
                "-o",
                str(out),
                "--no-cache",
                "--concurrency",
                "1",
            ],
        )
    assert result.exit_code == 1, result.stderr
    assert "401 Unauthorized" in result.stderr and "Traceback" not in result.stderr
    assert not out.exists()
    assert mde_sb.stats()["by_endpoint"]["ips/stats"] == {"401": 2}
