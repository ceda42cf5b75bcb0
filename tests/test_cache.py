"""Cache: round trips, what is (not) cached, ages, 50k-key reads, durability, clear errors."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest

from enrich.cache import SCHEMA_VERSION, Cache, CacheError, default_cache_path
from enrich.model import Answer, LookupKey, Status

T = "tenant-1"


class Clock:
    def __init__(self, t: float = 1_700_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def seen(n: int = 3) -> Answer:
    return Answer(
        Status.SEEN,
        prevalence=n,
        first_seen="2024-01-01T00:00:00Z",
        last_seen="2024-02-01T12:30:00Z",
        detail=(("signer", "Contoso Ltd"), ("global_prevalence", "1200"), ("note", "ünïcode ✓")),
    )


def test_round_trip_and_keying(tmp_path):
    cache = Cache(tmp_path / "c.sqlite3")
    key = LookupKey("files", "a" * 40)
    assert cache.put(T, 720, key, seen())
    assert cache.get_many(T, 720, [key]) == {key: seen()}
    # other tenant, other lookback, other family: not the same entry
    assert cache.get_many("other", 720, [key]) == {}
    assert cache.get_many(T, 24, [key]) == {}
    assert cache.get_many(T, 720, [LookupKey("ips", "a" * 40)]) == {}
    # a newer answer replaces the older
    cache.put(T, 720, key, Answer(Status.NOT_SEEN, prevalence=0))
    assert cache.get_many(T, 720, [key])[key] == Answer(Status.NOT_SEEN, prevalence=0)
    cache.close()


def test_what_is_cached(tmp_path):
    cache = Cache(tmp_path / "c.sqlite3")
    error = LookupKey("ips", "10.0.0.1")
    invalid = LookupKey("ips", "999.1.1.1")
    not_seen = LookupKey("domains", "example.org")
    assert not cache.put(T, 720, error, Answer(Status.ERROR, error="MDE answered HTTP 503; gave up"))
    assert cache.put(T, 720, invalid, Answer(Status.INVALID, error="IP address 999.1.1.1 is invalid"))
    assert cache.put(T, 720, not_seen, Answer(Status.NOT_SEEN, prevalence=0))
    got = cache.get_many(T, 720, [error, invalid, not_seen])
    assert set(got) == {invalid, not_seen}
    assert got[invalid].error == "IP address 999.1.1.1 is invalid"


def test_max_age(tmp_path):
    clock = Clock()
    cache = Cache(tmp_path / "c.sqlite3", clock=clock)
    old, new = LookupKey("files", "1" * 40), LookupKey("files", "2" * 40)
    cache.put(T, 720, old, seen())
    clock.t += 3600
    cache.put(T, 720, new, seen())
    assert set(cache.get_many(T, 720, [old, new], max_age_seconds=1800)) == {new}
    assert set(cache.get_many(T, 720, [old, new], max_age_seconds=None)) == {old, new}
    clock.t += 10
    assert cache.clear(older_than=1800) == 1
    assert set(cache.get_many(T, 720, [old, new])) == {new}


def test_many_keys_fast(tmp_path):
    cache = Cache(tmp_path / "c.sqlite3")
    keys = [LookupKey(("files", "ips", "domains")[i % 3], f"k{i:06d}") for i in range(50_000)]
    cache.db.execute("BEGIN")  # bulk-load inside one transaction to keep the test quick
    for key in keys[::2]:
        cache.db.execute(
            "INSERT INTO answers (tenant, family, key, lookback_hours, status, prevalence, fetched_at) "
            "VALUES (?, ?, ?, 720, 'seen', 1, ?)",
            (T, key.family, key.key, time.time()),
        )
    cache.db.execute("COMMIT")
    got = cache.get_many(T, 720, keys)
    assert len(got) == 25_000 and all(k in got for k in keys[::2])


def test_stats_and_clear(tmp_path):
    clock = Clock()
    cache = Cache(tmp_path / "c.sqlite3", clock=clock)
    cache.put(T, 720, LookupKey("files", "f1"), seen())
    clock.t += 60
    cache.put(T, 720, LookupKey("files", "f2"), Answer(Status.NOT_SEEN, prevalence=0))
    cache.put("t2", 720, LookupKey("ips", "1.2.3.4"), Answer(Status.INVALID, error="bad"))
    stats = cache.stats()
    assert stats["entries"] == 3 and stats["tenants"] == 2
    assert stats["by_family"] == {"files": {"not_seen": 1, "seen": 1}, "ips": {"invalid": 1}}
    assert stats["oldest"] == "2023-11-14T22:13:20Z" and stats["newest"] == "2023-11-14T22:14:20Z"
    assert stats["size_bytes"] > 0 and stats["path"].endswith("c.sqlite3")
    assert cache.clear() == 3
    assert cache.stats()["entries"] == 0


def test_durable_settings_and_missing_directory(tmp_path):
    path = tmp_path / "deep" / "er" / "cache.sqlite3"
    cache = Cache(path)
    assert path.exists()
    assert cache.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert cache.db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert (path.stat().st_mode & 0o777) == 0o600


def test_committed_answers_survive_a_hard_kill(tmp_path):
    """A process killed without closing (os._exit) loses nothing it had put()."""
    path = tmp_path / "c.sqlite3"
    script = textwrap.dedent(
        f"""
        import os
        from enrich.cache import Cache
        from enrich.model import Answer, LookupKey, Status
        cache = Cache({str(path)!r})
        for i in range(50):
            cache.put("t", 720, LookupKey("files", f"k{{i}}"), Answer(Status.SEEN, prevalence=i + 1))
        os._exit(9)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], timeout=60)
    assert proc.returncode == 9
    cache = Cache(path)
    got = cache.get_many("t", 720, [LookupKey("files", f"k{i}") for i in range(50)])
    assert len(got) == 50 and got[LookupKey("files", "k49")].prevalence == 50


