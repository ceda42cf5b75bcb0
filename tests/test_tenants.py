"""Many tenants, one job (`[[tenant]]` tables, enrich/tenants.py), against a multi-tenant sandbox."""

from __future__ import annotations

import csv
import io
import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from enrich.errors import (
    EXIT_FATAL,
    EXIT_INTERRUPTED,
    EXIT_LOCKED,
    EXIT_OK,
    EXIT_ROW_ERRORS,
    EXIT_USAGE,
    JobError,
)
from enrich.jobfile import load_job
from enrich.sandbox import Sandbox, SandboxConfig
from enrich.tenants import TenantResult, job_summary, run_tenants, worst

pytestmark = pytest.mark.timeout(120)

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data" / "plain_list.txt"
WHEN = datetime(2026, 1, 31, tzinfo=UTC)
CREDENTIALS = ("MDE_TENANT_ID", "MDE_CLIENT_ID", "MDE_CLIENT_SECRET", "MDE_CLIENT_CERTIFICATE")


def _hosts(sb: Sandbox) -> dict[str, str]:
    """The environment pointing at `sb` without any credentials (each tenant brings its own)."""
    keep = {k: v for k, v in os.environ.items() if not k.startswith("MDE_")}
    keep.update({k: v for k, v in sb.env().items() if k not in CREDENTIALS})
    return keep


def _secrets(folder: Path, name: str, tenant: str, client: str, secret: str) -> Path:
    path = folder / f"{name}.json"
    body = {"mde_tenant_id": tenant, "mde_client_id": client, "mde_client_secret": secret}
    path.write_text(json.dumps(body))
    path.chmod(0o600)
    return path


def _job(tmp_path: Path, body: str) -> str:
    path = tmp_path / "job.toml"
    path.write_text(body)
    return str(path)


def test_twenty_tenants_one_bad_quota_respected(tmp_path, clean_mde_env):
    """20 tenants at once against one sandbox: each keeps to its own budget (the sandbox answers no
    429), one tenant's wrong secret fails that tenant alone, the job says so in its code and summary."""
    (tmp_path / "secrets").mkdir()
    (tmp_path / "out").mkdir()
    # 5 calls per (scaled) minute per tenant and API family: 11 lookups make every tenant wait.
    with Sandbox(SandboxConfig(time_scale=60, tenants=20, sample_dir="", entity_limits=(5, 1500))) as sb:
        for number, client in enumerate(sb.clients, start=1):
            secret = client.secret if number != 7 else client.secret[:-4] + "XXXX"
            _secrets(tmp_path / "secrets", f"t{number:02d}", client.tenant_id, client.client_id, secret)
        tables = "".join(f'[[tenant]]\nname = "t{n:02d}"\n' for n in range(1, 21))
        path = _job(
            tmp_path,
            f'inputs = ["{SAMPLE}"]\n'
            'output = "out/{tenant}.csv"\n'
            'secrets = "secrets/{tenant}.json"\n'
            'summary = "out/job.summary.json"\n'
            'cache = "cache.sqlite3"\n'
            'mode = "stats"\n'
            'rate_limit = "4/1s,1500/60s"\n'
            "tenant_concurrency = 20\n" + tables,
        )
        job = load_job(path, WHEN)
        assert [t.name for t in job.tenants] == [f"t{n:02d}" for n in range(1, 21)]
        err = io.StringIO()
        code = run_tenants(job, err=err, job_file=path, environ=_hosts(sb))
        stats = sb.stats()
        per_tenant = sb.tenant_stats()
    text = err.getvalue()
    assert code == EXIT_FATAL, text
    summary = json.loads((tmp_path / "out" / "job.summary.json").read_text())
    assert summary["exit_code"] == EXIT_FATAL and summary["status"] == "partial"
    by_name = {t["name"]: t for t in summary["tenants"]}
    assert by_name["t07"]["status"] == "failed" and by_name["t07"]["exit_code"] == EXIT_FATAL
    assert "AADSTS7000215" in by_name["t07"]["error"]  # Entra ID's "invalid client secret"
    assert sum(1 for t in summary["tenants"] if t["status"] == "finished") == 19
    assert "[t07] enrich:" in text and "19 of 20 tenants finished" in text
    # every good tenant wrote its own output and summary figures, and waited on its own quota
    expected_rows = 13  # plain_list.txt: 14 lines, one of them blank
    for number in range(1, 21):
        name = f"t{number:02d}"
        out = tmp_path / "out" / f"{name}.csv"
        if name == "t07":
            assert not out.exists()
            continue
        rows = list(csv.DictReader(out.open(encoding="utf-8")))
        assert len(rows) == expected_rows
        run = by_name[name]["summary"]
        assert run["tenant_id"] == sb.clients[number - 1].tenant_id
        assert run["calls"]["throttled_429"] == 0
        assert run["quota_wait_seconds"] > 0  # the budget bound this tenant
    # totals add the tenants up
    totals = summary["totals"]
    assert totals["tenants"] == 20 and totals["tenants_by_status"] == {"finished": 19, "failed": 1}
    assert totals["rows"]["total"] == 19 * expected_rows
    assert totals["calls"]["total"] == sum(
        t["summary"]["calls"]["total"] for t in by_name.values() if t["summary"] and t["summary"]["calls"]
    )
    # the sandbox itself answered no 429, to anyone
    assert all("429" not in counts for counts in stats["by_endpoint"].values()), stats["by_endpoint"]
    assert len([t for t in per_tenant if t]) == 20  # every tenant was heard from (t07 at sign-in)


