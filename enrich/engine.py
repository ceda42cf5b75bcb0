"""`enrich run`: plan the lookups, answer them from the cache or MDE, then write the output."""

from __future__ import annotations

import asyncio
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO

from enrich import __version__
from enrich.cache import Cache
from enrich.mde.auth import TokenProvider
from enrich.mde.client import MdeClient
from enrich.mde.limits import Budget
from enrich.mde.settings import Settings
from enrich.mde.stats import FILE_INFO_MARK, lookup_many
from enrich.model import MDE_COLUMNS, Answer, LookupKey, Status
from enrich.outcome import mde_columns
from enrich.plan import Plan
from enrich.progress import Progress
from enrich.sources.interface import Source


@dataclass
class RunOptions:
    """What a run does beyond the connection settings."""

    cache_path: str | None = None  # None: no cache (answers kept in memory only)
    max_age_seconds: float | None = None  # cached answers older than this are asked again
    progress_interval: float = 30.0
    terminal: bool | None = None  # None: decide from the stream
    stream: TextIO = field(default_factory=lambda: sys.stderr)


@dataclass
class Lookups:
    """The answers of a run and how they were obtained."""

    answers: dict[LookupKey, Answer]
    from_cache: int
    asked: int
    metrics: dict[str, Any]
    quota_wait: float


class Interrupted(Exception):
    """The run was stopped (Ctrl-C) after `saved` answers had been stored."""

    def __init__(self, saved: int, cached: bool) -> None:
        super().__init__(saved)
        self.saved, self.cached = saved, cached


def lacks_file_info(key: LookupKey, answer: Answer) -> bool:
    """True for a cached answer about a file MDE has seen that was fetched without `--file-info`."""
    return (
        key.family == "files"
        and answer.status is Status.SEEN
        and all(name != FILE_INFO_MARK for name, _ in answer.detail)
    )


def resolve(plan: Plan, settings: Settings, opts: RunOptions) -> Lookups:
    """Answer every lookup of the plan: from the cache where fresh, else from MDE (stored as they come)."""
    cache = Cache(opts.cache_path) if opts.cache_path else None
    keys = list(plan.keys)
    answers: dict[LookupKey, Answer] = {}
    if cache is not None:
        cached = cache.get_many(settings.tenant_id, settings.lookback_hours, keys, opts.max_age_seconds)
        answers.update(
            (k, a) for k, a in cached.items() if not (settings.file_info and lacks_file_info(k, a))
        )
    from_cache = len(answers)
    missing = [k for k in keys if k not in answers]
    budget = Budget(settings.rate_limits)
    if not missing:
        return Lookups(answers, from_cache, 0, {}, 0.0)
    remaining = Counter(k.family for k in missing)  # kept up to date: the ETA is read on every answer
    progress = Progress(
        total=len(keys),
        rows=plan.rows,
        cache_hits=from_cache,
        quota_eta=lambda: budget.eta(remaining),
        quota_wait=lambda: max(budget.waited.values(), default=0.0),
        stream=opts.stream,
        interval=opts.progress_interval,
        terminal=opts.terminal,
    )
    progress.done = from_cache

    def on_answer(key: LookupKey, answer: Answer) -> None:
        answers[key] = answer
        remaining[key.family] -= 1
        if cache is not None and answer.status is not Status.ERROR:
            cache.put(settings.tenant_id, settings.lookback_hours, key, answer)
        progress.advance()

    client = MdeClient(settings, TokenProvider(settings), budget)
    try:
        asyncio.run(_lookup(client, missing, settings, on_answer))
    except KeyboardInterrupt:
        raise Interrupted(len(answers) - from_cache, cache is not None) from None
    finally:
        progress.close()
        if cache is not None:
            cache.close()
    return Lookups(
        answers, from_cache, len(missing), client.metrics(), max(budget.waited.values(), default=0.0)
    )


async def _lookup(
    client: MdeClient,
    keys: list[LookupKey],
    settings: Settings,
    on_answer: Callable[[LookupKey, Answer], None],
) -> None:
    async with client:
        await lookup_many(
            client,
            keys,
            lookback_hours=settings.lookback_hours,
            file_info=settings.file_info,
            on_answer=on_answer,
            concurrency=settings.concurrency,
        )


def enriched_rows(
    sources: list[Source], answers: Mapping[LookupKey, Answer], counts: Counter[str]
) -> Iterator[tuple[Source, Any, list[tuple[str, ...]]]]:
    """Second pass: each chunk of each source with its rows' `mde_*` cells; counts row statuses."""
    for source in sources:
        for chunk in source.chunks():
            cells = [mde_columns(inds, answers) for inds in chunk.indicators]
            counts.update(c[2] for c in cells)
            yield source, chunk, cells


def build_summary(
    plan: Plan,
    row_status: Counter[str],
    lookups: Lookups | None,
    settings: Settings | None,
    started: float,
    inputs: list[str],
    output: str,
) -> dict[str, Any]:
    """The machine-readable summary of a run (`--summary FILE`)."""
    metrics = lookups.metrics if lookups else {}
    return {
        "version": __version__,
        "inputs": inputs,
        "output": output,
        "columns": list(MDE_COLUMNS),
        "rows": {"total": plan.rows, "by_status": dict(row_status)},
        "indicators": {
            "total": plan.indicators,
            "by_type": dict(plan.by_type),
            "by_classification": dict(plan.by_class),
        },
        "lookups": None
        if lookups is None
        else {
            "distinct": len(plan.keys),
            "by_family": dict(plan.per_family()),
            "from_cache": lookups.from_cache,
            "asked": lookups.asked,
            "by_answer": dict(Counter(a.status.value for a in lookups.answers.values())),
        },
        "calls": {
            "total": sum(metrics.get("calls", {}).values()),
            "by_family": metrics.get("calls", {}),
            "by_status": metrics.get("responses", {}),
            "throttled_429": sum(metrics.get("throttled", {}).values()),
            "throttled_by_family": metrics.get("throttled", {}),
            "retries": metrics.get("retries", 0),
            "reauthentications": metrics.get("reauths", 0),
            "token_acquisitions": metrics.get("token_acquisitions", 0),
        },
        "quota_wait_seconds": round(lookups.quota_wait, 3) if lookups else 0.0,
        "duration_seconds": round(time.monotonic() - started, 3),
        "endpoints": None
        if settings is None
        else {"api": settings.api_url, "login": settings.login_url, "graph": settings.graph_url},
        "lookback_hours": settings.lookback_hours if settings else None,
        "tenant_id": settings.tenant_id if settings else None,
    }
