"""The shared budget (budget_store.py): Budgets sharing one database file share one quota."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
import subprocess
import sys
import textwrap

import pytest

from enrich.cache import Cache
from enrich.errors import CacheError
from enrich.mde.budget_store import KEEP_SECONDS, BudgetStore
from enrich.mde.limits import Budget, WallClock
from tests.mde.test_limits import SCALED, VirtualClock, max_in_window

EXACT = {"margin_fraction": 0.0, "margin_seconds": 0.0}
TENANT, APP = "tenant-1", "app-1"


def shared(path, limits, clock, *, app=APP, **store_options) -> Budget:
    return Budget(limits, clock, store=BudgetStore(path, TENANT, app, **store_options), **EXACT)


def test_two_budgets_on_one_file_keep_every_window(tmp_path):
    """Two Budgets (two processes' worth) alternate: together they never exceed a window."""
    db = tmp_path / "cache.sqlite3"
    clock = VirtualClock()
    a, b = shared(db, {"files": SCALED}, clock), shared(db, {"files": SCALED}, clock)
    starts: list[float] = []

    async def worker(budget: Budget, count: int) -> None:
        for _ in range(count):
            ticket = await budget.acquire("files")
            starts.append(clock.now())
            await clock.sleep(0.001)
            budget.release(ticket)

    async def main():
        await asyncio.gather(*(worker(budget, 250) for budget in (a, b, a, b)))

    clock.run(main())
    assert len(starts) == 1000
    assert max_in_window(starts, 100, 1.0) and max_in_window(starts, 1500, 60.0)
    assert a.acquired["files"] == b.acquired["files"] == 500
    # the pace of one budget alone: 1,000 calls at 100 per second (plus the calls' own time)
    assert 9.0 <= max(starts) < 9.1


def test_other_tenant_or_app_has_its_own_budget(tmp_path):
    db = tmp_path / "cache.sqlite3"
    clock = VirtualClock()
    a = shared(db, {"ips": [(2, 5.0)]}, clock)
    other = shared(db, {"ips": [(2, 5.0)]}, clock, app="app-2")
    seen: list[tuple[str, float]] = []

    async def main():
        for name, budget in (("a", a), ("a", a), ("other", other), ("other", other), ("a", a)):
            async with budget.slot("ips"):
                seen.append((name, clock.now()))

    clock.run(main())
    assert seen == [("a", 0.0), ("a", 0.0), ("other", 0.0), ("other", 0.0), ("a", 5.0)]


def test_in_flight_calls_of_the_other_hold_their_slot(tmp_path):
    db = tmp_path / "cache.sqlite3"
    clock = VirtualClock()
    a, b = shared(db, {"files": [(2, 5.0)]}, clock), shared(db, {"files": [(2, 5.0)]}, clock)
    log: list[tuple[str, float]] = []

    async def main():
        one = await a.acquire("files")
        two = await a.acquire("files")
        third = asyncio.ensure_future(b.acquire("files"))
        await clock.sleep(3.0)  # both of a's calls still in flight: b may not start
        assert not third.done()
        a.release(one)  # finished at t=3: its slot frees at t=8, and b sees it (polling)
        ticket = await third
        log.append(("b", clock.now()))
        a.release(two)
        b.release(ticket)

    clock.run(main())
    assert log == [("b", 8.0)]


def test_a_429_pauses_every_process(tmp_path):
    db = tmp_path / "cache.sqlite3"
    clock = VirtualClock()
    limits = {"files": [(100, 1.0)], "ips": [(100, 1.0)]}
    a, b = shared(db, limits, clock), shared(db, limits, clock)
    seen: dict[str, float] = {}

    async def main():
        a.penalise("files", 7.5)
        async with b.slot("ips"):
            seen["ips"] = clock.now()
        async with b.slot("files"):
            seen["files"] = clock.now()

    clock.run(main())
    assert seen == {"ips": 0.0, "files": 7.5}
    assert b.eta({"files": 1}) == 0.0
    a.penalise("ips", 3)
    assert b.eta({"ips": 1}) == pytest.approx(3.0)


def test_eta_counts_the_other_process_calls(tmp_path):
    db = tmp_path / "cache.sqlite3"
    clock = VirtualClock()
    a, b = shared(db, {"files": SCALED}, clock), shared(db, {"files": SCALED}, clock)

    async def main():
        for _ in range(100):
            a.release(await a.acquire("files"))

    clock.run(main())
    assert b.eta({"files": 1}) == pytest.approx(1.0)  # the minute window is full of a's calls
    assert b.eta({"files": 1400}) == pytest.approx(14.0)  # a used 100 of the hour's 1,500
    assert b.eta({"files": 1401}) == pytest.approx(60.0)


def test_calls_of_a_killed_process_count_until_found_dead(tmp_path):
    """A process killed mid-call leaves rows in flight: the next process dates them when it starts."""
    db = tmp_path / "cache.sqlite3"
    clock = VirtualClock()
    dead = shared(db, {"files": [(2, 5.0)]}, clock)
    dead.store._pid = 999_999  # type: ignore[union-attr]
    heir = shared(db, {"files": [(2, 5.0)]}, clock, alive=lambda pid: pid != 999_999)
    stranger = shared(db, {"files": [(2, 5.0)]}, clock, alive=lambda pid: True, inflight_ttl=100.0)
    seen: list[float] = []

    async def main():
        await dead.acquire("files")
        await dead.acquire("files")  # never released: the process was killed
        await clock.sleep(1.0)
        async with heir.slot("files"):  # finds 999999 dead at t=1: its calls are dated t=1
            seen.append(clock.now())

    clock.run(main())
    assert seen == [6.0]
    # Where the owner cannot be checked (alive), an unfinished call counts for `inflight_ttl`.
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        rows = conn.execute("UPDATE budget_calls SET done = 0, until = started + 100").rowcount
    assert rows == 3
    assert stranger.store.take("files", [(2, 5.0)], 7.0, 5.0)[:2] == (None, 100.0 + 5.0 - 7.0)  # type: ignore[union-attr]


def test_old_rows_are_pruned(tmp_path):
    db = tmp_path / "cache.sqlite3"
    store = BudgetStore(db, TENANT, APP)
    for t in (0.0, 1.0, 2.0):
        call, _, _ = store.take("ips", [(100, 1.0)], t, 1.0)
        assert call is not None
        store.finish("ips", call, t + 0.1)
    store.take("ips", [(100, 1.0)], KEEP_SECONDS + 1.5, 1.0)
    (left,) = sqlite3.connect(db).execute("SELECT count(*) FROM budget_calls").fetchone()
    assert left == 2  # the calls dated 0.1 and 1.1 are older than an hour and a bit: gone


def test_lives_beside_the_cache_answers(tmp_path):
    """Same file as the cache: its tables leave the answers table and the schema version alone."""
    db = tmp_path / "cache.sqlite3"
    with Cache(db) as cache:
        version = cache.db.execute("PRAGMA user_version").fetchone()[0]
        budget = Budget({"files": SCALED}, store=BudgetStore(db, TENANT, APP))
        assert isinstance(budget.clock, WallClock)

        async def main():
            async with budget.slot("files"):
                pass

        asyncio.run(main())
        budget.close()
        assert cache.db.execute("PRAGMA user_version").fetchone()[0] == version
        assert cache.stats()["entries"] == 0
        cache.clear()
    (rows,) = sqlite3.connect(db).execute("SELECT count(*) FROM budget_calls WHERE done = 1").fetchone()
    assert rows == 1  # `cache clear` forgets answers, not the calls MDE still counts


def test_unusable_file_is_a_cache_error(tmp_path):
    bad = tmp_path / "not-a-db.sqlite3"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(CacheError, match="shared budget"):
        BudgetStore(bad, TENANT, APP)


WORKER = textwrap.dedent(
    """
    import asyncio, json, sys
    from enrich.mde.budget_store import BudgetStore
    from enrich.mde.limits import Budget

    path, out, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    budget = Budget({"ips": [(10, 0.2), (40, 2.0)]}, store=BudgetStore(path, "t", "a"))
    starts = []

    async def one():
        async with budget.slot("ips") as ticket:
            starts.append(ticket.started)  # wall-clock time the slot was taken
            await asyncio.sleep(0.002)

    async def main():
        await asyncio.gather(*(one() for _ in range(count)))

    asyncio.run(main())
    json.dump(starts, open(out, "w"))
    """
)


@pytest.mark.timeout(120)
def test_real_processes_share_the_windows(tmp_path):
    """Three OS processes on one file, real clock: their calls together keep every window."""
    db = tmp_path / "cache.sqlite3"
    BudgetStore(db, "t", "a").close()  # create the tables once, as the cache's opening would
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    procs = [
        subprocess.Popen([sys.executable, "-c", WORKER, str(db), str(tmp_path / f"{i}.json"), "30"], env=env)
        for i in range(3)
    ]
    for proc in procs:
        assert proc.wait(timeout=100) == 0
    starts = sorted(t for i in range(3) for t in json.loads((tmp_path / f"{i}.json").read_text()))
    assert len(starts) == 90
    assert max_in_window(starts, 10, 0.2) and max_in_window(starts, 40, 2.0)


def test_a_budget_database_failure_stops_the_answers_instead_of_erroring_each_lookup(tmp_path):
    from enrich.answering.interface import AnswerOptions
    from enrich.model import Answer, LookupKey
    from tests.answering.test_interface import Md5Only

    store = BudgetStore(tmp_path / "cache.sqlite3", TENANT, APP)
    budget = Budget({"md5s": SCALED}, store=store)
    store.close()  # as if the file went away: every slot fails

    class Budgeted(Md5Only):
        async def answer(self, client, key: LookupKey) -> Answer:
            async with budget.slot("md5s"):
                return await super().answer(client, key)

    got: dict[LookupKey, Answer] = {}
    keys = [LookupKey("md5s", f"k{i}") for i in range(3)]
    with pytest.raises(CacheError, match="shared budget"):
        asyncio.run(Budgeted(AnswerOptions(concurrency=1)).answer_all(None, keys, got.__setitem__))  # type: ignore[arg-type]
    assert got == {}
