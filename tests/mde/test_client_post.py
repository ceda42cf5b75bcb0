"""`MdeClient.post` against the real sandbox over HTTPS sockets: the same budget, token and retry rules as GET."""

from __future__ import annotations

import asyncio
import json

import pytest

from enrich.mde.auth import GRAPH_SCOPE, TokenProvider
from enrich.mde.client import MdeClient
from enrich.mde.errors import RetriesExhausted
from enrich.mde.limits import Budget
from enrich.sandbox import hunting
from tests.mde_helpers import settings_for

pytestmark = pytest.mark.timeout(60)

RUN = "/api/advancedqueries/run"
GRAPH_RUN = "/v1.0/security/runHuntingQuery"


def _query(sb) -> str:
    ip = next(key for _, key in sb.data.seen_keys("ips"))
    return f"DeviceNetworkEvents | where RemoteIP == '{ip}' | project DeviceId, Timestamp, RemoteIP"


def _post(settings, path, body, *, provider=None, base_url=None, tokens=None, **client_kw):
    """(status, body, client) of one `post` through a fresh client."""
    provider = provider or TokenProvider(settings)

    async def main():
        async with MdeClient(settings, provider, Budget(settings.rate_limits), **client_kw) as client:
            status, answer = await client.post("hunting", path, body, base_url=base_url, tokens=tokens)
            return status, answer, client

    return asyncio.run(main())


def _statuses(sb, family="hunting"):
    return [r.status for r in sb.requests if r.family == family]


def test_post_returns_the_200_body(mde_sb):
    query = _query(mde_sb)
    status, body, client = _post(settings_for(mde_sb), RUN, {"Query": query})
    assert status == 200
    _, expected = hunting.run_legacy(
        json.dumps({"Query": query}), mde_sb.data.tables, mde_sb.data.now_datetime()
    )
    assert body["Schema"] == expected["Schema"] and body["Results"] == expected["Results"]
    assert body["Results"] and set(body) == {"Stats", "Schema", "Results"}
    assert _statuses(mde_sb) == [200]
    metrics = client.metrics()
    assert metrics.calls == {"hunting": 1} and metrics.calls_started["hunting"] == 1
    assert metrics.responses == {"200": 1} and metrics.retries == 0 and metrics.token_acquisitions == 1


def test_post_returns_a_400_without_retrying(mde_sb):
    status, body, client = _post(settings_for(mde_sb), RUN, {"query": "DeviceNetworkEvents"})  # case matters
    assert status == 400
    assert body["error"]["code"] == "InvalidRequestBody" and body["error"]["message"] == "Missing query."
    assert _statuses(mde_sb) == [400]
    assert client.retries == 0 and client.metrics().responses == {"400": 1}


def test_post_retries_injected_500s_until_exhausted(mde_sb):
    mde_sb.configure(faults={"500": 1.0})
    settings = settings_for(mde_sb, max_retries=2)
    with pytest.raises(RetriesExhausted, match=r"HTTP 500.*3 attempts"):
        _post(settings, RUN, {"Query": _query(mde_sb)}, backoff_base=0.01)
    assert _statuses(mde_sb) == [500, 500, 500]


class _ClearFaultsOnAttempt:
    """A token source that turns the sandbox's faults off just before attempt number `n`.

    Every attempt asks for its token twice (before it queues for the quota, and again once it
    holds a slot, right before sending), so the attempts before `n` meet the faults and the ones
    from `n` on do not: a deterministic "fails twice, then answers".
    """

    def __init__(self, inner: TokenProvider, sb, n: int) -> None:
        self.inner, self.sb, self.n = inner, sb, n
        self.asked = 0

    @property
    def acquisitions(self) -> int:
        return self.inner.acquisitions

    def cached_token(self) -> str | None:
        self.asked += 1
        if self.asked == 2 * self.n - 1:  # attempt n asks before it queues
            self.sb.configure(faults={})
        return self.inner.cached_token()

    def get_token(self) -> str:
        return self.inner.get_token()

    def invalidate(self, token: str | None = None) -> None:
        self.inner.invalidate(token)


def test_post_retries_injected_500s_to_the_answer(mde_sb):
    settings = settings_for(mde_sb)
    query = _query(mde_sb)
    tokens = _ClearFaultsOnAttempt(TokenProvider(settings), mde_sb, n=3)
    tokens.get_token()
    mde_sb.configure(faults={"500": 1.0})
    status, body, client = _post(settings, RUN, {"Query": query}, tokens=tokens, backoff_base=0.01)
    assert status == 200 and body["Results"]
    assert _statuses(mde_sb) == [500, 500, 200]
    metrics = client.metrics()
    assert metrics.retries == 2 and metrics.responses == {"500": 2, "200": 1}
    assert metrics.calls == {"hunting": 3} and metrics.calls_started["hunting"] == 3


def test_post_to_another_host_with_another_token(mde_sb):
    """Graph's hunting endpoint: `base_url` and a Graph-scoped token provider, same machinery."""
    settings = settings_for(mde_sb)
    query = _query(mde_sb)
    mde_tokens, graph_tokens = TokenProvider(settings), TokenProvider(settings, scope=GRAPH_SCOPE)
    status, body, client = _post(
        settings,
        GRAPH_RUN,
        {"Query": query},
        provider=mde_tokens,
        base_url=settings.graph_url + "/",
        tokens=graph_tokens,
    )
    assert status == 200, body
    assert (
        body["@odata.context"].endswith("#microsoft.graph.security.huntingQueryResults") and body["results"]
    )
    assert _statuses(mde_sb, "graph_hunting") == [200]
    assert mde_tokens.acquisitions == 0 and graph_tokens.acquisitions == 1
    assert client.metrics().token_acquisitions == 1  # the Graph provider's token is counted too


def test_post_with_an_mde_token_on_graph_reauthenticates_once_then_fails(mde_sb):
    from enrich.mde.errors import AuthError

    settings = settings_for(mde_sb)
    with pytest.raises(AuthError, match="401 Unauthorized") as info:
        _post(settings, GRAPH_RUN, {"Query": _query(mde_sb)}, base_url=settings.graph_url)
    assert "MDE_API_URL" not in str(info.value) and settings.graph_url in str(info.value)
    assert _statuses(mde_sb, "graph_hunting") == [401, 401]


def test_post_refuses_a_plain_http_host(mde_sb):
    settings = settings_for(mde_sb)
    with pytest.raises(ValueError, match="https"):
        _post(settings, RUN, {"Query": "x"}, base_url="http://127.0.0.1:1")
    assert not _statuses(mde_sb)
