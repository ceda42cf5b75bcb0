"""Settings: precedence (flags > environment > secrets.json), rate-limit syntax, plain-word errors."""

from __future__ import annotations

import json

import pytest

from enrich.answering.interface import AnswerOptions
from enrich.errors import UsageError
from enrich.mde.errors import ConfigError
from enrich.mde.settings import (
    ClientOptions,
    Connection,
    Settings,
    load_settings,
    parse_rate_limit,
    parse_rate_limits,
)

SECRET = "s3cr3t-Value~abc.DEF_123"


pytestmark = pytest.mark.usefixtures("clean_mde_env")


def write_secrets(tmp_path, **values):
    path = tmp_path / "secrets.json"
    path.write_text(json.dumps(values))
    path.chmod(0o600)
    return str(path)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("100/min,1500/hour", [(100, 60.0), (1500, 3600.0)]),
        ("1500/hour, 100/min", [(100, 60.0), (1500, 3600.0)]),
        ("10/sec", [(10, 1.0)]),
        ("10/s", [(10, 1.0)]),
        ("100/1s,1500/60s", [(100, 1.0), (1500, 60.0)]),
        ("100/0.1s,1500/6s", [(100, 0.1), (1500, 6.0)]),
        ("5/2.5m", [(5, 150.0)]),
        ("7/h", [(7, 3600.0)]),
        ("3/minutes", [(3, 60.0)]),
    ],
)
def test_parse_rate_limit(spec, expected):
    got = parse_rate_limit(spec)
    assert [n for n, _ in got] == [n for n, _ in expected]
    assert [w for _, w in got] == pytest.approx([w for _, w in expected])


@pytest.mark.parametrize("spec", ["", "100", "100/fortnight", "0/min", "abc/min", "100/0s", "-1/min"])
def test_parse_rate_limit_rejects(spec):
    with pytest.raises(ConfigError) as info:
        parse_rate_limit(spec)
    assert "rate limit" in str(info.value)


def test_parse_rate_limits_per_family():
    limits = parse_rate_limits("10/s;hunting=2/s;files=5/min")
    assert limits["ips"] == [(10, 1.0)] and limits["domains"] == [(10, 1.0)]
    assert limits["files"] == [(5, 60.0)]
    assert limits["hunting"] == [(2, 1.0)]
    default = parse_rate_limits("")
    assert default["files"] == [(100, 60.0), (1500, 3600.0)]
    assert default["hunting"] == [(45, 60.0), (1500, 3600.0)]


def test_precedence_flags_over_env_over_file(tmp_path, monkeypatch):
    secrets = write_secrets(
        tmp_path, mde_tenant_id="file-tenant", mde_client_id="file-client", mde_client_secret=SECRET
    )
    s = load_settings(secrets)
    assert (s.tenant_id, s.client_id, s.client_secret) == ("file-tenant", "file-client", SECRET)
    monkeypatch.setenv("MDE_TENANT_ID", "env-tenant")
    monkeypatch.setenv("MDE_RATE_LIMIT", "10/s")
    s = load_settings(secrets)
    assert s.tenant_id == "env-tenant" and s.client_id == "file-client"
    assert s.rate_limits["files"] == [(10, 1.0)]
    s = load_settings(secrets, tenant_id="flag-tenant", rate_limit="20/s", client_id=None, concurrency="3")
    assert s.tenant_id == "flag-tenant" and s.client_id == "file-client"
    assert s.rate_limits["ips"] == [(20, 1.0)] and s.concurrency == 3


def test_defaults():
    s = load_settings(None, tenant_id="t", client_id="c", client_secret=SECRET)
    assert s.api_url == "https://api.security.microsoft.com"
    assert s.login_url == "https://login.microsoftonline.com"
    assert s.graph_url == "https://graph.microsoft.com"
    assert s.authority == "https://login.microsoftonline.com/t"
    assert (s.concurrency, s.timeout, s.max_retries) == (8, 30.0, 6)
    assert s.rate_limits["files"] == [(100, 60.0), (1500, 3600.0)]


def test_missing_credentials_names_variables(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_settings(None)
    text = str(info.value)
    assert "MDE_TENANT_ID" in text and "MDE_CLIENT_ID" in text and "MDE_CLIENT_SECRET" in text
    s = load_settings(None, require_credentials=False, tenant_id="t")
    assert s.missing_credentials() == ["MDE_CLIENT_ID", "MDE_CLIENT_SECRET (or MDE_CLIENT_CERTIFICATE)"]


@pytest.mark.parametrize("var", ["MDE_API_URL", "MDE_LOGIN_URL", "MDE_GRAPH_URL"])
def test_non_https_refused_in_plain_words(monkeypatch, var):
    monkeypatch.setenv(var, "http://127.0.0.1:8443")
    with pytest.raises(ConfigError) as info:
        load_settings(None, tenant_id="t", client_id="c", client_secret=SECRET)
    assert var in str(info.value) and "https://" in str(info.value)


def test_urls_trailing_slash_and_any_https_host(monkeypatch):
    monkeypatch.setenv("MDE_LOGIN_URL", "https://login.microsoftonline.us/")
    monkeypatch.setenv("MDE_API_URL", "https://127.0.0.1:8443/")
    s = load_settings(None, tenant_id="t", client_id="c", client_secret=SECRET)
    assert s.login_url == "https://login.microsoftonline.us" and s.api_url == "https://127.0.0.1:8443"


def test_lookback_is_the_answering_strategys_not_the_connections():
    with pytest.raises(TypeError, match="lookback_hours"):
        load_settings(None, tenant_id="t", client_id="c", client_secret=SECRET, lookback_hours=48)
    with pytest.raises(UsageError, match="720"):
        AnswerOptions(lookback_hours=721)
    with pytest.raises(UsageError):
        AnswerOptions(lookback_hours=0)


def test_settings_split_into_connection_and_client_options():
    s = load_settings(None, tenant_id="t", client_id="c", client_secret=SECRET, concurrency=3)
    assert isinstance(s.connection, Connection) and not isinstance(s.connection, ClientOptions)
    assert s.connection.tenant_id == "t" and s.connection.secrets() == (SECRET,)
    assert isinstance(s.options, ClientOptions) and s.options.concurrency == 3
    assert SECRET not in repr(s) and SECRET not in repr(s.connection)


def test_building_settings_registers_no_secret():
    from enrich.mde.errors import scrub

    fresh = "never-registered-" + "x" * 20
    load_settings(None, tenant_id="t", client_id="c", client_secret=fresh)
    assert scrub(f"oops {fresh}") == f"oops {fresh}"


def test_missing_files_named(tmp_path, monkeypatch):
    monkeypatch.setenv("MDE_CA_BUNDLE", str(tmp_path / "nope.pem"))
    with pytest.raises(ConfigError, match="MDE_CA_BUNDLE"):
        load_settings(None, tenant_id="t", client_id="c", client_secret=SECRET)
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(str(tmp_path / "missing.json"))
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_settings(str(bad))


def test_certificate_instead_of_secret(tmp_path):
    pem = tmp_path / "app.pem"
    pem.write_text("placeholder")
    s = load_settings(None, tenant_id="t", client_id="c", client_certificate=str(pem))
    assert s.client_certificate == str(pem) and s.missing_credentials() == []


def test_secret_not_in_repr():
    s = Settings(tenant_id="t", client_id="c", client_secret=SECRET)
    assert SECRET not in repr(s) and SECRET not in str(s)


def test_unknown_override_is_a_bug():
    with pytest.raises(TypeError):
        load_settings(None, tenant_id="t", client_id="c", client_secret=SECRET, colour="blue")
