"""Proxies from HTTPS_PROXY / NO_PROXY for both HTTP stacks (httpx: API and Graph; requests: MSAL's
sign-in), through a real minimal CONNECT proxy on 127.0.0.1 that counts the tunnels it opens.

The sandbox answers as 127.0.0.1 and as localhost (its certificate names both); pointing the login
at one name and the API at the other tells the two stacks' traffic apart at the proxy.
"""

from __future__ import annotations

import contextlib
import select
import socket
import ssl
import threading
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from enrich.cli import cli
from enrich.mde.auth import TokenProvider
from enrich.mde.errors import AuthError, ConfigError
from enrich.mde.proxies import bypassed, proxy_for, proxy_url, shown
from enrich.mde.settings import load_settings
from enrich.sandbox import Sandbox, SandboxConfig

pytestmark = pytest.mark.timeout(120)

MAX_TUNNELS = 200  # the proxy serves at most this many connections, then stops accepting
IDLE_SECONDS = 10.0  # a tunnel silent this long is closed
INPUT = "indicator\n8.8.8.8\nexample.com\n" + "".join(f"198.18.7.{i}\n" for i in range(6))
PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy")


class ConnectProxy:
    """An HTTP CONNECT proxy on 127.0.0.1 (bounded: MAX_TUNNELS connections, idle time-out); with
    `tls`, clients reach it over TLS (an https:// proxy)."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.tls = tls
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.2)
        self.port = self.server.getsockname()[1]
        self.tunnels: Counter[str] = Counter()  # "host:port" -> tunnels opened to it
        self.refused = 0  # requests that were not CONNECT
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._accepter = threading.Thread(target=self._accept, daemon=True)

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def __enter__(self) -> ConnectProxy:
        self._accepter.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._accepter.join(5)
        for thread in self._threads:
            thread.join(IDLE_SECONDS + 2)
        self.server.close()

    def _accept(self) -> None:
        served = 0
        while not self._stop.is_set() and served < MAX_TUNNELS:
            try:
                client, _ = self.server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            served += 1
            thread = threading.Thread(target=self._serve, args=(client,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, client: socket.socket) -> None:
        if self.tls is not None:
            client.settimeout(IDLE_SECONDS)
            try:
                client = self.tls.wrap_socket(client, server_side=True)
            except (OSError, ssl.SSLError):
                client.close()
                return
        with contextlib.closing(client):
            client.settimeout(IDLE_SECONDS)
            head = b""
            while b"\r\n\r\n" not in head and len(head) < 16384:
                chunk = client.recv(4096)
                if not chunk:
                    return
                head += chunk
            method, target, _ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
            if method.upper() != "CONNECT":
                with self._lock:
                    self.refused += 1
                client.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
                return
            host, _, port = target.rpartition(":")
            try:
                upstream = socket.create_connection((host.strip("[]"), int(port)), timeout=IDLE_SECONDS)
            except OSError:
                client.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
                return
            with self._lock:
                self.tunnels[target] += 1
            with contextlib.closing(upstream):
                client.sendall(b"HTTP/1.1 200 Connection Established\r\n\r\n")
                rest = head.split(b"\r\n\r\n", 1)[1]
                if rest:
                    upstream.sendall(rest)
                self._pipe(client, upstream)

    def _pipe(self, a: socket.socket, b: socket.socket) -> None:
        peers = {a: b, b: a}
        idle = 0.0
        while not self._stop.is_set() and idle < IDLE_SECONDS:
            buffered = [s for s in peers if isinstance(s, ssl.SSLSocket) and s.pending()]
            ready = buffered or select.select(list(peers), [], [], 0.2)[0]
            idle = idle + 0.2 if not ready else 0.0
            for sock in ready:
                try:
                    data = sock.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                peers[sock].sendall(data)


@pytest.fixture(scope="module")
def sb():
    with Sandbox(SandboxConfig(seed=11, sample_dir="", time_scale=60)) as box:
        yield box


@pytest.fixture
def proxy():
    with ConnectProxy() as running:
        yield running


@pytest.fixture
def env(sb, monkeypatch):
    """The sandbox's variables, with the login at localhost and the API and Graph at 127.0.0.1."""
    for var in (
        *PROXY_VARS,
        "MDE_CLOUD",
        "MDE_REGION",
        "MDE_RATE_LIMIT",
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
    ):
        monkeypatch.delenv(var, raising=False)
    for name, value in sb.env().items():
        monkeypatch.setenv(name, value)
    port = sb.base_url.rsplit(":", 1)[1]
    monkeypatch.setenv("MDE_LOGIN_URL", f"https://localhost:{port}")
    return port


def _run(tmp_path, *extra: str):
    src = tmp_path / "in.csv"
    src.write_text(INPUT)
    out = tmp_path / "out.csv"
    args = [
        "run",
        str(src),
        "-o",
        str(out),
        "--mode",
        "stats",
        "--no-cache",
        "--rate-limit",
        "100/1s,1500/60s",
    ]
    return CliRunner().invoke(cli, [*args, *extra]), out


# -- the rules ------------------------------------------------------------------------------------


