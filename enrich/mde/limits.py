"""Per-family call budgets: never more than N calls in any window of W seconds, for every (N, W).

The budget is a sliding log. A call takes a slot when it starts (`acquire`) and keeps it,
counted as "in the window", until it finishes (`release`); from then on it is dated by its
finish time. The server counts a call at some instant between our start and our finish, so
two calls dated this way are never closer at the server than in our log: the guarantee holds
whatever the network latency, for sliding and for fixed server windows alike (any interval of
W seconds holding at most N calls implies every fixed window does). A small margin
(`margin_fraction` of W plus `margin_seconds`) absorbs clock granularity.

After a 429 (the quota is shared with other apps of the tenant), `penalise()` keeps the
family's calls from starting before Retry-After has passed.

MDE counts the calls of every process of an app. With a `store` (budget_store.py: the cache
database), the log and the pauses live there, shared by every process using the same tenant and
app, and times are wall-clock (`WallClock`); without one (`--no-cache`), they live in memory,
private to this process.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from enrich.mde.budget_store import BudgetStore


class Clock(Protocol):
    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class MonotonicClock:
    """Real time: `time.monotonic` and `asyncio.sleep`."""

    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class WallClock(MonotonicClock):
    """Wall-clock time (`time.time`), the one clock every process shares: for a shared budget."""

    def now(self) -> float:
        return time.time()


@dataclass
class _Family:
    limits: list[tuple[int, float]]  # (count, effective window), window ascending
    done: list[float] = field(default_factory=list)  # finish times, ascending
    inflight: int = 0
    not_before: float = 0.0  # from penalise()
    waiters: int = 0  # calls waiting for a slot now
    waiting_since: float = 0.0  # when `waiters` last went from 0 to 1
    waited: float = 0.0  # closed periods with at least one waiter, in seconds
    changed: asyncio.Event | None = None
    changed_loop: asyncio.AbstractEventLoop | None = None  # an Event belongs to one loop
    turn: asyncio.Lock | None = None  # shared budget: one waiter of this process asks the store
    turn_loop: asyncio.AbstractEventLoop | None = None

    @property
    def horizon(self) -> float:
        return self.limits[-1][1] if self.limits else 0.0


@dataclass(frozen=True)
class Ticket:
    """A slot taken by `acquire`; give it back with `release` when the call has finished."""

    family: str
    started: float
    call: int | None = None  # the call's row in a shared store


def _changed(state: _Family) -> asyncio.Event:
    """The event set when a slot of `state` may have freed (one per event loop: an Event belongs to one)."""
    loop = asyncio.get_running_loop()
    if state.changed is None or state.changed_loop is not loop:
        state.changed, state.changed_loop = asyncio.Event(), loop
    return state.changed


class Budget:
    """Call budgets per API family (see the module docstring)."""

    def __init__(
        self,
        rate_limits: Mapping[str, list[tuple[int, float]]],
        clock: Clock | None = None,
        *,
        margin_fraction: float = 0.002,
        margin_seconds: float = 0.005,
        store: BudgetStore | None = None,
    ) -> None:
        self.store = store
        self.clock: Clock = clock or (WallClock() if store is not None else MonotonicClock())
        self._families: dict[str, _Family] = {}
        for family, limits in rate_limits.items():
            effective = sorted(
                (int(n), float(w) * (1.0 + margin_fraction) + margin_seconds) for n, w in limits if int(n) > 0
            )
            effective.sort(key=lambda item: item[1])
            self._families[family] = _Family(limits=effective)
        # Shared budget: how often a waiter held by another process's call in flight looks again.
        shortest = min((f.limits[0][1] for f in self._families.values() if f.limits), default=1.0)
        self.poll_seconds = min(0.25, shortest / 10)
        # metrics
        self.acquired: dict[str, int] = {family: 0 for family in self._families}
        self.penalties: dict[str, int] = {family: 0 for family in self._families}

    # -- acquiring ----------------------------------------------------------------------------

    def _state(self, family: str) -> _Family:
        try:
            return self._families[family]
        except KeyError:
            raise ValueError(f"no rate limit is configured for the API family {family!r}") from None

    def _delay(self, state: _Family, now: float) -> float | None:
        """Seconds until a slot is free (0: free now; None: only when an in-flight call finishes)."""
        wait = max(0.0, state.not_before - now)
        done = state.done
        for count, window in state.limits:
            first = bisect.bisect_right(done, now - window)
            in_window = len(done) - first + state.inflight
            if in_window < count:
                continue
            # The oldest finished calls must leave the window until one slot is free.
            index = first + (in_window - count)
            if index >= len(done):
                return None
            wait = max(wait, done[index] + window - now)
        return wait

    async def acquire(self, family: str) -> Ticket:
        """Wait until a call of `family` may start without exceeding any limit, then take the slot."""
        state = self._state(family)
        if self.store is not None:
            return await self._acquire_shared(family, state)
        now = self.clock.now()
        delay = self._delay(state, now)
        if delay is None or delay > 0:
            with self._waiting(state, now):
                while delay is None or delay > 0:
                    changed = _changed(state)
                    if delay is None:
                        await changed.wait()
                    else:
                        await self._sleep_or_event(delay, changed)
                    now = self.clock.now()
                    delay = self._delay(state, now)
        state.inflight += 1
        self.acquired[family] += 1
        return Ticket(family, now)

    @contextlib.contextmanager
    def _waiting(self, state: _Family, now: float) -> Iterator[None]:
        """Count a waiter of `state`; the family's wait time runs while any waits."""
        if state.waiters == 0:
            state.waiting_since = now
        state.waiters += 1
        try:
            yield
        finally:
            state.waiters -= 1
            if state.waiters == 0:
                state.waited += max(0.0, self.clock.now() - state.waiting_since)

    async def _acquire_shared(self, family: str, state: _Family) -> Ticket:
        """`acquire` with the log in the store: the check and the reservation are one transaction.

        Waiters of this process queue (`state.turn`), so one at a time asks the store; a waiter
        held by an in-flight call wakes at its release in this process, or polls for the others'.
        """
        assert self.store is not None
        now = self.clock.now()
        call, delay, in_flight = self.store.take(family, state.limits, now, state.horizon)
        if call is None:
            with self._waiting(state, now):
                loop = asyncio.get_running_loop()
                if state.turn is None or state.turn_loop is not loop:
                    state.turn, state.turn_loop = asyncio.Lock(), loop
                async with state.turn:
                    while True:
                        now = self.clock.now()
                        call, delay, in_flight = self.store.take(family, state.limits, now, state.horizon)
                        if call is not None:
                            break
                        if in_flight:
                            await self._sleep_or_event(min(delay, self.poll_seconds), _changed(state))
                        else:
                            await self.clock.sleep(delay)
        state.inflight += 1
        self.acquired[family] += 1
        return Ticket(family, now, call)

    @property
    def waited(self) -> dict[str, float]:
        """Per family, wall-clock seconds during which at least one call waited for the quota."""
        now = self.clock.now()
        return {
            family: state.waited + (max(0.0, now - state.waiting_since) if state.waiters else 0.0)
            for family, state in self._families.items()
        }

    async def _sleep_or_event(self, delay: float, event: asyncio.Event) -> None:
        sleeper = asyncio.ensure_future(self.clock.sleep(delay))
        waiter = asyncio.ensure_future(event.wait())
        try:
            await asyncio.wait({sleeper, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleeper, waiter):
                if not task.done():
                    task.cancel()
            # Let the cancellations run so no task is left pending.
            await asyncio.gather(sleeper, waiter, return_exceptions=True)

    def release(self, ticket: Ticket) -> None:
        """The call of `ticket` has finished (answered, failed or abandoned): date it now."""
        state = self._state(ticket.family)
        state.inflight = max(0, state.inflight - 1)
        now = self.clock.now()
        if self.store is not None and ticket.call is not None:
            self.store.finish(ticket.family, ticket.call, now)
            self._notify(state)
            return
        bisect.insort(state.done, now)
        horizon = now - state.horizon
        if state.done and state.done[0] <= horizon:
            del state.done[: bisect.bisect_right(state.done, horizon)]
        self._notify(state)

    @contextlib.asynccontextmanager
    async def slot(self, family: str) -> AsyncIterator[Ticket]:
        """`async with budget.slot("files"):` around one HTTP call."""
        ticket = await self.acquire(family)
        try:
            yield ticket
        finally:
            self.release(ticket)

    def penalise(self, family: str, retry_after_seconds: float) -> None:
        """A 429 said to wait: no call of `family` starts within `retry_after_seconds` from now."""
        state = self._state(family)
        self.penalties[family] += 1
        state.not_before = max(state.not_before, self.clock.now() + max(0.0, float(retry_after_seconds)))
        if self.store is not None:
            self.store.pause(family, state.not_before)
        self._notify(state)

    @staticmethod
    def _notify(state: _Family) -> None:
        if state.changed is not None:
            state.changed.set()
            state.changed = None

    # -- forecasting --------------------------------------------------------------------------

    def eta(self, remaining: Mapping[str, int]) -> float:
        """Least seconds from now the limits allow for `remaining` more calls per family (families run in parallel)."""
        now = self.clock.now()
        longest = 0.0
        for family, count in remaining.items():
            if count <= 0 or family not in self._families:
                continue
            state = self._families[family]
            not_before = state.not_before
            if self.store is not None:
                history, not_before = self.store.history(family, now, state.horizon)
            else:
                history = [t for t in state.done if t > now - state.horizon] + [now] * state.inflight
                history.sort()
            last = schedule_end(state.limits, count, history=history, start=max(now, not_before))
            longest = max(longest, last - now)
        return longest

    def close(self) -> None:
        """Close the store, if any (the budget is not used afterwards)."""
        if self.store is not None:
            self.store.close()


def schedule_end(
    limits: list[tuple[int, float]],
    count: int,
    *,
    history: list[float] | None = None,
    start: float = 0.0,
) -> float:
    """Start time of the last of `count` calls made as early as `limits` allow (zero latency).

    `history` holds the (sorted) times of earlier calls still inside a window. The schedule is
    computed in blocks: calls that may start at the same instant are placed together, so the
    cost grows with the number of distinct start times, not with `count`.
    """
    times = list(history or [])
    placed = 0
    t = start
    if count <= 0:
        return start
    while placed < count:
        # Earliest time the next call may start.
        for n, w in limits:
            if len(times) >= n:
                t = max(t, times[-n] + w)
        # How many calls fit at t: for each limit, n minus the calls already in (t - w, t].
        room = count - placed
        for n, w in limits:
            inside = len(times) - bisect.bisect_right(times, t - w)
            room = min(room, n - inside)
        room = max(room, 1)
        times.extend([t] * room)
        placed += room
        # Keep the history short: only what the longest window can still see.
        longest = max(w for _, w in limits)
        cut = bisect.bisect_right(times, t - longest)
        if cut > 4096:
            del times[:cut]
    return t


def min_duration(limits: list[tuple[int, float]], count: int) -> float:
    """The least time `count` calls take under `limits` from an idle start (last call's start)."""
    return schedule_end(sorted(limits, key=lambda item: item[1]), count)