def test_credentials_from_named_variables(tmp_path, clean_mde_env):
    """`*_env` keys name the variables holding a tenant's credentials; the process's MDE_* are never
    used for a tenant; a variable that is not set fails that tenant alone."""
    (tmp_path / "out").mkdir()
    with Sandbox(SandboxConfig(time_scale=60, tenants=2, sample_dir="")) as sb:
        first, second = sb.clients
        environ = _hosts(sb) | {
            "ACME_TENANT": first.tenant_id,
            "ACME_CLIENT": first.client_id,
            "ACME_SECRET": first.secret,
            # the process's own credentials (tenant 2's) must not leak into tenant "nosecret"
            "MDE_TENANT_ID": second.tenant_id,
            "MDE_CLIENT_ID": second.client_id,
            "MDE_CLIENT_SECRET": second.secret,
        }
        path = _job(
            tmp_path,
            f'inputs = ["{SAMPLE}"]\noutput = "out/{{tenant}}.csv"\nsummary = "out/job.json"\nno_cache = true\n'
            'mode = "stats"\n'
            '[[tenant]]\nname = "acme"\ntenant_id_env = "ACME_TENANT"\nclient_id_env = "ACME_CLIENT"\n'
            'client_secret_env = "ACME_SECRET"\n'
            '[[tenant]]\nname = "nosecret"\ntenant_id_env = "ACME_TENANT"\nclient_id_env = "ACME_CLIENT"\n'
            'client_secret_env = "UNSET_SECRET_VARIABLE"\n',
        )
        err = io.StringIO()
        code = run_tenants(load_job(path, WHEN), err=err, environ=environ)
    assert code == EXIT_FATAL
    assert (tmp_path / "out" / "acme.csv").exists() and not (tmp_path / "out" / "nosecret.csv").exists()
    assert (
        "[nosecret] enrich: tenant nosecret: the environment variable UNSET_SECRET_VARIABLE is not set"
        in err.getvalue()
    )
    summary = json.loads((tmp_path / "out" / "job.json").read_text())
    statuses = {
        t["name"]: (t["status"], t["summary"]["tenant_id"] if t["summary"] else None)
        for t in summary["tenants"]
    }
    assert statuses == {"acme": ("finished", first.tenant_id), "nosecret": ("failed", None)}


def test_job_sandbox_serves_every_tenant(tmp_path, clean_mde_env):
    """`enrich job --sandbox` with tenants: one sandbox, each tenant signed in as one of its tenants."""
    path = _job(
        tmp_path,
        f'inputs = ["{SAMPLE}"]\noutput = "{{tenant}}.csv"\nsummary = "job.json"\nmode = "stats"\n'
        '[[tenant]]\nname = "a"\n[[tenant]]\nname = "b"\nlookback = "7d"\n',
    )
    err = io.StringIO()
    assert run_tenants(load_job(path, WHEN, sandbox=True), err=err) == EXIT_OK, err.getvalue()
    summary = json.loads((tmp_path / "job.json").read_text())
    runs = {t["name"]: t["summary"] for t in summary["tenants"]}
    assert runs["a"]["tenant_id"] != runs["b"]["tenant_id"]
    assert (runs["a"]["lookback_hours"], runs["b"]["lookback_hours"]) == (720, 168)  # the override
    assert "sandbox serving 2 tenants" in err.getvalue()


