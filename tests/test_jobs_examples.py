"""The example jobs of `jobs/` as a scheduler runs them: a real process with no terminal, against the
sandbox; outputs and summaries where each job says, no progress bars, JSON log lines that parse.
Their crontab lines and systemd units point at jobs that exist (and pass `systemd-analyze verify`)."""

from __future__ import annotations

import inspect
import json
import os
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from enrich import logs
from enrich.jobfile import load_job

pytestmark = pytest.mark.timeout(300)

ROOT = Path(__file__).resolve().parents[1]
JOBS = ROOT / "jobs"
EXAMPLES = sorted(p.name for p in JOBS.glob("*.toml"))
ENRICH = [sys.executable, "-m", "enrich"]


def _json_logs() -> bool:
    """Whether `--log-format json` writes JSON lines yet (enrich.logs takes a format)."""
    return "fmt" in inspect.signature(logs.configured).parameters


def _expected(job_path: Path, when: datetime) -> list[str]:
    job = load_job(str(job_path), when, sandbox=True)
    runs = [t.request for t in job.tenants] or [job.request]
    paths = [job.request.summary] + [p for r in runs for p in (r.output, r.summary, r.report)]
    return sorted({p for p in paths if p and p != "-"})


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A copy of jobs/ beside sample_data/ and an empty out/, as in the repository."""
    shutil.copytree(JOBS, tmp_path / "jobs")
    (tmp_path / "sample_data").symlink_to(ROOT / "sample_data")
    (tmp_path / "out").mkdir()
    return tmp_path


def test_there_is_an_example_per_use():
    for name in (
        "nightly-feeds.toml",
        "incident-export.toml",
        "audit-sweep-hunt.toml",
        "tenants-nightly.toml",
    ):
        assert name in EXAMPLES
    assert load_job(str(JOBS / "audit-sweep-hunt.toml"), sandbox=True).request.mode == "hunt"
    assert load_job(str(JOBS / "incident-export.toml"), sandbox=True).request.to in (None, "xlsx")


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_job_runs_unattended(workdir, name, clean_mde_env):
    job = workdir / "jobs" / name
    before = datetime.now(UTC)
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "TERM")}
    done = subprocess.run(
        [*ENRICH, "job", "--sandbox", "--log-format", "json", str(job)],
        cwd=workdir,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    after = datetime.now(UTC)
    assert done.returncode == 0, done.stderr[-4000:]
    assert done.stdout == ""  # every output goes where the job says, nothing to stdout
    # outputs and summaries where the job says (the run's minute may have turned: either one)
    expected = _expected(job, before)
    if not all(Path(p).exists() for p in expected):
        expected = _expected(job, after)
    missing = [p for p in expected if not Path(p).exists()]
    assert not missing, missing
    for path in expected:
        assert Path(path).is_relative_to(workdir / "out")
        if path.endswith(".summary.json"):
            summary = json.loads(Path(path).read_text())
            assert summary["status"] == "finished" and summary["exit_code"] == 0
    # no progress bars, no terminal codes: lines a log file keeps
    assert "\r" not in done.stderr and "\x1b[" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    objects = [json.loads(line) for line in lines if line.startswith("{")]
    if _json_logs():  # every line a JSON object (the job's own lines too)
        assert lines and len(objects) == len(lines), done.stderr[-2000:]
        assert all({"time", "level", "event"} <= set(o) for o in objects)
    assert all(isinstance(o, dict) for o in objects)


def _cron_jobs() -> list[tuple[str, str]]:
    """(schedule, job file) of every crontab line, commented-out ones too."""
    found = []
    for line in (JOBS / "crontab").read_text().splitlines():
        line = line.lstrip("#").strip()
        fields = line.split(None, 5)
        if len(fields) == 6 and "enrich job" in fields[5]:
            job = re.search(r"(jobs/[\w.-]+\.toml)", fields[5])
            assert job, line
            found.append((" ".join(fields[:5]), job.group(1)))
    return found


def test_crontab_lines_run_the_examples():
    cron = _cron_jobs()
    assert {job for _, job in cron} >= {
        "jobs/nightly-feeds.toml",
        "jobs/incident-export.toml",
        "jobs/audit-sweep-hunt.toml",
    }
    field = re.compile(r"^(\*|\d+(-\d+)?)(/\d+)?(,\d+)*$")
    for schedule, job in cron:
        assert all(field.match(f) for f in schedule.split()), schedule
        assert (ROOT / job).is_file(), job


UNITS = sorted(p.name for p in (JOBS / "systemd").glob("*.service"))


def test_each_use_has_a_service_and_a_timer():
    assert len(UNITS) == 3
    for service in UNITS:
        text = (JOBS / "systemd" / service).read_text()
        job = re.search(r"^ExecStart=/srv/enrich/\.venv/bin/enrich job .*?(jobs/[\w.-]+\.toml)$", text, re.M)
        assert job and (ROOT / job.group(1)).is_file(), service
        assert "Type=oneshot" in text and "SuccessExitStatus=75" in text
        assert (JOBS / "systemd" / service.replace(".service", ".timer")).is_file()


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_units_verify_clean(tmp_path):
    """`systemd-analyze verify` says nothing (the install path /srv/enrich made this checkout)."""
    for unit in (JOBS / "systemd").iterdir():
        (tmp_path / unit.name).write_text(unit.read_text().replace("/srv/enrich", str(ROOT)))
    units = sorted(str(p) for p in tmp_path.iterdir())
    done = subprocess.run(
        ["systemd-analyze", "verify", *units],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0 and done.stderr.strip() == "", done.stderr
