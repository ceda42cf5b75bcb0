"""The hunting strategy (`--mode hunt`): advanced hunting answers thousands of values per call.

Which lookups: SHA-1, SHA-256 and MD5 -> `files`; IPv4/IPv6 -> `ips`; domains -> `domains`; a URL
-> its host (`domains`, or `ips` for an IP host: the row's cells, as in stats mode) plus the full
URL (`urls`, an extra lookup whose answer the row's note reports). A cell holding one file's hashes
of several types asks once (SHA-1, else SHA-256, else MD5) and the others share that answer.

The values of each family go to `enrich.mde.hunting.hunt`, which packs them into KQL queries and
reports each finished chunk; a chunk's answers are handed to the answers stage together (one cache
transaction: the resume checkpoint). An answer's `method` is the path that gave it
(`hunting-graph` or `hunting-legacy`: the `mde_answered_by` value and the cache's key). Semantics
per type: `docs/hunting.md`.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from enrich.answering.interface import (
    AnswerOptions,
    Answers,
    OnAnswer,
    Strategy,
    answer_together,
)
from enrich.answering.stats import (
    FILE_INFO_MARK,
    fetch_file_info,
    lacks_file_info,
    same_file_key,
    same_file_note,
    type_lookup_key,
)
from enrich.mde.hunting.interface import (
    BUDGET_FAMILY,
    DEFAULT_CHUNK_VALUES,
    PATH_GRAPH,
    PATH_LEGACY,
    HuntOptions,
)
from enrich.mde.times import iso_utc
from enrich.model import Answer, Indicator, IndicatorType, LookupKey, Status
from enrich.tasks import run_until_first_error

if TYPE_CHECKING:
    from enrich.mde.client import MdeClient
    from enrich.mde.hunting import ChunkResult

METHOD = "hunt"  # the `--mode` name
# The hunting paths (`mde_answered_by` values, the `method` the cache keys hunting answers by).
METHODS = (PATH_GRAPH, PATH_LEGACY)
FAMILIES = ("files", "ips", "domains", "urls")
# The family each indicator type is asked in (a URL: its host's, plus `urls`).
FAMILY_OF_TYPE: dict[str, str] = {
    "sha1": "files",
    "sha256": "files",
    "md5": "files",
    "ipv4": "ips",
    "ipv6": "ips",
    "domain": "domains",
}
# Preference among a cell's hashes of one file: which one is asked.
_HASH_PREFERENCE = (IndicatorType.SHA1, IndicatorType.SHA256, IndicatorType.MD5)
# Answer.detail names: events counted, device names (";"-joined), and how many names were asked
# for (a cached answer asked for fewer than this run wants is asked again).
EVENTS, DEVICES, MAX_DEVICES_MARK = "events", "devices", "max_devices"
# Values per hunting call assumed by forecasts (the transport's cap; its size limits may make
# chunks smaller).
CHUNK_VALUES = DEFAULT_CHUNK_VALUES
NO_HOST_REASON = "this URL has no host, so advanced hunting cannot be asked about it"
OTHER_MODES = "--mode stats asks the entity statistics APIs instead, and --mode auto falls back to them"


def url_key(ind: Indicator) -> LookupKey:
    """The full-URL lookup of a URL indicator."""
    return LookupKey("urls", ind.value)


def sighting_answer(value: str, result: ChunkResult, max_devices: int) -> Answer:
    """One value's answer from a finished chunk: SEEN with devices, events, dates and device names;
    NOT_SEEN (prevalence 0, 0 events) when absent; ERROR with the chunk's error."""
    if result.error:
        return Answer(Status.ERROR, error=result.error, method=result.path)
    mark = (MAX_DEVICES_MARK, str(max_devices))
    seen = result.sightings.get(value)
    if seen is None or seen.devices <= 0:
        events = str(seen.events) if seen is not None else "0"
        return Answer(Status.NOT_SEEN, prevalence=0, detail=((EVENTS, events), mark), method=result.path)
    names = ";".join(seen.device_names)
    return Answer(
        Status.SEEN,
        prevalence=seen.devices,
        first_seen=iso_utc(seen.first_seen),
        last_seen=iso_utc(seen.last_seen),
        detail=((EVENTS, str(seen.events)), (DEVICES, names), mark),
        method=result.path,
    )


def chunk_answers(result: ChunkResult, max_devices: int) -> list[tuple[LookupKey, Answer]]:
    """Every value the chunk asked, with its answer."""
    family = result.family
    return [
        (LookupKey(family, value), sighting_answer(value, result, max_devices)) for value in result.values
    ]


def _detail(answer: Answer, name: str) -> str:
    return next((value for key, value in answer.detail if key == name), "")