def test_job_file_locked_exits_75(tmp_path, clean_mde_env):
    """The job file is locked for the whole job: a second run of it exits with 75 and runs no tenant."""
    from enrich import locks

    path = _job(tmp_path, f'inputs = ["{SAMPLE}"]\noutput = "{{tenant}}.csv"\n[[tenant]]\nname = "a"\n')
    err = io.StringIO()
    with locks.hold_job(path, wait=False, say=lambda line: None):
        assert run_tenants(load_job(path, WHEN, sandbox=True), err=err, job_file=path) == EXIT_LOCKED
    assert not (tmp_path / "a.csv").exists()


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ('[[tenant]]\nname = "a b"\nsecrets = "s.json"\n', "'name' must be a string of letters"),
        (
            '[[tenant]]\nname = "a"\nsecrets = "s.json"\n[[tenant]]\nname = "a"\nsecrets = "s.json"\n',
            "used twice",
        ),
        ('[[tenant]]\nname = "a"\n', "no credentials"),
        ('[[tenant]]\nname = "a"\nsecrets = "s.json"\ncolour = 1\n', "unknown key(s) colour"),
        ('[[tenant]]\nname = "a"\nsecrets = "s.json"\nlookback = true\n', "'lookback' must be"),
        (
            '[[tenant]]\nname = "a"\nsecrets = "s.json"\ntenant_id_env = "X"\n',
            "by 'secrets' or by *_env keys, not both",
        ),
        ('tenant_concurrency = 0\n[[tenant]]\nname = "a"\nsecrets = "s.json"\n', "between 1 and 64"),
        ("tenant = 3\n", "one or more [[tenant]] tables"),
        ('summary = "{tenant}.json"\n[[tenant]]\nname = "a"\nsecrets = "s.json"\n', "cannot hold {tenant}"),
    ],
)
def test_bad_tenant_tables(tmp_path, body, words):
    path = _job(tmp_path, f'inputs = ["{SAMPLE}"]\noutput = "{{tenant}}.csv"\n' + body)
    with pytest.raises(JobError) as caught:
        load_job(path, WHEN)
    assert words in str(caught.value) and str(path) in str(caught.value)


def test_outputs_must_differ(tmp_path):
    body = f'inputs = ["{SAMPLE}"]\noutput = "same.csv"\nsecrets = "s.json"\n'
    path = _job(tmp_path, body + '[[tenant]]\nname = "a"\n[[tenant]]\nname = "b"\n')
    with pytest.raises(
        JobError, match="tenant a and tenant b would both write .*same.csv; put {tenant} in the path"
    ):
        load_job(path, WHEN)
    body = f'inputs = ["{SAMPLE}"]\noutput = "{{tenant}}.csv"\nsecrets = "s.json"\nsummary = "job.json"\n'
    path = _job(tmp_path, body + '[[tenant]]\nname = "a"\nsummary = "job.json"\n')
    with pytest.raises(JobError, match="the job summary and tenant a would both write .*job.json"):
        load_job(path, WHEN)


def test_tenant_paths_take_the_name(tmp_path):
    body = (
        f'inputs = ["{SAMPLE}"]\noutput = "out/{{tenant}}-{{date:%Y%m%d}}.csv"\nsecrets = "s/{{tenant}}.json"\n'
        'tenant_summary = "out/{tenant}.summary.json"\n'
        '[[tenant]]\nname = "acme"\n[[tenant]]\nname = "globex"\noutput = "other/{tenant}.csv"\n'
    )
    job = load_job(_job(tmp_path, body), WHEN)
    acme, globex = (t.request for t in job.tenants)
    assert acme.output == str(tmp_path / "out" / "acme-20260131.csv")
    assert acme.secrets == str(tmp_path / "s" / "acme.json")
    assert acme.summary == str(tmp_path / "out" / "acme.summary.json")
    assert globex.output == str(tmp_path / "other" / "globex.csv")
    assert job.request.summary is None and job.tenant_concurrency == 4


def test_worst_exit_code_order():
    assert worst([]) == EXIT_OK
    assert worst([EXIT_OK, EXIT_ROW_ERRORS]) == EXIT_ROW_ERRORS
    assert worst([EXIT_ROW_ERRORS, EXIT_LOCKED, EXIT_OK]) == EXIT_LOCKED
    assert worst([EXIT_LOCKED, EXIT_FATAL]) == EXIT_FATAL
    assert worst([EXIT_FATAL, EXIT_USAGE]) == EXIT_USAGE
    assert worst([EXIT_USAGE, EXIT_INTERRUPTED, EXIT_OK]) == EXIT_INTERRUPTED
    assert worst([EXIT_OK, 42]) == 42  # an unknown code counts as fatal, and is kept as it is


