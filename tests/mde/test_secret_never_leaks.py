"""The client secret never appears in an error, a repr, a log line or printed output."""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import quote, quote_plus

import pytest
from click.testing import CliRunner

from enrich.answering.stats import lookup_many
from enrich.cli import cli
from enrich.mde.auth import TokenProvider
from enrich.mde.check import run_check
from enrich.mde.client import MdeClient
from enrich.mde.errors import AuthError, MdeError, protect, register_secret, scrub, secret_like
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


# --- the redaction rule: real-looking secrets always go, words always stay -----------------


def test_word_like_or_short_secrets_are_not_scrubbed_by_value():
    for value in ("wrong", "secret", "Password", "s3cret", "abcdefghijklmno"):
        assert not secret_like(value)
        register_secret(value)
    text = "could not sign in: the client secret is wrong; check the Password field (s3cret abcdefghijklmno)"
    assert scrub(text) == text
    assert scrub(text, also=["wrong", "secret"]) == text
    # ...but the form field never shows any value
    assert scrub("client_id=c&client_secret=wrong&scope=x") == "client_id=c&client_secret=***&scope=x"


def test_a_short_secret_is_scrubbed_only_as_a_whole_token():
    short = "Pa55w0rd~9"
    assert secret_like(short)
    assert scrub(f"secret {short}.", also=[short]) == "secret ***."
    assert scrub(f'"{short}" and ({short})', also=[short]) == '"***" and (***)'
    glued = f"X{short}Y and {short}s"
    assert scrub(glued, also=[short]) == glued  # part of longer words: not this secret


def test_a_real_looking_secret_is_scrubbed_everywhere_in_every_form():
    entra = "Q~7xZ8Q~abcDEF.ghi_JKL-mno0123456789pqrsTUV"  # the shape of an Entra secret value
    old_style = "aB3+dE/fG==hIjK1lMnOpQrStUvWxYz0123456789a="  # older base64-like secrets
    for secret in (entra, old_style):
        assert secret_like(secret)
        register_secret(secret)
        for form in (secret, quote(secret, safe=""), quote_plus(secret)):
            for text in (f"x {form} y", f"url /a%2F{form}b", f"{form}{form}", f"body=client_secret={form}"):
                out = scrub(text)
                assert secret not in out and form not in out, (text, out)
                assert "***" in out


def test_a_run_with_a_word_as_its_secret_keeps_the_message_whole(mde_sb, monkeypatch, tmp_path):
    # Before: register_secret("wrong") turned "the client secret is wrong" into "... is ***".
    for name, value in mde_sb.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MDE_CLIENT_SECRET", "wrong")
    source = tmp_path / "in.csv"
    source.write_text("ip\n198.51.100.1\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["run", str(source), "-o", str(tmp_path / "out.csv"), "--no-cache"])
    assert result.exit_code == 1
    assert "the client secret is wrong" in result.stderr, result.stderr
    assert "***" not in result.stderr and "Traceback" not in result.stderr


def test_verbose_run_logs_requests_but_no_secret_header_or_token(mde_sb, monkeypatch, tmp_path):
    """`enrich run -vv` over real sockets, with a token expiring every 2 s, faults and 429s."""
    from click.testing import CliRunner

    from enrich.cli import cli

    for name, value in mde_sb.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MDE_CLIENT_ID", MAIN)
    monkeypatch.setenv("MDE_CLIENT_SECRET", SECRET)
    mde_sb.configure(faults={"500": 0.1, "reset": 0.05}, token_lifetime=2)
    mde_sb.force_429(count=2, retry_after=1, family="ips")
    feed = tmp_path / "feed.csv"
    feed.write_text("indicator\n" + "".join(f"198.18.3.{i}\n" for i in range(30)) + "a" * 40 + "\n")
    result = CliRunner().invoke(
        cli,
        [
            "run",
            "--mode",
            "stats",  # the entity requests are what -v is checked on
            str(feed),
            "-o",
            str(tmp_path / "o.csv"),
            "--no-cache",
            "-vv",
            "--rate-limit",
            "100/1s,1500/60s",
        ],
    )
    assert result.exit_code in (0, 3), result.stderr
    text = result.stderr + result.stdout
    assert "GET /api/ips/198.18.3.1/stats -> " in text  # -v names each request
    assert_clean(text)
    for leak in ("Bearer", "Authorization", "eyJ", "client_secret"):
        assert leak not in text, leak
