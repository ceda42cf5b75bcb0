"""`ClientMetrics`: the snapshot `MdeClient.metrics()` returns, its dict form and its sum."""

from __future__ import annotations

import asyncio
import dataclasses
import json

import pytest

from enrich.mde.client import ClientMetrics, MdeClient
from enrich.mde.limits import Budget
from enrich.mde.settings import Settings


class _Tokens:
    acquisitions = 4

    def cached_token(self) -> str | None:
        return "t"

    def get_token(self) -> str:
        return "t"

    def invalidate(self, token: str | None = None) -> None:
        pass


class _Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.t += seconds
        await asyncio.sleep(0)


def _busy_client() -> MdeClient:
    """A client whose counters and budget hold something, without any network."""
    clock = _Clock()
    budget = Budget({"files": [(1, 10.0)], "ips": [(5, 10.0)]}, clock)

    async def two_files() -> None:
        # the second call waits 10.0 s (plus the margins) for the first one's slot
        await asyncio.gather(*(_take(budget, "files") for _ in range(2)))

    asyncio.run(two_files())
    client = MdeClient(Settings(), _Tokens(), budget)
    client.calls.update({"files": 2, "ips": 1})
    client.responses.update({"200": 2, "timeout": 1})
    client.throttled.update({"ips": 1})
    client.retries, client.reauths = 1, 1
    client.backoff_seconds, client.retry_after_seconds = 0.12345, 2.00049
    return client


async def _take(budget: Budget, family: str) -> None:
    async with budget.slot(family):
        await budget.clock.sleep(0.0)


def test_to_dict_is_the_former_metrics_dict():
    client = _busy_client()
    metrics = client.metrics()
    # exactly the keys, values and rounding the former `metrics()` dict had
    assert metrics.to_dict() == {
        "calls": {"files": 2, "ips": 1},
        "responses": {"200": 2, "timeout": 1},
        "throttled": {"ips": 1},
        "retries": 1,
        "reauths": 1,
        "backoff_seconds": 0.123,
        "retry_after_seconds": 2.0,
        "token_acquisitions": 4,
        "quota_wait_seconds": {k: round(v, 3) for k, v in client.budget.waited.items()},
        "calls_started": {"files": 2, "ips": 0},
    }
    assert list(metrics.to_dict()) == [f.name for f in dataclasses.fields(ClientMetrics)]
    assert metrics.to_dict()["quota_wait_seconds"]["files"] == pytest.approx(10.025, abs=0.001)
    json.dumps(metrics.to_dict())  # JSON-ready
    # a snapshot: later counting does not change it, and it cannot be assigned to
    client.calls["files"] += 1
    assert metrics.calls == {"files": 2, "ips": 1}
    with pytest.raises(dataclasses.FrozenInstanceError):
        metrics.retries = 5  # type: ignore[misc]


def test_adding_snapshots():
    a = ClientMetrics(
        calls={"files": 2},
        responses={"200": 2},
        retries=1,
        backoff_seconds=0.0004,
        quota_wait_seconds={"files": 1.0004},
        calls_started={"files": 2, "ips": 0},
        token_acquisitions=1,
    )
    b = ClientMetrics(
        calls={"files": 1, "ips": 3},
        responses={"200": 3, "429": 1},
        throttled={"ips": 1},
        reauths=2,
        backoff_seconds=0.0004,
        retry_after_seconds=1.5,
        quota_wait_seconds={"files": 0.0004, "ips": 2.0},
        calls_started={"files": 1, "ips": 4},
        token_acquisitions=1,
    )
    total = a + b
    assert total == ClientMetrics(
        calls={"files": 3, "ips": 3},
        responses={"200": 5, "429": 1},
        throttled={"ips": 1},
        retries=1,
        reauths=2,
        backoff_seconds=pytest.approx(0.0008),
        retry_after_seconds=1.5,
        token_acquisitions=2,
        quota_wait_seconds={"files": pytest.approx(1.0008), "ips": 2.0},
        calls_started={"files": 3, "ips": 4},
    )
    # unrounded sums, rounded once in to_dict
    assert (
        total.to_dict()["backoff_seconds"] == 0.001
        and total.to_dict()["quota_wait_seconds"]["files"] == 1.001
    )
    assert a.calls == {"files": 2} and b.calls == {"files": 1, "ips": 3}  # operands untouched
    assert sum([a, b], ClientMetrics()) == total
    assert ClientMetrics() + a == a
    with pytest.raises(TypeError):
        a + {"calls": {}}  # type: ignore[operator]
