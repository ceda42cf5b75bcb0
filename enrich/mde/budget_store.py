"""The budget's call log in the cache database, so every process of one app shares one quota.

MDE counts calls per tenant, application and API family, whatever process makes them. A run
restarted after a crash, or several runs of the same app at once, must therefore see each
other's calls: `Budget(store=BudgetStore(...))` keeps its log here instead of in memory.

Table `budget_calls` holds one row per call, written before the call goes out: `started` and
`until`, the instant the call is dated at in the windows (its finish once done; while it is in
flight, `started + inflight_ttl`, so it counts as "now" in every window). Taking a slot is one
short `BEGIN IMMEDIATE` transaction that checks every window and inserts the row, so two
processes never take the same last slot. Table `budget_pauses` holds each family's pause after
a 429 (`not_before`). Times are wall-clock seconds (`time.time`), the one clock processes share
(a step back of the clock only makes the budget stricter for a while; a step forward may cost
429s, which the client honours).

Each write stamps its rows with the next number of `budget_seq`, so a store keeps a copy of its
families' rows in memory and reads only the rows changed since it last looked: a slot costs a
few small statements whatever the number of calls in the windows.

A process killed mid-call leaves rows marked in flight; a process of the same host dates those
of dead processes at the moment it finds them (the server counted them before), and any other
such row ends `inflight_ttl` seconds after it started. Rows older than the longest window (at
least an hour) are pruned now and then. The tables are apart from the cache's answers and
outside its schema version; `enrich cache clear` leaves them.

MDE counts advanced hunting per tenant, not per application (`settings.TENANT_FAMILIES`): the
rows and pauses of those families are kept with an empty `app`, shared by every app of the tenant.
"""

from __future__ import annotations

import bisect
import contextlib
import os
import socket
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from enrich.cache import use_wal
from enrich.errors import CacheError
from enrich.mde.settings import TENANT_FAMILIES

INFLIGHT_TTL = 300.0  # seconds an unfinished call of a vanished process keeps counting as in flight
KEEP_SECONDS = 3600.0 * 1.01 + 1  # rows kept at least this long (MDE's hour window, with margin)
SWEEP_EVERY = 30.0  # seconds between two looks for dead processes' calls and old rows

_SCHEMA = """
CREATE TABLE IF NOT EXISTS budget_calls (
    id       INTEGER PRIMARY KEY,
    tenant   TEXT    NOT NULL,
    app      TEXT    NOT NULL,
    family   TEXT    NOT NULL,
    started  REAL    NOT NULL,
    until    REAL    NOT NULL,
    done     INTEGER NOT NULL DEFAULT 0,
    host     TEXT    NOT NULL DEFAULT '',
    pid      INTEGER NOT NULL DEFAULT 0,
    seq      INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS budget_calls_seq ON budget_calls (tenant, app, family, seq);
CREATE TABLE IF NOT EXISTS budget_seq (
    one INTEGER PRIMARY KEY CHECK (one = 1),
    seq INTEGER NOT NULL
);
INSERT OR IGNORE INTO budget_seq (one, seq) VALUES (1, 0);
CREATE TABLE IF NOT EXISTS budget_pauses (
    tenant     TEXT NOT NULL,
    app        TEXT NOT NULL,
    family     TEXT NOT NULL,
    not_before REAL NOT NULL,
    PRIMARY KEY (tenant, app, family)
) WITHOUT ROWID;
"""

Limits = list[tuple[int, float]]  # (count, effective window), window ascending


