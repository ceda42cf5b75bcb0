"""The MDE HTTP client: one request (GET, or POST for hunting) with the budget, the token and every retry rule applied.

Rules of `MdeClient.get` (and of `MdeClient.post`, which shares them):
- every attempt first takes a slot of the family's budget (limits.py), so no attempt, retried
  or not, can exceed the quota;
- the bearer token is taken after the budget slot (and the connection gate) is obtained, right
  before the request goes out: a call that waited for the quota (up to an hour on the 1,500/hour
  window, as long as a token lives) never sends a token that aged while it waited, and the
  provider renews a token ahead of its expiry (`TokenProvider.cached_token`);
- 401: the refused token is dropped, a new one obtained and the call retried. It is fatal only
  when a freshly obtained token is refused at once: the call had already logged in again after a
  401, and the refused token was obtained by this call less than `fresh_token_seconds` (5 s)
  before it was sent (wrong host, audience or tenant). A 401 after a wait (a token that aged, or
  was revoked meanwhile) is never fatal by itself; new logins are bounded by `max_retries` per call;
- 403: PermissionDenied naming the missing permission (fatal for the run), as the 403 names it in
  either observed wording (`required_permissions`);
- 429: the wait comes from Retry-After, else from the body's "again in N seconds", else 60 s;
  the whole family pauses that long (`Budget.penalise`), then the call is retried. 429s do not
  use up the retry count but are bounded (`max_throttled`);
- 5xx (but 501), 408, timeouts, connection failures and unreadable JSON: retried after exponential
  backoff with full jitter, at most `max_retries` times, then RetriesExhausted (a hunting POST
  with `retry_timeouts=False` gets a time-out back instead, as 408 or the server's 408/504: a
  query too slow is split by its caller, not repeated);
- 400, 404 and other 4xx, and 501 (the service has no such feature): returned to the caller,
  never retried.

A call is a loop of four named steps (`MdeClient._call`): `_token_for` (a token, retrying a
transient failure of the login host; once up front, so bad credentials fail before any quota
wait), `_attempt` (one HTTP exchange under a budget slot, the token taken again once the slot is
held, read into a `_Reply` or a retryable `_Problem`), `_classify` (return the reply,
re-authenticate, 403, 429 pause, or a retryable problem) and `_back_off` (count the failure, give
up or sleep).
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import random
import re
import ssl
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from enrich.mde.auth import TokenSource, ssl_context
from enrich.mde.errors import AuthError, ConfigError, PermissionDenied, RetriesExhausted, scrub
from enrich.mde.limits import Budget
from enrich.mde.proxies import proxy_for, shown
from enrich.mde.settings import Settings

log = logging.getLogger(__name__)

# The application permission each API family needs (as MDE and the Entra portal spell them).
PERMISSIONS: dict[str, str] = {
    "files": "File.Read.All",
    "ips": "Ip.Read.All",
    "domains": "URL.Read.All",
    "hunting": "AdvancedQuery.Read.All",
}
# The same for the API families asked of Microsoft Graph (paths under /v1.0/ or /beta/).
GRAPH_PERMISSIONS: dict[str, str] = {
    "hunting": "ThreatHunting.Read.All",
    "hunting-graph": "ThreatHunting.Read.All",
}
_GRAPH_PATHS = ("/v1.0/", "/beta/")
DEFAULT_RETRY_AFTER = 60.0  # a 429 without any hint: a full minute window
MAX_RETRY_AFTER = 3600.0
TOKEN_RETRY_FLOOR = 5.5  # MSAL replays a token-endpoint 5xx from its cache for 5 s
# A token refused by a 401 this soon after this call obtained it (after an earlier 401) is
# "refused at once": a new login will not help, the configuration is wrong.
FRESH_TOKEN_SECONDS = 5.0
_RETRYABLE = {408, 500, 502, 503, 504}
_AGAIN_IN = re.compile(r"again in (\d+(?:\.\d+)?) ?sec", re.IGNORECASE)
_PERMS_IN = re.compile(r"permissions? \(([^)]*)\)", re.IGNORECASE)
_ROLES_IN = re.compile(r"required roles?:\s*(.+?)\s*(?:\.(?:\s|$)|$)", re.IGNORECASE)
_PERMISSION_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*")


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


def _add(left: Mapping[str, float], right: Mapping[str, float]) -> dict[str, Any]:
    total: dict[str, Any] = dict(left)
    for key, value in right.items():
        total[key] = total.get(key, 0) + value
    return total


@dataclass(frozen=True)
class ClientMetrics:
    """A snapshot of one client's counters and its budget's (`MdeClient.metrics()`).

    Seconds are kept unrounded; `to_dict()` gives the JSON-ready form (rounded to ms).
    `a + b` adds two snapshots (per-key sums), e.g. for totals over several tenants;
    `sum(snapshots, ClientMetrics())` adds many.
    """

    calls: Mapping[str, int] = field(default_factory=dict)  # HTTP attempts per family
    responses: Mapping[str, int] = field(default_factory=dict)  # per status, "timeout", "network"...
    throttled: Mapping[str, int] = field(default_factory=dict)  # 429s per family
    retries: int = 0  # attempts repeated after a 5xx, timeout, reset, bad JSON or token failure
    reauths: int = 0  # tokens re-acquired after a 401
    backoff_seconds: float = 0.0  # slept before retries
    retry_after_seconds: float = 0.0  # family pauses asked by 429s
    token_acquisitions: int = 0  # tokens obtained from Entra ID
    quota_wait_seconds: Mapping[str, float] = field(default_factory=dict)  # per family, budget waits
    calls_started: Mapping[str, int] = field(default_factory=dict)  # budget slots taken per family

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready dict (the keys and rounding `metrics()` returned before it was a dataclass)."""
        return {
            "calls": dict(self.calls),
            "responses": dict(self.responses),
            "throttled": dict(self.throttled),
            "retries": self.retries,
            "reauths": self.reauths,
            "backoff_seconds": round(self.backoff_seconds, 3),
            "retry_after_seconds": round(self.retry_after_seconds, 3),
            "token_acquisitions": self.token_acquisitions,
            "quota_wait_seconds": {k: round(v, 3) for k, v in self.quota_wait_seconds.items()},
            "calls_started": dict(self.calls_started),
        }

    def __add__(self, other: ClientMetrics) -> ClientMetrics:
        if not isinstance(other, ClientMetrics):
            return NotImplemented
        return ClientMetrics(
            calls=_add(self.calls, other.calls),
            responses=_add(self.responses, other.responses),
            throttled=_add(self.throttled, other.throttled),
            retries=self.retries + other.retries,
            reauths=self.reauths + other.reauths,
            backoff_seconds=self.backoff_seconds + other.backoff_seconds,
            retry_after_seconds=self.retry_after_seconds + other.retry_after_seconds,
            token_acquisitions=self.token_acquisitions + other.token_acquisitions,
            quota_wait_seconds=_add(self.quota_wait_seconds, other.quota_wait_seconds),
            calls_started=_add(self.calls_started, other.calls_started),
        )


