"""Budget: never more than N calls in any window W (whatever the latency), penalties, ETA."""

from __future__ import annotations

import asyncio
import heapq
import random

import pytest

from enrich.mde.limits import Budget, min_duration, schedule_end

MDE = [(100, 60.0), (1500, 3600.0)]
SCALED = [(100, 1.0), (1500, 60.0)]


class VirtualClock:
    """Virtual time for asyncio: sleepers wake in time order once every task is blocked."""

    def __init__(self) -> None:
        self.t = 0.0
        self._heap: list[tuple[float, int, asyncio.Future]] = []
        self._seq = 0

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        future = asyncio.get_running_loop().create_future()
        heapq.heappush(self._heap, (self.t + max(0.0, seconds), self._seq, future))
        self._seq += 1
        await future

    def run(self, main) -> object:
        async def driver():
            task = asyncio.ensure_future(main)
            while not task.done():
                for _ in range(30):
                    await asyncio.sleep(0)
                    if task.done():
                        break
                if task.done():
                    break
                while self._heap:
                    when, _, future = heapq.heappop(self._heap)
                    if future.cancelled() or future.done():
                        continue
                    self.t = max(self.t, when)
                    future.set_result(None)
                    break
                else:
                    raise AssertionError("deadlock: every task waits and nothing is scheduled")
            return task.result()

        return asyncio.run(asyncio.wait_for(driver(), timeout=60))


def max_in_window(times: list[float], count: int, window: float) -> bool:
    """True when no half-open window (t - window, t] holds more than `count` of `times`."""
    times = sorted(times)
    return all(times[i] - times[i - count] >= window - 1e-9 for i in range(count, len(times)))


def test_min_duration_formula():
    assert min_duration(MDE, 0) == 0
    assert min_duration(MDE, 100) == 0  # 100 calls may all start at once
    assert min_duration(MDE, 101) == 60
    assert min_duration(MDE, 1500) == 14 * 60
    assert min_duration(MDE, 1501) == 3600
    assert min_duration(MDE, 2000) == 3600 + 4 * 60
    assert min_duration(SCALED, 2000) == pytest.approx(64.0)
    assert min_duration([(10, 1.0)], 35) == pytest.approx(3.0)
    # the block schedule agrees with a call-by-call schedule
    for limits, n in ((SCALED, 3333), ([(7, 1.0), (20, 5.0), (50, 30.0)], 777)):
        times: list[float] = []
        for _ in range(n):
            t = times[-1] if times else 0.0
            for c, w in limits:
                if len(times) >= c:
                    t = max(t, times[-c] + w)
            times.append(t)
        assert schedule_end(sorted(limits, key=lambda x: x[1]), n) == pytest.approx(times[-1])


def test_sequential_schedule_is_optimal_without_margin():
    clock = VirtualClock()
    budget = Budget({"files": SCALED}, clock, margin_fraction=0.0, margin_seconds=0.0)
    starts: list[float] = []

    async def main():
        for _ in range(2000):
            ticket = await budget.acquire("files")
            starts.append(clock.now())
            budget.release(ticket)

    clock.run(main())
    assert starts[-1] == pytest.approx(64.0)
    assert max_in_window(starts, 100, 1.0) and max_in_window(starts, 1500, 60.0)
    assert budget.acquired["files"] == 2000 and budget.waited["files"] == pytest.approx(64.0)


def test_default_margin_costs_little():
    clock = VirtualClock()
    budget = Budget({"files": SCALED}, clock)
    starts: list[float] = []

    async def main():
        for _ in range(2000):
            ticket = await budget.acquire("files")
            starts.append(clock.now())
            budget.release(ticket)

    clock.run(main())
    assert 64.0 < starts[-1] < 64.0 * 1.01
    assert max_in_window(starts, 100, 1.0) and max_in_window(starts, 1500, 60.0)


@pytest.mark.parametrize("seed", range(5))
def test_never_exceeds_at_the_server_whatever_the_latency(seed):
    """The server counts a call at any instant between start and finish: still within limits."""
    rng = random.Random(seed)
    clock = VirtualClock()
    limits = [(10, 1.0), (40, 10.0)]
    budget = Budget({"ips": limits}, clock, margin_fraction=0.0, margin_seconds=0.0)
    arrivals: list[float] = []
    work = list(range(150))

    async def worker():
        while work:
            work.pop()
            ticket = await budget.acquire("ips")
            latency = rng.choice([0.0, rng.uniform(0, 0.05), rng.uniform(0, 2.0)])
            arrivals.append(ticket.started + rng.uniform(0, latency))
            await clock.sleep(latency)
            budget.release(ticket)

    async def main():
        await asyncio.gather(*(worker() for _ in range(12)))

    clock.run(main())
    assert len(arrivals) == 150
    for count, window in limits:
        assert max_in_window(arrivals, count, window)


def test_in_flight_calls_hold_their_slot():
    clock = VirtualClock()
    budget = Budget({"files": [(2, 5.0)]}, clock, margin_fraction=0.0, margin_seconds=0.0)
    log: list[tuple[str, float]] = []

    async def main():
        a = await budget.acquire("files")
        b = await budget.acquire("files")
        third = asyncio.ensure_future(budget.acquire("files"))
        await clock.sleep(3.0)  # both still in flight: nobody may start
        assert not third.done()
        budget.release(a)  # finished at t=3: its slot frees at t=8
        ticket = await third
        log.append(("third", clock.now()))
        budget.release(b)
        budget.release(ticket)

    clock.run(main())
    assert log == [("third", 8.0)]


def test_penalise_pauses_the_family_only():
    clock = VirtualClock()
    budget = Budget(
        {"files": [(100, 1.0)], "ips": [(100, 1.0)]}, clock, margin_fraction=0.0, margin_seconds=0.0
    )
    seen: dict[str, float] = {}

    async def main():
        budget.penalise("files", 7.5)
        async with budget.slot("ips"):
            seen["ips"] = clock.now()
        async with budget.slot("files"):
            seen["files"] = clock.now()

    clock.run(main())
    assert seen == {"ips": 0.0, "files": 7.5}
    assert budget.penalties == {"files": 1, "ips": 0}


def test_eta():
    clock = VirtualClock()
    budget = Budget({"files": SCALED, "ips": SCALED}, clock, margin_fraction=0.0, margin_seconds=0.0)
    assert budget.eta({}) == 0
    assert budget.eta({"files": 2000}) == pytest.approx(64.0)
    assert budget.eta({"files": 150, "ips": 350}) == pytest.approx(3.0)

    async def main():
        for _ in range(100):
            budget.release(await budget.acquire("files"))

    clock.run(main())
    assert budget.eta({"files": 1}) == pytest.approx(1.0)  # the minute window is full
    budget.penalise("ips", 10)
    assert budget.eta({"ips": 1}) == pytest.approx(10.0)


def test_unknown_family():
    budget = Budget({"files": SCALED})
    with pytest.raises(ValueError, match="hunting"):
        asyncio.run(budget.acquire("hunting"))


def test_real_clock_smoke():
    """With the real clock: 25 calls at 10 per 0.2 s take two windows."""
    budget = Budget({"files": [(10, 0.2)]})

    async def main():
        loop = asyncio.get_running_loop()
        start = loop.time()

        async def one():
            async with budget.slot("files"):
                await asyncio.sleep(0.001)

        await asyncio.gather(*(one() for _ in range(25)))
        return loop.time() - start

    elapsed = asyncio.run(main())
    assert (
        elapsed >= 0.4
    )  # 25 calls at 10 per 0.2 s cannot start sooner (an upper bound would time the machine)
