"""The MDE HTTP client: one GET with the budget, the token and every retry rule applied.

Rules of `MdeClient.get`:
- every attempt first takes a slot of the family's budget (limits.py), so no attempt, retried
  or not, can exceed the quota;
- 401: the token is dropped and re-acquired, then the call is retried once; a second 401 is fatal;
- 403: PermissionDenied naming the missing permission (fatal for the run);
- 429: the wait comes from Retry-After, else from the body's "again in N seconds", else 60 s;
  the whole family pauses that long (`Budget.penalise`), then the call is retried. 429s do not
  use up the retry count but are bounded (`max_throttled`);
- 5xx, 408, timeouts, connection failures and unreadable JSON: retried after exponential
  backoff with full jitter, at most `max_retries` times, then RetriesExhausted;
- 400, 404 and other 4xx: returned to the caller, never retried.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import random
import re
import time
from collections import Counter
from typing import Any
from urllib.parse import quote

import httpx

from enrich.mde.auth import TokenProvider, ssl_context
from enrich.mde.errors import AuthError, ConfigError, PermissionDenied, RetriesExhausted, scrub
from enrich.mde.limits import Budget
from enrich.mde.settings import Settings

log = logging.getLogger(__name__)

# The application permission each API family needs (as MDE and the Entra portal spell them).
PERMISSIONS: dict[str, str] = {
    "files": "File.Read.All",
    "ips": "Ip.Read.All",
    "domains": "URL.Read.All",
    "hunting": "AdvancedQuery.Read.All",
}
DEFAULT_RETRY_AFTER = 60.0  # a 429 without any hint: a full minute window
MAX_RETRY_AFTER = 3600.0
TOKEN_RETRY_FLOOR = 5.5  # MSAL replays a token-endpoint 5xx from its cache for 5 s
_RETRYABLE = {408, 500, 502, 503, 504}
_AGAIN_IN = re.compile(r"again in (\d+(?:\.\d+)?) ?sec", re.IGNORECASE)
_PERMS_IN = re.compile(r"permissions? \(([^)]*)\)", re.IGNORECASE)


def segment(value: str) -> str:
    """`value` as one URL path segment: `/ ? # %` and everything unsafe percent-encoded (`:` kept for IPv6)."""
    if not value:
        raise ValueError("an empty value cannot be looked up")
    if value in (".", ".."):
        return value.replace(".", "%2E")
    return quote(value, safe=":")


def parse_retry_after(headers: httpx.Headers, body: Any, default: float = DEFAULT_RETRY_AFTER) -> float:
    """Seconds to wait after a 429: Retry-After (seconds or HTTP date), the body's hint, or `default`."""
    value = headers.get("retry-after")
    if value:
        value = value.strip()
        try:
            return min(MAX_RETRY_AFTER, max(0.0, float(value)))
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(value)
                return min(MAX_RETRY_AFTER, max(0.0, when.timestamp() - time.time()))
            except (TypeError, ValueError):
                pass
    message = error_message(body)
    match = _AGAIN_IN.search(message)
    if match:
        return min(MAX_RETRY_AFTER, float(match.group(1)))
    return default


def error_message(body: Any) -> str:
    """MDE's error text from `{"error": {"code", "message"}}` (or whatever the body holds)."""
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            return str(error.get("message") or error.get("code") or "")
        if isinstance(error, str):
            return str(body.get("error_description") or error)
        if "message" in body:
            return str(body["message"])
    if isinstance(body, str):
        return body[:300]
    return ""


def _decode(response: httpx.Response) -> Any:
    """The JSON body, or None when there is none; raises ValueError when it is not JSON."""
    if not response.content:
        return None
    return json.loads(response.content)


