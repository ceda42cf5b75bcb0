"""Many tenants, one job: `[[tenant]]` tables of a job file, each tenant's run concurrently.

A tenant is one run of `enrich.runner.run` (its own credentials, budget, cache namespace, output,
lock and summary); the job runs up to `tenant_concurrency` of them at once in threads, each
tenant's lines on stderr prefixed with `[name]`. One tenant failing (bad credentials, 403, an
output it cannot write) does not stop the others. The job's exit code is the worst of the
tenants' by `SEVERITY`, and the job's `summary` (when given) lists every tenant and the totals.

A table holds `name` (letters, digits, `.`, `_`, `-`), the credentials (`secrets`, a
secrets.json path, or the names of the environment variables holding them: `tenant_id_env`,
`client_id_env`, `client_secret_env` or `client_certificate_env`) and any `run` key as an
override of the job's. `{tenant}` in a path (the job's or the table's) is the tenant's name.
The process's own MDE_TENANT_ID, MDE_CLIENT_ID, MDE_CLIENT_SECRET and MDE_CLIENT_CERTIFICATE are
never used for a tenant: each tenant's credentials come from its table alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import dataclasses
import json
import logging
import os
import queue
import re
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TextIO, cast

from enrich import locks, logs, signals
from enrich.errors import (
    EXIT_FATAL,
    EXIT_INTERRUPTED,
    EXIT_LOCKED,
    EXIT_OK,
    EXIT_ROW_ERRORS,
    EXIT_SIGHUP,
    EXIT_SIGTERM,
    EXIT_USAGE,
    EnrichError,
    JobError,
    OutputError,
    exit_code,
)
from enrich.request import RunRequest
from enrich.sinks.summary import write_summary

if TYPE_CHECKING:
    from enrich.jobfile import Job

# Exit codes from best to worst: the job's code is the worst of its tenants'. A stop (a signal)
# outranks everything; a tenant that could not run (usage, fatal) outranks one held back by
# another run's lock, which outranks one that finished with rows in error.
SEVERITY: tuple[int, ...] = (
    EXIT_OK,
    EXIT_ROW_ERRORS,
    EXIT_LOCKED,
    EXIT_FATAL,
    EXIT_USAGE,
    EXIT_SIGHUP,
    EXIT_SIGTERM,
    EXIT_INTERRUPTED,
)
DEFAULT_TENANT_CONCURRENCY = 4
STOP_SECONDS = 30.0  # after Ctrl-C or SIGTERM, how long the tenants' runs get to clean up
MAX_TENANT_CONCURRENCY = 64
# Keys of a [[tenant]] table besides the run keys (enrich.jobfile.KEYS).
CREDENTIAL_ENV_KEYS: dict[str, str] = {
    "tenant_id_env": "MDE_TENANT_ID",
    "client_id_env": "MDE_CLIENT_ID",
    "client_secret_env": "MDE_CLIENT_SECRET",
    "client_certificate_env": "MDE_CLIENT_CERTIFICATE",
}
TABLE_KEYS: tuple[str, ...] = ("name", *CREDENTIAL_ENV_KEYS)
# Top-level keys only a job with tenants has.
JOB_KEYS: tuple[str, ...] = ("tenant", "tenant_summary", "tenant_concurrency")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


@dataclass(frozen=True)
class TenantRun:
    """One tenant of a job: its name, its run, and where its credentials are read.

    `credential_env` maps an MDE_* variable to the environment variable that holds it for this
    tenant (empty: the run's `secrets` file holds them).
    """

    name: str
    request: RunRequest
    credential_env: Mapping[str, str] = field(default_factory=dict)

    def environ(self, base: Mapping[str, str]) -> dict[str, str]:
        """The environment this tenant's run reads: `base` without the process's credentials, plus
        this tenant's from the variables its table names (JobError naming one that is not set)."""
        env = {k: v for k, v in base.items() if k not in CREDENTIAL_ENV_KEYS.values()}
        for target, source in self.credential_env.items():
            value = base.get(source)
            if not value:
                raise JobError(f"tenant {self.name}: the environment variable {source} is not set")
            env[target] = value
        return env


@dataclass(frozen=True)
class TenantResult:
    """How one tenant's run ended: its exit code and its run summary (None when none was written)."""

    name: str
    exit_code: int
    summary: dict[str, Any] | None


def worst(codes: list[int]) -> int:
    """The worst exit code by `SEVERITY` (an unknown code counts as fatal); 0 for none."""

    def rank(code: int) -> int:
        return SEVERITY.index(code) if code in SEVERITY else SEVERITY.index(EXIT_FATAL)

    return max(codes, key=rank, default=EXIT_OK)


# --- reading the [[tenant]] tables -----------------------------------------------------------------


def load_tenants(path: str, data: dict[str, Any], when: datetime, *, sandbox: bool = False) -> Job:
    """The `enrich.jobfile.Job` of a job file with `[[tenant]]` tables (JobError naming the file)."""
    from enrich.jobfile import Job, check_types, expand_in_job

    data = dict(data)
    tables = data.pop("tenant")
    tenant_summary = data.pop("tenant_summary", None)
    concurrency = data.pop("tenant_concurrency", DEFAULT_TENANT_CONCURRENCY)
    if not isinstance(tables, list) or not tables or not all(isinstance(t, dict) for t in tables):
        raise JobError(f"{path}: 'tenant' must be one or more [[tenant]] tables")
    if tenant_summary is not None and not isinstance(tenant_summary, str):
        raise JobError(f"{path}: 'tenant_summary' must be a string")
    if isinstance(concurrency, bool) or not isinstance(concurrency, int):
        raise JobError(f"{path}: 'tenant_concurrency' must be an integer")
    if not 1 <= concurrency <= MAX_TENANT_CONCURRENCY:
        raise JobError(f"{path}: 'tenant_concurrency' must be between 1 and {MAX_TENANT_CONCURRENCY}")
    check_types(path, data)
    job_summary = data.pop("summary", None)
    if job_summary is not None and "{tenant}" in job_summary:
        raise JobError(
            f"{path}: 'summary' is the job's summary over every tenant and cannot hold {{tenant}}; "
            'give each tenant\'s with tenant_summary = "...{tenant}..."'
        )
    runs: list[TenantRun] = []
    for number, table in enumerate(tables, start=1):
        taken = {run.name for run in runs}
        runs.append(_tenant_run(path, number, table, data, tenant_summary, taken, when, sandbox))
    summary = expand_in_job(path, job_summary, when, Path(path).resolve().parent) if job_summary else None
    _check_distinct_outputs(path, runs, summary)
    first = runs[0].request
    request = dataclasses.replace(first, summary=summary)
    return Job(path, request, tuple(runs), concurrency)


def _tenant_run(
    path: str,
    number: int,
    table: dict[str, Any],
    data: dict[str, Any],
    tenant_summary: str | None,
    taken: set[str],
    when: datetime,
    sandbox: bool,
) -> TenantRun:
    """The run of `[[tenant]]` table `number`: the job's keys `data` with the table's overrides
    (JobError for a name in `taken`, the names of the tables before it)."""
    from enrich.jobfile import KEYS, check_types, request_of

    where = f"{path}: [[tenant]] number {number}"
    name = table.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise JobError(
            f"{where}: 'name' must be a string of letters, digits, '.', '_' or '-' (up to 64), "
            f"starting with a letter or digit; got {name!r}"
        )
    if name in taken:
        raise JobError(f"{where}: the name {name!r} is used twice; each tenant needs its own")
    where = f"{path}: tenant {name}"
    unknown = sorted(set(table) - set(KEYS) - set(TABLE_KEYS))
    if unknown:
        raise JobError(
            f"{where}: unknown key(s) {', '.join(unknown)}; a tenant takes {', '.join(TABLE_KEYS)} "
            "and the job's run keys"
        )
    env_names = {CREDENTIAL_ENV_KEYS[k]: v for k, v in table.items() if k in CREDENTIAL_ENV_KEYS}
    for key, value in table.items():
        if key in CREDENTIAL_ENV_KEYS and (not isinstance(value, str) or not value.strip()):
            raise JobError(f"{where}: '{key}' must name an environment variable")
    overrides = {k: v for k, v in table.items() if k in KEYS}
    check_types(where, overrides)
    merged = {**data, **overrides}
    if tenant_summary is not None and "summary" not in overrides:
        merged["summary"] = tenant_summary
    merged = _with_name(merged, name)
    _check_credentials(where, merged, env_names, sandbox)
    return TenantRun(name, request_of(where, merged, when, sandbox=sandbox), env_names)


def _with_name(data: dict[str, Any], name: str) -> dict[str, Any]:
    """`{tenant}` in every string and list of strings replaced by the tenant's name."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, str):
            value = value.replace("{tenant}", name)
        elif isinstance(value, list):
            value = [v.replace("{tenant}", name) if isinstance(v, str) else v for v in value]
        out[key] = value
    return out


def _check_credentials(where: str, data: dict[str, Any], env_names: dict[str, str], sandbox: bool) -> None:
    """Each tenant names its own credentials: a secrets file, or the variables holding them."""
    if sandbox:
        return  # `enrich job --sandbox`: each tenant signs in as one of the sandbox's tenants
    if "secrets" in data and env_names:
        raise JobError(f"{where}: give the credentials by 'secrets' or by *_env keys, not both")
    if "secrets" in data:
        return
    has_secret = "MDE_CLIENT_SECRET" in env_names or "MDE_CLIENT_CERTIFICATE" in env_names
    if "MDE_TENANT_ID" not in env_names or "MDE_CLIENT_ID" not in env_names or not has_secret:
        raise JobError(
            f'{where}: no credentials; give secrets = "FILE" (may hold {{tenant}}), or tenant_id_env, '
            "client_id_env and client_secret_env (or client_certificate_env) naming environment variables"
        )


def _check_distinct_outputs(path: str, runs: list[TenantRun], job_summary: str | None) -> None:
    """Two tenants writing the same output or summary would overwrite each other (or wait on a lock);
    none may write the job's summary."""
    seen: dict[str, str] = {job_summary: "the job summary"} if job_summary else {}
    for run in runs:
        for what in (run.request.output, run.request.summary, run.request.report):
            if not what or what == "-":
                if what == "-" and len(runs) > 1:
                    raise JobError(
                        f'{path}: tenant {run.name} writes to stdout; give output = "...{{tenant}}..."'
                    )
                continue
            other = seen.setdefault(what, run.name)
            if other != run.name:
                who = other if other == "the job summary" else f"tenant {other}"
                raise JobError(
                    f"{path}: {who} and tenant {run.name} would both write {what}; put {{tenant}} in the path"
                )


# --- running them -------------------------------------------------------------------------------------


class _TenantStream:
    """A tenant's stderr: each line prefixed with `[name] ` (not under `--log-format json`, whose
    lines name their tenant), written whole to the job's stream.

    Only lines written from the tenant's own thread are kept: the `enrich` logger is shared, so a
    record logged by another tenant's thread reaches this tenant's handler too and is dropped here.
    """

    def __init__(self, name: str, out: TextIO, lock: threading.Lock, *, prefixed: bool = True) -> None:
        self.prefix = f"[{name}] " if prefixed else ""  # JSON log lines name their tenant themselves
        self.out = out
        self.lock = lock
        self.thread = threading.get_ident()
        self._pending = ""

    def write(self, text: str) -> int:
        if threading.get_ident() != self.thread:
            return len(text)
        self._pending += text
        *lines, self._pending = self._pending.split("\n")
        if lines:
            with self.lock:
                self.out.write("".join(f"{self.prefix}{line}\n" for line in lines))
                self.out.flush()
        return len(text)

    def flush(self) -> None:
        if self._pending and threading.get_ident() == self.thread:
            self.write("\n")

    def isatty(self) -> bool:
        return False  # no progress bars: many tenants' lines are interleaved

    @property
    def encoding(self) -> str:
        return getattr(self.out, "encoding", None) or "utf-8"


class _Loops(asyncio.DefaultEventLoopPolicy):
    """The event-loop policy while tenants run: it notes each thread's event loop, so that a stop
    can be raised inside the loop of every tenant's run (waking it from a quota wait)."""

    def __init__(self) -> None:
        super().__init__()
        self.by_thread: dict[int, asyncio.AbstractEventLoop] = {}

    def new_event_loop(self) -> asyncio.AbstractEventLoop:
        loop = super().new_event_loop()
        self.by_thread[threading.get_ident()] = loop
        return loop


def _stop_kind(stop: BaseException) -> type[BaseException]:
    """A class raising `stop` again without arguments (what a thread can be sent): KeyboardInterrupt,
    or a `signals.Stopped` for the same signal."""
    if not isinstance(stop, signals.Stopped):
        return KeyboardInterrupt
    signum = stop.signum

    class StoppedAgain(signals.Stopped):
        def __init__(self) -> None:
            super().__init__(signum)

    return StoppedAgain


def _raise(kind: type[BaseException]) -> None:
    raise kind()


class _Stopper:
    """Stops the tenants' runs as Ctrl-C stops a run (temporary output removed, answers kept in the
    cache), reaching only threads that are inside a run (`running`), so a stop never lands in the
    workers' own bookkeeping between two runs.

    A run answering has an event loop (`_Loops`): the stop is raised there by a callback
    (`loop.call_soon_threadsafe`: KeyboardInterrupt leaves the loop at once, also from a quota
    wait). Otherwise it is raised in the thread (`PyThreadState_SetAsyncExc`): a run's other phases
    (waiting for an output's lock, the plan pass, writing the outputs) poll no stop flag, and a
    write that has begun must be abandoned, not committed.
    """

    def __init__(self) -> None:
        self.loops = _Loops()
        self._guard = threading.Lock()
        self._running: set[int] = set()

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        """The calling thread is inside a tenant's run for the block."""
        ident = threading.get_ident()
        with self._guard:
            self._running.add(ident)
        try:
            yield
        finally:
            with self._guard:
                self._running.discard(ident)

    def stop(self, threads: list[threading.Thread], kind: type[BaseException]) -> None:
        """Raise `kind` in the run of each of `threads` that is inside one."""
        with self._guard:  # a thread cannot leave its run while the stop is being sent
            for thread in threads:
                ident = thread.ident
                if ident is None or ident not in self._running or not thread.is_alive():
                    continue
                loop = self.loops.by_thread.get(ident)
                if loop is not None and loop.is_running():
                    with contextlib.suppress(RuntimeError):  # closed meanwhile: raise in the thread
                        loop.call_soon_threadsafe(_raise, kind)
                        continue
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident), ctypes.py_object(kind))


