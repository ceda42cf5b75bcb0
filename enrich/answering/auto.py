"""`--mode auto` (the default): hunting where the app may hunt, the entity statistics APIs otherwise.

Before the plan, `prepare(client)` asks `enrich.mde.hunting.hunting_paths` which hunting paths the
app's tokens allow (their `roles` claims: a sign-in per audience, no entity or hunting quota). With
a usable path every type is looked up by hunting (every type has a hunting path today; a type only
the statistics APIs answered would stay with them); with none, everything goes to the stats
strategy and the types only hunting answers (a lone MD5, a full URL) are `unsupported` with a reason
naming the missing permission. Until `prepare` has run (`classify`), auto plans as hunting would
and says so in the notes of the values only hunting answers.

`choice()` says what was chosen and why; `estimates(...)` the least time each mode needs under the
quotas for the planned lookups (the summary prints both).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from enrich.answering.hunting import BUDGET_FAMILY, CHUNK_VALUES, METHODS, PATH_GRAPH, HuntingStrategy
from enrich.answering.interface import AnswerOptions, Answers, OnAnswer, Strategy
from enrich.answering.stats import StatsStrategy
from enrich.mde.limits import min_duration
from enrich.model import Answer, Indicator, IndicatorType, LookupKey

if TYPE_CHECKING:
    from enrich.mde.client import MdeClient

METHOD = "auto"
HUNT, STATS = "hunt", "stats"
# Types only hunting answers, and what the stats APIs cannot do about them.
HUNT_ONLY = (IndicatorType.MD5, IndicatorType.URL)
HUNTING_PERMISSION = "ThreatHunting.Read.All (Microsoft Graph) or AdvancedQuery.Read.All (WindowsDefenderATP)"
ASSUMED_NOTE = "auto mode looks it up by advanced hunting when the app may hunt (else unsupported)"
ASSUMED_URL_NOTE = "auto mode asks the exact URL by advanced hunting when the app may hunt"


def estimate_seconds(
    per_family: Mapping[str, int],
    rate_limits: Mapping[str, Sequence[tuple[int, float]]],
    hunting_family: str = BUDGET_FAMILY[PATH_GRAPH],
) -> dict[str, float]:
    """Least seconds each mode needs under `rate_limits` for lookups counted per family.

    `per_family` counts the distinct lookups as hunting plans them (`files` with MD5 hashes under
    the key `md5`, `urls` the full URLs); stats asks files (not MD5), ips and domains one call each,
    families in parallel; hunting asks `CHUNK_VALUES` values per call, every call in the
    tenant's quota of the path it uses (`hunting_family`: Graph's by default).
    """
    stats = 0.0
    for family in ("files", "ips", "domains"):
        count = per_family.get(family, 0)
        if count and rate_limits.get(family):
            stats = max(stats, min_duration(list(rate_limits[family]), count))
    calls = sum(
        math.ceil(per_family.get(f, 0) / CHUNK_VALUES) for f in ("files", "md5", "ips", "domains", "urls")
    )
    hunting = min_duration(list(rate_limits.get(hunting_family) or [(45, 60.0)]), calls) if calls else 0.0
    return {STATS: round(stats, 1), HUNT: round(hunting, 1)}


def hunting_counts(
    keys: Sequence[LookupKey] | Mapping[LookupKey, Any], urls: int = 0, md5: int = 0
) -> dict[str, int]:
    """`estimate_seconds`'s counts from planned keys: MD5 file keys apart; `urls` and `md5` add
    values the plan did not ask (a stats plan has neither)."""
    counts = {"files": 0, "md5": md5, "ips": 0, "domains": 0, "urls": urls}
    for key in keys:
        if key.family == "files" and len(key.key) == 32:
            counts["md5"] += 1
        else:
            counts[key.family] = counts.get(key.family, 0) + 1
    return counts


class AutoStrategy(Strategy):
    """Hunting when a hunting path is usable, else stats (see the module docstring)."""

    name = METHOD
    has_extra_keys = True
    needs_prepare = True

    def __init__(self, options: AnswerOptions | None = None) -> None:
        super().__init__(options)
        self.hunting = HuntingStrategy(self.options)
        self.stats = StatsStrategy(self.options)
        self.paths: dict[str, str] | None = None  # path -> "" when usable, else why not (after prepare)
        self.chosen: Strategy = self.hunting  # until prepare: plan as hunting would

    # -- deciding ------------------------------------------------------------------------------
    async def prepare(self, client: MdeClient) -> None:
        from enrich.mde.hunting import hunting_paths

        self.decide(await hunting_paths(client))

    def decide(self, paths: Mapping[str, str]) -> Strategy:
        """Choose from `hunting_paths`'s answer (path -> "" when usable, else why not)."""
        self.paths = {path: paths.get(path, "not reported") for path in METHODS}
        usable = [path for path in METHODS if self.paths[path] == ""]
        if usable:
            self.chosen = HuntingStrategy(self.options, paths=tuple(usable))
        else:
            self.chosen = self.stats
        return self.chosen

    @property
    def hunts(self) -> bool:
        return isinstance(self.chosen, HuntingStrategy)

    def missing(self) -> str:
        """Why no hunting path is usable, one clause per path."""
        paths = self.paths or {}
        return "; ".join(f"{path}: {why}" for path, why in paths.items() if why) or "no hunting path"

    def choice(self) -> dict[str, Any]:
        if self.paths is None:
            return {
                "asked": METHOD,
                "chosen": HUNT,
                "reason": "not yet decided: hunting is assumed to be available",
            }
        if self.hunts:
            usable = [p for p, why in self.paths.items() if not why]
            reason = f"advanced hunting is usable ({', '.join(usable)})"
            unusable = {p: why for p, why in self.paths.items() if why}
            if unusable:
                reason += "; " + "; ".join(f"{p} is not: {why}" for p, why in unusable.items())
        else:
            reason = f"no hunting path is usable ({self.missing()}), so the entity statistics APIs answer"
        return {
            "asked": METHOD,
            "chosen": HUNT if self.hunts else STATS,
            "reason": reason,
            "paths": {p: why or "usable" for p, why in self.paths.items()},
        }

    # -- delegated -----------------------------------------------------------------------------
    def lookup_key(self, ind: Indicator) -> LookupKey | None:
        return self.chosen.lookup_key(ind)

    def row_keys(self, indicators: tuple[Indicator, ...]) -> list[LookupKey | None]:
        return self.chosen.row_keys(indicators)

    def extra_keys(self, ind: Indicator, key: LookupKey) -> tuple[LookupKey, ...]:
        return self.chosen.extra_keys(ind, key)

    def unsupported_reason(self, ind: Indicator) -> str:
        if not self.hunts and ind.type is IndicatorType.MD5:
            return (
                f"only advanced hunting looks up MD5 hashes and the app may not hunt ({self.missing()}); "
                f"grant it {HUNTING_PERMISSION} or give the file's SHA-1 or SHA-256"
            )
        return self.chosen.unsupported_reason(ind)

    def lookup_note(self, ind: Indicator, key: LookupKey) -> str:
        note = self.chosen.lookup_note(ind, key)
        extra = ""
        if self.paths is None and ind.type in HUNT_ONLY:
            extra = ASSUMED_NOTE if ind.type is IndicatorType.MD5 else ASSUMED_URL_NOTE
        elif not self.hunts and ind.type is IndicatorType.URL:
            extra = f"the exact URL was not asked: only advanced hunting can, and the app may not hunt ({self.missing()})"
        return f"{note}; {extra}" if note and extra else note or extra

    def answer_note(self, ind: Indicator, key: LookupKey, answers: Answers) -> str:
        return self.chosen.answer_note(ind, key, answers)

    @property
    def cache_methods(self) -> tuple[str, ...]:
        return self.chosen.cache_methods

    def reusable(self, key: LookupKey, answer: Answer) -> bool:
        return self.chosen.reusable(key, answer)

    def budget_calls(self, remaining: Mapping[str, int]) -> Mapping[str, int]:
        return self.chosen.budget_calls(remaining)

    async def answer_all(self, client: MdeClient, keys: Sequence[LookupKey], on_answer: OnAnswer) -> None:
        await self.chosen.answer_all(client, keys, on_answer)


def mode_estimates(
    keys: Mapping[LookupKey, Any],
    by_type: Mapping[str, int],
    hunted: bool,
    rate_limits: Mapping[str, Sequence[tuple[int, float]]],
    hunting_path: str = PATH_GRAPH,
) -> dict[str, float]:
    """`estimate_seconds` for a plan's keys: planned by hunting (`hunted`: full URLs and MD5 hashes
    among them), or by stats (those counted from the indicators by type: an upper bound)."""
    extra_urls = 0 if hunted else by_type.get("url", 0)
    extra_md5 = 0 if hunted else by_type.get("md5", 0)
    counts = hunting_counts(keys, urls=extra_urls, md5=extra_md5)
    return estimate_seconds(counts, rate_limits, BUDGET_FAMILY[hunting_path])


def hunting_path(strategy: Strategy) -> str:
    """The first hunting path `strategy` would use (Graph unless it was found unusable)."""
    chosen = strategy.chosen if isinstance(strategy, AutoStrategy) else strategy
    paths = chosen.paths if isinstance(chosen, HuntingStrategy) else METHODS
    return paths[0]
