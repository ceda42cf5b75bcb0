"""What `-o` / `--summary` name decides how they are written: a symlink's target (the link kept), a
FIFO or device in place, never an input; a missing folder is found before any lookup."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading

import pytest
from click.testing import CliRunner

from enrich.cli import cli
from enrich.errors import EXIT_USAGE
from enrich.sandbox import Sandbox, SandboxConfig
from enrich.sinks.atomic import AtomicFile, destination, remove_stale_temporaries
from tests.process_helpers import RATE, api_calls, sandbox_env

IOCS = "indicator,comment\n198.51.100.7,a\nevil.example,b\n"


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(SandboxConfig(time_scale=60, seed=9)) as sb:
        yield sb


@pytest.fixture
def env(sandbox, monkeypatch):
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "MDE_RATE_LIMIT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in sandbox.env().items():
        monkeypatch.setenv(name, value)
    sandbox.reset_stats()
    return sandbox


def run(*args: str):
    return CliRunner().invoke(cli, ["run", *args, "--no-cache", "--rate-limit", RATE])


def classify(*args: str):
    return CliRunner().invoke(cli, ["classify", *args])


def hidden(folder) -> list[str]:  # noqa: ANN001
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


# --- symlinks ----------------------------------------------------------------------------------


def test_a_symlinked_output_and_summary_write_their_targets_and_keep_the_links(env, tmp_path):
    (tmp_path / "in.csv").write_text(IOCS)
    store = tmp_path / "store"
    store.mkdir()
    (store / "out.csv").write_text("old")
    out, summary = tmp_path / "latest.csv", tmp_path / "latest.json"
    out.symlink_to(store / "out.csv")
    summary.symlink_to("store/summary.json")  # relative, dangling until written
    result = run(str(tmp_path / "in.csv"), "-o", str(out), "--summary", str(summary))
    assert result.exit_code == 0, result.stderr
    assert out.is_symlink() and summary.is_symlink()
    assert os.readlink(out) == str(store / "out.csv") and os.readlink(summary) == "store/summary.json"
    assert (store / "out.csv").read_text().startswith("indicator,comment,mde_type")
    assert json.loads((store / "summary.json").read_text())["output"] == str(out)
    assert hidden(store) == [] and hidden(tmp_path) == []


def test_classify_writes_a_symlinks_target(tmp_path):
    (tmp_path / "in.csv").write_text(IOCS)
    (tmp_path / "real.csv").write_text("old")
    (tmp_path / "link.csv").symlink_to("real.csv")
    result = classify(str(tmp_path / "in.csv"), "-o", str(tmp_path / "link.csv"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "link.csv").is_symlink()
    assert (tmp_path / "real.csv").read_text().startswith("indicator,comment,mde_type")


# --- streams: FIFO, /dev/stdout ------------------------------------------------------------


def _read_fifo(path, into: list[bytes]) -> threading.Thread:  # noqa: ANN001
    def read() -> None:
        with open(path, "rb") as fh:
            into.append(fh.read())

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("command", ["run", "classify"])
def test_a_fifo_output_is_written_into_not_replaced(env, tmp_path, command):
    (tmp_path / "in.csv").write_text(IOCS)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = _read_fifo(fifo, got)
    invoke = run if command == "run" else classify
    result = invoke(str(tmp_path / "in.csv"), "-o", str(fifo))
    reader.join(30)
    assert result.exit_code == 0, result.output
    assert stat.S_ISFIFO(os.stat(fifo).st_mode), "the FIFO is still a FIFO"
    lines = got[0].decode().splitlines()
    assert lines[0].startswith("indicator,comment,mde_type") and len(lines) == 3
    assert hidden(tmp_path) == []


def test_dev_stdout_and_descriptor_links_are_written_in_place(sandbox, tmp_path):
    """In a real process whose stdout is a pipe: `-o /dev/fd/1`, and a symlink to /dev/stdout."""
    (tmp_path / "in.csv").write_text(IOCS)
    (tmp_path / "to-stdout").symlink_to("/dev/stdout")
    env = sandbox_env(sandbox)
    for out in ("/dev/fd/1", str(tmp_path / "to-stdout")):
        done = subprocess.run(
            [sys.executable, "-m", "enrich", "classify", str(tmp_path / "in.csv"), "-o", out],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("indicator,comment,mde_type") and len(done.stdout.splitlines()) == 3
    assert (tmp_path / "to-stdout").is_symlink()
    stix = subprocess.run(
        [sys.executable, "-m", "enrich", "run", str(tmp_path / "in.csv"), "-o", str(tmp_path / "to-stdout")]
        + ["--to", "stix", "--no-cache", "--rate-limit", RATE],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert stix.returncode == 0, stix.stderr
    assert json.loads(stix.stdout)["type"] == "bundle"
    assert hidden(tmp_path) == []


def test_destination_tells_streams_from_files(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "link").symlink_to("sub/file.csv")
    assert destination("-").stream and destination("/dev/null").stream and destination("/dev/stdout").stream
    assert destination(str(tmp_path / "fifo")).stream
    assert destination(str(tmp_path / "link")) == (
        str(tmp_path / "link"),
        str(tmp_path / "sub/file.csv"),
        False,
    )
    assert AtomicFile("-").folder is None


def test_stale_temporaries_of_an_output_are_removed_and_no_other_file(tmp_path):
    for name in (
        ".out.csv.0badc0de.tmp",
        ".out.csv.lock",
        ".out.csv.x.tmp",
        ".other.csv.0badc0de.tmp",
        "out.csv",
    ):
        (tmp_path / name).write_text("x")
    assert remove_stale_temporaries(str(tmp_path / "out.csv")) == [str(tmp_path / ".out.csv.0badc0de.tmp")]
    assert hidden(tmp_path) == [".other.csv.0badc0de.tmp", ".out.csv.lock", ".out.csv.x.tmp"]


# --- an output that is an input: refused before anything runs --------------------------------


@pytest.mark.parametrize("spelling", ["relative", "absolute", "symlink", "hardlink", "summary"])
def test_an_output_that_is_an_input_is_a_usage_error_before_any_lookup(env, tmp_path, monkeypatch, spelling):
    inp = tmp_path / "in.csv"
    inp.write_text(IOCS)
    monkeypatch.chdir(tmp_path)
    if spelling == "symlink":
        (tmp_path / "alias.csv").symlink_to(inp)
    if spelling == "hardlink":
        os.link(inp, tmp_path / "alias.csv")
    out = {"relative": "./in.csv", "absolute": str(inp), "summary": "x.csv"}.get(spelling, "alias.csv")
    args = ["in.csv", "-o", out] + (["--summary", str(inp)] if spelling == "summary" else [])
    result = run(*args)
    assert result.exit_code == EXIT_USAGE, result.output
    assert "is the input" in result.stderr and "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]  # the error, in one line, is the last thing said
    assert last.startswith("enrich: ") and "is the input" in last, result.stderr
    assert inp.read_text() == IOCS, "the input is untouched (no failed summary over it either)"
    assert api_calls(env) == 0


def test_classify_refuses_its_input_as_output(tmp_path):
    inp = tmp_path / "in.csv"
    inp.write_text(IOCS)
    (tmp_path / "alias.csv").symlink_to(inp)
    result = classify(str(inp), "-o", str(tmp_path / "alias.csv"))
    assert result.exit_code == EXIT_USAGE, result.output
    assert result.stderr.startswith("enrich classify: -o ") and "is the input" in result.stderr
    assert inp.read_text() == IOCS


def test_a_missing_output_folder_is_found_before_any_lookup(env, tmp_path, monkeypatch):
    (tmp_path / "in.csv").write_text(IOCS)
    monkeypatch.chdir(tmp_path)
    result = run("in.csv", "-o", "newdir/")
    assert result.exit_code == 1, result.output
    assert "enrich: newdir/: no such folder; create it first" in result.stderr
    assert api_calls(env) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]
    result = classify("in.csv", "-o", "newdir/")
    assert result.exit_code == 1 and "newdir/: no such folder" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]
