"""Which proxy carries a request to an https:// address, by the standard environment variables.

Both HTTP stacks (httpx for the API and Graph, requests for MSAL's sign-in) ask `proxy_for`, so
they always agree: `https_proxy` (then `HTTPS_PROXY`, then `all_proxy`/`ALL_PROXY`) names the proxy;
`no_proxy`/`NO_PROXY` lists the hosts reached directly, as curl and Python's urllib read it
(`*` for every host; `example.com` or `.example.com` for it and its subdomains; `host:port`; and,
as requests does, an IP network such as `10.0.0.0/8`). Loopback addresses get no exemption of
their own: list them in NO_PROXY to bypass the proxy. The proxy is reached with CONNECT (an
`http://` proxy) or over TLS (`https://`, trusted like the API: system roots, certifi, MDE_CA_BUNDLE).
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from urllib.parse import urlsplit

from enrich.mde.errors import ConfigError, register_secret

PROXY_VARIABLES: tuple[str, ...] = ("https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")
NO_PROXY_VARIABLES: tuple[str, ...] = ("no_proxy", "NO_PROXY")


def _first(environ: Mapping[str, str], names: tuple[str, ...]) -> tuple[str, str] | None:
    for name in names:
        value = (environ.get(name) or "").strip()
        if value:
            return name, value
    return None


def proxy_url(environ: Mapping[str, str] | None = None) -> str | None:
    """The proxy the environment names for https:// requests (None: none), checked and normalised.

    A value without a scheme (`proxy.corp:3128`) is an http:// proxy, as curl takes it. ConfigError
    for a scheme other than http or https (SOCKS is not supported) or a value without a host.
    A password in the URL is registered as a secret (never shown in a message or log).
    """
    env = os.environ if environ is None else environ
    found = _first(env, PROXY_VARIABLES)
    if found is None:
        return None
    name, value = found
    url = value if "://" in value else f"http://{value}"
    parts = urlsplit(url)
    if parts.password:
        register_secret(parts.password)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise ConfigError(
            f"{name} names a {scheme}:// proxy; only http:// (CONNECT) and https:// proxies are supported"
        )
    try:
        host = parts.hostname if parts.port is None or parts.port > 0 else None
    except ValueError:  # a port that is not a number, or out of range
        host = None
    if not host:
        raise ConfigError(f"{name} must be a proxy address such as http://proxy.example:3128; got {value!r}")
    return url.rstrip("/")


def bypassed(url: str, environ: Mapping[str, str] | None = None) -> bool:
    """Whether NO_PROXY says `url`'s host is reached directly."""
    env = os.environ if environ is None else environ
    found = _first(env, NO_PROXY_VARIABLES)
    if found is None:
        return False
    parts = urlsplit(url)
    host = (parts.hostname or "").lower().rstrip(".")
    if not host:
        return False
    port = parts.port or 443
    return any(_matches(entry.strip().lower(), host, port) for entry in found[1].split(","))


def _matches(entry: str, host: str, port: int) -> bool:
    """Whether one NO_PROXY entry covers `host`:`port` (see the module doc)."""
    if not entry:
        return False
    if entry == "*":
        return True
    if "/" in entry:  # an IP network
        try:
            return ipaddress.ip_address(host) in ipaddress.ip_network(entry, strict=False)
        except ValueError:
            return False
    wanted_port: int | None = None
    if entry.startswith("["):  # [IPv6] or [IPv6]:port
        address, _, rest = entry[1:].partition("]")
        entry = address
        if rest.startswith(":") and rest[1:].isdigit():
            wanted_port = int(rest[1:])
    elif entry.count(":") == 1:  # name:port or IPv4:port
        entry, _, text = entry.partition(":")
        if not text.isdigit():
            return False
        wanted_port = int(text)
    if wanted_port is not None and wanted_port != port:
        return False
    entry = entry.lstrip(".").rstrip(".")
    return bool(entry) and (host == entry or host.endswith("." + entry))


def proxy_for(url: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The proxy to reach https:// `url` through (None: directly), by the standard variables."""
    env = os.environ if environ is None else environ
    proxy = proxy_url(env)
    if proxy is None or bypassed(url, env):
        return None
    return proxy


def shown(proxy: str) -> str:
    """A proxy URL fit for a message: without its user name and password."""
    parts = urlsplit(proxy)
    host = parts.hostname or ""
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")
