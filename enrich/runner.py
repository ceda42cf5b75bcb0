"""The work behind `enrich run` and `enrich job`: settings, inputs, lookups, output, summary, exit code."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TextIO

from enrich.cache import CacheError, default_cache_path
from enrich.classify_job import output_targets
from enrich.engine import Interrupted, Lookups, RunOptions, build_summary, enriched_rows, resolve
from enrich.mde.errors import MdeError
from enrich.mde.settings import Settings, load_settings
from enrich.plan import make_plan
from enrich.sinks.csv import CsvSink, SinkError
from enrich.sinks.summary import format_counts, print_summary, write_json_atomic
from enrich.sources.interface import Source, SourceError
from enrich.sources.open import open_sources

EXIT_OK, EXIT_FATAL, EXIT_USAGE, EXIT_ROW_ERRORS, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
# `run --sandbox` serves a time-scaled sandbox (one quota minute lasts one second) and matches it.
SANDBOX_TIME_SCALE = 60.0
SANDBOX_RATE_LIMIT = "100/1s,1500/60s"


@dataclass
class RunRequest:
    """Everything `enrich run` was asked to do (CLI flags or a job file)."""

    inputs: list[str]
    output: str | None = None
    to: str | None = None
    column: str | None = None
    mode: str = "stats"
    lookback_hours: int | None = None
    rate_limit: str | None = None
    file_info: bool = False
    cache: str | None = None
    no_cache: bool = False
    max_age_seconds: float | None = None
    summary: str | None = None
    secrets: str | None = None
    concurrency: int | None = None
    timeout: float | None = None
    neutralise: bool = True
    org_name: str = "Our organisation"
    negative_sightings: bool = False
    stix_output: str = "merged"
    sandbox: bool = False
    progress_interval: float = 30.0


class Fatal(Exception):
    """Stops the run with exit code 1; the message is one line a user can act on."""


def output_format(req: RunRequest) -> str:
    """`csv` or `stix`: `--to`, else the output's extension, else csv."""
    if req.to:
        return req.to
    if req.output and req.output.lower().endswith((".json", ".jsonl")):
        return "stix"
    return "csv"


@contextlib.contextmanager
def _connection(req: RunRequest, err: TextIO) -> Iterator[tuple[Settings, str | None]]:
    """Settings for the run (and the cache path), from the environment or an in-process sandbox."""
    common = {
        "lookback_hours": req.lookback_hours,
        "concurrency": req.concurrency,
        "timeout": req.timeout,
        "file_info": req.file_info or None,
    }
    cache = None if req.no_cache else (req.cache or str(default_cache_path()))
    if not req.sandbox:
        yield load_settings(req.secrets, rate_limit=req.rate_limit, **common), cache
        return
    from enrich.sandbox import Sandbox, SandboxConfig

    with Sandbox(SandboxConfig(time_scale=SANDBOX_TIME_SCALE)) as sb, tempfile.TemporaryDirectory() as tmp:
        print(
            f"enrich: sandbox serving at {sb.base_url} (quota windows time-scaled {SANDBOX_TIME_SCALE:g}x: "
            "a minute lasts a second)",
            file=err,
        )
        settings = load_settings(
            None, environ=sb.env(), rate_limit=req.rate_limit or SANDBOX_RATE_LIMIT, **common
        )
        # The sandbox's data is made anew at each start: keep its answers out of the user's cache.
        yield settings, (None if req.no_cache else req.cache or os.path.join(tmp, "cache.sqlite3"))


def run(req: RunRequest, err: TextIO | None = None) -> int:
    """Run the job; returns the exit code (0, 1, 3, or 130 when interrupted)."""
    err = sys.stderr if err is None else err
    try:
        return _run(req, err)
    except (Fatal, SourceError, SinkError, MdeError, CacheError) as exc:
        print(f"enrich: {exc}", file=err)
        return EXIT_FATAL
    except KeyboardInterrupt:
        print(
            "enrich: interrupted; nothing was written to the output. Answers obtained so far are in the "
            "cache: run the same command again to resume.",
            file=err,
        )
        return EXIT_INTERRUPTED