@contextlib.contextmanager
def _serving(job_sandbox: bool, count: int, say: JobLines) -> Iterator[list[dict[str, str]] | None]:
    """`enrich job --sandbox`: one in-process sandbox serving `count` tenants (their environments)."""
    if not job_sandbox:
        yield None
        return
    from enrich.runner import SANDBOX_TIME_SCALE
    from enrich.sandbox import Sandbox, SandboxConfig

    with Sandbox(SandboxConfig(time_scale=SANDBOX_TIME_SCALE, tenants=count)) as sb:
        say(
            "sandbox",
            f"sandbox serving {count} tenants at {sb.base_url} (quota windows time-scaled "
            f"{SANDBOX_TIME_SCALE:g}x: a minute lasts a second)",
            url=sb.base_url,
            tenants=count,
        )
        yield [sb.env(i) for i in range(count)]


def run_tenants(
    job: Job,
    settings: RunRequest | None = None,
    err: TextIO | None = None,
    *,
    job_file: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    """Run every tenant of `job` (an `enrich.jobfile.Job` with tenants); the worst exit code.

    `settings` (default `job.request`) gives the job-wide verbose, quiet, wait, log format and
    sandbox, which every tenant's run takes; its `summary` is the job's summary. The job file is
    locked for the whole job when `job_file` is given (exit 75 if another run holds it).
    """
    err = sys.stderr if err is None else err
    settings = settings or job.request
    base_env = dict(os.environ if environ is None else environ)
    started = time.monotonic()
    say = job_lines(err, settings.log_format)
    with contextlib.ExitStack() as held, signals.stopping():
        try:
            if job_file is not None:
                held.enter_context(locks.hold_job(job_file, wait=settings.wait, say=_say(err)))
            if settings.summary:
                _check_folder(settings.summary)
                held.enter_context(locks.hold_outputs([settings.summary], wait=settings.wait, say=_say(err)))
            with tempfile.TemporaryDirectory(prefix="enrich-tenants-") as scratch:
                results = _run_all(job, settings, err, base_env, scratch, say)
        except EnrichError as exc:
            say("job_error", str(exc), "error", exit_code=exit_code(exc))
            return exit_code(exc)
    code = worst([r.exit_code for r in results])
    summary = job_summary(results, time.monotonic() - started)
    _print_outcome(results, code, say)
    if settings.summary:
        try:
            write_summary(settings.summary, summary)
        except OSError as exc:
            words = f"{settings.summary}: cannot write the job summary ({exc.strerror or exc})"
            say("job_error", words, "error", exit_code=EXIT_FATAL)
            return worst([code, EXIT_FATAL])
        say("job_summary", f"wrote {settings.summary} (job summary)", path=settings.summary)
    return code


def _run_all(
    job: Job, settings: RunRequest, err: TextIO, base_env: dict[str, str], scratch: str, say: JobLines
) -> list[TenantResult]:
    """Every tenant's run, `job.tenant_concurrency` at a time; a Ctrl-C or SIGTERM stops those
    running (as their own Ctrl-C would) and starts no more."""
    runs: list[TenantRun] = list(job.tenants)
    lock = threading.Lock()
    results: dict[str, TenantResult] = {}
    todo: queue.Queue[tuple[int, TenantRun]] = queue.Queue()
    stopper = _Stopper()
    stopping = threading.Event()
    with _serving(settings.sandbox, len(runs), say) as sandbox_envs:
        for index, tenant in enumerate(runs):
            todo.put((index, tenant))

        def work(done: threading.Event) -> None:
            try:
                while not stopping.is_set():
                    try:
                        index, tenant = todo.get_nowait()
                    except queue.Empty:
                        return
                    env = sandbox_envs[index] if sandbox_envs is not None else None
                    try:
                        with stopper.running():
                            result = _run_one(tenant, settings, err, lock, base_env, env, scratch)
                    except KeyboardInterrupt as stop:  # stopped outside the run's own handling
                        result = TenantResult(tenant.name, signals.exit_code(stop), None)
                    results[tenant.name] = result
            finally:
                done.set()

        count = max(1, min(job.tenant_concurrency or DEFAULT_TENANT_CONCURRENCY, len(runs)))
        # Each worker says when it is done: Thread.join interrupted by Ctrl-C can leave a live
        # thread marked as stopped (CPython gh-90882), so the main thread waits on these instead.
        done = [threading.Event() for _ in range(count)]
        workers = [
            threading.Thread(target=work, args=(done[n],), name=f"enrich-tenant-{n}", daemon=True)
            for n in range(count)
        ]
        saved_level = logging.getLogger(logs.LOGGER).level
        saved_policy = asyncio.get_event_loop_policy()
        asyncio.set_event_loop_policy(stopper.loops)
        try:
            for worker in workers:
                worker.start()
            while not all(event.is_set() for event in done):
                time.sleep(0.1)
        except KeyboardInterrupt as stop:
            stopping.set()
            _skip_waiting(todo, results, signals.exit_code(stop))
            stopper.stop(workers, _stop_kind(stop))
            deadline = time.monotonic() + STOP_SECONDS
            while not all(event.is_set() for event in done) and time.monotonic() < deadline:
                time.sleep(0.05)
            say("job_stopped", f"{signals.stopped_by(stop)}; tenants not started were skipped", "warning")
        finally:
            asyncio.set_event_loop_policy(saved_policy)
            logging.getLogger(logs.LOGGER).setLevel(saved_level)
    return [results.get(t.name) or TenantResult(t.name, EXIT_INTERRUPTED, None) for t in runs]


def _skip_waiting(
    todo: queue.Queue[tuple[int, TenantRun]], results: dict[str, TenantResult], code: int
) -> None:
    """The tenants not started yet end with the stop's exit code, unrun."""
    while True:
        try:
            _, tenant = todo.get_nowait()
        except queue.Empty:
            return
        results[tenant.name] = TenantResult(tenant.name, code, None)


def _run_one(
    tenant: TenantRun,
    settings: RunRequest,
    err: TextIO,
    lock: threading.Lock,
    base_env: dict[str, str],
    sandbox_env: dict[str, str] | None,
    scratch: str,
) -> TenantResult:
    """One tenant's run in this thread; never raises for an expected failure."""
    from enrich.runner import SANDBOX_RATE_LIMIT, run

    stream = _TenantStream(tenant.name, err, lock, prefixed=settings.log_format != "json")
    req = dataclasses.replace(
        tenant.request,
        verbose=settings.verbose,
        quiet=settings.quiet,
        wait=settings.wait,
        log_format=settings.log_format,
        sandbox=False,
    )
    own_summary = req.summary
    if not own_summary:  # the job summary needs every tenant's: kept aside when the job has none
        req = dataclasses.replace(req, summary=os.path.join(scratch, f"{tenant.name}.summary.json"))
    try:
        if sandbox_env is not None:
            env = {**base_env, **sandbox_env}
            req = dataclasses.replace(
                req,
                secrets=None,
                rate_limit=req.rate_limit or SANDBOX_RATE_LIMIT,
                cache=req.cache or (None if req.no_cache else os.path.join(scratch, "sandbox-cache.sqlite3")),
            )
        else:
            env = tenant.environ(base_env)
    except JobError as exc:
        stream.write(f"enrich: {exc}\n")
        return TenantResult(tenant.name, EXIT_FATAL, None)
    code = run(req, cast(TextIO, stream), environ=env)
    stream.flush()
    return TenantResult(tenant.name, code, _read_summary(req.summary))


def _read_summary(path: str | None) -> dict[str, Any] | None:
    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


# --- the job's summary ----------------------------------------------------------------------------


def _status(result: TenantResult) -> str:
    if result.summary and result.summary.get("status"):
        return str(result.summary["status"])
    if result.exit_code == EXIT_LOCKED:
        return "locked"
    if result.exit_code in (EXIT_INTERRUPTED, EXIT_SIGTERM, EXIT_SIGHUP):
        return "stopped"
    return "failed"


def _add(total: dict[str, Any], part: Mapping[str, Any]) -> None:
    """Numbers added key by key, nested tables merged (counts per status, family, type)."""
    for key, value in part.items():
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, (int, float)):
            total[key] = round(total.get(key, 0) + value, 3)
        elif isinstance(value, Mapping):
            _add(total.setdefault(key, {}), value)


