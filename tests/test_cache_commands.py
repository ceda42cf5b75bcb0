"""`enrich cache stats|clear` have no side effects: they create nothing, and `clear` deals with the
damaged cache it is advised for."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from enrich.cache import Cache
from enrich.cli import cli
from enrich.model import Answer, LookupKey, Status

SAMPLES = Path(__file__).resolve().parents[1] / "sample_data"
SQLITE_HEADER = b"SQLite format 3\x00"

pytestmark = pytest.mark.usefixtures("clean_mde_env")


def invoke(*args: str, **env: str):
    return CliRunner().invoke(cli, ["cache", *args], env=env or None)


def damaged(path: Path, companions: bool = True) -> Path:
    """An SQLite file whose pages are junk (what a disk fault leaves), with its -wal and -shm."""
    with Cache(path) as cache:
        for i in range(300):
            cache.put("t", 720, LookupKey("ips", f"10.0.{i // 250}.{i % 250}"), Answer(Status.SEEN, 3))
    data = bytearray(path.read_bytes())
    data[100:] = bytes((i * 7 + 13) % 256 for i in range(len(data) - 100))
    path.write_bytes(bytes(data))
    if companions:
        Path(f"{path}-wal").write_bytes(b"")
        Path(f"{path}-shm").write_bytes(b"")
    return path


def test_stats_on_a_missing_cache_says_so_and_creates_nothing(tmp_path):
    path = tmp_path / "not" / "there" / "c.sqlite3"
    result = invoke("stats", "--cache", str(path))
    assert result.exit_code == 1
    assert "no such cache file" in result.stderr and str(path) in result.stderr
    assert not (tmp_path / "not").exists()


def test_stats_on_the_missing_default_cache_creates_nothing(tmp_path):
    result = invoke("stats", XDG_CACHE_HOME=str(tmp_path / "xdg"))
    assert result.exit_code == 1 and "no such cache file" in result.stderr
    assert not (tmp_path / "xdg").exists()


def test_clear_on_a_missing_cache_has_nothing_to_do_and_creates_nothing(tmp_path):
    path = tmp_path / "sub" / "c.sqlite3"
    result = invoke("clear", "--cache", str(path))
    assert result.exit_code == 0 and "nothing to clear" in result.stdout
    assert not (tmp_path / "sub").exists()
    result = invoke("clear", "--older-than", "3d", XDG_CACHE_HOME=str(tmp_path / "xdg"))
    assert result.exit_code == 0 and not (tmp_path / "xdg").exists()


def test_stats_on_an_existing_cache_still_reports(tmp_path):
    path = tmp_path / "c.sqlite3"
    with Cache(path) as cache:
        cache.put("t", 720, LookupKey("ips", "198.51.100.7"), Answer(Status.SEEN, 3))
    result = invoke("stats", "--cache", str(path))
    assert result.exit_code == 0 and "1 answers" in result.stdout


def test_clear_deletes_a_damaged_cache_and_its_wal_and_shm(tmp_path):
    path = damaged(tmp_path / "c.sqlite3")
    stats = invoke("stats", "--cache", str(path))
    assert stats.exit_code == 1 and "damaged" in stats.stderr and "enrich cache clear" in stats.stderr
    result = invoke("clear", "--cache", str(path))
    assert result.exit_code == 0, result.stderr
    assert "damaged" in result.stdout and "deleted" in result.stdout
    assert sorted(os.listdir(tmp_path)) == []
    again = invoke("clear", "--cache", str(path))
    assert again.exit_code == 0 and "nothing to clear" in again.stdout


def test_a_run_that_finds_a_damaged_cache_is_cured_by_the_advised_clear(tmp_path):
    path = damaged(tmp_path / "c.sqlite3", companions=False)
    args = ["run", "--sandbox", str(SAMPLES / "plain_list.txt"), "-o", str(tmp_path / "o.csv")]
    first = CliRunner().invoke(cli, [*args, "--cache", str(path)])
    assert first.exit_code == 1 and "enrich cache clear" in first.stderr
    assert invoke("clear", "--cache", str(path)).exit_code == 0
    second = CliRunner().invoke(cli, [*args, "--cache", str(path)])
    assert second.exit_code == 0, second.stderr
    assert invoke("stats", "--cache", str(path)).exit_code == 0


def test_clear_older_than_leaves_a_damaged_cache_alone(tmp_path):
    path = damaged(tmp_path / "c.sqlite3")
    before = path.read_bytes()
    result = invoke("clear", "--cache", str(path), "--older-than", "30d")
    assert result.exit_code == 1 and "without --older-than" in result.stderr
    assert path.read_bytes() == before


def test_clear_never_deletes_a_file_that_is_not_sqlite_at_a_given_path(tmp_path):
    path = tmp_path / "report.csv"  # a mistyped --cache
    path.write_text("indicator\n198.51.100.7\n" * 100)
    result = invoke("clear", "--cache", str(path))
    assert result.exit_code == 1 and "left alone" in result.stderr
    assert path.read_text().startswith("indicator")


def test_clear_deletes_a_damaged_default_cache_whatever_it_holds(tmp_path):
    folder = tmp_path / "xdg" / "enrich"
    folder.mkdir(parents=True)
    (folder / "cache.sqlite3").write_bytes(b"this is not a database, just some bytes " * 200)
    result = invoke("clear", XDG_CACHE_HOME=str(tmp_path / "xdg"))
    assert result.exit_code == 0 and "deleted" in result.stdout
    assert os.listdir(folder) == []
