"""A new answering strategy plugs in without touching the plan, the join or the sinks."""

from __future__ import annotations

import asyncio
import csv

import pytest

from enrich.answering import make_strategy, mode_names
from enrich.answering.interface import AnswerOptions, Strategy
from enrich.errors import EXIT_USAGE, UsageError
from enrich.mde.errors import PermissionDenied
from enrich.model import Answer, Indicator, IndicatorType, LookupKey, Status
from enrich.outcome import Outcomes
from enrich.plan import make_plan
from enrich.sinks.csv import CsvSink
from enrich.sinks.interface import SinkOptions
from enrich.sources.open import open_sources

MD5 = "d41d8cd98f00b204e9800998ecf8427e"
SHA1 = "da39a3ee5e6b4b0d3255bfef95601890afd80709"


class Md5Only(Strategy):
    """A strategy that asks about MD5 hashes only (the stats APIs cannot)."""

    name = "md5-only"

    def __init__(self, options: AnswerOptions | None = None) -> None:
        super().__init__(options)
        self.asked: list[LookupKey] = []

    def lookup_key(self, ind: Indicator) -> LookupKey | None:
        if ind.status is Status.PENDING and ind.type is IndicatorType.MD5:
            return LookupKey("md5s", ind.value)
        return None

    def unsupported_reason(self, ind: Indicator) -> str:
        return f"only MD5 hashes here, not {ind.type}"

    def lookup_note(self, ind: Indicator, key: LookupKey) -> str:
        return "asked by MD5"

    async def answer(self, client, key: LookupKey) -> Answer:
        self.asked.append(key)
        return Answer(Status.SEEN, prevalence=4, first_seen="2026-11-01T00:00:00.000Z")


def test_a_new_strategy_plans_answers_and_writes_through_the_same_stages(tmp_path):
    feed = tmp_path / "feed.csv"
    feed.write_text(f"indicator\n{MD5}\n{SHA1}\n{MD5.upper()}\n", encoding="utf-8")
    sources = open_sources([str(feed)], None)
    strategy = Md5Only()
    plan = make_plan(sources, strategy)
    assert list(plan.keys) == [LookupKey("md5s", MD5)]  # asked once for both spellings

    answers: dict[LookupKey, Answer] = {}
    asyncio.run(strategy.answer_all(None, list(plan.keys), answers.__setitem__))  # type: ignore[arg-type]
    assert strategy.asked == [LookupKey("md5s", MD5)]

    out = tmp_path / "out.csv"
    with CsvSink(str(out), sources, SinkOptions()) as sink:
        sink.write(sources[0], Outcomes(strategy, answers))
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [r["mde_status"] for r in rows] == ["seen", "unsupported", "seen"]
    assert rows[0]["mde_org_prevalence"] == "4" and rows[0]["mde_note"] == "asked by MD5"
    assert rows[1]["mde_error"] == "only MD5 hashes here, not sha1"
    assert sink.rows_by_status() == {"seen": 2, "unsupported": 1}


def test_default_answer_all_stops_at_a_fatal_error_and_keeps_what_was_answered():
    class Refused(Md5Only):
        async def answer(self, client, key: LookupKey) -> Answer:
            if key.key == "bad":
                raise PermissionDenied("no permission")
            await asyncio.sleep(0)
            return await super().answer(client, key)

    got: dict[LookupKey, Answer] = {}
    keys = [LookupKey("md5s", f"k{i}") for i in range(3)] + [LookupKey("md5s", "bad")]
    with pytest.raises(PermissionDenied):
        asyncio.run(Refused(AnswerOptions(concurrency=1)).answer_all(None, keys, got.__setitem__))  # type: ignore[arg-type]
    assert set(got) == set(keys[:3])


def test_an_unexpected_failure_of_one_lookup_is_that_lookups_error():
    class Buggy(Md5Only):
        async def answer(self, client, key: LookupKey) -> Answer:
            raise KeyError("surprise")

    got: dict[LookupKey, Answer] = {}
    asyncio.run(Buggy().answer_all(None, [LookupKey("md5s", "x")], got.__setitem__))  # type: ignore[arg-type]
    assert got[LookupKey("md5s", "x")].status is Status.ERROR
    assert "KeyError" in got[LookupKey("md5s", "x")].error


def test_mode_registry_and_options():
    assert mode_names() == ["stats", "hunt", "auto"]
    assert make_strategy("stats", AnswerOptions(lookback_hours=24)).options.lookback_hours == 24
    with pytest.raises(UsageError, match="--mode stats") as info:
        make_strategy("psychic")
    assert info.value.exit_code == EXIT_USAGE
    with pytest.raises(UsageError, match="720"):
        AnswerOptions(lookback_hours=721)