def has_device_names(answer: Answer, max_devices: int) -> bool:
    """Whether a cached hunting answer holds the device names a run keeping `max_devices` wants:
    it was asked for as many, or it names every device that saw the value."""
    if answer.status is not Status.SEEN:
        return True
    asked = _detail(answer, MAX_DEVICES_MARK)
    if asked.isdigit() and int(asked) >= max_devices:
        return True
    names = _detail(answer, DEVICES)
    count = len(names.split(";")) if names else 0
    return answer.prevalence is not None and count >= min(answer.prevalence, max_devices)


class HuntingStrategy(Strategy):
    """Answers with advanced hunting (Microsoft Graph `runHuntingQuery`, else the legacy MDE endpoint)."""

    name = METHOD
    has_extra_keys = True

    def __init__(self, options: AnswerOptions | None = None, *, paths: Sequence[str] = METHODS) -> None:
        super().__init__(options)
        self.paths = tuple(paths)  # the hunting paths to try, in order

    def lookup_key(self, ind: Indicator) -> LookupKey | None:
        return type_lookup_key(ind, FAMILY_OF_TYPE)

    def row_keys(self, indicators: tuple[Indicator, ...]) -> list[LookupKey | None]:
        """As `Strategy.row_keys`; one file's hashes of several types in a cell ask once."""
        if (shared := same_file_key(indicators, _HASH_PREFERENCE)) is not None:
            return [shared] * len(indicators)
        return [self.lookup_key(i) for i in indicators]

    def extra_keys(self, ind: Indicator, key: LookupKey) -> tuple[LookupKey, ...]:
        if ind.type is IndicatorType.URL:
            return (url_key(ind),)
        return ()

    def unsupported_reason(self, ind: Indicator) -> str:
        if ind.type is IndicatorType.URL:
            return NO_HOST_REASON
        return f"{ind.type} indicators cannot be looked up by advanced hunting"

    def lookup_note(self, ind: Indicator, key: LookupKey) -> str:
        if ind.type is IndicatorType.URL:
            return host_note(key)
        return same_file_note(ind, key)

    def answer_note(self, ind: Indicator, key: LookupKey, answers: Answers) -> str:
        """For a URL: whether the exact URL was seen (the row's cells are its host's)."""
        if ind.type is not IndicatorType.URL:
            return ""
        return url_note(key, answers.get(key), answers.get(url_key(ind)))

    @property
    def cache_methods(self) -> tuple[str, ...]:
        return METHODS

    def budget_calls(self, remaining: Mapping[str, int]) -> Mapping[str, int]:
        """Hunting calls (about `CHUNK_VALUES` values each), in the first path's budget family."""
        calls = sum(math.ceil(max(0, n) / CHUNK_VALUES) for n in remaining.values())
        return {BUDGET_FAMILY[self.paths[0]]: calls}

    def reusable(self, key: LookupKey, answer: Answer) -> bool:
        """A hunting answer (either path) with the device names this run keeps (and, with
        `--file-info`, a seen file's information)."""
        return (
            answer.method in METHODS
            and has_device_names(answer, self.options.max_devices)
            and not (self.options.file_info and lacks_file_info(key, answer))
        )

    def hunt_options(self, paths: Sequence[str] = METHODS) -> HuntOptions:
        """The transport's `HuntOptions` for this run."""
        return HuntOptions(
            lookback_hours=self.options.lookback_hours,
            max_devices=self.options.max_devices,
            paths=tuple(paths),
        )

    async def answer_all(self, client: MdeClient, keys: Sequence[LookupKey], on_answer: OnAnswer) -> None:
        """Every key, family by family through `hunt`, each chunk's answers handed over together.

        The families are hunted one after the other (they share the tenant's hunting quota); a
        family whose queries are not understood (QueryRefused) gets an ERROR answer per value. An
        MdeError (authentication, no usable path: its message then suggests the other modes), a
        CacheError or an exception from `on_answer` propagates.
        """
        from enrich.mde.errors import PermissionDenied
        from enrich.mde.hunting.paths import HuntingUnavailable

        try:
            await self.hunt(client, keys, on_answer)
        except PermissionDenied as exc:
            raise PermissionDenied(
                f"{exc}; {OTHER_MODES}", family=exc.family, permissions=exc.permissions
            ) from None
        except HuntingUnavailable as exc:
            raise HuntingUnavailable(f"{exc}; {OTHER_MODES}") from None

    async def hunt(
        self,
        client: MdeClient,
        keys: Sequence[LookupKey],
        on_answer: OnAnswer,
        *,
        refused_errors: bool = True,
    ) -> None:
        """`hunt_keys` with this run's options (`refused_errors`: as there)."""
        await hunt_keys(
            client,
            keys,
            on_answer,
            self.hunt_options(self.paths),
            self.options.max_devices,
            file_info=self.options.file_info,
            concurrency=self.options.concurrency,
            refused_errors=refused_errors,
        )


