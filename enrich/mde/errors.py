"""Errors of the MDE client layer, worded for the person who has to fix them.

Every message passes through `scrub()`, which replaces any secret registered with
`register_secret()` (the client secret, a private key) by `***`: a secret must never reach a
log, an error message or an output file, even when an underlying library echoes it.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from typing import ClassVar
from urllib.parse import quote, quote_plus

from enrich.errors import EnrichError, Scope

_SECRETS: set[str] = set()
_LOCK = threading.Lock()


def register_secret(value: str | None) -> None:
    """Remember a secret so that `scrub()` removes it from any text (values under 4 chars are ignored)."""
    if value and len(value) >= 4:
        with _LOCK:
            _SECRETS.add(value)


def protect(connection: object) -> None:
    """Register every secret of a connection (anything with a `secrets()` method) for `scrub`."""
    for secret in connection.secrets():  # type: ignore[attr-defined]
        register_secret(secret)


def scrub(text: str, also: Iterable[str] = ()) -> str:
    """Return `text` with every registered secret, and those in `also` (each with its URL-encoded
    form), replaced by `***`."""
    if not text:
        return text
    with _LOCK:
        secrets = sorted(_SECRETS.union(s for s in also if s and len(s) >= 4), key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, "***")
        for encoded in {quote(secret, safe=""), quote_plus(secret, safe="")}:
            if encoded != secret and encoded in text:
                text = text.replace(encoded, "***")
    # Belt and braces: a client_secret= form field or a Bearer token never appears in clear.
    text = re.sub(r"(client_secret=)[^&\s'\"]+", r"\1***", text)
    text = re.sub(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{16,}", r"\1***", text)
    return text


class MdeError(EnrichError):
    """Base of every error raised by `enrich.mde` (message already scrubbed of secrets).

    It stops the work for one tenant (credentials, permission, the service); `RetriesExhausted`
    only stops a row.
    """

    scope: ClassVar[Scope] = "tenant"

    def __init__(self, message: str) -> None:
        super().__init__(scrub(message))

    @property
    def message(self) -> str:
        return str(self)


class ConfigError(MdeError):
    """The configuration is missing or wrong (fatal, exit code 1 or 2)."""


class AuthError(MdeError):
    """A token could not be obtained or was refused (fatal for the run).

    `code` is the AADSTS number when Entra ID gave one; `transient` is True for failures that
    may pass on retry (login host unreachable, 5xx), False when a person must act.
    """

    def __init__(self, message: str, *, code: int | None = None, transient: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.transient = transient


class PermissionDenied(MdeError):
    """MDE answered 403: the app lacks an application permission (fatal for the run)."""

    def __init__(self, message: str, *, family: str = "", permissions: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.family = family
        self.permissions = permissions


class RetriesExhausted(MdeError):
    """A call kept failing (5xx, timeouts, resets, 429s) beyond the retry budget (row -> `error`)."""

    scope = "row"


# --- AADSTS codes -> plain words -------------------------------------------------------------

_AADSTS_WORDS: dict[int, str] = {
    7000215: (
        "the client secret is wrong; did you paste the secret's ID instead of its value? "
        "(Entra ID > App registrations > your app > Certificates & secrets: copy the 'Value' column, "
        "shown only once when the secret is created)"
    ),
    7000222: (
        "the client secret has expired; create a new secret for the app "
        "(Certificates & secrets) and set MDE_CLIENT_SECRET to its value"
    ),
    700016: (
        "the application (client) ID {client_id} is unknown in tenant {tenant_id}; check "
        "MDE_CLIENT_ID and MDE_TENANT_ID (the app may be registered in another tenant, or not consented here)"
    ),
    90002: "the tenant {tenant_id} does not exist at {login_url}; check MDE_TENANT_ID and MDE_LOGIN_URL (right cloud?)",
    70011: (
        "the token scope was refused by Entra ID; the app must request "
        "https://api.securitycenter.microsoft.com/.default (WindowsDefenderATP)"
    ),
    700027: "the client certificate was refused: its thumbprint is not registered on the app, or it has expired",
    7000112: "the application is disabled in this tenant; ask an administrator to enable it",
    700024: "the client assertion is not within its valid time range; check the machine's clock",
    50126: "the credentials are invalid",
}


_TRANSIENT = {50196, 90033}


def aadsts_code(payload: dict) -> int | None:
    """The first AADSTS number of a token error response, or None."""
    codes = payload.get("error_codes")
    if isinstance(codes, list) and codes:
        try:
            return int(codes[0])
        except (TypeError, ValueError):
            pass
    match = re.search(r"AADSTS(\d+)", str(payload.get("error_description", "")))
    return int(match.group(1)) if match else None


def auth_error_from_response(payload: dict, *, tenant_id: str, client_id: str, login_url: str) -> AuthError:
    """Turn an Entra ID error response (as returned by msal) into an AuthError in plain words."""
    code = aadsts_code(payload)
    words = _AADSTS_WORDS.get(code or -1)
    if words:
        text = words.format(tenant_id=tenant_id, client_id=client_id, login_url=login_url)
    else:
        description = str(payload.get("error_description") or payload.get("error") or "unknown error")
        text = description.split("\r\n")[0].split("\n")[0]
    prefix = f"could not sign in to Microsoft Entra ID (AADSTS{code})" if code else "could not sign in"
    # Throttling (429, AADSTS50196) and outages (AADSTS90033) pass with time; a person must fix the rest.
    transient = (
        str(payload.get("error", "")) in {"temporarily_unavailable", "server_error"} or code in _TRANSIENT
    )
    return AuthError(f"{prefix}: {text}", code=code, transient=transient)