@dataclass
class _Log:
    """This store's copy of one family's rows: date and whether done, by id; dates sorted."""

    seen: int = 0  # the highest `seq` read
    rows: dict[int, tuple[float, bool]] = field(default_factory=dict)
    dates: list[tuple[float, int]] = field(default_factory=list)  # (until, id), ascending

    def put(self, call: int, until: float, done: bool, oldest: float) -> None:
        old = self.rows.pop(call, None)
        if old is not None:
            index = bisect.bisect_left(self.dates, (old[0], call))
            if index < len(self.dates) and self.dates[index] == (old[0], call):
                del self.dates[index]
        if until > oldest:
            self.rows[call] = (until, done)
            bisect.insort(self.dates, (until, call))

    def prune(self, oldest: float) -> None:
        cut = bisect.bisect_right(self.dates, (oldest, float("inf")))
        for _, call in self.dates[:cut]:
            self.rows.pop(call, None)
        del self.dates[:cut]


class BudgetStore:
    """The shared call log of one (tenant, app) in the SQLite file at `path` (the cache file)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        tenant: str,
        app: str,
        *,
        inflight_ttl: float = INFLIGHT_TTL,
        alive: Callable[[int], bool] | None = None,
    ) -> None:
        self.path = Path(path)
        self.tenant, self.app = tenant, app
        self.inflight_ttl = float(inflight_ttl)
        self._host, self._pid = socket.gethostname(), os.getpid()
        self._alive = alive or _process_alive
        self._swept_at: float | None = None
        self._logs: dict[str, _Log] = {}
        try:
            db = sqlite3.connect(self.path, timeout=10.0, isolation_level=None)
        except sqlite3.Error as exc:
            raise CacheError(self.path, f"cannot open it for the shared budget ({exc})") from None
        self._db: sqlite3.Connection | None = db
        with self._errors():
            db.execute("PRAGMA busy_timeout = 10000")
            if str(db.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                use_wal(db)  # as the cache sets it (where the file system allows)
            # The log need not survive a power cut (a lost row is a call MDE's window forgets
            # within the hour); a killed process loses nothing in WAL mode either way.
            db.execute("PRAGMA synchronous = NORMAL")
            db.executescript(_SCHEMA)

    # -- plumbing -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        """SQLite errors become a CacheError naming the file."""
        try:
            yield
        except sqlite3.Error as exc:
            text = str(exc)
            hint = " (another process holds it locked)" if "locked" in text or "busy" in text else ""
            raise CacheError(self.path, f"the shared budget cannot be used: {text}{hint}") from None

    @contextlib.contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        """One `BEGIN IMMEDIATE` transaction: committed at the end, rolled back on an error."""
        with self._errors():
            db = self.db
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise CacheError(self.path, "the shared budget is closed")
        return self._db

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def _app_of(self, family: str) -> str:
        """The `app` a family's rows are kept under: empty for a quota counted per tenant."""
        return "" if family in TENANT_FAMILIES else self.app

    def _next_seq(self, db: sqlite3.Connection) -> int:
        db.execute("UPDATE budget_seq SET seq = seq + 1")
        return int(db.execute("SELECT seq FROM budget_seq").fetchone()[0])

    def _sync(self, family: str, now: float, horizon: float) -> _Log:
        """This store's copy of `family`'s rows, brought up to date (rows changed since last read)."""
        log = self._logs.setdefault(family, _Log())
        oldest = now - horizon
        for call, until, done, seq in self.db.execute(
            "SELECT id, until, done, seq FROM budget_calls WHERE tenant = ? AND app = ? AND family = ? "
            "AND seq > ? ORDER BY seq",
            (self.tenant, self._app_of(family), family, log.seen),
        ):
            log.put(call, until, bool(done), oldest)
            log.seen = seq
        log.prune(oldest)
        return log

    # -- the log ------------------------------------------------------------------------------

    def take(self, family: str, limits: Limits, now: float, keep: float) -> tuple[int | None, float, bool]:
        """Take a slot of `family` at `now` if every window allows it (`keep`: the longest window).

        Returns (row id, 0, False) when taken; else (None, seconds to wait, whether an in-flight
        call holds the slot, in which case its finish may free it sooner).
        """
        with self._writing() as db:
            if self._swept_at is None or abs(now - self._swept_at) >= SWEEP_EVERY:
                self._sweep(db, now, keep)
            log = self._sync(family, now, keep)
            row = db.execute(
                "SELECT not_before FROM budget_pauses WHERE tenant = ? AND app = ? AND family = ?",
                (self.tenant, self._app_of(family), family),
            ).fetchone()
            wait = max(0.0, row[0] - now) if row else 0.0
            in_flight = False
            dates = log.dates
            for count, window in limits:
                first = bisect.bisect_right(dates, (now - window, float("inf")))
                inside = len(dates) - first
                if inside < count:
                    continue
                # The oldest calls must leave the window until one slot is free.
                until, call = dates[first + inside - count]
                if until + window - now > wait:
                    wait, in_flight = until + window - now, not log.rows[call][1]
            if wait > 0:
                return None, wait, in_flight
            seq = self._next_seq(db)
            until = now + self.inflight_ttl
            cursor = db.execute(
                "INSERT INTO budget_calls (tenant, app, family, started, until, host, pid, seq) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (self.tenant, self._app_of(family), family, now, until, self._host, self._pid, seq),
            )
            call = int(cursor.lastrowid or 0)
            log.put(call, until, False, now - keep)
            log.seen = seq  # every other change came before ours: this transaction read them
        return call, 0.0, False

    def finish(self, family: str, call: int, now: float) -> None:
        """The call has finished (answered, failed or abandoned): date it `now`."""
        with self._writing() as db:
            db.execute(
                "UPDATE budget_calls SET until = ?, done = 1, seq = ? WHERE id = ?",
                (now, self._next_seq(db), call),
            )
        log = self._logs.get(family)
        if log is not None and call in log.rows:
            log.put(call, now, True, float("-inf"))

    def pause(self, family: str, not_before: float) -> None:
        """No call of `family` starts before `not_before` (a 429's Retry-After), in any process."""
        with self._errors():
            self.db.execute(
                "INSERT INTO budget_pauses (tenant, app, family, not_before) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (tenant, app, family) DO UPDATE SET not_before = max(not_before, excluded.not_before)",
                (self.tenant, self._app_of(family), family, not_before),
            )

    def history(self, family: str, now: float, horizon: float) -> tuple[list[float], float]:
        """(dates of the calls inside `horizon` seconds, ascending, in-flight ones as `now`; not_before)."""
        with self._errors():
            log = self._sync(family, now, horizon)
            pause = self.db.execute(
                "SELECT not_before FROM budget_pauses WHERE tenant = ? AND app = ? AND family = ?",
                (self.tenant, self._app_of(family), family),
            ).fetchone()
        return [min(until, now) for until, _ in log.dates], (pause[0] if pause else 0.0)

    def _sweep(self, db: sqlite3.Connection, now: float, keep: float) -> None:
        """Date the in-flight calls of dead processes of this host at `now`; drop old rows."""
        owners = db.execute(
            "SELECT DISTINCT pid FROM budget_calls WHERE done = 0 AND host = ? AND pid != ? AND until > ?",
            (self._host, self._pid, now),
        ).fetchall()
        dead = [pid for (pid,) in owners if not self._alive(pid)]
        if dead:
            seq = self._next_seq(db)
            for pid in dead:
                db.execute(
                    "UPDATE budget_calls SET until = ?, done = 1, seq = ? "
                    "WHERE done = 0 AND host = ? AND pid = ? AND until > ?",
                    (now, seq, self._host, pid, now),
                )
        db.execute("DELETE FROM budget_calls WHERE until < ?", (now - max(keep, KEEP_SECONDS),))
        db.execute("DELETE FROM budget_pauses WHERE not_before < ?", (now - KEEP_SECONDS,))
        self._swept_at = now


def _process_alive(pid: int) -> bool:
    """Whether process `pid` of this host still runs (unknown, hence True, off POSIX)."""
    if os.name != "posix" or pid <= 0:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. another user's process
        return True
    return True