def test_proxy_variables_follow_the_standard_rules():
    assert proxy_for("https://api.security.microsoft.com", {}) is None
    env = {"HTTPS_PROXY": "proxy.corp:3128", "https_proxy": "http://lower.corp:8080"}
    assert proxy_for("https://api.security.microsoft.com", env) == "http://lower.corp:8080"  # lowercase first
    assert proxy_url({"HTTPS_PROXY": "proxy.corp:3128"}) == "http://proxy.corp:3128"  # no scheme: http
    assert proxy_url({"ALL_PROXY": "https://p.corp"}) == "https://p.corp"
    no = {"HTTPS_PROXY": "http://p:1", "NO_PROXY": ".microsoft.com, localhost:8443,10.0.0.0/8"}
    assert proxy_for("https://api.security.microsoft.com", no) is None  # a suffix
    assert proxy_for("https://microsoft.com", no) is None
    assert proxy_for("https://notmicrosoft.com", no) == "http://p:1"
    assert (
        proxy_for("https://localhost:8443", no) is None
        and proxy_for("https://localhost:9", no) == "http://p:1"
    )
    assert bypassed("https://10.2.3.4", no) and not bypassed("https://11.2.3.4", no)  # an IP network
    assert proxy_for("https://127.0.0.1:8443", no) == "http://p:1"  # loopback: no exemption of its own
    assert proxy_for("https://anything", {"HTTPS_PROXY": "http://p:1", "no_proxy": "*"}) is None
    assert shown("http://user:pw@p.corp:3128") == "http://p.corp:3128"
    six = {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "[::1]:8443,host.example:443,fd00::/8"}
    assert bypassed("https://[::1]:8443", six) and not bypassed("https://[::1]:9443", six)
    assert bypassed("https://host.example", six)  # https's default port
    assert bypassed("https://[fd00::5]", six) and not bypassed("https://[fe80::5]", six)


@pytest.mark.parametrize("value", ["socks5://p:1080", "http://:3128", "http://p:port"])
def test_a_proxy_that_cannot_be_used_is_a_clear_configuration_error(value):
    with pytest.raises(ConfigError, match="proxy"):
        proxy_url({"HTTPS_PROXY": value})


# -- through a real proxy -----------------------------------------------------------------------


def test_run_goes_through_the_proxy_for_sign_in_and_api(sb, proxy, env, tmp_path, monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    result, out = _run(tmp_path)
    assert result.exit_code == 0, result.output
    assert out.read_text().count("\n") == INPUT.count("\n")
    # MSAL's discovery and token request went to localhost, the API calls to 127.0.0.1: both tunnelled,
    # and the sandbox's CA (MDE_CA_BUNDLE) verified the hosts behind the tunnels.
    assert proxy.tunnels[f"localhost:{env}"] >= 1, proxy.tunnels
    assert proxy.tunnels[f"127.0.0.1:{env}"] >= 1, proxy.tunnels
    assert set(proxy.tunnels) == {f"localhost:{env}", f"127.0.0.1:{env}"} and proxy.refused == 0


@pytest.mark.parametrize(
    ("no_proxy", "tunnelled"),
    [("localhost", "127.0.0.1"), ("127.0.0.1", "localhost"), ("localhost,127.0.0.1", None), ("*", None)],
)
def test_no_proxy_takes_hosts_out_of_the_proxy(sb, proxy, env, tmp_path, monkeypatch, no_proxy, tunnelled):
    monkeypatch.setenv("https_proxy", proxy.url)
    monkeypatch.setenv("NO_PROXY", no_proxy)
    result, _ = _run(tmp_path)
    assert result.exit_code == 0, result.output
    expected = {f"{tunnelled}:{env}"} if tunnelled else set()
    assert set(proxy.tunnels) == expected, proxy.tunnels


def test_an_unreachable_proxy_is_named_in_the_sign_in_error(sb, env, monkeypatch):
    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]
    monkeypatch.setenv("HTTPS_PROXY", f"http://user:pw-not-shown@127.0.0.1:{port}")
    provider = TokenProvider(load_settings(None, timeout=3))
    try:
        with pytest.raises(AuthError) as caught:
            provider.get_token()
    finally:
        provider.close()
    assert f"through the proxy http://127.0.0.1:{port}" in str(caught.value)
    assert "pw-not-shown" not in str(caught.value)


def test_an_https_proxy_is_verified_with_the_ca_bundle(sb, env, tmp_path, monkeypatch):
    """A proxy reached over TLS, with its own CA: one MDE_CA_BUNDLE holding both CAs serves both stacks."""
    from enrich.sandbox.tls import server_context, write_certificates

    (tmp_path / "proxy-tls").mkdir()
    files = write_certificates(str(tmp_path / "proxy-tls"))
    bundle = tmp_path / "bundle.pem"
    bundle.write_text(Path(sb.ca_file).read_text() + Path(files.ca_file).read_text())
    monkeypatch.setenv("MDE_CA_BUNDLE", str(bundle))
    with ConnectProxy(tls=server_context(files)) as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        result, _ = _run(tmp_path)
        assert result.exit_code == 0, result.output
        assert proxy.tunnels[f"localhost:{env}"] >= 1 and proxy.tunnels[f"127.0.0.1:{env}"] >= 1, (
            proxy.tunnels
        )
    # without the proxy's CA, the sign-in through it fails verification, in words
    monkeypatch.setenv("MDE_CA_BUNDLE", sb.ca_file)
    with ConnectProxy(tls=server_context(files)) as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        provider = TokenProvider(load_settings(None, timeout=5))
        try:
            with pytest.raises(
                AuthError, match="TLS verification .* failed .*CERTIFICATE_VERIFY_FAILED.*MDE_CA_BUNDLE"
            ):
                provider.get_token()
        finally:
            provider.close()
        assert not proxy.tunnels
