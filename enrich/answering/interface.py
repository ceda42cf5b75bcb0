"""The interface every answering strategy implements (stats, hunt and auto: `enrich.answering`).

A strategy says which lookups a row needs, why a type it cannot look up is unsupported, which
remark a lookup adds to a row, whether a cached answer can be reused, and answers lookups:
one at a time (`answer`, driven by the default `answer_all`: a bounded pool of workers per API
family) or in batches (by overriding `answer_all`). The plan, the cache, the join and the sinks
only ever see `LookupKey`s and `Answer`s: they never know which strategy answered.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from enrich.errors import CacheError, UsageError
from enrich.mde.errors import MdeError
from enrich.model import Answer, Indicator, LookupKey, Status
from enrich.request import DEFAULT_MAX_DEVICES, MAX_DEVICES, MAX_LOOKBACK_HOURS
from enrich.tasks import run_until_first_error

if TYPE_CHECKING:
    from enrich.mde.client import MdeClient

log = logging.getLogger(__name__)

OnAnswer = Callable[[LookupKey, Answer], None]
Answers = Mapping[LookupKey, Answer]


def answer_together(on_answer: OnAnswer, pairs: Sequence[tuple[LookupKey, Answer]]) -> None:
    """Hand a batch's answers to `on_answer` as one checkpoint.

    When `on_answer` has a `together(pairs)` method (the answers stage's does: one cache
    transaction for the lot), it takes them at once; else each answer is passed in turn.
    """
    together = getattr(on_answer, "together", None)
    if together is not None:
        together(pairs)
        return
    for key, answer in pairs:
        on_answer(key, answer)


@dataclass(frozen=True)
class AnswerOptions:
    """What the answering is asked: how far back MDE counts, and how much detail."""

    lookback_hours: int = MAX_LOOKBACK_HOURS
    file_info: bool = False  # files: also ask /api/files/{hash} (signer, publisher, ...)
    concurrency: int = 8  # lookups in flight per API family (per-lookup strategies)
    max_devices: int = DEFAULT_MAX_DEVICES  # hunting: device names kept per value (0: none)

    def __post_init__(self) -> None:
        if not 0 <= int(self.max_devices) <= MAX_DEVICES:
            raise UsageError(f"max devices must be between 0 and {MAX_DEVICES}; got {self.max_devices}")
        if not 1 <= int(self.lookback_hours) <= MAX_LOOKBACK_HOURS:
            raise UsageError(
                f"lookback hours must be between 1 and {MAX_LOOKBACK_HOURS} (30 days, MDE's maximum); "
                f"got {self.lookback_hours}"
            )


class Strategy(ABC):
    """One way of answering lookups. Subclasses set `name` and implement the abstract methods."""

    name: ClassVar[str]  # as `--mode` spells it
    # Whether `extra_keys` may return anything (the join skips asking when not).
    has_extra_keys: ClassVar[bool] = False
    # Whether `prepare(client)` must run before the plan (it decides which lookups rows need).
    needs_prepare: ClassVar[bool] = False

    def __init__(self, options: AnswerOptions | None = None) -> None:
        self.options = options or AnswerOptions()

    # -- which lookups rows need ---------------------------------------------------------------
    @abstractmethod
    def lookup_key(self, ind: Indicator) -> LookupKey | None:
        """The lookup a pending indicator needs, or None when this strategy cannot look it up."""

    def row_keys(self, indicators: tuple[Indicator, ...]) -> list[LookupKey | None]:
        """The lookup each of a row's indicators needs (None: no lookup)."""
        return [self.lookup_key(i) for i in indicators]

    @abstractmethod
    def unsupported_reason(self, ind: Indicator) -> str:
        """Why a valid indicator cannot be looked up by this strategy, in words a user can act on."""

    def extra_keys(self, ind: Indicator, key: LookupKey) -> tuple[LookupKey, ...]:
        """Further lookups an indicator needs besides `key` (e.g. a URL's full address beside its
        host): asked and cached like any other, they add to the row's note (`answer_note`) and
        make it `error` when they fail, but the row's other cells are `key`'s answer's."""
        return ()

    def lookup_note(self, ind: Indicator, key: LookupKey) -> str:
        """A remark the lookup adds to the indicator's row ("" for none)."""
        return ""

    def answer_note(self, ind: Indicator, key: LookupKey, answers: Answers) -> str:
        """A remark that depends on the answers (e.g. whether the exact URL was seen; "" for none)."""
        return ""

    def budget_calls(self, remaining: Mapping[str, int]) -> Mapping[str, int]:
        """The calls still needed per budget family for `remaining` lookups per lookup family
        (the progress line's quota ETA); one call per lookup by default."""
        return remaining

    # -- before planning -----------------------------------------------------------------------
    async def prepare(self, client: MdeClient) -> None:  # noqa: B027 - a hook, empty by default
        """Settle what depends on the tenant before the plan (`needs_prepare`); no entity quota."""

    def choice(self) -> dict[str, Any]:
        """What this strategy answers with and why (the summary's `mode`)."""
        return {"asked": self.name, "chosen": self.name, "reason": f"--mode {self.name}"}

    # -- cached answers ------------------------------------------------------------------------
    @property
    def cache_methods(self) -> tuple[str, ...]:
        """The `Answer.method` values of the cached answers this run may reuse."""
        return (self.name,)

    def reusable(self, key: LookupKey, answer: Answer) -> bool:
        """Whether a cached answer serves this run (default: one obtained by a `cache_methods` way)."""
        return answer.method == "" or answer.method in self.cache_methods

    # -- answering -----------------------------------------------------------------------------
    async def answer(self, client: MdeClient, key: LookupKey) -> Answer:
        """Ask MDE about one lookup (per-lookup strategies implement this)."""
        raise NotImplementedError(f"the {self.name} strategy answers in batches only")

    async def answer_all(self, client: MdeClient, keys: Sequence[LookupKey], on_answer: OnAnswer) -> None:
        """Answer every key, calling `on_answer(key, answer)` as each arrives.

        Default: a fixed pool of `options.concurrency` workers per API family pulls keys from that
        family's list, so a family waiting on its quota never holds up the others. An MdeError
        (authentication, permission, TLS), a CacheError (the shared budget's database) or an exception
        from `on_answer` cancels the remaining work and propagates; any other failure of one lookup
        becomes that lookup's ERROR answer.
        """
        await run_per_family(keys, self._answer_safely(client), on_answer, self.options.concurrency)

    def _answer_safely(self, client: MdeClient) -> Callable[[LookupKey], Awaitable[Answer]]:
        async def one(key: LookupKey) -> Answer:
            try:
                return await self.answer(client, key)
            except (MdeError, CacheError, asyncio.CancelledError):
                raise
            except Exception as exc:  # a bug or an odd answer must not stop the night's run
                log.exception("lookup of %s %s failed unexpectedly", key.family, key.key)
                return Answer(Status.ERROR, error=f"unexpected failure: {type(exc).__name__}: {exc}")

        return one


async def run_per_family(
    keys: Iterable[LookupKey],
    answer: Callable[[LookupKey], Awaitable[Answer]],
    on_answer: OnAnswer,
    concurrency: int,
) -> None:
    """Answer `keys` with up to `concurrency` workers per API family; the first exception cancels the rest."""
    by_family: dict[str, list[LookupKey]] = {}
    for key in keys:
        by_family.setdefault(key.family, []).append(key)

    async def worker(queue: Iterable[LookupKey]) -> None:
        for key in queue:
            on_answer(key, await answer(key))

    tasks: list[asyncio.Task[None]] = []
    for family_keys in by_family.values():
        shared = iter(family_keys)  # one iterator per family, shared by its workers
        for _ in range(min(max(1, concurrency), len(family_keys))):
            tasks.append(asyncio.create_task(worker(shared)))
    await run_until_first_error(tasks)
