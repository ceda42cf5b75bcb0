"""The client secret never appears in an error, a repr, a log line or printed output."""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import quote_plus

import pytest

from enrich.answering.stats import lookup_many
from enrich.mde.auth import TokenProvider
from enrich.mde.check import run_check
from enrich.mde.client import MdeClient
from enrich.mde.errors import AuthError, MdeError, protect, scrub
from enrich.mde.limits import Budget
from enrich.mde.settings import Settings, load_settings, with_overrides
from enrich.model import LookupKey
from tests.mde_helpers import MAIN, SECRET, settings_for

pytestmark = pytest.mark.timeout(90)

WRONG = "Wr0ng~Secret.Value_that-must-not-leak-42"


def assert_clean(text: str) -> None:
    for secret in (SECRET, WRONG):
        assert secret not in text
        assert quote_plus(secret) not in text


def test_reprs_and_settings_errors():
    s = Settings(tenant_id="t", client_id="c", client_secret=SECRET)
    assert_clean(repr(s))
    assert_clean(str(s))
    with pytest.raises(MdeError) as info:
        load_settings(None, environ={"MDE_CLIENT_SECRET": SECRET, "MDE_API_URL": f"http://{SECRET}.example"})
    assert_clean(str(info.value))
    assert_clean(repr(info.value))


def test_scrub_removes_registered_secrets_and_form_fields():
    protect(Settings(tenant_id="t", client_id="c", client_secret=WRONG).connection)
    assert scrub(f"body: client_id=c&client_secret={quote_plus(WRONG)}&scope=x") == (
        "body: client_id=c&client_secret=***&scope=x"
    )
    assert scrub(f"oops {WRONG} oops") == "oops *** oops"
    assert "***" in scrub("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl")


def test_errors_and_logs_of_a_whole_run(mde_sb, caplog, capsys):
    caplog.set_level(logging.DEBUG)  # msal, urllib3, httpx and ours at their chattiest
    # wrong secret: the error names the problem, not the secret
    with pytest.raises(AuthError) as info:
        TokenProvider(settings_for(mde_sb, secret=WRONG)).get_token()
    assert_clean(str(info.value))
    assert_clean(repr(info.value))
    # a full run with faults, a 401 and 429s
    mde_sb.configure(faults={"500": 0.05, "reset": 0.05, "malformed": 0.05}, token_lifetime=2)
    mde_sb.force_429(count=2, retry_after=1, family="ips")
    settings = settings_for(mde_sb)
    keys = [LookupKey("ips", f"198.18.0.{i}") for i in range(40)] + [LookupKey("files", "a" * 40)]

    async def main():
        async with MdeClient(
            settings, TokenProvider(settings), Budget(settings.rate_limits), backoff_base=0.02
        ) as c:
            await lookup_many(c, keys, 720, False, lambda k, a: print(k, a), 8)
            print(c.metrics())

    asyncio.run(main())
    # the preflight, good and bad
    for result in run_check(settings) + run_check(with_overrides(settings, client_secret=WRONG)):
        assert_clean(result.message)
        print(result)
    out = capsys.readouterr()
    assert_clean(out.out + out.err)
    assert_clean(caplog.text)
    for record in caplog.records:
        assert_clean(record.getMessage())
    assert caplog.records, "the run should have logged something"
    assert MAIN in settings.client_id
