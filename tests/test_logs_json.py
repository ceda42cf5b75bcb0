"""`--log-format json`: every stderr line of a run is one JSON object (time, level, run_id, tenant,
event, ...), with start, progress, quota_wait, retry and finish events, and never a secret, token
or authorization header. Real `python -m enrich` processes (no terminal) against a sandbox."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from enrich import logs
from enrich.mde.errors import register_secret
from enrich.sandbox import Sandbox, SandboxConfig
from tests.process_helpers import sandbox_env

pytestmark = pytest.mark.timeout(180)

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
KEYS = ("time", "level", "run_id", "tenant", "event", "message")


@pytest.fixture(scope="module")
def sb():
    with Sandbox(SandboxConfig(seed=21, sample_dir="", time_scale=60)) as box:
        yield box


@pytest.fixture
def clean(sb):
    sb.configure(faults={})
    sb.reset_quotas()
    return sb


def _feed(tmp_path: Path, count: int = 20) -> Path:
    feed = tmp_path / "feed.csv"
    feed.write_text("indicator\n" + "".join(f"198.18.9.{i}\n" for i in range(count)) + "example.com\n")
    return feed


def _enrich(args: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "enrich", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def _objects(stderr: str) -> list[dict]:
    """Every stderr line as a JSON object (the test fails on a line that is not one)."""
    lines = stderr.splitlines()
    assert lines, "nothing on stderr"
    objects = []
    for line in lines:
        obj = json.loads(line)  # raises on a line that is not JSON
        assert isinstance(obj, dict), line
        assert all(key in obj for key in KEYS), line
        assert ISO_UTC.match(obj["time"]), obj["time"]
        objects.append(obj)
    return objects


def _assert_no_secret(text: str, secret: str) -> None:
    assert secret not in text
    for leak in ("eyJ", "Bearer", "Authorization", "client_secret="):
        assert leak not in text, leak


def test_a_verbose_json_run_is_json_lines_with_events_and_no_secret(clean, tmp_path):
    sb = clean
    sb.configure(faults={"500": 0.3}, fault_families=["ips"], token_lifetime=2)
    sb.force_429(count=2, retry_after=1, family="ips")
    summary = tmp_path / "summary.json"
    args = [
        "run",
        str(_feed(tmp_path)),
        "-o",
        str(tmp_path / "out.csv"),
        "--summary",
        str(summary),
        "--mode",
        "stats",
        "--no-cache",
        "--rate-limit",
        "5/1s,1500/60s",  # 21 lookups at 5 a second: several seconds, so progress events come
        "--progress-interval",
        "1",
        "-vv",
        "--log-format",
        "json",
    ]
    done = _enrich(args, sandbox_env(sb))
    assert done.returncode in (0, 3), done.stderr[-2000:]
    objects = _objects(done.stderr)
    _assert_no_secret(done.stderr + done.stdout, sb.client_secret)
    assert len({obj["run_id"] for obj in objects}) == 1 and objects[0]["run_id"]
    events = [obj["event"] for obj in objects]
    assert events[0] == "start" and events.count("finish") == 1 and events[-1] in ("finish", "message")
    for name in ("request", "progress", "quota_wait", "retry"):
        assert name in events, (name, sorted(set(events)))
    assert {obj["tenant"] for obj in objects if obj["event"] != "start"} - {None} == {sb.tenant_id}
    quota = next(obj for obj in objects if obj["event"] == "quota_wait")
    assert quota["family"] == "ips" and quota["wait_seconds"] >= 1
    retry = next(obj for obj in objects if obj["event"] == "retry" and "attempt" in obj)
    assert retry["family"] == "ips" and retry["attempt"] >= 1 and "500" in retry["reason"]
    progress = [obj for obj in objects if obj["event"] == "progress"]
    assert all(p["total"] == 21 and 0 <= p["done"] <= 21 and "quota_wait_seconds" in p for p in progress)
    finish = next(obj for obj in objects if obj["event"] == "finish")
    written = json.loads(summary.read_text())
    assert finish["exit_code"] == done.returncode
    for key in ("rows", "indicators", "lookups", "calls", "endpoints"):
        assert finish["summary"][key] == written[key], key


def test_the_environment_and_a_job_file_choose_json_and_quiet_drops_progress(clean, tmp_path):
    sb = clean
    job = tmp_path / "job.toml"
    feed = _feed(tmp_path, 6)
    job.write_text(
        f'inputs = ["{feed.name}"]\noutput = "out.csv"\nno_cache = true\nmode = "stats"\n'
        'log_format = "json"\nquiet = true\nprogress_interval = 1\nrate_limit = "2/1s,1500/60s"\n'
    )
    done = _enrich(["job", str(job)], sandbox_env(sb))
    assert done.returncode == 0, done.stderr[-2000:]
    events = [obj["event"] for obj in _objects(done.stderr)]
    assert events[0] == "start" and "finish" in events and "progress" not in events
    env = {**sandbox_env(sb), "ENRICH_LOG_FORMAT": "json"}
    done = _enrich(["run", str(feed), "-o", str(tmp_path / "o2.csv"), "--no-cache", "--mode", "stats"], env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert [obj["event"] for obj in _objects(done.stderr)][0] == "start"
    text = _enrich(
        ["run", str(feed), "-o", str(tmp_path / "o3.csv"), "--no-cache", "--mode", "stats"], sandbox_env(sb)
    )
    assert text.returncode == 0 and not text.stderr.lstrip().startswith("{")


def test_a_failed_run_ends_with_a_failed_finish_event_and_no_secret(clean, tmp_path):
    sb = clean
    env = {**sandbox_env(sb), "MDE_CLIENT_SECRET": "Wr0ng-secret~0123456789abcdefXYZ"}
    done = _enrich(
        [
            "run",
            str(_feed(tmp_path, 2)),
            "-o",
            str(tmp_path / "o.csv"),
            "--no-cache",
            "--log-format",
            "json",
            "-vv",
        ],
        env,
    )
    assert done.returncode == 1
    objects = _objects(done.stderr)
    finish = [obj for obj in objects if obj["event"] == "finish"]
    assert len(finish) == 1 and finish[0]["status"] == "failed" and finish[0]["level"] == "error"
    assert "AADSTS7000215" in finish[0]["error"]
    _assert_no_secret(done.stderr, "Wr0ng-secret~0123456789abcdefXYZ")
    _assert_no_secret(done.stderr, sb.client_secret)


def test_json_handler_scrubs_secrets_counts_repeats_and_shows_other_libraries(monkeypatch):
    secret = "s3cr3t-Value-0123456789~abc"
    register_secret(secret)
    stream = io.StringIO()
    with logs.configured(0, stream, interval=3600, fmt="json") as run_log:
        log = logging.getLogger("enrich.mde.client")
        for delay in (1.5, 2.5, 3.5):
            log.info("MDE quota exceeded for %s (429); pausing that API for %.1f s%s", "ips", delay, "")
        log.warning("odd answer carrying %s", secret)
        logging.getLogger("msal.somewhere").warning("a library's warning")
        warnings.warn("a Python warning", UserWarning, stacklevel=1)
        logging.getLogger("enrich.x").info("plain info below the verbosity")
        print(f"enrich: warning: a printed line with {secret}", file=run_log.lines)
    objects = _objects(stream.getvalue())
    assert [obj["event"] for obj in objects] == ["quota_wait", "log", "log", "log", "message", "quota_wait"]
    assert objects[0]["wait_seconds"] == 1.5 and objects[-1]["repeated"] == 2
    assert objects[2]["message"] == "a library's warning" and objects[4]["level"] == "warning"
    assert "a Python warning" in objects[3]["message"]
    assert secret not in stream.getvalue() and "***" in objects[1]["message"]
    assert {obj["run_id"] for obj in objects} == {run_log.run_id}
    assert logs.run_id() is None  # the run's id ends with the run


def test_runs_in_threads_each_log_only_their_own_records():
    import threading

    streams = [io.StringIO(), io.StringIO()]
    ready = threading.Barrier(2)

    def one(n: int) -> None:
        with logs.configured(0, streams[n], fmt="json"):
            logs.set_tenant(f"tenant-{n}")
            ready.wait(10)  # both runs configured at once
            logs.event("progress", f"run {n}", done=n)
            ready.wait(10)

    threads = [threading.Thread(target=one, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    for n, stream in enumerate(streams):
        objects = _objects(stream.getvalue())
        assert [(obj["tenant"], obj["done"]) for obj in objects] == [(f"tenant-{n}", n)]


def test_a_job_file_that_cannot_be_read_is_one_json_line(tmp_path):
    job = tmp_path / "job.toml"
    job.write_text("inputs = []\n")
    done = _enrich(["job", str(job), "--log-format", "json"], dict(os.environ))
    assert done.returncode == 1
    (obj,) = _objects(done.stderr)
    assert obj["event"] == "finish" and obj["status"] == "failed" and "'inputs' must list" in obj["error"]


def test_every_event_template_is_still_logged_somewhere():
    """The records JSON turns into events are found by their message templates: each must still exist."""
    sources = "".join(path.read_text() for path in (Path(logs.__file__).parent / "mde").rglob("*.py"))
    for template in logs.TEMPLATES:
        assert json.dumps(template) in sources, template
