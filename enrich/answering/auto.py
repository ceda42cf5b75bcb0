"""`--mode auto` (the default): hunting where the app may hunt, the entity statistics APIs otherwise.

Before the plan, `prepare(client)` asks `enrich.mde.hunting.hunting_paths` which hunting paths the
app's tokens allow (their `roles` claims: a sign-in per audience, no entity or hunting quota). With
a usable path every type is looked up by hunting (every type has a hunting path today; a type only
the statistics APIs answered would stay with them); with none, everything goes to the stats
strategy and the types only hunting answers (a lone MD5, a full URL) are `unsupported` with a reason
naming the missing permission. Until `prepare` has run (`classify`), auto plans as hunting would
and says so in the notes of the values only hunting answers.

The roles can be wrong at call time: a hunting route answers 403 anyway, has no hunting
(404/405/410/501: a compatible service or proxy, a retired endpoint), or a family's first query is
refused as not understood (a 400 not about size). Then `answer_all` falls back: the lookups hunting
had not answered yet (of the whole run, or of that family) go to the statistics APIs where they
can (files by SHA-1/SHA-256, IPs, domains: a URL row by its host); those only hunting answers (an
MD5, a full URL) get an ERROR answer (not cached: a rerun asks again). The rows then follow what
answered each lookup (`fallen`): stats' notes, no exact-URL lookup, a lone MD5 `unsupported`
naming the permission when it was a permission refusal, `error` otherwise. Transient failures
(5xx, time-outs: the client's retries) are not a fallback. `choice()` and a warning say so.

`choice()` says what was chosen and why; `estimates(...)` the least time each mode needs under the
quotas for the planned lookups (the summary prints both).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from enrich.answering.hunting import (
    BUDGET_FAMILY,
    CHUNK_VALUES,
    METHODS,
    PATH_GRAPH,
    PATH_LEGACY,
    HuntingStrategy,
    url_key,
)
from enrich.answering.interface import AnswerOptions, Answers, OnAnswer, Strategy, answer_together
from enrich.answering.stats import StatsStrategy
from enrich.mde.limits import min_duration
from enrich.model import Answer, Indicator, IndicatorType, LookupKey, Status

if TYPE_CHECKING:
    from enrich.mde.client import MdeClient

log = logging.getLogger(__name__)

METHOD = "auto"
HUNT, STATS = "hunt", "stats"
# Types only hunting answers, and what the stats APIs cannot do about them.
HUNT_ONLY = (IndicatorType.MD5, IndicatorType.URL)
HUNTING_PERMISSION = "ThreatHunting.Read.All (Microsoft Graph) or AdvancedQuery.Read.All (WindowsDefenderATP)"
ASSUMED_NOTE = "auto mode looks it up by advanced hunting when the app may hunt (else unsupported)"
ASSUMED_URL_NOTE = "auto mode asks the exact URL by advanced hunting when the app may hunt"
STATS_FAMILIES = ("files", "ips", "domains")


@dataclass(frozen=True)
class Fallback:
    """Why hunting failed at call time for some lookups: `reason` in a few words (the rows say it),
    `detail` the error in full (the summary), and whether it was a permission refusal
    (`permission`: 403 on every path) rather than a route or query the service lacks."""

    reason: str
    detail: str
    permission: bool
    paths: tuple[tuple[str, str], ...] = ()  # after a path failure: path -> why it is unusable now

    def why(self) -> str:
        return f"advanced hunting failed at call time ({self.reason})"


def stats_answers(key: LookupKey) -> bool:
    """Whether the statistics APIs can answer a lookup planned for hunting (not an MD5, not a full URL)."""
    return key.family in STATS_FAMILIES and not (key.family == "files" and len(key.key) == 32)


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
        # Lookups hunting did not answer because it failed at call time, and why (after answer_all).
        self.fallen: dict[LookupKey, Fallback] = {}
        self.fallback_counts = {"stats": 0, "unanswered": 0}

    # -- deciding ------------------------------------------------------------------------------
    async def prepare(self, client: MdeClient) -> None:
        from enrich.mde.hunting import hunting_paths
        from enrich.mde.hunting.paths import sign_in_error

        paths = await hunting_paths(client)
        # Signing in for MDE itself was refused (a wrong secret, an unknown app): the statistics APIs
        # need that token too, so no mode can answer and the refusal is the run's error. A transient
        # failure (login host unreachable) goes on to stats, whose calls retry the sign-in.
        error = sign_in_error(client, PATH_LEGACY)
        if error is not None and not error.transient:
            raise error
        self.decide(paths)

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
        out: dict[str, Any] = {
            "asked": METHOD,
            "chosen": HUNT if self.hunts else STATS,
            "reason": reason,
            "paths": {p: why or "usable" for p, why in self.paths.items()},
        }
        if self.fallen:
            out["reason"] = f"{reason}; {self.fallback_line()}"
            at_call = next((dict(f.paths) for f in self.fallen.values() if f.paths), None)
            if at_call:  # what the calls found, not what the roles promised
                out["paths"] = {p: at_call.get(p) or "usable" for p in METHODS}
            out["fallback"] = {
                "reasons": sorted({f.reason for f in self.fallen.values()}),
                "details": sorted({f.detail for f in self.fallen.values()}),
                "families": sorted({k.family for k in self.fallen}),
                "answered_by_stats": self.fallback_counts["stats"],
                "not_answered": self.fallback_counts["unanswered"],
            }
        return out

    def fallback_line(self) -> str:
        """What the fallback did, in one clause (the warning, the summary's reason)."""
        reasons = "; ".join(sorted({f.reason for f in self.fallen.values()}))
        line = (
            f"auto: hunting refused at call time ({reasons}): {self.fallback_counts['stats']} lookups "
            "answered by the statistics APIs instead"
        )
        if self.fallback_counts["unanswered"]:
            line += f", {self.fallback_counts['unanswered']} that only hunting answers (MD5, full URLs) not answered"
        return line

    # -- delegated -----------------------------------------------------------------------------
    def _refused(self, key: LookupKey | None) -> bool:
        """A lookup left to nobody: hunting was refused for it as a permission (the row is `unsupported`)."""
        if key is None or (fell := self.fallen.get(key)) is None:
            return False
        return fell.permission and not stats_answers(key)

    def lookup_key(self, ind: Indicator) -> LookupKey | None:
        key = self.chosen.lookup_key(ind)
        return None if self.fallen and self._refused(key) else key

    def row_keys(self, indicators: tuple[Indicator, ...]) -> list[LookupKey | None]:
        keys = self.chosen.row_keys(indicators)
        if not self.fallen:
            return keys
        return [None if self._refused(key) else key for key in keys]

    def extra_keys(self, ind: Indicator, key: LookupKey) -> tuple[LookupKey, ...]:
        extras = self.chosen.extra_keys(ind, key)
        if self.fallen:  # an exact URL hunting failed to ask: the row is its host's, as in stats
            return tuple(k for k in extras if k not in self.fallen)
        return extras

    def unsupported_reason(self, ind: Indicator) -> str:
        if not self.hunts and ind.type is IndicatorType.MD5:
            return (
                f"only advanced hunting looks up MD5 hashes and the app may not hunt ({self.missing()}); "
                f"grant it {HUNTING_PERMISSION} or give the file's SHA-1 or SHA-256"
            )
        key = self.chosen.lookup_key(ind)
        if key is not None and self._refused(key):
            return (
                f"only advanced hunting looks up MD5 hashes, and it refused the app at call time "
                f"({self.fallen[key].reason}); grant it {HUNTING_PERMISSION} or give the file's SHA-1 or SHA-256"
            )
        return self.chosen.unsupported_reason(ind)

    def lookup_note(self, ind: Indicator, key: LookupKey) -> str:
        fell = self.fallen.get(key)
        note = (self.stats if fell is not None else self.chosen).lookup_note(ind, key)
        extra = ""
        if self.paths is None and ind.type in HUNT_ONLY:
            extra = ASSUMED_NOTE if ind.type is IndicatorType.MD5 else ASSUMED_URL_NOTE
        elif not self.hunts and ind.type is IndicatorType.URL:
            extra = f"the exact URL was not asked: only advanced hunting can, and the app may not hunt ({self.missing()})"
        elif ind.type is IndicatorType.URL and (exact := self.fallen.get(url_key(ind))) is not None:
            extra = f"the exact URL was not asked: only advanced hunting can, and {exact.why()}"
        return f"{note}; {extra}" if note and extra else note or extra

    def answer_note(self, ind: Indicator, key: LookupKey, answers: Answers) -> str:
        if ind.type is IndicatorType.URL and url_key(ind) in self.fallen:
            return ""  # the exact URL was not asked (lookup_note says why)
        return self.chosen.answer_note(ind, key, answers)

    @property
    def cache_methods(self) -> tuple[str, ...]:
        return self.chosen.cache_methods

    def reusable(self, key: LookupKey, answer: Answer) -> bool:
        return self.chosen.reusable(key, answer)

    def budget_calls(self, remaining: Mapping[str, int]) -> Mapping[str, int]:
        return self.chosen.budget_calls(remaining)

    async def answer_all(self, client: MdeClient, keys: Sequence[LookupKey], on_answer: OnAnswer) -> None:
        """The chosen strategy's answers; when hunting fails at call time, the fallback (module docstring)."""
        hunter = self.chosen
        if not isinstance(hunter, HuntingStrategy):
            await hunter.answer_all(client, keys, on_answer)
            return
        answered = _Answered(on_answer)
        by_family: dict[str, list[LookupKey]] = {}
        for key in keys:
            by_family.setdefault(key.family, []).append(key)
        whole_run: Fallback | None = None  # hunting failed for every family left
        for family_keys in by_family.values():
            why = whole_run
            if why is None and (failed := await _hunt_family(hunter, client, family_keys, answered)):
                why, family_only = failed
                if not family_only:
                    whole_run = why
            if why is not None:
                self.fallen.update((k, why) for k in family_keys if k not in answered.keys)
        if self.fallen:
            await self._fall_back(client, on_answer)

    def unanswered(self, key: LookupKey) -> str:
        """The error of a lookup only hunting answers, after hunting failed at call time (not cached)."""
        return (
            f"only advanced hunting answers MD5 hashes and full URLs, and it failed at call time "
            f"({self.fallen[key].reason}); a rerun asks again"
        )

    async def _fall_back(self, client: MdeClient, on_answer: OnAnswer) -> None:
        """The lookups hunting failed to answer: by stats where it can, ERROR answers for the others."""
        to_stats = [key for key in self.fallen if stats_answers(key)]
        left = [key for key in self.fallen if not stats_answers(key)]
        self.fallback_counts = {"stats": len(to_stats), "unanswered": len(left)}
        log.warning("%s", self.fallback_line())
        if left:
            answer_together(
                on_answer, [(key, Answer(Status.ERROR, error=self.unanswered(key))) for key in left]
            )
        if to_stats:
            await self.stats.answer_all(client, to_stats, on_answer)


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


class _Answered:
    """An `on_answer` that remembers which keys got an answer (batches kept together)."""

    def __init__(self, on_answer: OnAnswer) -> None:
        self.on_answer, self.keys = on_answer, set[LookupKey]()

    def __call__(self, key: LookupKey, answer: Answer) -> None:
        self.on_answer(key, answer)
        self.keys.add(key)

    def together(self, pairs: Sequence[tuple[LookupKey, Answer]]) -> None:
        answer_together(self.on_answer, pairs)
        self.keys.update(key for key, _ in pairs)


async def _hunt_family(
    hunter: HuntingStrategy, client: MdeClient, keys: Sequence[LookupKey], on_answer: _Answered
) -> tuple[Fallback, bool] | None:
    """Hunt one family's keys; None when hunting answered them, else why it failed at call time and
    whether only this family (its queries not understood) or every family (no path left) is concerned."""
    from enrich.mde.errors import AuthError, PermissionDenied
    from enrich.mde.hunting import hunting_paths
    from enrich.mde.hunting.paths import HuntingUnavailable, QueryRefused

    try:
        await hunter.hunt(client, keys, on_answer, refused_errors=False)
    except QueryRefused as exc:
        return Fallback(f"the {exc.family} query was not understood: {exc.detail}", str(exc), False), True
    except (PermissionDenied, HuntingUnavailable, AuthError) as exc:
        # no path left (AuthError: a Graph token refused and the legacy path refused too; stats
        # may still sign in, else it fails as the run would have)
        if isinstance(exc, PermissionDenied):
            reason = "403 Forbidden on every hunting path"
        elif isinstance(exc, HuntingUnavailable):
            reason = f"no hunting route: HTTP {', '.join(str(s) for s in exc.statuses) or '?'}"
        else:
            reason = "the hunting paths refused our token"
        paths = tuple((await hunting_paths(client)).items())
        return Fallback(reason, str(exc), isinstance(exc, PermissionDenied), paths), False
    return None
