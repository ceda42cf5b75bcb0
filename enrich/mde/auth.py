"""Tokens for the MDE API (client credentials through MSAL) and the TLS trust both HTTP stacks share.

MSAL is synchronous: async code calls `await asyncio.to_thread(provider.get_token)` (the
client does so only when the cached token is missing or near expiry).

`TokenSource` is what the HTTP client needs from a provider; `TokenProvider(settings, scope=...)`
asks for another resource's token (MDE's by default; Graph's for Graph hunting: `GRAPH`). Scopes
come from the settings' cloud (`enrich.mde.clouds`), never from the hosts called.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import logging
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import urlsplit

import certifi
import msal
import requests
from msal.authority import WELL_KNOWN_AUTHORITY_HOSTS
from requests.adapters import HTTPAdapter

from enrich.mde.errors import AuthError, ConfigError, auth_error_from_response, register_secret, scrub
from enrich.mde.proxies import proxy_for, shown
from enrich.mde.settings import Settings

log = logging.getLogger(__name__)

# The global cloud's scopes; `TokenProvider` asks for its settings' cloud's (`Connection.mde_scope`).
MDE_SCOPE = "https://api.securitycenter.microsoft.com/.default"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
# Symbolic scopes: the MDE API's or Microsoft Graph's resource in the settings' cloud.
MDE = "mde"
GRAPH = "graph"
# Re-acquire this long before the token expires (MSAL itself refreshes under 5 minutes left);
# for short test lifetimes, a tenth of the lifetime.
REFRESH_MARGIN_SECONDS = 300.0


def ssl_context(ca_bundle: str | None) -> ssl.SSLContext:
    """A verifying TLS context trusting the system roots, certifi's roots and `ca_bundle` (if any)."""
    context = ssl.create_default_context()
    with contextlib.suppress(OSError, ssl.SSLError):  # certifi ships with httpx; be lenient anyway
        context.load_verify_locations(cafile=certifi.where())
    if ca_bundle:
        try:
            context.load_verify_locations(cafile=ca_bundle)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"MDE_CA_BUNDLE {ca_bundle!r} is not a readable PEM file of CA certificates: {exc}"
            ) from None
    return context


class _ContextAdapter(HTTPAdapter):
    """A requests adapter that verifies TLS with our SSLContext, whatever `verify` path requests picked."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self._context = context
        super().__init__(max_retries=0)

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: Any, cert: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        pool_kwargs.pop("ca_certs", None)
        pool_kwargs.pop("ca_cert_dir", None)
        pool_kwargs["cert_reqs"] = "CERT_REQUIRED"
        pool_kwargs["ssl_context"] = self._context
        return host_params, pool_kwargs

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        conn.cert_reqs = "CERT_REQUIRED"
        conn.ca_certs = None
        conn.ca_cert_dir = None

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        """An https:// proxy is verified with the same trust as the hosts behind it."""
        if proxy.lower().startswith("https:"):
            proxy_kwargs.setdefault("proxy_ssl_context", self._context)
        return super().proxy_manager_for(proxy, **proxy_kwargs)


