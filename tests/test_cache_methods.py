"""The cache keys answers by how they were obtained (schema 4): a hunting answer is never read as a
stats one; a schema 3 file is migrated with its answers kept; a batch commits together or not at all."""

from __future__ import annotations

import sqlite3

import pytest

from enrich.cache import SCHEMA_VERSION, Cache
from enrich.model import Answer, LookupKey, Status

T = "tenant-1"
KEY = LookupKey("ips", "198.51.100.7")


def _schema_3(path, rows: list[str]) -> None:
    db = sqlite3.connect(path)
    db.executescript(
        """
        CREATE TABLE answers (tenant TEXT NOT NULL, family TEXT NOT NULL, key TEXT NOT NULL,
            lookback_hours INTEGER NOT NULL, status TEXT NOT NULL, prevalence INTEGER,
            first_seen TEXT NOT NULL DEFAULT '', last_seen TEXT NOT NULL DEFAULT '',
            error TEXT NOT NULL DEFAULT '', detail TEXT NOT NULL DEFAULT '[]', fetched_at REAL NOT NULL,
            method TEXT NOT NULL DEFAULT 'stats', answered_at REAL,
            PRIMARY KEY (tenant, family, key, lookback_hours)) WITHOUT ROWID;
        CREATE INDEX answers_fetched_at ON answers (fetched_at);
        """
        + "".join(f"INSERT INTO answers VALUES {row};\n" for row in rows)
        + "PRAGMA user_version = 3;"
    )
    db.close()


def test_schema_3_is_migrated_to_method_keyed_answers(tmp_path):
    path = tmp_path / "v3.sqlite3"
    _schema_3(
        path,
        [
            "('t', 'ips', '198.51.100.7', 720, 'seen', 3, 'a', 'b', '', '[]', 1.7e9, 'stats', 1.6e9)",
            "('t', 'files', 'ab', 24, 'not_seen', 0, '', '', '', '[]', 1.7e9, 'stats', NULL)",
        ],
    )
    cache = Cache(path)
    assert SCHEMA_VERSION == 4
    assert cache.db.execute("PRAGMA user_version").fetchone()[0] == 4
    keyed = [row[1] for row in cache.db.execute("PRAGMA table_info(answers)") if row[5]]
    assert "method" in keyed
    got = cache.get_many("t", 720, [KEY])[KEY]
    assert got == Answer(Status.SEEN, 3, "a", "b") and got.method == "stats" and got.answered_at == 1.6e9
    assert (
        cache.get_many("t", 24, [LookupKey("files", "ab")])[LookupKey("files", "ab")].status
        is Status.NOT_SEEN
    )
    assert cache.stats()["entries"] == 2
    # the index on fetch times is there again (clear --older-than uses it)
    assert cache.db.execute("SELECT name FROM sqlite_master WHERE name = 'answers_fetched_at'").fetchone()
    cache.close()
    assert Cache(path).stats()["entries"] == 2  # opening again migrates nothing twice


def test_the_same_key_keeps_one_answer_per_method(tmp_path):
    cache = Cache(tmp_path / "c.sqlite3")
    cache.put(T, 720, KEY, Answer(Status.SEEN, 3), method="stats")
    cache.put(T, 720, KEY, Answer(Status.SEEN, 2, detail=(("events", "9"),), method="hunting-graph"))
    assert cache.stats()["entries"] == 2
    assert cache.stats()["by_method"] == {"hunting-graph": 1, "stats": 1}
    stats = cache.get_many(T, 720, [KEY], methods=("stats",))[KEY]
    assert (stats.prevalence, stats.method, stats.from_cache) == (3, "stats", True)
    hunted = cache.get_many(T, 720, [KEY], methods=("hunting-graph", "hunting-legacy"))[KEY]
    assert (hunted.prevalence, hunted.method) == (2, "hunting-graph")
    assert cache.get_many(T, 720, [KEY], methods=("hunting-legacy",)) == {}
    assert cache.get_many(T, 720, [KEY], methods=()) == {}
    cache.close()


def test_with_several_methods_allowed_the_latest_fetched_answer_wins(tmp_path):
    now = [1_700_000_000.0]
    cache = Cache(tmp_path / "c.sqlite3", clock=lambda: now[0])
    cache.put(T, 720, KEY, Answer(Status.SEEN, 5), method="hunting-legacy")
    now[0] += 10
    cache.put(T, 720, KEY, Answer(Status.SEEN, 6), method="hunting-graph")
    got = cache.get_many(T, 720, [KEY], methods=("hunting-graph", "hunting-legacy"))[KEY]
    assert (got.prevalence, got.method) == (6, "hunting-graph")
    now[0] += 10
    cache.put(T, 720, KEY, Answer(Status.SEEN, 7), method="hunting-legacy")
    got = cache.get_many(T, 720, [KEY], methods=("hunting-graph", "hunting-legacy"))[KEY]
    assert (got.prevalence, got.method) == (7, "hunting-legacy")
    cache.close()


def test_a_transaction_commits_a_batch_together_or_not_at_all(tmp_path):
    path = tmp_path / "c.sqlite3"
    cache = Cache(path)
    keys = [LookupKey("domains", f"h{i}.example") for i in range(50)]
    with cache.transaction():
        for key in keys:
            cache.put(T, 720, key, Answer(Status.NOT_SEEN, 0), method="hunting-graph")
        other = Cache(path)  # a reader sees nothing of an uncommitted batch
        assert other.get_many(T, 720, keys) == {}
        other.close()
    assert len(Cache(path).get_many(T, 720, keys)) == 50
    more = [LookupKey("domains", f"x{i}.example") for i in range(5)]
    with pytest.raises(RuntimeError), cache.transaction():
        for key in more:
            cache.put(T, 720, key, Answer(Status.NOT_SEEN, 0))
        raise RuntimeError("stopped in the middle of a chunk")
    assert cache.get_many(T, 720, more) == {}
    cache.put(T, 720, more[0], Answer(Status.NOT_SEEN, 0))  # usable afterwards
    assert len(cache.get_many(T, 720, more)) == 1
    cache.close()
