"""The answer cache (SQLite), which is also the checkpoint a stopped run resumes from.

One row per (tenant, API family, key, lookback hours, method): the method is how the answer was
obtained (`stats`, `hunting-graph`, `hunting-legacy`), so an answer is only ever reused by a run
that accepts that method (`Strategy.cache_methods`). Every answer is committed as it arrives, or
a batch's answers together (`transaction`: hunting commits each chunk so).
Durability: WAL journal with `synchronous=FULL`, so each commit is on disk (fsynced) before
`put` returns; a power cut or a kill loses at most the calls still in flight, never a stored
answer, and never corrupts the file. The cost, one fsync per answer, is far below MDE's pace
(at most 100 answers a minute per API family).

ERROR answers are not stored (they are asked again next run); SEEN, NOT_SEEN and INVALID
(MDE said 400) are.

Each answer keeps when it was last fetched (`fetched_at`) and when MDE first gave that answer
(`answered_at`: kept while a refetch brings the same answer, set anew when the answer changes);
both come back on `Answer` as provenance, so outputs dated by them are the same on a rerun.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from enrich.errors import CacheError
from enrich.model import Answer, LookupKey, Status

SCHEMA_VERSION = 4  # 2: `method`, the strategy that answered; 3: `answered_at`; 4: method in the key
_CHUNK = 400  # keys per IN (...) query, well under SQLite's variable limit
BUSY_SECONDS = 10.0  # how long a statement waits for another connection's lock

_TABLE = """
CREATE TABLE IF NOT EXISTS {name} (
    tenant         TEXT    NOT NULL,
    family         TEXT    NOT NULL,
    key            TEXT    NOT NULL,
    lookback_hours INTEGER NOT NULL,
    status         TEXT    NOT NULL,
    prevalence     INTEGER,
    first_seen     TEXT    NOT NULL DEFAULT '',
    last_seen      TEXT    NOT NULL DEFAULT '',
    error          TEXT    NOT NULL DEFAULT '',
    detail         TEXT    NOT NULL DEFAULT '[]',
    fetched_at     REAL    NOT NULL,
    method         TEXT    NOT NULL DEFAULT 'stats',
    answered_at    REAL,  -- when MDE first gave this answer; NULL (schema 2 rows): fetched_at
    PRIMARY KEY (tenant, family, key, lookback_hours, method)
) WITHOUT ROWID;
"""
_INDEX = "CREATE INDEX IF NOT EXISTS answers_fetched_at ON answers (fetched_at);"
_SCHEMA = _TABLE.format(name="answers") + _INDEX
_COLUMNS = (
    "tenant, family, key, lookback_hours, status, prevalence, first_seen, last_seen, error, detail, "
    "fetched_at, method, answered_at"
)
_CACHED = (Status.SEEN, Status.NOT_SEEN, Status.INVALID)


def default_cache_path() -> Path:
    """`$XDG_CACHE_HOME/enrich/cache.sqlite3`, else `~/.cache/enrich/cache.sqlite3` (`%LOCALAPPDATA%` on Windows)."""
    base = os.environ.get("XDG_CACHE_HOME")
    if not base and os.name == "nt":
        base = os.environ.get("LOCALAPPDATA")
    root = Path(base) if base else Path.home() / ".cache"
    return root / "enrich" / "cache.sqlite3"


def _iso(epoch: float | None) -> str:
    if epoch is None:
        return ""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class DamagedCacheError(CacheError):
    """The file is not a readable SQLite database (damaged, or not an enrich cache)."""


# Files SQLite keeps next to a database: the WAL, its shared-memory index, a rollback journal.
COMPANION_SUFFIXES = ("-wal", "-shm", "-journal")


def remove_files(path: str | os.PathLike[str]) -> list[str]:
    """Delete a cache file and its SQLite companions (`COMPANION_SUFFIXES`); the paths removed.

    For a damaged cache, which cannot be opened to be emptied. CacheError when one cannot be removed.
    """
    removed = []
    for name in (os.fspath(path), *(f"{os.fspath(path)}{suffix}" for suffix in COMPANION_SUFFIXES)):
        try:
            os.remove(name)
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise CacheError(path, f"cannot delete {name}: {exc.strerror or exc}") from None
        removed.append(name)
    return removed


class Cache:
    """Answers by (tenant, family, key, lookback hours). One writer; readers may run alongside.

    `create=False` opens an existing cache only (the `cache` commands): a missing file is a
    CacheError and neither it nor its folder is created.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        clock: Callable[[], float] = time.time,
        create: bool = True,
    ) -> None:
        self.path = Path(path) if path is not None else default_cache_path()
        self._clock = clock
        self._db: sqlite3.Connection | None = None
        self._open(create)

    # -- opening ------------------------------------------------------------------------------

    def _fail(self, problem: str) -> CacheError:
        return CacheError(self.path, problem)

    def _open(self, create: bool = True) -> None:
        if not create and not self.path.exists():
            raise self._fail("no such cache file (nothing has been cached there yet)")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise self._fail(f"cannot create the directory {self.path.parent}: {exc.strerror}") from None
        if self.path.is_dir():
            raise self._fail("is a directory, not a cache file")
        created = not self.path.exists()
        try:
            db = sqlite3.connect(self.path, timeout=BUSY_SECONDS, isolation_level=None)
        except sqlite3.Error as exc:
            raise self._fail(f"cannot open it ({exc}); check the path and its permissions") from None
        try:
            if created:
                os.chmod(self.path, 0o600)
        except OSError:
            pass
        try:
            db.execute(f"PRAGMA busy_timeout = {int(BUSY_SECONDS * 1000)}")
            mode = use_wal(db)
            if str(mode).lower() != "wal":
                # e.g. a file system without shared memory: fall back to a rollback journal.
                db.execute("PRAGMA journal_mode = DELETE")
            db.execute("PRAGMA synchronous = FULL")
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise self._fail(
                    f"was written by a newer version of enrich (schema {version}); upgrade enrich or use another cache file"
                )
            db.executescript(_SCHEMA)
            if 0 < version < 2:  # schema 1 had no `method`: every answer then came from the stats APIs
                db.execute("ALTER TABLE answers ADD COLUMN method TEXT NOT NULL DEFAULT 'stats'")
            if "answered_at" not in {row[1] for row in db.execute("PRAGMA table_info(answers)")}:
                # schema < 3: when an older answer was first given is not known; read as its fetch time
                db.execute("ALTER TABLE answers ADD COLUMN answered_at REAL")
            if version < 4:
                _key_by_method(db)
            if version < SCHEMA_VERSION:
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            db.execute("SELECT count(*) FROM answers WHERE 0").fetchone()
        except sqlite3.DatabaseError as exc:
            db.close()
            raise self._explain(exc) from None
        self._db = db

    def _explain(self, exc: sqlite3.Error) -> CacheError:
        text = str(exc)
        lowered = text.lower()
        if "not a database" in lowered or "malformed" in lowered or "corrupt" in lowered:
            clear = "enrich cache clear" + (
                "" if self.path == default_cache_path() else f" --cache {self.path}"
            )
            return DamagedCacheError(
                self.path,
                f"the file is damaged or not an enrich cache ({text}); delete it (or run `{clear}`) "
                "and the answers will be fetched again",
            )
        if (
            "readonly" in lowered
            or "read-only" in lowered
            or "permission" in lowered
            or "unable to open" in lowered
        ):
            return self._fail(
                f"cannot write to it ({text}); check the permissions of the file and its directory"
            )
        if "disk" in lowered and "full" in lowered:
            return self._fail(
                f"the disk is full ({text}); free some space and run again (answers stored so far are kept)"
            )
        if "locked" in lowered or "busy" in lowered:
            return self._fail(f"another process holds it locked ({text}); is another enrich run using it?")
        return self._fail(text)

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise self._fail("the cache is closed")
        return self._db

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def __enter__(self) -> Cache:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- answers ------------------------------------------------------------------------------

    def get_many(
        self,
        tenant: str,
        lookback_hours: int,
        keys: Iterable[LookupKey],
        max_age_seconds: float | None = None,
        methods: Iterable[str] | None = None,
    ) -> dict[LookupKey, Answer]:
        """The cached answers among `keys` (fresher than `max_age_seconds` when given), obtained by
        one of `methods` (any when None; the latest fetched when a key has several), each marked
        `from_cache`."""
        allowed = None if methods is None else tuple(dict.fromkeys(methods))
        if allowed == ():
            return {}
        by_method = "" if allowed is None else f" AND method IN ({','.join('?' * len(allowed))})"
        by_family: dict[str, list[str]] = {}
        for key in keys:
            by_family.setdefault(key.family, []).append(key.key)
        oldest = -1.0 if max_age_seconds is None else self._clock() - max_age_seconds
        found: dict[LookupKey, Answer] = {}
        try:
            for family, names in by_family.items():
                for start in range(0, len(names), _CHUNK):
                    chunk = names[start : start + _CHUNK]
                    marks = ",".join("?" * len(chunk))
                    rows = self.db.execute(
                        "SELECT key, status, prevalence, first_seen, last_seen, error, detail, method, "
                        "coalesce(answered_at, fetched_at), fetched_at FROM answers "
                        f"WHERE tenant = ? AND family = ? AND lookback_hours = ? AND fetched_at >= ?{by_method} "
                        f"AND key IN ({marks}) ORDER BY fetched_at",
                        (tenant, family, int(lookback_hours), oldest, *(allowed or ()), *chunk),
                    )
                    for key, status, prevalence, first, last, error, detail, method, since, at in rows:
                        # positional (status, prevalence, first_seen, last_seen, error, detail, method,
                        # answered_at, fetched_at, from_cache): keywords cost a second per million answers
                        found[LookupKey(family, key)] = Answer(
                            Status(status),
                            prevalence,
                            first,
                            last,
                            error,
                            _detail_from_json(detail),
                            method,
                            since,
                            at,
                            True,
                        )
        except sqlite3.DatabaseError as exc:
            raise self._explain(exc) from None
        return found

    def put(
        self, tenant: str, lookback_hours: int, key: LookupKey, answer: Answer, method: str = "stats"
    ) -> Answer | None:
        """Store one answer (obtained by the strategy `method`), committed before returning.

        Returns `answer` with the times stored: `fetched_at` now (the cache's clock), `answered_at`
        kept from the stored answer when this one is the same, else now. None (not stored) for
        ERROR answers.
        """
        if answer.status not in _CACHED:
            return None
        now = self._clock()
        detail = json.dumps([list(pair) for pair in answer.detail], ensure_ascii=False)
        content = (answer.status.value, answer.prevalence, answer.first_seen, answer.last_seen, answer.error)
        method = answer.method or method
        where = (tenant, key.family, key.key, int(lookback_hours), method)
        db = self.db
        try:
            own = not db.in_transaction  # read the stored answer and replace it as one write
            if own:
                db.execute("BEGIN IMMEDIATE")
            try:
                old = db.execute(
                    "SELECT status, prevalence, first_seen, last_seen, error, detail, "
                    "coalesce(answered_at, fetched_at) FROM answers "
                    "WHERE tenant = ? AND family = ? AND key = ? AND lookback_hours = ? AND method = ?",
                    where,
                ).fetchone()
                since = old[6] if old is not None and old[:6] == (*content, detail) else now
                db.execute(
                    "INSERT OR REPLACE INTO answers (tenant, family, key, lookback_hours, method, status, "
                    "prevalence, first_seen, last_seen, error, detail, fetched_at, answered_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (*where, *content, detail, now, since),
                )
            except BaseException:
                if own and db.in_transaction:  # SQLite may have rolled back already (e.g. disk full)
                    db.execute("ROLLBACK")
                raise
            if own:
                db.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            raise self._explain(exc) from None
        return replace(answer, method=method, answered_at=since, fetched_at=now)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Every `put` inside commits together at the end (one fsync), or none if it raises."""
        db = self.db
        if db.in_transaction:  # nested: the outer one commits
            yield
            return
        try:
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.DatabaseError as exc:
            raise self._explain(exc) from None
        try:
            yield
        except BaseException:
            if db.in_transaction:
                with contextlib.suppress(sqlite3.DatabaseError):
                    db.execute("ROLLBACK")
            raise
        try:
            db.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            if db.in_transaction:
                with contextlib.suppress(sqlite3.DatabaseError):
                    db.execute("ROLLBACK")
            raise self._explain(exc) from None

    # -- maintenance --------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Entries per family and status, per method, oldest/newest fetch time, file size."""
        try:
            by_family: dict[str, dict[str, int]] = {}
            total = 0
            for family, status, count in self.db.execute(
                "SELECT family, status, count(*) FROM answers GROUP BY family, status ORDER BY family, status"
            ):
                by_family.setdefault(family, {})[status] = count
                total += count
            by_method = dict(
                self.db.execute(
                    "SELECT method, count(*) FROM answers GROUP BY method ORDER BY method"
                ).fetchall()
            )
            oldest, newest, tenants = self.db.execute(
                "SELECT min(fetched_at), max(fetched_at), count(DISTINCT tenant) FROM answers"
            ).fetchone()
        except sqlite3.DatabaseError as exc:
            raise self._explain(exc) from None
        size = 0
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(OSError):
                size += os.path.getsize(f"{self.path}{suffix}")
        return {
            "path": str(self.path),
            "entries": total,
            "by_family": by_family,
            "by_method": by_method,  # how the answers were obtained: stats, hunting-graph, hunting-legacy
            "tenants": tenants,
            "oldest": _iso(oldest),
            "newest": _iso(newest),
            "size_bytes": size,
        }

    def clear(self, older_than: float | None = None) -> int:
        """Delete entries fetched more than `older_than` seconds ago (all when None); returns how many."""
        try:
            if older_than is None:
                cursor = self.db.execute("DELETE FROM answers")
            else:
                cursor = self.db.execute(
                    "DELETE FROM answers WHERE fetched_at < ?", (self._clock() - older_than,)
                )
            removed = cursor.rowcount
            if older_than is None:
                self.db.execute("VACUUM")
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.DatabaseError as exc:
            raise self._explain(exc) from None
        return removed