class LoginSession(requests.Session):
    """The HTTP client handed to MSAL (`http_client=`).

    requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE replace a session's `verify` on every
    request; this session ignores them and verifies with the same trust as httpx: system +
    certifi roots + MDE_CA_BUNDLE. Its proxy is the one `enrich.mde.proxies.proxy_for` names
    (HTTPS_PROXY / NO_PROXY, the same rules as the API's). It also applies the configured
    timeout, which MSAL does not pass to a custom http_client.
    """

    def __init__(self, context: ssl.SSLContext, timeout: float) -> None:
        super().__init__()
        self._timeout = timeout
        adapter = _ContextAdapter(context)
        self.mount("https://", adapter)
        self.verify = True
        self.trust_env = False  # no .netrc, no CA or proxy variables read by requests itself

    def merge_environment_settings(
        self, url: str, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> dict[str, Any]:
        merged = super().merge_environment_settings(url, proxies, stream, verify, cert)
        merged["verify"] = True
        return merged

    def request(self, method: Any, url: Any, *args: Any, **kwargs: Any) -> requests.Response:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self._timeout
        kwargs["verify"] = True
        proxy = proxy_for(str(url))
        kwargs["proxies"] = {"https": proxy} if proxy else {}
        started = time.monotonic()
        try:
            response = super().request(method, url, *args, **kwargs)
        except requests.exceptions.RequestException as exc:
            _log_login_request(method, url, f"failed ({type(exc).__name__})", started)
            raise
        _log_login_request(method, url, str(response.status_code), started)
        return response


_requests_log = logging.getLogger("enrich.mde.client.requests")  # the API requests' logger (-v)


def _log_login_request(method: Any, url: Any, outcome: str, started: float) -> None:
    """With `-v`: one line per request to the login host (host and path only: no query, body or header)."""
    if _requests_log.isEnabledFor(logging.INFO):
        parts = urlsplit(str(url))
        _requests_log.info(
            "%s %s%s -> %s in %.3f s",
            str(method).upper(),
            parts.netloc,
            parts.path,
            outcome,
            time.monotonic() - started,
            extra={"every": True},
        )


def load_certificate_credential(path: str) -> dict[str, str]:
    """MSAL's certificate credential from a PEM file holding the private key and its certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization

    try:
        with open(path, "rb") as handle:
            pem = handle.read()
    except OSError as exc:
        raise ConfigError(f"cannot read MDE_CLIENT_CERTIFICATE {path}: {exc.strerror}") from None
    try:
        certificate = x509.load_pem_x509_certificate(pem)
    except ValueError:
        raise ConfigError(
            f"MDE_CLIENT_CERTIFICATE {path} holds no PEM certificate (-----BEGIN CERTIFICATE-----); "
            "put the certificate and its private key in one PEM file"
        ) from None
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except TypeError:
        raise ConfigError(
            f"the private key in {path} is encrypted; export it without a passphrase and protect the file "
            "with file permissions (chmod 600)"
        ) from None
    except ValueError:
        raise ConfigError(
            f"MDE_CLIENT_CERTIFICATE {path} holds no readable private key (-----BEGIN PRIVATE KEY-----); "
            "put the certificate and its private key in one PEM file"
        ) from None
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")
    register_secret(key_pem)
    cert_pem = certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")
    return {
        "private_key": key_pem,
        "thumbprint": certificate.fingerprint(hashes.SHA1()).hex().upper(),  # noqa: S303 - Entra's x5t
        "public_certificate": cert_pem,
    }


def decode_jwt_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT, without verifying it (for diagnostics only)."""
    try:
        payload = token.split(".")[1]
        payload += "=" * (-len(payload) % 4)
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (IndexError, ValueError, binascii.Error):
        return {}
    return claims if isinstance(claims, dict) else {}


class TokenSource(Protocol):
    """What `MdeClient` needs from a token provider (see `TokenProvider`)."""

    acquisitions: int  # tokens obtained from the identity provider (not from a cache)

    def cached_token(self) -> str | None: ...

    def get_token(self) -> str: ...

    def invalidate(self, token: str | None = None) -> None: ...


def cloud_scope(settings: Settings, scope: str) -> str:
    """`scope` as MSAL takes it: `MDE`/`GRAPH` (or the global constants) become the cloud's own scope."""
    if scope in (MDE, MDE_SCOPE):
        return settings.mde_scope
    if scope in (GRAPH, GRAPH_SCOPE):
        return settings.graph_scope
    return scope


class TokenProvider:
    """Client-credentials tokens for MDE (or `scope`), reused until near expiry. Thread-safe.

    `get_token()` returns a bearer token, acquiring one through MSAL only when none is cached or
    the cached one is close to expiry; `invalidate(token)` drops a token MDE refused (401) so
    the next `get_token()` asks Entra ID again. Raises AuthError in plain words.
    """

    def __init__(
        self, settings: Settings, *, scope: str = MDE, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.settings = settings
        self.scope = cloud_scope(settings, scope)
        self._clock = clock
        self._lock = threading.Lock()
        self._app: msal.ConfidentialClientApplication | None = None
        self._session: LoginSession | None = None
        self._token: str | None = None
        self._expires_at = 0.0
        self._refresh_at = 0.0
        self.acquisitions = 0  # tokens obtained from Entra ID (not from a cache)
        self.invalidations = 0

    # -- public API ---------------------------------------------------------------------------

    def get_token(self) -> str:
        """A valid bearer token (blocking; call through asyncio.to_thread from async code)."""
        token = self.cached_token()
        if token:
            return token
        with self._lock:
            token = self.cached_token()
            if token:
                return token
            return self._acquire()

    def cached_token(self) -> str | None:
        """The cached token when it is not near expiry (never blocks, never does I/O)."""
        token = self._token
        if token and self._clock() < self._refresh_at:
            return token
        return None

    def invalidate(self, token: str | None = None) -> None:
        """Forget `token` (or the current token) so the next get_token() acquires a new one."""
        with self._lock:
            if token is not None and token != self._token:
                return  # another caller already replaced it
            self.invalidations += 1
            stale, self._token = self._token, None
            self._refresh_at = self._expires_at = 0.0
            if stale and self._app is not None:
                cache = self._app.token_cache
                for item in list(cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN)):
                    if item.get("secret") == stale:
                        cache.remove_at(item)

    def token_claims(self) -> dict[str, Any]:
        """The claims of the current token (acquiring one if needed), unverified."""
        return decode_jwt_claims(self.get_token())

    def token_roles(self) -> list[str]:
        """The application roles (`roles` claim) of the current token."""
        roles = self.token_claims().get("roles") or []
        return [str(role) for role in roles] if isinstance(roles, list) else []

    def close(self) -> None:
        if self._session is not None:
            self._session.close()

    # -- internals ----------------------------------------------------------------------------

    def _build_app(self) -> msal.ConfidentialClientApplication:
        settings = self.settings
        settings.require_credentials()
        credential: str | dict[str, str]
        if settings.client_certificate:
            credential = load_certificate_credential(settings.client_certificate)
        else:
            credential = settings.client_secret
        host = (urlsplit(settings.login_url).hostname or "").lower()
        known = host in WELL_KNOWN_AUTHORITY_HOSTS
        self._session = LoginSession(ssl_context(settings.ca_bundle), settings.timeout)
        try:
            return msal.ConfidentialClientApplication(
                settings.client_id,
                client_credential=credential,
                authority=settings.authority,
                http_client=self._session,
                # Unknown hosts (a sovereign cloud, a test double) are trusted as given rather
                # than validated against login.microsoftonline.com.
                instance_discovery=None if known else False,
                token_cache=msal.TokenCache(),
            )
        except ValueError as exc:
            # 4xx on the tenant's openid-configuration, or an authority MSAL cannot parse.
            if "authority" in str(exc).lower() or "tenant" in str(exc).lower():
                raise AuthError(
                    f"the tenant {settings.tenant_id} was not found at {settings.login_url}; "
                    "check MDE_TENANT_ID and MDE_LOGIN_URL (right cloud?)",
                    code=90002,
                ) from None
            raise AuthError(f"cannot use the login address {settings.login_url}: {scrub(str(exc))}") from None
        except requests.exceptions.SSLError as exc:
            raise self._tls_error(exc) from None
        except requests.exceptions.RequestException as exc:
            raise self._network_error(exc) from None
        except msal.exceptions.MsalServiceError as exc:
            raise AuthError(
                f"the login host {settings.login_url} failed ({scrub(str(exc))}); try again later",
                transient=True,
            ) from None

    def _acquire(self) -> str:
        settings = self.settings
        if self._app is None:
            self._app = self._build_app()
        try:
            result = self._app.acquire_token_for_client(scopes=[self.scope])
        except requests.exceptions.SSLError as exc:
            raise self._tls_error(exc) from None
        except requests.exceptions.RequestException as exc:
            raise self._network_error(exc) from None
        except msal.exceptions.MsalServiceError as exc:
            raise AuthError(
                f"the login host {settings.login_url} answered with a server error ({scrub(str(exc))}); "
                "try again later",
                transient=True,
            ) from None
        except ValueError as exc:  # a non-JSON body from the token endpoint
            raise AuthError(
                f"the login host {settings.login_url} sent an unreadable answer ({scrub(str(exc))[:200]})",
                transient=True,
            ) from None
        if not isinstance(result, dict) or "access_token" not in result:
            payload = result if isinstance(result, dict) else {}
            raise auth_error_from_response(
                payload,
                tenant_id=settings.tenant_id,
                client_id=settings.client_id,
                login_url=settings.login_url,
            )
        token = str(result["access_token"])
        try:
            lifetime = float(result.get("expires_in", 3599))
        except (TypeError, ValueError):
            lifetime = 3599.0
        now = self._clock()
        margin = min(REFRESH_MARGIN_SECONDS, lifetime / 10.0)
        self._token = token
        self._expires_at = now + lifetime
        self._refresh_at = now + max(0.0, lifetime - margin)
        if result.get("token_source") != "cache":
            self.acquisitions += 1
            log.debug("acquired a token for %s valid for %.0f s", self.scope, lifetime)
        return token

    def _tls_error(self, exc: Exception) -> AuthError:
        proxy = proxy_for(self.settings.login_url)
        through = f" (through the proxy {shown(proxy)})" if proxy else ""
        return AuthError(
            f"TLS verification of the login host {self.settings.login_url}{through} failed ({_root_cause(exc)}); "
            "if a proxy or a test server signs with its own CA, set MDE_CA_BUNDLE to that CA's PEM file"
        )

    def _network_error(self, exc: Exception) -> AuthError:
        if "CERTIFICATE_VERIFY_FAILED" in _root_cause(exc):  # e.g. an https:// proxy's own certificate
            return self._tls_error(exc)
        proxy = proxy_for(self.settings.login_url)
        through = f" through the proxy {shown(proxy)}" if proxy else ""
        return AuthError(
            f"cannot reach the login host {self.settings.login_url}{through} ({_root_cause(exc)}); "
            "check the network, the proxy (HTTPS_PROXY, NO_PROXY) or MDE_LOGIN_URL",
            transient=True,
        )


def _root_cause(exc: BaseException) -> str:
    """The innermost exception's message, short and scrubbed."""
    seen = exc
    while seen.__cause__ is not None or seen.__context__ is not None:
        nxt = seen.__cause__ or seen.__context__
        if nxt is None or nxt is seen:
            break
        seen = nxt
    text = str(seen) or type(seen).__name__
    return scrub(text)[:300]
