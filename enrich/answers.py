"""The answers stage: every lookup of the plan answered, from the cache where fresh, else by the strategy.

Answers are stored in the cache as they arrive, so a stopped run resumes where it stopped.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TextIO

from enrich.answering.interface import Strategy
from enrich.cache import Cache
from enrich.mde.auth import TokenProvider
from enrich.mde.budget_store import BudgetStore
from enrich.mde.client import ClientMetrics, MdeClient
from enrich.mde.limits import Budget
from enrich.mde.settings import Settings
from enrich.model import Answer, LookupKey, Status
from enrich.plan import Plan
from enrich.progress import Progress


@dataclass(frozen=True)
class ResolveOptions:
    """How the answers stage runs, beyond the connection and the strategy."""

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
    metrics: ClientMetrics | None
    quota_wait: float


def prepare(strategy: Strategy, settings: Settings) -> None:
    """Run `strategy.prepare` (when it `needs_prepare`: auto asks which hunting paths the app may
    use) with a client of its own; only sign-ins, no entity or hunting quota."""
    if not strategy.needs_prepare:
        return

    async def go() -> None:
        budget = Budget(settings.rate_limits)
        try:
            async with MdeClient(settings, TokenProvider(settings), budget) as client:
                await strategy.prepare(client)
        finally:
            budget.close()

    asyncio.run(go())


class Interrupted(Exception):
    """The run was stopped (Ctrl-C, or SIGTERM/SIGHUP: `stop` is the KeyboardInterrupt raised) after
    `saved` answers had been stored."""

    def __init__(self, saved: int, cached: bool, stop: BaseException | None = None) -> None:
        super().__init__(saved)
        self.saved, self.cached, self.stop = saved, cached, stop


def resolve(plan: Plan, strategy: Strategy, settings: Settings, opts: ResolveOptions) -> Lookups:
    """Answer every lookup of the plan: from the cache where fresh and reusable, else from MDE."""
    cache = Cache(opts.cache_path) if opts.cache_path else None
    lookback = strategy.options.lookback_hours
    keys = list(plan.keys)
    answers: dict[LookupKey, Answer] = {}
    if cache is not None:
        cached = cache.get_many(
            settings.tenant_id, lookback, keys, opts.max_age_seconds, methods=strategy.cache_methods
        )
        answers.update((k, a) for k, a in cached.items() if strategy.reusable(k, a))
    from_cache = len(answers)
    missing = [k for k in keys if k not in answers]
    if not missing:
        if cache is not None:
            cache.close()
        return Lookups(answers, from_cache, 0, None, 0.0)
    # With a cache, the budget's call log lives in its file: one quota for every process of this
    # tenant and app (a restart after a crash, concurrent runs). Without one, it is this process's.
    store = BudgetStore(opts.cache_path, settings.tenant_id, settings.client_id) if opts.cache_path else None
    budget = Budget(settings.rate_limits, store=store)
    remaining = Counter(k.family for k in missing)  # kept up to date: the ETA is read on every answer
    progress = Progress(
        total=len(keys),
        rows=plan.rows,
        cache_hits=from_cache,
        quota_eta=lambda: budget.eta(strategy.budget_calls(remaining)),
        quota_wait=lambda: max(budget.waited.values(), default=0.0),
        stream=opts.stream,
        interval=opts.progress_interval,
        terminal=opts.terminal,
    )
    progress.done = from_cache

    on_answer = _Store(answers, cache, settings.tenant_id, lookback, strategy.name, remaining, progress)

    client = MdeClient(settings, TokenProvider(settings), budget)
    try:
        asyncio.run(_answer(client, strategy, missing, on_answer, progress))
    except KeyboardInterrupt as stop:
        raise Interrupted(len(answers) - from_cache, cache is not None, stop) from None
    finally:
        progress.close()
        if cache is not None:
            cache.close()
        budget.close()
    return Lookups(
        answers, from_cache, len(missing), client.metrics(), max(budget.waited.values(), default=0.0)
    )


class _Store:
    """The answers stage's `on_answer`: keeps each answer (method and times set) and stores it in the
    cache, one commit per answer, or per batch through `together` (a hunting chunk: the checkpoint)."""

    def __init__(
        self,
        answers: dict[LookupKey, Answer],
        cache: Cache | None,
        tenant: str,
        lookback: int,
        method: str,
        remaining: Counter[str],
        progress: Progress,
    ) -> None:
        self.answers, self.cache, self.tenant, self.lookback = answers, cache, tenant, lookback
        self.method, self.remaining, self.progress = method, remaining, progress

    def __call__(self, key: LookupKey, answer: Answer) -> None:
        self._keep(key, self._store(key, self._arrived(answer)))

    def together(self, pairs: Sequence[tuple[LookupKey, Answer]]) -> None:
        """A batch's answers, committed to the cache in one transaction, kept once committed."""
        if self.cache is None:
            for key, answer in pairs:
                self(key, answer)
            return
        with self.cache.transaction():
            stored = [(key, self._store(key, self._arrived(answer))) for key, answer in pairs]
        for key, answer in stored:
            self._keep(key, answer)

    def _arrived(self, answer: Answer) -> Answer:
        now = time.time()  # when the answer arrived; the cache's record of it where one is kept
        return replace(answer, method=answer.method or self.method, answered_at=now, fetched_at=now)

    def _store(self, key: LookupKey, answer: Answer) -> Answer:
        if self.cache is not None and answer.status is not Status.ERROR:
            return self.cache.put(self.tenant, self.lookback, key, answer) or answer
        return answer

    def _keep(self, key: LookupKey, answer: Answer) -> None:
        self.answers[key] = answer
        self.remaining[key.family] -= 1
        self.progress.advance()


async def _answer(
    client: MdeClient,
    strategy: Strategy,
    keys: Sequence[LookupKey],
    on_answer,  # noqa: ANN001
    progress: Progress,
) -> None:
    async with client, progress.ticking():
        await strategy.answer_all(client, keys, on_answer)