@dataclass(frozen=True)
class _Request:
    """What every attempt of one call sends."""

    family: str  # the budget the call counts against
    method: str
    base_url: str
    path: str  # already segment-encoded
    params: Mapping[str, Any] | None
    content: bytes | None  # a JSON body (UTF-8), or None
    tokens: TokenSource
    host_hint: str = "MDE_API_URL is an MDE API host"  # what to check after a second 401
    timeout: float | None = None  # seconds for this call's attempts (None: the settings' timeout)
    retry_timeouts: bool = True  # False: a time-out (ours, or a 408/504) is returned as 408/504

    @property
    def url(self) -> str:
        return self.base_url + self.path


@dataclass
class _Tries:
    """The retry allowances one call has used."""

    failures: int = 0  # against max_retries: token failures, 5xx, 408, timeouts, resets, bad JSON
    throttled: int = 0  # against max_throttled: 429s
    relogins: int = 0  # 401s that led to a new token (against max_retries, separately)
    obtained: dict[str, float] = field(default_factory=dict)  # tokens this call logged in for -> when
    sent_fresh: bool = False  # the last attempt's token was obtained by this call just before it


@dataclass(frozen=True)
class _Reply:
    """An HTTP answer, read: `body` is the JSON, or None when absent (or unreadable, on a non-2xx)."""

    status: int
    body: Any
    headers: httpx.Headers