def test_corrupt_file_is_a_clear_error(tmp_path):
    path = tmp_path / "cache.sqlite3"
    path.write_bytes(b"this is not a database, just some bytes " * 200)
    with pytest.raises(CacheError) as info:
        Cache(path)
    assert str(path) in str(info.value) and "delete it" in str(info.value)


def test_unusable_location_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(CacheError) as info:
        Cache(blocker / "cache.sqlite3")
    assert str(blocker) in str(info.value)
    with pytest.raises(CacheError, match="directory"):
        Cache(tmp_path)


def test_newer_schema_refused(tmp_path):
    path = tmp_path / "c.sqlite3"
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 99")
    db.close()
    with pytest.raises(CacheError, match="newer version"):
        Cache(path)


def test_default_path(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_path() == tmp_path / "xdg" / "enrich" / "cache.sqlite3"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_path() == tmp_path / "home" / ".cache" / "enrich" / "cache.sqlite3"
    cache = Cache()
    assert cache.path == tmp_path / "home" / ".cache" / "enrich" / "cache.sqlite3" and cache.path.exists()


def test_concurrent_reader_while_writing(tmp_path):
    path = tmp_path / "c.sqlite3"
    writer = Cache(path)
    reader = Cache(path)
    writer.put(T, 720, LookupKey("files", "x"), seen())
    assert LookupKey("files", "x") in reader.get_many(T, 720, [LookupKey("files", "x")])
    assert reader.stats()["entries"] == 1


def _old_cache(tmp_path, version: int, row: str):
    """A cache file as schema `version` (1: no `method`; 2: `method`, no answer times) holding `row`."""
    path = tmp_path / "old.sqlite3"
    method = "method TEXT NOT NULL DEFAULT 'stats'," if version >= 2 else ""
    db = sqlite3.connect(path)
    db.executescript(
        f"""
        CREATE TABLE answers (tenant TEXT NOT NULL, family TEXT NOT NULL, key TEXT NOT NULL,
            lookback_hours INTEGER NOT NULL, status TEXT NOT NULL, prevalence INTEGER,
            first_seen TEXT NOT NULL DEFAULT '', last_seen TEXT NOT NULL DEFAULT '',
            error TEXT NOT NULL DEFAULT '', detail TEXT NOT NULL DEFAULT '[]', fetched_at REAL NOT NULL,
            {method}
            PRIMARY KEY (tenant, family, key, lookback_hours)) WITHOUT ROWID;
        INSERT INTO answers VALUES {row};
        PRAGMA user_version = {version};
        """
    )
    db.close()
    return path


def test_schema_1_cache_is_migrated_and_its_answers_are_stats_answers(tmp_path):
    path = _old_cache(tmp_path, 1, "('t', 'ips', '198.51.100.7', 720, 'seen', 3, '', '', '', '[]', 1e12)")
    cache = Cache(path)
    key = LookupKey("ips", "198.51.100.7")
    old = cache.get_many("t", 720, [key])[key]
    assert old.status is Status.SEEN and old.prevalence == 3 and old.method == "stats"
    other = LookupKey("ips", "198.51.100.8")
    cache.put("t", 720, other, Answer(Status.NOT_SEEN, prevalence=0), method="hunting-graph")
    assert cache.get_many("t", 720, [other])[other].method == "hunting-graph"
    assert cache.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    cache.close()


def test_when_an_answer_was_first_given_stays_until_it_changes(tmp_path):
    clock = Clock()
    cache = Cache(tmp_path / "c.sqlite3", clock=clock)
    key = LookupKey("ips", "198.51.100.7")
    first = cache.put(T, 720, key, seen())
    assert first == seen() and first.answered_at == first.fetched_at == clock.t
    got = cache.get_many(T, 720, [key])[key]
    assert (got.answered_at, got.fetched_at) == (clock.t, clock.t)
    clock.t += 3600  # fetched again, MDE answers the same: first given then, fetched now
    again = cache.put(T, 720, key, seen())
    assert (again.answered_at, again.fetched_at) == (1_700_000_000.0, clock.t)
    got = cache.get_many(T, 720, [key])[key]
    assert (got.answered_at, got.fetched_at) == (1_700_000_000.0, clock.t)
    clock.t += 3600  # MDE's answer changed: given now
    changed = cache.put(T, 720, key, seen(4))
    assert changed.answered_at == changed.fetched_at == clock.t
    got = cache.get_many(T, 720, [key])[key]
    assert got == seen(4) and got.answered_at == clock.t
    clock.t += 60  # other fields count as a change too (detail, dates)
    assert cache.put(T, 720, key, Answer(Status.SEEN, 4)).answered_at == clock.t
    cache.close()


def test_schema_2_cache_is_migrated_and_its_answers_were_first_given_when_fetched(tmp_path):
    path = _old_cache(
        tmp_path, 2, "('t', 'ips', '198.51.100.7', 720, 'seen', 3, '', '', '', '[]', 1.5e9, 'stats')"
    )
    clock = Clock(1.6e9)
    cache = Cache(path, clock=clock)
    assert cache.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    key = LookupKey("ips", "198.51.100.7")
    old = cache.get_many("t", 720, [key])[key]
    assert old == Answer(Status.SEEN, 3) and old.answered_at == old.fetched_at == 1.5e9
    again = cache.put("t", 720, key, Answer(Status.SEEN, 3))
    assert (again.answered_at, again.fetched_at) == (1.5e9, 1.6e9)
    cache.close()


def test_runs_opening_a_new_cache_at_once_all_open_it(tmp_path):
    """The tenants of a job share one cache file: opened at once, each open succeeds (switching a new
    file to WAL, SQLite answered "database is locked" to all but one, without waiting)."""
    import threading

    for trial in range(25):
        path = tmp_path / f"cache-{trial}.sqlite3"
        start = threading.Barrier(6)
        errors: list[str] = []

        def open_it(path=path, start=start, errors=errors) -> None:
            start.wait(10)
            try:
                Cache(path).close()
            except CacheError as exc:
                errors.append(str(exc))

        threads = [threading.Thread(target=open_it) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert errors == [], errors
        with Cache(path) as cache:
            assert cache.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