def test_job_summary_totals_and_status():
    one = {"status": "finished", "rows": {"total": 2, "by_status": {"seen": 2}}, "quota_wait_seconds": 1.5}
    two = {
        "status": "finished",
        "rows": {"total": 3, "by_status": {"seen": 1, "error": 2}},
        "quota_wait_seconds": 0.25,
    }
    summary = job_summary(
        [
            TenantResult("a", EXIT_OK, one),
            TenantResult("b", EXIT_ROW_ERRORS, two),
            TenantResult("c", EXIT_LOCKED, None),
        ],
        3.0,
    )
    assert summary["exit_code"] == EXIT_LOCKED and summary["status"] == "partial"
    assert summary["totals"]["rows"] == {"total": 5, "by_status": {"seen": 3, "error": 2}}
    assert summary["totals"]["quota_wait_seconds"] == 1.75
    assert [t["status"] for t in summary["tenants"]] == ["finished", "finished", "locked"]


def test_sigterm_stops_every_tenant_cleanly(tmp_path, clean_mde_env):
    """SIGTERM to a job of tenants waiting on their quota: each run stops as after Ctrl-C (answers
    kept in the cache, nothing at the outputs, no lock left), the job exits 143 at once."""
    import signal
    import subprocess
    import sys
    import time

    with Sandbox(SandboxConfig(tenants=3, sample_dir="", entity_limits=(5, 1500))) as sb:
        for number, client in enumerate(sb.clients, start=1):
            _secrets(tmp_path, f"tenant-{number}", client.tenant_id, client.client_id, client.secret)
        values = "".join(f"h{i}.stop-unseen.example\n" for i in range(30))
        (tmp_path / "in.csv").write_text("indicator\n" + values)
        tables = "".join(f'[[tenant]]\nname = "{n}"\n' for n in range(1, 4))
        path = _job(
            tmp_path,
            'inputs = ["in.csv"]\noutput = "out-{tenant}.csv"\nsummary = "job.json"\n'
            'secrets = "tenant-{tenant}.json"\nmode = "stats"\ncache = "cache.sqlite3"\n'
            'rate_limit = "5/min"\n' + tables,
        )
        proc = subprocess.Popen(
            [sys.executable, "-m", "enrich", "job", path],
            cwd=tmp_path,
            env=_hosts(sb),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 60
        while sum(s.get("200", 0) + s.get("404", 0) for s in sb.tenant_stats().values()) < 3 * 5 + 3:
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.1)  # every tenant signed in and used its quota: all wait now
        proc.send_signal(signal.SIGTERM)
        try:
            _, err = proc.communicate(timeout=30)
        finally:
            proc.kill()
    assert proc.returncode == 143, err
    for number in range(1, 4):  # the answers that arrived before the signal are kept
        assert re.search(
            rf"\[{number}\] enrich: stopped by SIGTERM; [0-5] new answers are saved in the cache", err
        ), err
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith((".out", "out-"))) == []
    summary = json.loads((tmp_path / "job.json").read_text())
    assert [(t["status"], t["exit_code"]) for t in summary["tenants"]] == [("stopped", 143)] * 3


def _worker(stopper, inside: bool, ready, caught: list):
    """A thread standing for a tenant's run in a phase with no event loop (a lock wait, a write):
    it loops until stopped, for at most 10 seconds (1 second outside a run)."""
    import contextlib
    import time

    def body() -> None:
        ready.set()
        deadline = time.monotonic() + (10 if inside else 1)
        while time.monotonic() < deadline:
            time.sleep(0.01)

    try:
        with stopper.running() if inside else contextlib.nullcontext():
            body()
        caught.append(None)
    except KeyboardInterrupt as stop:
        caught.append(stop)


def test_a_stop_reaches_a_run_without_an_event_loop_and_only_a_run():
    import signal
    import threading

    from enrich import signals
    from enrich.tenants import _stop_kind, _Stopper

    stopper = _Stopper()
    caught: dict[str, list] = {"inside": [], "outside": []}
    ready = {name: threading.Event() for name in caught}
    threads = {
        name: threading.Thread(target=_worker, args=(stopper, name == "inside", ready[name], caught[name]))
        for name in caught
    }
    for name, thread in threads.items():
        thread.start()
        assert ready[name].wait(10)
    stopper.stop(list(threads.values()), _stop_kind(signals.Stopped(signal.SIGTERM)))
    threads["inside"].join(10)
    (stop,) = caught["inside"]  # raised in the run's thread, as SIGTERM: exit code 143
    assert isinstance(stop, signals.Stopped) and signals.exit_code(stop) == 143
    threads["outside"].join(5)  # a thread outside a run is never sent the stop: it ran to its end
    assert caught["outside"] == [None]