async def hunt_keys(
    client: MdeClient,
    keys: Sequence[LookupKey],
    on_answer: OnAnswer,
    options: HuntOptions,
    max_devices: int,
    *,
    file_info: bool = False,
    concurrency: int = 8,
    refused_errors: bool = True,
) -> None:
    """`hunt` over `keys` grouped by family; keys of a family hunting does not know are ERROR.

    With `file_info`, each chunk's seen files also get `/api/files/{hash}` (signer, publisher...;
    the stats mode's `--file-info`) before the chunk is handed over. A family whose first query
    is not understood (QueryRefused): each of its values gets that ERROR (`refused_errors`), or
    the QueryRefused propagates (the other families not asked).
    """
    from enrich.mde.hunting import hunt
    from enrich.mde.hunting.paths import QueryRefused

    by_family: dict[str, list[str]] = {}
    for key in keys:
        by_family.setdefault(key.family, []).append(key.key)
    for family, asked in by_family.items():
        if family not in FAMILIES:
            answer = Answer(Status.ERROR, error=f"advanced hunting does not answer {family!r} lookups")
            answer_together(on_answer, [(LookupKey(family, v), answer) for v in asked])
            continue
        values, refused = askable(family, asked)
        if refused:
            answer_together(on_answer, refused)
        if not values:
            continue

        def on_chunk(result: ChunkResult) -> None:
            answer_together(on_answer, chunk_answers(result, max_devices))

        try:
            if family == "files" and file_info:
                await _hunt_files_with_info(client, values, on_answer, options, max_devices, concurrency)
            else:
                await hunt(client, family, values, options, on_chunk)
        except QueryRefused as exc:  # raised before any chunk of the family was handed over
            if not refused_errors:
                raise
            error = Answer(Status.ERROR, error=str(exc), method=exc.path)
            answer_together(on_answer, [(LookupKey(family, v), error) for v in values])
        await asyncio.sleep(0)


def askable(family: str, values: list[str]) -> tuple[list[str], list[tuple[LookupKey, Answer]]]:
    """The values the transport accepts (normalised as enrich normalises them), and an ERROR answer
    naming the reason for each other one (a value the planner let through by mistake must not stop
    the family's other values: the transport refuses a whole list holding one)."""
    from enrich.mde.hunting.literals import UnsafeValue, canonical

    good: list[str] = []
    refused: list[tuple[LookupKey, Answer]] = []
    for value in values:
        try:
            good.append(canonical(family, value))
        except UnsafeValue as exc:
            error = f"advanced hunting cannot be asked about this value: {exc}"
            refused.append((LookupKey(family, value), Answer(Status.ERROR, error=error)))
    return good, refused


async def _hunt_files_with_info(
    client: MdeClient,
    values: list[str],
    on_answer: OnAnswer,
    options: HuntOptions,
    max_devices: int,
    concurrency: int,
) -> None:
    """Files hunted chunk by chunk while the finished chunks' seen files get their information."""
    from enrich.mde.hunting import hunt

    chunks: asyncio.Queue[ChunkResult | None] = asyncio.Queue()
    limit = asyncio.Semaphore(max(1, concurrency))

    async def with_info(key: LookupKey, answer: Answer) -> Answer:
        if answer.status is not Status.SEEN:
            return answer
        async with limit:
            extra = await fetch_file_info(client, key)
        return replace(answer, detail=(*answer.detail, (FILE_INFO_MARK, "asked"), *extra))

    async def finish_chunks() -> None:
        while (result := await chunks.get()) is not None:
            pairs = chunk_answers(result, max_devices)
            done = await asyncio.gather(*(with_info(k, a) for k, a in pairs))
            answer_together(on_answer, list(zip((k for k, _ in pairs), done, strict=True)))

    async def ask() -> None:
        await hunt(client, "files", values, options, chunks.put_nowait)
        chunks.put_nowait(None)

    # the first failure (of hunting, or of storing a chunk) stops the other
    await run_until_first_error([asyncio.create_task(ask()), asyncio.create_task(finish_chunks())])


def url_note(host: LookupKey, host_answer: Answer | None, exact: Answer | None) -> str:
    """What a URL row's note says of its exact address (the row's other cells are its host's)."""
    if exact is None or exact.status is Status.ERROR:
        return "the exact URL could not be asked"
    if exact.status is Status.SEEN:
        devices = exact.prevalence or 0
        return (
            f"the exact URL was seen on {devices} device{'s' * (devices != 1)} "
            f"({_detail(exact, EVENTS) or '?'} events, {exact.first_seen} to {exact.last_seen})"
        )
    if host_answer is not None and host_answer.status is Status.SEEN:
        devices = host_answer.prevalence or 0
        where = "IP address" if host.family == "ips" else "host"
        return f"the exact URL was not seen; its {where} was seen on {devices} device{'s' * (devices != 1)}"
    return "the exact URL was not seen"


def host_note(key: LookupKey) -> str:
    """The remark every URL row gets in hunting: its cells are its host's."""
    where = "IP address" if key.family == "ips" else "host"
    return f"the counts are for the {where} {key.key}"
