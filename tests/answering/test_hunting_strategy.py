"""The hunting strategy without a network: which lookups rows need, how a finished chunk becomes
answers, what a URL row says, which cached answers it reuses, and how it drives `hunt`."""

from __future__ import annotations

import asyncio

import pytest

from enrich.answering import make_strategy
from enrich.answering.hunting import (
    METHODS,
    HuntingStrategy,
    chunk_answers,
    hunt_keys,
)
from enrich.answering.interface import AnswerOptions
from enrich.indicators import extract
from enrich.mde.hunting import PATH_GRAPH, PATH_LEGACY, ChunkResult, HuntOptions, Sighting
from enrich.model import MDE_COLUMNS, Answer, LookupKey, Status
from enrich.outcome import Outcomes, mde_columns

SHA1 = "da39a3ee5e6b4b0d3255bfef95601890afd80709"
SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
MD5 = "d41d8cd98f00b204e9800998ecf8427e"
URL = "http://evil.example/payload.exe?x=1"
HUNT = HuntingStrategy()


def cells(text: str, answers=None, strategy=HUNT) -> dict[str, str]:  # noqa: ANN001
    return dict(zip(MDE_COLUMNS, mde_columns(extract(text), answers, strategy), strict=True))


def test_paths_are_the_transports():
    assert METHODS == (PATH_GRAPH, PATH_LEGACY) == ("hunting-graph", "hunting-legacy")


def test_every_type_has_a_lookup_and_a_url_asks_its_host_and_itself():
    keys = {
        t: HUNT.lookup_key(extract(t)[0]) for t in (SHA1, SHA256, MD5, "10.1.2.3", "2001:db8::1", "x.example")
    }
    assert keys[MD5] == LookupKey("files", MD5) and keys[SHA256] == LookupKey("files", SHA256)
    assert keys["10.1.2.3"] == LookupKey("ips", "10.1.2.3")  # a private address is still asked
    assert keys["x.example"] == LookupKey("domains", "x.example")
    url = extract(URL)[0]
    host = HUNT.lookup_key(url)
    assert host == LookupKey("domains", "evil.example")
    assert HUNT.extra_keys(url, host) == (LookupKey("urls", URL),)
    ip_url = extract("http://198.51.100.7/a")[0]
    assert HUNT.lookup_key(ip_url) == LookupKey("ips", "198.51.100.7")
    assert HUNT.extra_keys(ip_url, LookupKey("ips", "198.51.100.7")) == (
        LookupKey("urls", "http://198.51.100.7/a"),
    )
    shown = cells(URL)
    assert shown["mde_status"] == "pending"
    assert shown["mde_lookup"] == f"domains/evil.example;urls/{URL}"
    assert shown["mde_note"] == "the counts are for the host evil.example"


def test_one_files_hashes_in_a_cell_ask_once_preferring_sha1_then_sha256_then_md5():
    assert HUNT.row_keys(extract(f"{SHA256},{SHA1},{MD5}")) == [LookupKey("files", SHA1)] * 3
    assert HUNT.row_keys(extract(f"{SHA256} {MD5}")) == [LookupKey("files", SHA256)] * 2
    assert cells(f"{SHA256} {MD5}")["mde_note"] == f"{MD5}: same file as {SHA256}"
    assert cells(MD5)["mde_status"] == "pending" and cells(MD5)["mde_error"] == ""


def sighting(devices: int = 2, events: int = 7, names: tuple[str, ...] = ("a.corp", "b.corp")) -> Sighting:
    return Sighting(devices, events, "2026-11-20T10:11:12.1234567Z", "2026-11-30T01:02:03Z", names)