class MdeClient:
    """Asynchronous MDE API client. Use as `async with MdeClient(settings, tokens, budget) as client`."""

    def __init__(
        self,
        settings: Settings,
        token_provider: TokenProvider,
        budget: Budget,
        *,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        max_throttled: int = 50,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.tokens = token_provider
        self.budget = budget
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.max_throttled = max_throttled
        self._transport = transport
        self._http: httpx.AsyncClient | None = None
        self._gate: asyncio.Semaphore | None = None
        self._random = random.Random()
        # metrics
        self.calls: Counter[str] = Counter()  # HTTP attempts per family
        self.responses: Counter[str] = Counter()  # per status code, "timeout", "network", "malformed"
        self.throttled: Counter[str] = Counter()  # 429s per family
        self.retries = 0  # attempts repeated after a 5xx, timeout, reset or malformed body
        self.reauths = 0  # tokens re-acquired after a 401
        self.backoff_seconds = 0.0
        self.retry_after_seconds = 0.0

    # -- lifecycle ----------------------------------------------------------------------------

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            size = max(1, self.settings.concurrency)
            self._http = httpx.AsyncClient(
                verify=ssl_context(self.settings.ca_bundle),
                http1=True,
                http2=False,
                timeout=httpx.Timeout(self.settings.timeout),
                limits=httpx.Limits(
                    max_connections=size, max_keepalive_connections=size, keepalive_expiry=30.0
                ),
                headers={"Accept": "application/json", "User-Agent": "enrich (MDE indicator enrichment)"},
                transport=self._transport,
                follow_redirects=False,
            )
            self._gate = asyncio.Semaphore(size)
        return self._http

    async def __aenter__(self) -> MdeClient:
        self._client()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None
            self._gate = None

    # -- the call -----------------------------------------------------------------------------

    async def _token(self) -> str:
        token = self.tokens.cached_token()
        if token:
            return token
        return await asyncio.to_thread(self.tokens.get_token)

    def _backoff(self, failures: int) -> float:
        ceiling = min(self.backoff_cap, self.backoff_base * (2 ** (failures - 1)))
        return self._random.uniform(0, ceiling)

    async def get(self, family: str, path: str, params: dict[str, Any] | None = None) -> tuple[int, Any]:
        """GET `path` (already segment-encoded) of the API; returns (status, JSON body or None).

        Returns for 2xx, 400, 404 and other non-retryable 4xx. Raises PermissionDenied (403),
        AuthError (token failures, second 401), ConfigError (TLS verification of the API host),
        RetriesExhausted (retries or 429 allowance used up).
        """
        http = self._client()
        gate = self._gate
        assert gate is not None
        url = self.settings.api_url + path
        failures = 0
        throttled = 0
        reauthed = False
        while True:
            problem = ""
            retry_hint = 0.0
            try:
                token = await self._token()
            except AuthError as exc:
                if not exc.transient:
                    raise
                failures += 1
                if failures > self.settings.max_retries:
                    raise AuthError(f"{exc} (gave up after {failures} attempts)") from None
                delay = max(TOKEN_RETRY_FLOOR, self._backoff(failures))
                log.warning("token request failed (%s); retrying in %.1f s", exc, delay)
                self.retries += 1
                self.backoff_seconds += delay
                await asyncio.sleep(delay)
                continue
            async with self.budget.slot(family):
                self.calls[family] += 1
                try:
                    async with gate:
                        response = await http.get(
                            url, params=params, headers={"Authorization": f"Bearer {token}"}
                        )
                except httpx.TimeoutException:
                    problem = f"MDE did not answer within {self.settings.timeout:g} s"
                    self.responses["timeout"] += 1
                except httpx.TransportError as exc:
                    text = scrub(str(exc)) or type(exc).__name__
                    if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text.lower():
                        raise ConfigError(
                            f"TLS verification of {self.settings.api_url} failed ({text}); if a proxy or a "
                            "test server signs with its own CA, set MDE_CA_BUNDLE to that CA's PEM file"
                        ) from None
                    problem = f"connection to MDE failed ({type(exc).__name__}: {text})"
                    self.responses["network"] += 1
            if not problem:
                status = response.status_code
                self.responses[str(status)] += 1
                try:
                    body = _decode(response)
                    if body is None and 200 <= status < 300:
                        raise ValueError("empty body")
                except ValueError:
                    body = None
                    if 200 <= status < 300:
                        problem = f"MDE sent an unreadable answer (HTTP {status}, not JSON)"
                        self.responses["malformed"] += 1
                if not problem:
                    if status == 401:
                        if reauthed:
                            raise AuthError(
                                "MDE refused a freshly issued token (401 Unauthorized): "
                                f"{error_message(body) or 'no reason given'}; check that MDE_API_URL is an MDE "
                                "API host and that the app belongs to the tenant MDE runs in"
                            )
                        reauthed = True
                        self.reauths += 1
                        log.info("MDE answered 401; acquiring a new token")
                        self.tokens.invalidate(token)
                        continue
                    if status == 403:
                        raise permission_denied(family, body)
                    if status == 429:
                        throttled += 1
                        self.throttled[family] += 1
                        wait = parse_retry_after(response.headers, body)
                        self.retry_after_seconds += wait
                        self.budget.penalise(family, wait)
                        log.info("MDE quota exceeded for %s (429); pausing that API for %.1f s", family, wait)
                        if throttled > self.max_throttled:
                            raise RetriesExhausted(
                                f"MDE kept answering 429 (quota exceeded) after {throttled} attempts: "
                                f"{error_message(body)}"
                            )
                        continue
                    if status in _RETRYABLE or status >= 500:
                        problem = f"MDE answered HTTP {status}" + (
                            f" ({error_message(body)})" if error_message(body) else ""
                        )
                        if "retry-after" in response.headers:
                            retry_hint = parse_retry_after(response.headers, body, default=0.0)
                    else:
                        return status, body
            failures += 1
            if failures > self.settings.max_retries:
                raise RetriesExhausted(f"{problem}; gave up after {failures} attempts")
            delay = max(retry_hint, self._backoff(failures))
            self.retries += 1
            self.backoff_seconds += delay
            log.debug("%s %s: %s; retry %d in %.2f s", family, path, problem, failures, delay)
            await asyncio.sleep(delay)

    # -- metrics ------------------------------------------------------------------------------

    def metrics(self) -> dict[str, Any]:
        """Counters of this client and its budget (JSON-ready)."""
        return {
            "calls": dict(self.calls),
            "responses": dict(self.responses),
            "throttled": dict(self.throttled),
            "retries": self.retries,
            "reauths": self.reauths,
            "backoff_seconds": round(self.backoff_seconds, 3),
            "retry_after_seconds": round(self.retry_after_seconds, 3),
            "token_acquisitions": self.tokens.acquisitions,
            "quota_wait_seconds": {k: round(v, 3) for k, v in self.budget.waited.items()},
            "calls_started": dict(self.budget.acquired),
        }


def permission_denied(family: str, body: Any) -> PermissionDenied:
    """A PermissionDenied naming what to grant, from MDE's 403 body."""
    message = error_message(body)
    match = _PERMS_IN.search(message)
    named = tuple(p.strip() for p in match.group(1).split(",") if p.strip()) if match else ()
    needed = named or ((PERMISSIONS[family],) if family in PERMISSIONS else ())
    what = " or ".join(needed) if needed else "the application permission for this API"
    return PermissionDenied(
        f"MDE refused the {family} API (403 Forbidden): the app needs the application permission {what} "
        "of WindowsDefenderATP; add it under API permissions and have an administrator grant admin consent"
        + (f". MDE said: {message}" if message else ""),
        family=family,
        permissions=needed,
    )
