"""Errors of the MDE client layer, worded for the person who has to fix them.

Every message passes through `scrub()`, which replaces any secret registered with
`register_secret()` (the client secret, a private key) by `***`: a secret must never reach a
log, an error message or an output file, even when an underlying library echoes it. Which
values count as secrets, and where they are replaced, is the rule in `scrub()`'s docstring.
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

MIN_SECRET_LENGTH = 8  # shorter values are never scrubbed by value (they are words, numbers)
STRONG_SECRET_LENGTH = 16  # from here a value with a non-letter looks like a real secret
_WORD_CHAR = r"[^\W_]"  # a letter or a digit (of any script): what glues text into one word


def secret_like(value: str | None) -> bool:
    """Whether `value` is scrubbed when registered: 8+ characters, and not a plain word.

    A plain word is letters only and under 16 characters ("wrong", "Password"): such a value
    cannot be told apart from the words of a message, and no real Entra secret looks like one
    (their values are ~40 characters of letters, digits and `~ . _ -`).
    """
    if not value or len(value) < MIN_SECRET_LENGTH:
        return False
    return len(value) >= STRONG_SECRET_LENGTH or not value.isalpha()


def _strong(secret: str) -> bool:
    """Looks like a real secret (16+ characters, not only letters): replaced even inside a longer token."""
    return len(secret) >= STRONG_SECRET_LENGTH and not secret.isalpha()


def register_secret(value: str | None) -> None:
    """Remember a secret so that `scrub()` removes it from any text (only `secret_like` values)."""
    if value and secret_like(value):
        with _LOCK:
            _SECRETS.add(value)


def protect(connection: object) -> None:
    """Register every secret of a connection (anything with a `secrets()` method) for `scrub`."""
    for secret in connection.secrets():  # type: ignore[attr-defined]
        register_secret(secret)


def scrub(text: str, also: Iterable[str] = ()) -> str:
    """Return `text` with every registered secret, and those in `also`, replaced by `***`.

    The rule:
    - only `secret_like` values are scrubbed by value: 8 characters or more, and not a plain
      word (letters only, under 16 characters). A secret such as `wrong` is never registered,
      so "the client secret is wrong" keeps its words;
    - a value that looks like a real secret (16+ characters, not only letters: an Entra secret,
      a private key) is replaced wherever it appears, even glued to other text (`x%2F<secret>`),
      in clear and in its URL-encoded forms (`quote`, `quote_plus`);
    - any other registered value is replaced only as a whole token: where it is not part of a
      longer word (no letter or digit right before or after it), so it never eats into words;
    - whatever was registered, the value of a `client_secret=` form field and a `Bearer` token
      never appear in clear.
    """
    if not text:
        return text
    with _LOCK:
        secrets = sorted(_SECRETS.union(s for s in also if secret_like(s)), key=len, reverse=True)
    for secret in secrets:
        forms = {secret, quote(secret, safe=""), quote_plus(secret, safe="")}
        for form in sorted(forms, key=len, reverse=True):
            if form not in text:
                continue
            if _strong(secret):
                text = text.replace(form, "***")
            else:
                text = re.sub(rf"(?<!{_WORD_CHAR}){re.escape(form)}(?!{_WORD_CHAR})", "***", text)
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
    500011: (
        "the tenant does not know the API the token was asked for: its address belongs to another "
        "Microsoft cloud (check --cloud / MDE_CLOUD), or the API is not available in this tenant"
    ),
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
        text = re.sub(r"^AADSTS\d+:\s*", "", description.split("\r\n")[0].split("\n")[0])
    prefix = f"could not sign in to Microsoft Entra ID (AADSTS{code})" if code else "could not sign in"
    # Throttling (429, AADSTS50196) and outages (AADSTS90033) pass with time; a person must fix the rest.
    transient = (
        str(payload.get("error", "")) in {"temporarily_unavailable", "server_error"} or code in _TRANSIENT
    )
    return AuthError(f"{prefix}: {text}", code=code, transient=transient)
