"""Call quotas (sliding one-minute and one-hour windows) and advanced hunting's CPU quota.

Entity API families count per (family, tenant, app); the two hunting endpoints count per
(family, tenant): "the number of executions is limited per tenant", each endpoint on its own
(legacy 45/minute and 1,500/hour; Graph at least 45/minute, no hourly cap stated).

A request is admitted when fewer than `per_minute` admitted calls fall in the last minute and
fewer than `per_hour` in the last hour (sliding windows over the admitted calls; refused calls
are not counted). Window lengths are divided by `time_scale`, so with time_scale=60 the minute
window lasts one real second. Retry-After is the real time until the oldest call in the full
window leaves it, rounded up, at least 1 second.

`CpuQuota` is the hunting CPU allowance per tenant: "Queries are blocked if the tenant has
reached 100% of the allocated resources until after the next 15-minute cycle." A cycle starts
with the first query that is charged while no cycle runs and lasts 15 minutes divided by
`time_scale`; a query is let in while the tenant's spend in the cycle is under the quota (so
one heavy query can overrun it), and is then refused until the cycle ends.

`minute_hour_quota` turns the (calls, window) limits of the shared rate-limit grammar
(`enrich.units.parse_rate_limit`) into these two quotas.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

ENTITY_FAMILIES = frozenset({"files", "ips", "domains", "alerts", "machines"})
HUNTING_FAMILIES = frozenset({"hunting", "graph_hunting"})
MINUTE = 60.0
HOUR = 3600.0
CPU_CYCLE = 900.0  # seconds: the hunting CPU quota's 15-minute cycle


def minute_hour_quota(limits: Iterable[tuple[int, float]], default: tuple[int, int]) -> tuple[int, int]:
    """(per minute, per hour) quota for `(calls, window seconds)` limits; unset ones keep `default`.

    A window up to a minute sets the minute quota, scaled to a whole minute (10 calls per 1 s ->
    600 per minute); a longer one, up to an hour, sets the hour quota (250 per 10 min -> 1500 per
    hour). The window must divide its minute or hour evenly. Every limit applies, so when two set
    the same quota the smaller stands.
    """
    quota: dict[float, int] = {}
    for count, window in limits:
        span = MINUTE if window <= MINUTE else HOUR
        per_span = span / window
        if window > HOUR or abs(per_span - round(per_span)) > 1e-9 * per_span:
            raise ValueError(
                f"the sandbox counts calls per minute and per hour: a window of {window:g} seconds does "
                "not divide either evenly; use e.g. 1s, 10s, 1min, 10min or 1hour"
            )
        calls = count * round(per_span)
        quota[span] = min(calls, quota.get(span, calls))
    return quota.get(MINUTE, default[0]), quota.get(HOUR, default[1])


@dataclass(frozen=True)
class Refusal:
    """Why a call was refused: the limit hit, its window name and when to come back."""

    limit: int
    window: str  # "00:01:00" or "01:00:00"
    retry_after: int  # real seconds
    key: str = "Destination+TenantID+AppID"

    def message(self) -> str:
        return (
            f"API calls quota exceeded! Maximum allowed {self.limit} per {self.window} for the key "
            f"{self.key}. You can send requests again in {self.retry_after} seconds."
        )


def cpu_message(quota: float, retry_after: int) -> str:
    """The 429 body message of a tenant whose hunting CPU quota is used up."""
    return (
        f"Query CPU quota exceeded! The tenant used its allocated {quota:g} CPU seconds per 00:15:00 "
        f"for advanced hunting. You can send requests again in {retry_after} seconds."
    )


class Quotas:
    """Thread-safe sliding-window counters; limits and time scale can change at run time."""

    def __init__(
        self,
        entity_limits: tuple[int, int],
        hunting_limits: tuple[int, int],
        time_scale: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        graph_hunting_limits: tuple[int, int | None] | None = None,
    ) -> None:
        self.entity_limits = entity_limits
        self.hunting_limits = hunting_limits
        self.graph_hunting_limits = graph_hunting_limits
        self.time_scale = time_scale
        self._clock = clock
        self._lock = threading.Lock()
        self._minute: dict[tuple[str, str, str], deque[float]] = {}
        self._hour: dict[tuple[str, str, str], deque[float]] = {}

    def limits_for(self, family: str) -> tuple[int, int | None]:
        """(per minute, per hour or None for no hourly cap) of `family`."""
        if family == "graph_hunting":
            if self.graph_hunting_limits is not None:
                return self.graph_hunting_limits
            return self.hunting_limits[0], None
        return self.hunting_limits if family in HUNTING_FAMILIES else self.entity_limits

    def admit(self, family: str, tenant: str, app: str) -> Refusal | None:
        """Count the call and return None, or return the Refusal (the call is not counted).

        Hunting families count per tenant (`app` is ignored), entity families per tenant and app.
        """
        per_minute, per_hour = self.limits_for(family)
        minute_len = MINUTE / self.time_scale
        hour_len = HOUR / self.time_scale
        per_tenant = family in HUNTING_FAMILIES
        key = (family, tenant, "" if per_tenant else app)
        key_name = "Destination+TenantID" if per_tenant else "Destination+TenantID+AppID"
        with self._lock:
            now = self._clock()
            minute = self._minute.setdefault(key, deque())
            hour = self._hour.setdefault(key, deque())
            while minute and minute[0] <= now - minute_len:
                minute.popleft()
            while hour and hour[0] <= now - hour_len:
                hour.popleft()
            refusal = None
            if per_hour is not None and len(hour) >= per_hour:
                wait = hour[len(hour) - per_hour] + hour_len - now
                refusal = Refusal(per_hour, "01:00:00", max(1, math.ceil(wait)), key_name)
            if len(minute) >= per_minute:
                wait = minute[len(minute) - per_minute] + minute_len - now
                minute_refusal = Refusal(per_minute, "00:01:00", max(1, math.ceil(wait)), key_name)
                if refusal is None or minute_refusal.retry_after > refusal.retry_after:
                    refusal = minute_refusal
            if refusal:
                return refusal
            minute.append(now)
            if per_hour is not None:
                hour.append(now)
            return None

    def reset(self) -> None:
        with self._lock:
            self._minute.clear()
            self._hour.clear()


class CpuQuota:
    """Per-tenant hunting CPU spend in 15-minute cycles (scaled by `time_scale`). Thread-safe."""

    def __init__(
        self, quota: float, time_scale: float = 1.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.quota = quota
        self.time_scale = time_scale
        self._clock = clock
        self._lock = threading.Lock()
        self._cycles: dict[str, tuple[float, float]] = {}  # tenant -> (cycle start, CPU spent)

    def _current(self, tenant: str, now: float) -> tuple[float, float] | None:
        cycle = self._cycles.get(tenant)
        if cycle is not None and now >= cycle[0] + CPU_CYCLE / self.time_scale:
            del self._cycles[tenant]
            return None
        return cycle

    def check(self, tenant: str) -> int | None:
        """None when the tenant may run a query; else the Retry-After seconds (end of the cycle)."""
        with self._lock:
            now = self._clock()
            cycle = self._current(tenant, now)
            if cycle is None or cycle[1] < self.quota:
                return None
            return max(1, math.ceil(cycle[0] + CPU_CYCLE / self.time_scale - now))

    def charge(self, tenant: str, cpu_seconds: float) -> None:
        """Add one query's CPU to the tenant's cycle (starting a cycle when none runs)."""
        with self._lock:
            now = self._clock()
            start, spent = self._current(tenant, now) or (now, 0.0)
            self._cycles[tenant] = (start, spent + max(0.0, cpu_seconds))

    def spent(self, tenant: str) -> float:
        """CPU seconds the tenant has spent in its current cycle."""
        with self._lock:
            cycle = self._current(tenant, self._clock())
            return cycle[1] if cycle else 0.0

    def snapshot(self) -> dict[str, float]:
        """CPU seconds spent in the current cycle, per tenant that has one."""
        with self._lock:
            now = self._clock()
            return {t: cycle[1] for t in list(self._cycles) if (cycle := self._current(t, now)) is not None}

    def reset(self) -> None:
        with self._lock:
            self._cycles.clear()