def test_a_chunk_becomes_one_answer_per_value_asked():
    result = ChunkResult("files", (SHA1, MD5), {SHA1: sighting()}, PATH_LEGACY)
    got = dict(chunk_answers(result, max_devices=10))
    seen, unseen = got[LookupKey("files", SHA1)], got[LookupKey("files", MD5)]
    assert seen.status is Status.SEEN and seen.prevalence == 2
    assert (seen.first_seen, seen.last_seen) == ("2026-11-20T10:11:12.123Z", "2026-11-30T01:02:03.000Z")
    assert dict(seen.detail)["events"] == "7" and dict(seen.detail)["devices"] == "a.corp;b.corp"
    assert seen.method == PATH_LEGACY
    assert (
        unseen.status is Status.NOT_SEEN and unseen.prevalence == 0 and dict(unseen.detail)["events"] == "0"
    )
    failed = dict(chunk_answers(ChunkResult("ips", ("10.0.0.1",), {}, PATH_GRAPH, "HTTP 500 twice"), 10))
    assert failed[LookupKey("ips", "10.0.0.1")].status is Status.ERROR
    assert failed[LookupKey("ips", "10.0.0.1")].error == "HTTP 500 twice"


def _answers(url_answer: Answer, host_answer: Answer) -> dict[LookupKey, Answer]:
    return {LookupKey("urls", URL): url_answer, LookupKey("domains", "evil.example"): host_answer}


def test_a_url_row_is_its_hosts_and_says_whether_the_exact_url_was_seen():
    host = Answer(
        Status.SEEN,
        5,
        "2026-11-01T00:00:00.000Z",
        "2026-11-02T00:00:00.000Z",
        detail=(("events", "40"), ("devices", "a;b;c;d;e")),
        method=PATH_GRAPH,
    )
    exact = Answer(
        Status.SEEN,
        1,
        "2026-11-01T05:00:00.000Z",
        "2026-11-01T06:00:00.000Z",
        detail=(("events", "3"), ("devices", "a")),
        method=PATH_GRAPH,
    )
    row = cells(URL, _answers(exact, host))
    assert row["mde_status"] == "seen" and row["mde_org_prevalence"] == "5"
    assert row["mde_events"] == "40" and row["mde_devices"] == "a;b;c;d;e"
    assert "the exact URL was seen on 1 device (3 events" in row["mde_note"]
    assert row["mde_answered_by"] == PATH_GRAPH
    unseen = Answer(Status.NOT_SEEN, 0, detail=(("events", "0"),), method=PATH_GRAPH)
    row = cells(URL, _answers(unseen, host))
    assert row["mde_status"] == "seen"
    assert "the exact URL was not seen; its host was seen on 5 devices" in row["mde_note"]
    row = cells(URL, _answers(unseen, unseen))
    assert row["mde_status"] == "not_seen" and "the exact URL was not seen" in row["mde_note"]
    # the exact URL's lookup failed: the row is an error (a rerun asks it again), the host kept
    failed = Answer(Status.ERROR, error="query timed out", method=PATH_GRAPH)
    row = cells(URL, _answers(failed, host))
    assert row["mde_status"] == "error" and f"urls/{URL}: query timed out" in row["mde_error"]
    assert row["mde_org_prevalence"] == "5"


def test_answered_by_says_cache_for_cached_answers():
    host = Answer(Status.NOT_SEEN, 0, method=PATH_LEGACY, from_cache=True)
    exact = Answer(Status.NOT_SEEN, 0, method=PATH_GRAPH)
    assert cells(URL, _answers(exact, host))["mde_answered_by"] == f"cache;{PATH_GRAPH}"
    stats = make_strategy("stats")
    row = cells(
        "198.51.100.7", {LookupKey("ips", "198.51.100.7"): Answer(Status.SEEN, 2, method="stats")}, stats
    )
    assert row["mde_answered_by"] == "stats" and row["mde_events"] == row["mde_devices"] == ""


def test_only_hunting_answers_with_enough_device_names_are_reused():
    key = LookupKey("ips", "10.0.0.1")
    mark = ("max_devices", "10")
    graph = Answer(Status.SEEN, 20, detail=(("devices", ";".join("abcdefghij")), mark), method=PATH_GRAPH)
    assert HUNT.reusable(key, graph)
    assert HUNT.reusable(key, Answer(Status.NOT_SEEN, 0, method=PATH_LEGACY))
    assert not HUNT.reusable(key, Answer(Status.SEEN, 3, method="stats"))
    assert not make_strategy("stats").reusable(key, graph)
    wider = HuntingStrategy(AnswerOptions(max_devices=50))
    assert not wider.reusable(key, graph)  # 20 devices, 10 names kept: ask again for 50
    few = Answer(Status.SEEN, 2, detail=(("devices", "a;b"), mark), method=PATH_GRAPH)
    assert wider.reusable(key, few)  # every device already named


