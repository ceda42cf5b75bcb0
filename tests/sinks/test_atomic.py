"""The one atomic-write helper: whole or nothing, the mode a new file would get, no umask toggling."""

from __future__ import annotations

import os
import stat

import pytest

from enrich.sinks.atomic import AtomicFile, write_text_atomic


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_commit_replaces_abort_leaves_the_target(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    out = AtomicFile(str(target))
    out.file.write("new")
    assert target.read_text() == "old"  # nothing at the target until commit
    out.abort()
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["out.txt"]
    out = AtomicFile(str(target))
    out.file.write("new")
    out.commit()
    assert target.read_text() == "new" and os.listdir(tmp_path) == ["out.txt"]


def test_new_file_gets_the_umask_mode_and_a_replaced_file_keeps_its_mode(tmp_path, monkeypatch):
    calls: list[int] = []
    real_umask = os.umask
    monkeypatch.setattr(os, "umask", lambda mask: calls.append(mask) or real_umask(mask))
    old = real_umask(0o027)
    try:
        write_text_atomic(str(tmp_path / "new.json"), "{}\n")
        assert _mode(tmp_path / "new.json") == 0o640
        kept = tmp_path / "kept.json"
        kept.write_text("x")
        os.chmod(kept, 0o600)
        write_text_atomic(str(kept), "{}\n")
        assert _mode(kept) == 0o600 and kept.read_text() == "{}\n"
    finally:
        real_umask(old)
    assert calls == []  # never reads the umask by setting it


def test_a_write_that_fails_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "o.txt"
    with pytest.raises(UnicodeEncodeError):
        write_text_atomic(str(target), "a lone surrogate \ud800 cannot be UTF-8")
    assert os.listdir(tmp_path) == []
    assert AtomicFile("-").tmp is None  # stdout is not atomic: no temporary file