def _run(req: RunRequest, err: TextIO) -> int:
    started = time.monotonic()
    fmt = output_format(req)
    if req.mode != "stats":
        raise Fatal(f"mode '{req.mode}' is not available; use --mode stats")
    with _connection(req, err) as (settings, cache_path):
        sources = open_sources(req.inputs, req.column)
        targets = output_targets(
            sources, req.output, suffix=".enriched.json" if fmt == "stix" else ".enriched.csv"
        )
        if fmt == "stix":
            _check_writable(path for path, _ in targets)
        sinks = (
            []
            if fmt == "stix"
            else [CsvSink(path, group, neutralise=req.neutralise) for path, group in targets]
        )
        try:
            plan = make_plan(sources)
            print(
                f"enrich: {plan.rows} rows, {plan.indicators} indicators, {len(plan.keys)} distinct lookups "
                f"({format_counts(plan.per_family())})",
                file=err,
            )
            opts = RunOptions(
                cache_path=cache_path,
                max_age_seconds=req.max_age_seconds,
                progress_interval=req.progress_interval,
                stream=err,
            )
            try:
                lookups = resolve(plan, settings, opts)
            except Interrupted as stop:
                for sink in sinks:
                    sink.abort()
                _say_interrupted(stop, cache_path, err)
                return EXIT_INTERRUPTED
            row_status: Counter[str] = Counter()
            stix_counts: Counter[str] | None = None
            if fmt == "stix":
                stix_counts = _write_stix(req, sources, targets, lookups, settings, row_status)
            else:
                for sink, (_, group) in zip(sinks, targets, strict=True):
                    with sink:
                        for source, chunk, cells in enriched_rows(group, lookups.answers, row_status):
                            sink.write(source, chunk.frame, cells)
        except BaseException:
            for sink in sinks:
                sink.abort()
            raise
        summary = build_summary(
            plan, row_status, lookups, settings, started, req.inputs, ", ".join(p for p, _ in targets)
        )
        if stix_counts is not None:
            summary["stix"] = dict(stix_counts)
    print_summary(summary, err)
    for path, _ in targets:
        if path != "-":
            print(f"enrich: wrote {path}", file=err)
    if req.summary:
        try:
            write_json_atomic(req.summary, summary)
        except OSError as exc:
            raise Fatal(f"{req.summary}: cannot write the summary ({exc.strerror or exc})") from None
    return EXIT_ROW_ERRORS if row_status.get("error") else EXIT_OK


def _write_stix(
    req: RunRequest,
    sources: list[Source],
    targets: list[tuple[str, list[Source]]],
    lookups: Lookups,
    settings: Settings,
    row_status: Counter[str],
) -> Counter[str]:
    from enrich.model import Status
    from enrich.sinks.stix import write_stix

    total: Counter[str] = Counter()
    for path, group in targets:
        counts = write_stix(
            group,
            lookups.answers,
            path,
            org_name=req.org_name,
            negative_sightings=req.negative_sightings,
            separate=req.stix_output == "separate",
            queried_at=datetime.now(UTC),
            lookback_hours=settings.lookback_hours,
            api_url=settings.api_url,
        )
        row_status.update({s.value: counts[s.value] for s in Status if counts.get(s.value)})
        total.update(counts)
    return total


def _check_writable(paths: Iterable[str]) -> None:
    """Fail before any lookup when an output cannot be written (not after an hour of quota)."""
    for path in paths:
        if path == "-":
            continue
        folder = os.path.dirname(os.path.abspath(path))
        if os.path.isdir(path):
            raise Fatal(f"{path}: is a directory; give a file name")
        if not os.path.isdir(folder):
            raise Fatal(f"{path}: cannot write, the folder {folder} does not exist")
        if not os.access(folder, os.W_OK):
            raise Fatal(f"{path}: cannot write in the folder {folder} (permission denied)")


def _say_interrupted(stop: Interrupted, cache_path: str | None, err: TextIO) -> None:
    if stop.cached:
        print(
            f"enrich: interrupted; {stop.saved} new answers are saved in the cache ({cache_path}). "
            "Nothing was written to the output. Run the same command again to resume: "
            "answers already obtained are not asked again.",
            file=err,
        )
    else:
        print("enrich: interrupted; nothing was written (no cache, so a rerun starts over).", file=err)