def job_summary(results: list[TenantResult], duration_seconds: float) -> dict[str, Any]:
    """The job's summary: status, exit code, each tenant (name, status, exit code, error, its run
    summary) and the totals of the tenants' rows, indicators, lookups, calls and quota wait."""
    code = worst([r.exit_code for r in results])
    totals: dict[str, Any] = {"tenants": len(results)}
    by_status: dict[str, int] = {}
    for result in results:
        status = _status(result)
        by_status[status] = by_status.get(status, 0) + 1
        data = result.summary or {}
        for key in ("rows", "indicators", "lookups", "calls"):
            if isinstance(data.get(key), Mapping):
                _add(totals.setdefault(key, {}), data[key])
        if isinstance(data.get("quota_wait_seconds"), (int, float)):
            totals["quota_wait_seconds"] = round(
                totals.get("quota_wait_seconds", 0) + data["quota_wait_seconds"], 3
            )
    totals["tenants_by_status"] = by_status
    finished = by_status.get("finished", 0)
    return {
        "status": "finished" if finished == len(results) else ("partial" if finished else "failed"),
        "exit_code": code,
        "duration_seconds": round(duration_seconds, 3),
        "tenants": [
            {
                "name": r.name,
                "status": _status(r),
                "exit_code": r.exit_code,
                "error": (r.summary or {}).get("error"),
                "summary": r.summary,
            }
            for r in results
        ],
        "totals": totals,
    }