def test_hunt_keys_groups_by_family_and_hands_each_chunk_over_together(monkeypatch):
    import enrich.mde.hunting as transport

    asked: list[tuple[str, tuple[str, ...], HuntOptions]] = []

    async def fake_hunt(client, family, values, options, on_chunk):  # noqa: ANN001
        asked.append((family, tuple(values), options))
        half = len(values) // 2 or 1
        for part in (values[:half], values[half:]):
            if part:
                on_chunk(ChunkResult(family, tuple(part), {part[0]: sighting()}, PATH_GRAPH))

    monkeypatch.setattr(transport, "hunt", fake_hunt)
    batches: list[list[LookupKey]] = []

    class Store:
        def __call__(self, key, answer):  # noqa: ANN001
            raise AssertionError("a chunk's answers come together")

        def together(self, pairs):  # noqa: ANN001
            batches.append([k for k, _ in pairs])

    keys = [
        LookupKey("files", SHA1),
        LookupKey("ips", "10.0.0.1"),
        LookupKey("files", MD5),
        LookupKey("urls", URL),
    ]
    strategy = HuntingStrategy(AnswerOptions(lookback_hours=48, max_devices=3), paths=(PATH_LEGACY,))
    asyncio.run(strategy.answer_all(None, keys, Store()))  # type: ignore[arg-type]
    assert [(f, v) for f, v, _ in asked] == [("files", (SHA1, MD5)), ("ips", ("10.0.0.1",)), ("urls", (URL,))]
    assert asked[0][2] == HuntOptions(lookback_hours=48, max_devices=3, paths=(PATH_LEGACY,))
    assert batches == [
        [LookupKey("files", SHA1)],
        [LookupKey("files", MD5)],
        [LookupKey("ips", "10.0.0.1")],
        [LookupKey("urls", URL)],
    ]
    # a value the transport refuses is that value's error; the family's other values are asked
    asked.clear()
    got: dict[LookupKey, Answer] = {}
    keys = [LookupKey("domains", "ok.example"), LookupKey("domains", "NOT normalised")]
    asyncio.run(strategy.answer_all(None, keys, got.__setitem__))  # type: ignore[arg-type]
    assert [(f, v) for f, v, _ in asked] == [("domains", ("ok.example",))]
    assert got[keys[0]].status is Status.SEEN
    assert got[keys[1]].status is Status.ERROR and "cannot be asked" in got[keys[1]].error
    # a plain callable gets each answer in turn; an unknown family is an error, not a crash
    got = {}
    asyncio.run(hunt_keys(None, [LookupKey("emails", "a@b")], got.__setitem__, HuntOptions(), 10))  # type: ignore[arg-type]
    assert got[LookupKey("emails", "a@b")].status is Status.ERROR


def test_outcomes_entries_carry_the_url_note_and_extra_answers():
    host = Answer(Status.SEEN, 5, method=PATH_GRAPH)
    exact = Answer(Status.NOT_SEEN, 0, method=PATH_GRAPH)
    outcomes = Outcomes(HUNT, _answers(exact, host))
    [entry] = outcomes.entries(extract(URL))
    assert entry.status is Status.SEEN and entry.key == LookupKey("domains", "evil.example")
    assert "the exact URL was not seen" in outcomes.note(entry)
    assert outcomes.extra_answers(entry) == [(LookupKey("urls", URL), exact)]


@pytest.mark.parametrize("bad", [-1, 1001])
def test_max_devices_is_bounded(bad):
    from enrich.errors import UsageError

    with pytest.raises(UsageError, match="max devices"):
        AnswerOptions(max_devices=bad)