def use_wal(db: sqlite3.Connection, seconds: float = BUSY_SECONDS) -> str:
    """Switch to the WAL journal; the journal mode then in force.

    Runs opening a new cache file at once (the tenants of a job sharing one) race to switch it
    (the cache's connection and the shared budget's, `enrich.mde.budget_store`):
    SQLite answers "database is locked" at once to the losers instead of waiting (the busy
    timeout does not cover it), so the switch is tried again for up to `seconds`.
    """
    deadline = time.monotonic() + seconds
    while True:
        try:
            return str(db.execute("PRAGMA journal_mode = WAL").fetchone()[0])
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc).lower() or time.monotonic() >= deadline:
                raise
            time.sleep(0.01)


def _key_by_method(db: sqlite3.Connection) -> None:
    """Schema 4: `method` joins the primary key (a table keyed without it is copied into one keyed
    with it, in one transaction; another process doing the same first leaves nothing to do)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        keyed = {row[1] for row in db.execute("PRAGMA table_info(answers)") if row[5]}
        if "method" not in keyed:
            db.execute(_TABLE.format(name="answers_v4"))
            db.execute(f"INSERT INTO answers_v4 ({_COLUMNS}) SELECT {_COLUMNS} FROM answers")
            db.execute("DROP TABLE answers")
            db.execute("ALTER TABLE answers_v4 RENAME TO answers")
            db.execute(_INDEX)
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _detail_from_json(text: str) -> tuple[tuple[str, str], ...]:
    if not text or text == "[]":
        return ()
    try:
        pairs = json.loads(text or "[]")
        return tuple((str(name), str(value)) for name, value in pairs)
    except (ValueError, TypeError):
        return ()