def _print_outcome(results: list[TenantResult], code: int, say: JobLines) -> None:
    """One line per tenant that did not finish cleanly, then the job's line."""
    for result in results:
        if result.exit_code != EXIT_OK:
            status = _status(result)
            say(
                "tenant_finish",
                f"tenant {result.name}: {status} (exit code {result.exit_code})",
                "warning",
                tenant_name=result.name,
                status=status,
                exit_code=result.exit_code,
            )
    good = sum(1 for r in results if _status(r) == "finished")
    say(
        "job_finish",
        f"{good} of {len(results)} tenants finished; job exit code {code}",
        "info" if code == EXIT_OK else "warning",
        tenants=len(results),
        finished=good,
        exit_code=code,
    )


class JobLines(Protocol):
    """Writes one job-level line: `enrich: message`, or a JSON object under `--log-format json`."""

    def __call__(self, event: str, message: str, level: str = "info", **figures: Any) -> None: ...


def job_lines(err: TextIO, fmt: str) -> JobLines:
    """The job's own lines on `err` (the tenants' runs write theirs): text, or JSON Lines with the
    keys of the runs' JSON lines (time, level, run_id (none: the job's), tenant, event, message)."""
    lock = threading.Lock()

    def say(event: str, message: str, level: str = "info", **figures: Any) -> None:
        if fmt == "json":
            now = time.time()
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"
            head = {"time": stamp, "level": level, "run_id": None, "tenant": None, "event": event}
            line = json.dumps({**head, "message": message, **figures}, ensure_ascii=False)
        else:
            line = f"enrich: {message}"
        with lock:
            print(line, file=err, flush=True)

    return say


def _check_folder(path: str) -> None:
    """OutputError when the folder a file is to be written in does not exist."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise OutputError(f"{path}: cannot write the job summary: the folder {folder} does not exist")


def _say(err: TextIO) -> locks.Say:
    return lambda line: print(f"enrich: {line}", file=err, flush=True)
