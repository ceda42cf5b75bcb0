"""The work behind `enrich run` and `enrich job`, one stage after the other:

sources -> plan -> answers (cache, then the strategy) -> outcomes -> sinks -> summary.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from typing import TextIO

from enrich import locks, logs, signals
from enrich.answering import make_strategy
from enrich.answering.interface import AnswerOptions, Strategy
from enrich.answers import Interrupted, Lookups, ResolveOptions, prepare, resolve
from enrich.cache import default_cache_path
from enrich.errors import EXIT_OK, EXIT_ROW_ERRORS, EnrichError, LockError, OutputError, exit_code
from enrich.mde.errors import protect
from enrich.mde.settings import Settings, load_settings
from enrich.outcome import Outcomes
from enrich.plan import Plan, make_plan
from enrich.report import check_report_path, write_run_report
from enrich.request import RunRequest
from enrich.sinks.interface import SinkOptions
from enrich.sinks.registry import output_format, sink_class
from enrich.sinks.summary import (
    LookupCounts,
    RunSummary,
    count_answers,
    describe_mode,
    failed_summary,
    format_counts,
    print_summary,
    write_summary,
)
from enrich.sinks.targets import Target, check_outputs, output_targets
from enrich.sources.interface import encoding_fallbacks
from enrich.sources.open import open_sources

# `run --sandbox` serves a time-scaled sandbox (one quota minute lasts one second) and matches it,
# hunting included: unscaled, the client's 45/min hunting quota would make runs sharing a cache
# (its budget tables) wait real minutes on a sandbox whose own windows last seconds.
SANDBOX_TIME_SCALE = 60.0
SANDBOX_RATE_LIMIT = "100/1s,1500/60s;hunting=45/1s,1500/60s;hunting-graph=45/1s"

__all__ = ["RunRequest", "run"]


def run(
    req: RunRequest,
    err: TextIO | None = None,
    *,
    job_file: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    """Run the job; returns the exit code (0, 1, 3, 75 when another run holds an output's lock,
    130/143/129 when stopped by Ctrl-C/SIGTERM/SIGHUP).

    The outputs (and `job_file`, for `enrich job`) are locked from before the lookups to the end
    (`enrich.locks`); SIGTERM and SIGHUP stop the run as Ctrl-C does (`enrich.signals`).

    Log lines go to `err` at the request's verbosity (`enrich.logs`); a fatal error still writes
    `--summary` (status "failed", the error and the exit code). `environ` stands for `os.environ`
    where the credentials and hosts are read (a tenant of a multi-tenant job: `enrich.tenants`).
    """
    err = sys.stderr if err is None else err
    started = time.monotonic()
    with (
        logs.configured(
            logs.verbosity_of(req.verbose, req.quiet), err, req.progress_interval, req.log_format
        ) as log,
        contextlib.ExitStack() as held,  # the locks: released after the handlers below are put back
        signals.stopping(),
    ):
        err = log.lines  # JSON: each line the run prints becomes a `message` event
        logs.event("start", "started", inputs=req.inputs, output=req.output, mode=req.mode, pid=os.getpid())
        try:
            if job_file is not None:
                held.enter_context(locks.hold_job(job_file, wait=req.wait, say=_say(err)))
            return _run(req, err, held, environ)
        except EnrichError as exc:
            code = exit_code(exc)
            if not logs.finish(str(exc), code, "failed", logs.ERROR, error=str(exc)):
                print(f"enrich: {exc}", file=err)
            # not over another run's summary (locked), nor at a --summary refused as it stands
            untouchable = isinstance(exc, (_SummaryNotWritten, LockError))
            if not untouchable and getattr(exc, "path", 0) != req.summary:
                _write_failed_summary(req, str(exc), code, started, err)
            return code
        except KeyboardInterrupt as stop:
            print(
                f"enrich: {signals.stopped_by(stop)}; nothing was written to the output. Answers obtained "
                "so far are in the cache: run the same command again to resume.",
                file=err,
            )
            logs.finish(signals.stopped_by(stop), signals.exit_code(stop), "stopped", logs.WARNING)
            how, code = signals.stopped_by(stop), signals.exit_code(stop)
            _write_failed_summary(req, how, code, started, err, status="stopped")
            return code


class _SummaryNotWritten(OutputError):
    """`--summary` itself could not be written (so no failure summary is tried either)."""


def _write_failed_summary(
    req: RunRequest, error: str, code: int, started: float, err: TextIO, status: str = "failed"
) -> None:
    """`--summary` (when given) for a run stopped by a fatal error, or by a signal (`status`
    "stopped": an earlier run's summary left there would say "finished"); a summary that cannot
    be written is said."""
    if not req.summary:
        return
    try:
        write_summary(
            req.summary,
            failed_summary(req.inputs, req.output, error, code, time.monotonic() - started, status),
        )
    except OSError as exc:
        print(f"enrich: {req.summary}: cannot write the summary ({exc.strerror or exc})", file=err)


def _run(
    req: RunRequest, err: TextIO, held: contextlib.ExitStack, environ: Mapping[str, str] | None = None
) -> int:
    started = time.monotonic()
    info = logs.chatter(err, req.quiet)  # what -q silences: the sandbox and plan lines, progress
    sink_kind = sink_class(output_format(req.to, req.output))
    with _connection(req, info, environ) as (settings, cache_path):
        logs.set_tenant(settings.tenant_id)  # each log record from here on names the tenant
        strategy = make_strategy(req.mode, _answer_options(req, settings))
        sources = open_sources(req.inputs, req.column)
        targets = output_targets(sources, req.output, sink_kind.suffix)
        check_outputs(targets, sources, req.summary)
        if req.report:
            check_report_path(req.report, targets, sources, req.summary)
        outputs = [t.path for t in targets] + [path for path in (req.summary, req.report) if path]
        held.enter_context(locks.hold_outputs(outputs, wait=req.wait, say=_say(err)))
        for source in sources:
            print(f"enrich: {source.describe()}", file=info)
        prepare(strategy, settings)  # auto: which hunting paths the app may use (sign-ins only)
        plan = make_plan(sources, strategy)
        sink_kind.check_rows(targets, plan.rows)  # e.g. xlsx: a sheet's rows, before any lookup
        print(
            f"enrich: {plan.rows} rows, {plan.indicators} indicators, {len(plan.keys)} distinct lookups "
            f"({format_counts(plan.per_family())})",
            file=info,
        )
        mode = mode_summary(strategy, plan, settings)
        print(f"enrich: {describe_mode(mode)}", file=info)
        opts = ResolveOptions(
            cache_path=cache_path,
            max_age_seconds=req.max_age_seconds,
            progress_interval=req.progress_interval,
            stream=info,
        )
        try:
            lookups = resolve(plan, strategy, settings, opts)
        except Interrupted as stop:
            _say_interrupted(stop, cache_path, err)
            how, code = signals.stopped_by(stop.stop), signals.exit_code(stop.stop)
            _write_failed_summary(req, how, code, started, err, status="stopped")
            return code
        sink_options = SinkOptions(
            neutralise=req.neutralise,
            org_name=req.org_name,
            negative_sightings=req.negative_sightings,
            separate=req.stix_output == "separate",
            lookback_hours=strategy.options.lookback_hours,
            api_url=settings.api_url,
            bom=req.bom,
        )
        outcomes = Outcomes(strategy, lookups.answers)
        rows, extra = _write(targets, sink_kind, sink_options, outcomes)
        summary = _summary(req, plan, rows, extra, lookups, settings, strategy, started, targets)
        mode |= strategy.choice()  # what answering found at call time (auto: a fallback to stats)
        summary = dataclasses.replace(summary, mode=mode, encoding_fallbacks=encoding_fallbacks(sources))
    if req.report:  # after the outputs are committed: the inputs read once more
        write_run_report(req.report, sources, outcomes, summary.to_dict(), req, sink_kind.format)
    return _finish(req, err, summary, EXIT_ROW_ERRORS if rows.get("error") else EXIT_OK, targets)


def _finish(req: RunRequest, err: TextIO, summary: RunSummary, code: int, targets: list[Target]) -> int:
    """The end of a run that wrote its outputs: the summary said, the files written named, and
    `--summary` written; returns `code`."""
    if not logs.finish("finished", code, "row_errors" if code else "ok", summary=summary.to_dict()):
        print_summary(summary.to_dict(), err)
    for target in targets:
        if target.path != "-":
            print(f"enrich: wrote {target.path}", file=err)
    if req.report:
        print(f"enrich: wrote {req.report} (report)", file=err)
    if req.summary:
        try:
            write_summary(req.summary, summary)
        except OSError as exc:
            raise _SummaryNotWritten(
                f"{req.summary}: cannot write the summary ({exc.strerror or exc})"
            ) from None
    return code


def _write(
    targets: list[Target], kind: type, options: SinkOptions, outcomes: Outcomes
) -> tuple[Counter[str], Counter[str]]:
    """Every target written by its sink: (rows by status, what the format tallies besides)."""
    rows: Counter[str] = Counter()
    extra: Counter[str] = Counter()
    for target in targets:
        with kind(target.path, target.sources, options) as sink:
            for source in target.sources:
                sink.write(source, outcomes)
        rows.update(sink.rows_by_status())
        extra.update(sink.counts)
    return rows, extra


def _answer_options(req: RunRequest, settings: Settings) -> AnswerOptions:
    return AnswerOptions(
        lookback_hours=req.lookback_hours,
        file_info=req.file_info,
        concurrency=settings.concurrency,
        max_devices=req.max_devices,
    )


def mode_summary(strategy: Strategy, plan: Plan, settings: Settings) -> dict[str, object]:
    """The summary's `mode`: what answered and why (`Strategy.choice`), and the least seconds each
    mode would take under the quotas for this plan (`estimated_seconds`)."""
    from enrich.answering.auto import hunting_path, mode_estimates

    choice = dict(strategy.choice())
    hunted = choice.get("chosen") == "hunt"
    choice["estimated_seconds"] = mode_estimates(
        plan.keys, plan.by_type, hunted, settings.rate_limits, hunting_path(strategy)
    )
    return choice


@contextlib.contextmanager
def _connection(
    req: RunRequest, err: TextIO, environ: Mapping[str, str] | None = None
) -> Iterator[tuple[Settings, str | None]]:
    """Settings for the run (and the cache path), from the environment or an in-process sandbox.

    The connection's secrets are registered for scrubbing here, before anything can print them.
    """
    cache = None if req.no_cache else (req.cache or str(default_cache_path()))
    if not req.sandbox:
        settings = load_settings(
            req.secrets,
            environ=environ,
            rate_limit=req.rate_limit,
            concurrency=req.concurrency,
            timeout=req.timeout,
            cloud=req.cloud,
            region=req.region,
        )
        protect(settings.connection)
        yield settings, cache
        return
    from enrich.mde.clouds import cloud_named
    from enrich.sandbox import Sandbox, SandboxConfig

    cloud = cloud_named(req.cloud or os.environ.get("MDE_CLOUD")).name  # the sandbox serves the run's cloud
    with (
        Sandbox(SandboxConfig(time_scale=SANDBOX_TIME_SCALE, cloud=cloud)) as sb,
        tempfile.TemporaryDirectory() as tmp,
    ):
        print(
            f"enrich: sandbox serving at {sb.base_url} (quota windows time-scaled {SANDBOX_TIME_SCALE:g}x: "
            "a minute lasts a second)",
            file=err,
        )
        settings = load_settings(
            None,
            environ=sb.env(),
            rate_limit=req.rate_limit or SANDBOX_RATE_LIMIT,
            concurrency=req.concurrency,
            timeout=req.timeout,
            cloud=cloud,
            region=req.region,
        )
        protect(settings.connection)
        # The sandbox's data is made anew at each start: keep its answers out of the user's cache.
        yield settings, (None if req.no_cache else req.cache or os.path.join(tmp, "cache.sqlite3"))


def _summary(
    req: RunRequest,
    plan: Plan,
    rows: Counter[str],
    extra: Counter[str],
    lookups: Lookups,
    settings: Settings,
    strategy: Strategy,
    started: float,
    targets: list[Target],
) -> RunSummary:
    return RunSummary(
        inputs=req.inputs,
        output=", ".join(t.path for t in targets),
        rows=plan.rows,
        rows_by_status=dict(rows),
        indicators=plan.indicators,
        indicators_by_type=dict(plan.by_type),
        indicators_by_classification=dict(plan.by_class),
        lookups=LookupCounts(
            distinct=len(plan.keys),
            by_family=dict(plan.per_family()),
            from_cache=lookups.from_cache,
            asked=lookups.asked,
            by_answer=count_answers(lookups.answers),
        ),
        metrics=lookups.metrics,
        quota_wait_seconds=lookups.quota_wait,
        duration_seconds=time.monotonic() - started,
        endpoints={"api": settings.api_url, "login": settings.login_url, "graph": settings.graph_url},
        lookback_hours=strategy.options.lookback_hours,
        tenant_id=settings.tenant_id,
        stix=dict(extra) if output_format(req.to, req.output) == "stix" else None,
    )


def _say_interrupted(stop: Interrupted, cache_path: str | None, err: TextIO) -> None:
    how = signals.stopped_by(stop.stop)  # "interrupted", "stopped by SIGTERM", "stopped by SIGHUP"
    if stop.cached:
        print(
            f"enrich: {how}; {stop.saved} new answers are saved in the cache ({cache_path}). "
            "Nothing was written to the output. Run the same command again to resume: "
            "answers already obtained are not asked again.",
            file=err,
        )
    else:
        print(f"enrich: {how}; nothing was written (no cache, so a rerun starts over).", file=err)


def _say(err: TextIO) -> locks.Say:
    """A printer of one `enrich: ...` line on `err` (what a lock says while it waits)."""
    return lambda line: print(f"enrich: {line}", file=err, flush=True)