@dataclass(frozen=True)
class _Problem:
    """A failed attempt, retried after backoff while `max_retries` allows."""

    reason: str
    retry_hint: float = 0.0  # a Retry-After sent with a 5xx: the least wait
    timed_out: bool = False  # no answer within the time-out


class _RetryNow:
    """Try again without backoff: a new token (after a 401) or the family's pause (after a 429) is set."""


_RETRY_NOW = _RetryNow()


class MdeClient:
    """Asynchronous MDE API client. Use as `async with MdeClient(settings, tokens, budget) as client`."""

    def __init__(
        self,
        settings: Settings,
        token_provider: TokenSource,
        budget: Budget,
        *,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        max_throttled: int = 50,
        fresh_token_seconds: float = FRESH_TOKEN_SECONDS,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.tokens = token_provider
        self.budget = budget
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.max_throttled = max_throttled
        self.fresh_token_seconds = fresh_token_seconds
        self._transport = transport
        self._http: httpx.AsyncClient | None = None
        self._gate: asyncio.Semaphore | None = None
        self._random = random.Random()
        self._token_sources: list[TokenSource] = [token_provider]  # every provider calls have used
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
            context = ssl_context(self.settings.ca_bundle)
            limits = httpx.Limits(max_connections=size, max_keepalive_connections=size, keepalive_expiry=30.0)
            self._http = httpx.AsyncClient(
                verify=context,
                http1=True,
                http2=False,
                timeout=httpx.Timeout(self.settings.timeout),
                limits=limits,
                headers={"Accept": "application/json", "User-Agent": "enrich (MDE indicator enrichment)"},
                transport=self._transport,
                # Proxies by enrich.mde.proxies (the same rules as the sign-in's), not httpx's own reading.
                trust_env=False,
                mounts=None if self._transport is not None else _proxy_mounts(self.settings, context, limits),
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

    # -- the calls ----------------------------------------------------------------------------

    async def get(self, family: str, path: str, params: dict[str, Any] | None = None) -> tuple[int, Any]:
        """GET `path` (already segment-encoded) of the API; returns (status, JSON body or None).

        Returns for 2xx, 400, 404 and other non-retryable 4xx. Raises PermissionDenied (403),
        AuthError (token failures, second 401), ConfigError (TLS verification of the API host),
        RetriesExhausted (retries or 429 allowance used up).
        """
        request = _Request(family, "GET", self.settings.api_url, path, params, None, self.tokens)
        return await self._call(request)

    async def post(
        self,
        family: str,
        path: str,
        json_body: Any,
        *,
        base_url: str | None = None,
        tokens: TokenSource | None = None,
        timeout: float | None = None,
        retry_timeouts: bool = True,
    ) -> tuple[int, Any]:
        """POST `json_body` as JSON to `path` of `base_url` (default: the API host); like `get`.

        For read-only queries (advanced hunting: `/api/advancedqueries/run` on the API host,
        `/v1.0/security/runHuntingQuery` on `settings.graph_url`): a POST is retried by the same
        rules as a GET. `tokens` supplies the bearer token when the host needs another audience
        (a Graph-scoped provider); by default the client's own provider. `family` names the
        budget the call counts against (e.g. "hunting"). `timeout` replaces the settings' time-out
        for this call (a hunting query may run 200 s); with `retry_timeouts=False` a time-out is
        not retried but returned: 408 with `{"error": {"code": "Timeout", "message"}}` when we
        gave up waiting, the server's own 408 or 504 as it came (a query too heavy to finish in time
        is split by its caller, not repeated).
        """
        base = base_url.rstrip("/") if base_url else self.settings.api_url
        if urlsplit(base).scheme.lower() != "https":
            raise ValueError(f"refusing to send a token to {base!r}: not an https:// address")
        content = json.dumps(json_body, ensure_ascii=False, allow_nan=False).encode("utf-8")
        request = _Request(
            family,
            "POST",
            base,
            path,
            None,
            content,
            tokens or self.tokens,
            timeout=timeout,
            retry_timeouts=retry_timeouts,
        )
        if base_url:
            request = replace(request, host_hint=f"{base} accepts the audience of this token")
        return await self._call(request)

    async def _call(self, request: _Request) -> tuple[int, Any]:
        """Attempts of `request` until one is answered; the rules are in the module docstring."""
        if not any(source is request.tokens for source in self._token_sources):
            self._token_sources.append(request.tokens)
        tries = _Tries()
        while True:
            # A token before queueing for the quota: bad credentials fail before any wait.
            await self._token_for(request, tries)
            outcome: _Reply | _Problem | _RetryNow
            outcome, token = await self._attempt(request, tries)
            if isinstance(outcome, _Reply):
                outcome = self._classify(request, outcome, token, tries)
            if isinstance(outcome, _Reply):
                return outcome.status, outcome.body
            if isinstance(outcome, _Problem):
                await self._back_off(request, outcome, tries)

    # -- step 1: the token --------------------------------------------------------------------

    async def _token_for(self, request: _Request, tries: _Tries) -> str:
        """A bearer token; a transient failure of the login host is retried (it uses up `max_retries`).

        The provider's cached token while it is not near expiry (no I/O), else a new one from
        Entra ID (MSAL renews ahead of expiry when asked again), noted in `tries.obtained`.
        """
        while True:
            try:
                token = request.tokens.cached_token()
                if token:
                    return token
                token = await asyncio.to_thread(request.tokens.get_token)
                tries.obtained.setdefault(token, time.monotonic())
                return token
            except AuthError as exc:
                if not exc.transient:
                    raise
                tries.failures += 1
                if tries.failures > self.settings.max_retries:
                    raise AuthError(f"{exc} (gave up after {tries.failures} attempts)") from None
                delay = max(TOKEN_RETRY_FLOOR, self._backoff(tries.failures))
                log.warning("token request failed (%s); retrying in %.1f s", exc, delay)
                await self._sleep_before_retry(delay)

    # -- step 2: one attempt ------------------------------------------------------------------

    async def _attempt(self, request: _Request, tries: _Tries) -> tuple[_Reply | _Problem, str]:
        """One HTTP exchange under a slot of the family's budget, read into a reply or a problem;
        with the token it carried."""
        sent, token = await self._send(request, tries)
        _log_request(request, sent)
        if isinstance(sent, _Problem):
            if sent.timed_out and not request.retry_timeouts:
                body = {"error": {"code": "Timeout", "message": sent.reason}}
                return _Reply(408, body, httpx.Headers()), token
            return sent, token
        return self._read(sent), token

    async def _send(self, request: _Request, tries: _Tries) -> tuple[httpx.Response | _Problem, str]:
        """Send `request` once the budget slot and a connection are held, with the token taken then."""
        http = self._client()
        gate = self._gate
        assert gate is not None
        async with self.budget.slot(request.family), gate:
            # Taken now, not before the waits: a token that aged while the call waited for the
            # quota (or a 429 pause, or a connection) is renewed here, never sent expired.
            token = await self._token_for(request, tries)
            obtained = tries.obtained.get(token)
            tries.sent_fresh = (
                obtained is not None and time.monotonic() - obtained <= self.fresh_token_seconds
            )
            self.calls[request.family] += 1
            headers = {"Authorization": f"Bearer {token}"}
            if request.content is not None:
                headers["Content-Type"] = "application/json; charset=utf-8"
            try:
                return (
                    await http.request(
                        request.method,
                        request.url,
                        params=request.params,
                        content=request.content,
                        headers=headers,
                        timeout=httpx.USE_CLIENT_DEFAULT if request.timeout is None else request.timeout,
                    ),
                    token,
                )
            except httpx.TimeoutException:
                self.responses["timeout"] += 1
                waited = self.settings.timeout if request.timeout is None else request.timeout
                return _Problem(f"MDE did not answer within {waited:g} s", timed_out=True), token
            except httpx.TransportError as exc:
                text = scrub(str(exc)) or type(exc).__name__
                if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text.lower():
                    raise ConfigError(
                        f"TLS verification of {request.base_url} failed ({text}); if a proxy or a "
                        "test server signs with its own CA, set MDE_CA_BUNDLE to that CA's PEM file"
                    ) from None
                self.responses["network"] += 1
                return _Problem(f"connection to MDE failed ({type(exc).__name__}: {text})"), token

    def _read(self, response: httpx.Response) -> _Reply | _Problem:
        """The reply; a 2xx without a JSON body is a problem (a non-2xx keeps its status, body None)."""
        status = response.status_code
        self.responses[str(status)] += 1
        try:
            body = _decode(response)
        except ValueError:
            body = None
        if body is None and 200 <= status < 300:
            self.responses["malformed"] += 1
            return _Problem(f"MDE sent an unreadable answer (HTTP {status}, not JSON)")
        return _Reply(status, body, response.headers)

    # -- step 3: what the status means --------------------------------------------------------

    def _classify(
        self, request: _Request, reply: _Reply, token: str, tries: _Tries
    ) -> _Reply | _Problem | _RetryNow:
        """Return the reply, retry now (401, 429), retry after backoff (5xx, 408), or raise (403, limits)."""
        status = reply.status
        if status == 401:
            self._reauthenticate(request, reply, token, tries)
            return _RETRY_NOW
        if status == 403:
            graph = request.path.startswith(_GRAPH_PATHS)
            raise permission_denied(request.family, reply.body, graph=graph)
        if status == 429:
            self._pause_family(request, reply, tries)
            return _RETRY_NOW
        if status in _RETRYABLE or (status >= 500 and status != 501):  # 501: no such feature here
            if status in (408, 504) and not request.retry_timeouts:
                return reply
            return _server_problem(reply)
        return reply

    def _reauthenticate(self, request: _Request, reply: _Reply, token: str, tries: _Tries) -> None:
        """After a 401: drop the token so the next attempt gets a new one.

        Fatal only when a token this call obtained after an earlier 401 is refused at once (see
        the module docstring); a 401 after a wait means the token aged or was revoked meanwhile.
        """
        reason = error_message(reply.body) or "no reason given"
        if tries.relogins and tries.sent_fresh:
            raise AuthError(
                f"MDE refused a freshly issued token (401 Unauthorized): {reason}; check that "
                f"{request.host_hint} and that the app belongs to the tenant MDE runs in"
            )
        if tries.relogins > self.settings.max_retries:
            raise AuthError(
                f"MDE kept refusing new tokens (401 Unauthorized, {tries.relogins + 1} times): {reason}; "
                f"check that {request.host_hint} and that the app belongs to the tenant MDE runs in"
            )
        tries.relogins += 1
        self.reauths += 1
        log.info("MDE answered 401 (%s); acquiring a new token", reason)
        request.tokens.invalidate(token)

    def _pause_family(self, request: _Request, reply: _Reply, tries: _Tries) -> None:
        """After a 429: the family's budget waits the time asked; too many 429s are fatal."""
        family = request.family
        tries.throttled += 1
        self.throttled[family] += 1
        wait = parse_retry_after(reply.headers, reply.body)
        self.retry_after_seconds += wait
        self.budget.penalise(family, wait)
        said = error_message(reply.body)
        log.info(
            "MDE quota exceeded for %s (429); pausing that API for %.1f s%s",
            family,
            wait,
            f" ({said[:200]})" if said else "",
        )
        if tries.throttled > self.max_throttled:
            raise RetriesExhausted(
                f"MDE kept answering 429 (quota exceeded) after {tries.throttled} attempts: "
                f"{error_message(reply.body)}"
            )

    # -- step 4: backoff ----------------------------------------------------------------------

    async def _back_off(self, request: _Request, problem: _Problem, tries: _Tries) -> None:
        """Count a failed attempt; give up past `max_retries`, else sleep (full jitter, at least the hint)."""
        tries.failures += 1
        if tries.failures > self.settings.max_retries:
            raise RetriesExhausted(f"{problem.reason}; gave up after {tries.failures} attempts")
        delay = max(problem.retry_hint, self._backoff(tries.failures))
        log.debug(
            "%s %s: %s; retry %d in %.2f s",
            request.family,
            request.path,
            problem.reason,
            tries.failures,
            delay,
        )
        await self._sleep_before_retry(delay)

    def _backoff(self, failures: int) -> float:
        ceiling = min(self.backoff_cap, self.backoff_base * (2 ** (failures - 1)))
        return self._random.uniform(0, ceiling)

    async def _sleep_before_retry(self, delay: float) -> None:
        self.retries += 1
        self.backoff_seconds += delay
        await asyncio.sleep(delay)

    # -- metrics ------------------------------------------------------------------------------

    def metrics(self) -> ClientMetrics:
        """A snapshot of the counters of this client and its budget (`.to_dict()` is JSON-ready)."""
        return ClientMetrics(
            calls=dict(self.calls),
            responses=dict(self.responses),
            throttled=dict(self.throttled),
            retries=self.retries,
            reauths=self.reauths,
            backoff_seconds=self.backoff_seconds,
            retry_after_seconds=self.retry_after_seconds,
            token_acquisitions=sum(source.acquisitions for source in self._token_sources),
            quota_wait_seconds=dict(self.budget.waited),
            calls_started=dict(self.budget.acquired),
        )


def _proxy_mounts(
    settings: Settings, context: ssl.SSLContext, limits: httpx.Limits
) -> dict[str, httpx.AsyncBaseTransport | None]:
    """A transport through the proxy for each host the environment sends through one (API, Graph)."""
    mounts: dict[str, httpx.AsyncBaseTransport | None] = {}
    for base in dict.fromkeys((settings.api_url, settings.graph_url)):
        proxy = proxy_for(base)
        if proxy is None:
            continue
        log.debug("requests to %s go through the proxy %s", urlsplit(base).netloc, shown(proxy))
        mounts[f"https://{urlsplit(base).netloc}"] = httpx.AsyncHTTPTransport(
            verify=context,
            http1=True,
            http2=False,
            limits=limits,
            trust_env=False,
            proxy=httpx.Proxy(proxy, ssl_context=context if proxy.startswith("https:") else None),
        )
    return mounts


_requests_log = logging.getLogger(__name__ + ".requests")


def _log_request(request: _Request, sent: httpx.Response | _Problem) -> None:
    """With `-v`: one line per HTTP attempt (method, path, status or failure, time); never a header or token."""
    if not _requests_log.isEnabledFor(logging.INFO):
        return
    if isinstance(sent, _Problem):
        _requests_log.info("%s %s -> %s", request.method, request.path, sent.reason, extra={"every": True})
        return
    try:
        seconds = f" in {sent.elapsed.total_seconds():.3f} s"
    except RuntimeError:  # not read to the end (cannot happen for a non-streamed request)
        seconds = ""
    _requests_log.info(
        "%s %s -> %d%s", request.method, request.path, sent.status_code, seconds, extra={"every": True}
    )


def _server_problem(reply: _Reply) -> _Problem:
    """A 5xx or 408 as a retryable problem, with the server's Retry-After (if any) as the least wait."""
    message = error_message(reply.body)
    hint = 0.0
    if "retry-after" in reply.headers:
        hint = parse_retry_after(reply.headers, reply.body, default=0.0)
    return _Problem(f"MDE answered HTTP {reply.status}" + (f" ({message})" if message else ""), hint)


def required_permissions(message: str) -> tuple[str, ...]:
    """The permissions a 403 message says are required, in either observed wording.

    MDE: "The application does not have any of the required application permissions (X, Y) to
    access the resource."; MDE (2026) and Graph: "Missing application roles. API required roles:
    X, Y" (Graph adds ". Application roles: ...", the roles the app has, which are not taken).
    Empty when the message names none.
    """
    for pattern in (_PERMS_IN, _ROLES_IN):
        match = pattern.search(message)
        if match:
            names = tuple(
                name
                for name in (part.strip().rstrip(".") for part in match.group(1).split(","))
                if _PERMISSION_NAME.fullmatch(name)
            )
            if names:
                return names
    return ()


def permission_denied(family: str, body: Any, *, graph: bool = False) -> PermissionDenied:
    """A PermissionDenied naming what to grant, from the 403 body of MDE (or of Graph: `graph`)."""
    message = error_message(body)
    known = GRAPH_PERMISSIONS if graph else PERMISSIONS
    needed = required_permissions(message) or ((known[family],) if family in known else ())
    what = " or ".join(needed) if needed else "the application permission for this API"
    service, api = ("Microsoft Graph", "Microsoft Graph") if graph else ("MDE", "WindowsDefenderATP")
    return PermissionDenied(
        f"{service} refused the {family} API (403 Forbidden): the app needs the application permission "
        f"{what} of {api}; add it under API permissions and have an administrator grant admin consent"
        + (f". {service} said: {message}" if message else ""),
        family=family,
        permissions=needed,
    )
