"""Hunt mode end to end (issue 10, "Must show"): real `enrich run` processes against a sandbox
holding a planted dataset (`--data`), compared with the planted truth.

- 10,000 distinct indicators of the seven types, hunt mode: every row is the planted truth
  (prevalence, first and last seen, device names, events) with at most 1% of the calls stats
  mode needs for the same input (one call per distinct lookup of its plan);
- the same input through stats and hunt mode agrees wherever stats can answer;
- a chunk the sandbox rejects for its result size is split and completes; a CPU-quota 429 is
  waited out; a `kill -9` in the middle of a hunt run resumes without asking a finished chunk
  again (the sandbox's hunting queries are recorded with the values they carried).
"""

from __future__ import annotations

import csv
import ipaddress
import json
import random
import re
import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from enrich.answering.stats import StatsStrategy
from enrich.mde.hunting.queries import url_key
from enrich.plan import make_plan
from enrich.sandbox import ClientSpec, Sandbox, SandboxConfig
from enrich.sandbox.server import default_client
from enrich.sources.csv import CsvSource
from tests.process_helpers import run_command, sandbox_env

SCALE = 60  # the sandbox's quota clock: a minute lasts a second
# The client's budget scaled the same way (entity families; legacy and Graph hunting).
RATE = "100/1s,1500/60s;hunting=45/1s,1500/60s;hunting-graph=45/1s"
TYPES = ("ipv4", "ipv6", "domain", "url", "md5", "sha1", "sha256")
DEVICES = tuple(f"ws-{n:03d}.hunt.contoso.test" for n in range(80))
HUNT_FAMILIES = ("hunting", "graph_hunting")  # the sandbox's names of the two endpoints
# A second app of the tenant, granted only the legacy endpoint's permission (no Graph).
LEGACY_APP = "2f5e8a66-5d0f-4c1b-8a43-6b2f3d4e5c01"
LEGACY_SECRET = "Zx9~8Q~legacy.only-Secret_0123456789abcdefXYZ"


@dataclass(frozen=True)
class Truth:
    """What was planted for one value (prevalence 0: never planted, so never seen)."""

    kind: str
    prevalence: int = 0
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    devices: tuple[str, ...] = ()
    events: int = 0


def _value(kind: str, i: int, rng: random.Random) -> str:
    """A distinct value of `kind`, written as enrich normalises it (its `mde_value`)."""
    if kind == "ipv4":
        return f"23.{(i >> 14) & 255}.{(i >> 7) & 127}.{(i & 127) + 1}"
    if kind == "ipv6":
        return str(ipaddress.IPv6Address(f"2a00:1450:{i:x}::{rng.getrandbits(16):x}"))
    if kind == "domain":
        return f"d{i}-{rng.getrandbits(24):06x}.hunt-test.net"
    if kind == "url":
        return f"https://u{i}-{rng.getrandbits(24):06x}.hunt-test.org/p/{i}/x.bin?q={i}"
    bits = {"md5": 128, "sha1": 160, "sha256": 256}[kind]
    return f"{rng.getrandbits(bits):0{bits // 4}x}"


def plant(count: int, seed: int, now: datetime) -> tuple[list[dict], dict[str, Truth]]:
    """`count` distinct values, the seven types in turn; about 70% planted (seen), the rest never seen.

    Every planted value lists its devices by name (so the device names are known), its events,
    and whole-second first and last times inside the last 25 days.
    """
    rng = random.Random(seed)
    records: list[dict] = []
    truth: dict[str, Truth] = {}
    latest = now - timedelta(hours=1)
    for i in range(count):
        kind = TYPES[i % len(TYPES)]
        value = _value(kind, i, rng)
        if rng.random() >= 0.7:
            truth[value] = Truth(kind)
            continue
        devices = tuple(sorted(rng.sample(DEVICES, rng.randint(1, 4))))
        first = (latest - timedelta(seconds=rng.randint(3600, 25 * 86400))).replace(microsecond=0)
        last = first + timedelta(seconds=rng.randint(0, int((latest - first).total_seconds())))
        events = len(devices) + rng.randint(0, 3)
        events = max(events, 2 if last > first else 1)
        truth[value] = Truth(kind, len(devices), first, last, devices, events)
        records.append(
            {
                "indicator": value,
                "prevalence": len(devices),
                "first_seen": first.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "last_seen": last.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "devices": list(devices),
                "events": events,
            }
        )
    assert len(truth) == count, "the values must be distinct"
    return records, truth


def write_input(path: Path, values: list[str]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["indicator", "comment"])
        for n, value in enumerate(values):
            writer.writerow([value, f"row {n}"])
    return path


def stats_calls_needed(path: Path) -> int:
    """The calls stats mode makes for `path`: one per distinct lookup of its plan."""
    return len(make_plan([CsvSource(str(path))], StatsStrategy()).keys)


def rows(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return {row["indicator"]: row for row in csv.DictReader(handle)}


def moment(text: str) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def differences(out: dict[str, dict[str, str]], truth: dict[str, Truth], *, hunted: bool) -> list[str]:
    """Rows whose cells differ from the planted truth (empty when every row is right)."""
    wrong = []
    for value, want in truth.items():
        row = out.get(value)
        if row is None:
            wrong.append(f"{value}: no row")
            continue
        got = (
            row["mde_type"],
            row["mde_status"],
            int(row["mde_org_prevalence"] or 0),
            moment(row["mde_org_first_seen"]),
            moment(row["mde_org_last_seen"]),
        )
        status = "seen" if want.prevalence else "not_seen"
        expected: tuple = (want.kind, status, want.prevalence, want.first_seen, want.last_seen)
        if hunted:
            got += (row["mde_devices"], int(row["mde_events"] or 0))
            expected += (";".join(want.devices), want.events)
            if want.kind == "url":  # the exact URL, asked beside its host, is reported in the note
                got += (exact_url(row["mde_note"]),)
                expected += ((want.prevalence, want.events) if want.prevalence else "not seen",)
        if got != expected:
            wrong.append(f"{value}: got {got}, planted {expected}")
    return wrong


_EXACT = re.compile(r"the exact URL was seen on (\d+) devices? \((\d+) events")


def exact_url(note: str) -> tuple[int, int] | str:
    """(devices, events) the note gives for the exact URL, "not seen", or the note when it says neither."""
    found = _EXACT.search(note)
    if found:
        return int(found.group(1)), int(found.group(2))
    return "not seen" if "the exact URL was not seen" in note else note


class Queries:
    """Every hunting query the sandbox runs (both endpoints), with its status: recorded on the
    server side, so what enrich sent is what is counted."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.seen: list[tuple[str, int]] = []

    def wrap(self, answer: Callable) -> Callable:
        def recorded(body, *args, **kwargs):  # noqa: ANN001, ANN202 - the sandbox's own signature
            result = answer(body, *args, **kwargs)
            try:
                payload = json.loads(body)
                query = str(payload.get("Query") or payload.get("query") or "")
            except (ValueError, AttributeError):
                query = ""
            with self.lock:
                self.seen.append((query, result.status))
            return result

        return recorded

    def clear(self) -> None:
        with self.lock:
            self.seen.clear()

    def answered(self) -> list[str]:
        with self.lock:
            return [query for query, status in self.seen if status == 200]


_LITERAL = re.compile(r'"((?:[^"\\]|\\.)*)"')


def family_of(query: str) -> str:
    """The family a query asks about, from the columns it reads (docs/hunting.md)."""
    if "FileOriginUrl" in query:
        return "urls"
    if "SHA1" in query:
        return "files"
    if "RemoteUrl" in query:
        return "domains"
    return "ips"


def asked(queries: list[str]) -> set[tuple[str, str]]:
    """(family, literal) of every string literal of `queries`."""
    return {(family_of(q), literal) for q in queries for literal in _LITERAL.findall(q)}


def literal_of(family: str, key: str) -> str:
    """How a cached lookup's value appears in its family's query."""
    return url_key(key) if family == "urls" else key


FAMILY = {"ipv4": "ips", "ipv6": "ips", "domain": "domains", "url": "urls", "md5": "files", "sha1": "files"}


def hunted_as(value: str, kind: str) -> tuple[str, str]:
    """(family, literal) a value of `kind` is asked as in hunt mode (a URL: as a whole)."""
    family = FAMILY.get(kind, "files")
    return family, literal_of(family, value)


def hunting_calls(sb: Sandbox) -> dict[str, int]:
    """Hunting requests by status, both endpoints."""
    out: dict[str, int] = {}
    for family in HUNT_FAMILIES:
        for status, n in sb.stats()["by_family"].get(family, {}).items():
            out[status] = out.get(status, 0) + n
    return out


def api_calls(sb: Sandbox) -> int:
    """Every API call (entity and hunting; sign-ins aside)."""
    return sum(sum(v.values()) for k, v in sb.stats()["by_family"].items() if k != "login")


# ------------------------------------------------------------------------------------- fixtures


@dataclass
class Planted:
    sb: Sandbox
    truth: dict[str, Truth]
    queries: Queries
    env: dict[str, str]
    folder: Path

    def values(self, every: int = 1) -> list[str]:
        return list(self.truth)[::every]


@pytest.fixture(scope="module")
def planted(tmp_path_factory) -> Iterator[Planted]:
    """One sandbox for the module holding 10,000 planted indicators, its hunting queries recorded."""
    from enrich.sandbox import hunting

    folder = tmp_path_factory.mktemp("hunt")
    records, truth = plant(10_000, seed=10, now=datetime.now(UTC))
    data = folder / "planted.json"
    data.write_text(json.dumps({"indicators": records}), encoding="utf-8")
    queries = Queries()
    saved = hunting.answer_graph, hunting.answer_legacy
    hunting.answer_graph, hunting.answer_legacy = queries.wrap(saved[0]), queries.wrap(saved[1])
    try:
        main = default_client(10)
        legacy = ClientSpec(LEGACY_APP, LEGACY_SECRET, main.tenant_id, roles=("AdvancedQuery.Read.All",))
        config = SandboxConfig(
            time_scale=SCALE, data_file=str(data), sample_dir="", seed=10, clients=[main, legacy]
        )
        with Sandbox(config) as sb:
            yield Planted(sb, truth, queries, sandbox_env(sb), folder)
    finally:
        hunting.answer_graph, hunting.answer_legacy = saved


@pytest.fixture
def world(planted: Planted) -> Planted:
    """The module's sandbox at its defaults, with fresh counters and quotas."""
    planted.sb.configure(
        faults={},
        latency=(0.0, 0.0),
        time_scale=SCALE,
        entity_limits=(100, 1500),
        hunting_max_result_bytes=50 * 1024 * 1024,
        hunting_cpu_quota=150.0,
    )
    time.sleep(1.1)  # a time-scaled minute: the previous test's calls leave the quota windows
    planted.sb.reset_quotas()
    planted.sb.reset_stats()
    planted.queries.clear()
    return planted


def enrich_run(
    world: Planted, inp: Path, name: str, *extra: str, timeout: float = 120
) -> subprocess.CompletedProcess:
    out = world.folder / f"{name}.csv"
    done = subprocess.run(
        run_command(inp, out, world.folder / f"{name}.sqlite3", *extra, rate=RATE),
        env=world.env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return done


# ---------------------------------------------------------------------------------------- tests


@pytest.mark.timeout(240)
def test_10000_planted_indicators_in_hunt_mode_with_1_percent_of_the_calls(world):
    inp = write_input(world.folder / "all.csv", world.values())
    enrich_run(world, inp, "all-hunt", "--mode", "hunt")
    out = rows(world.folder / "all-hunt.csv")
    assert len(out) == 10_000 and {r["mde_type"] for r in out.values()} == set(TYPES)
    assert differences(out, world.truth, hunted=True) == []
    assert {r["mde_answered_by"] for r in out.values()} == {"hunting-graph"}
    calls, needed = api_calls(world.sb), stats_calls_needed(inp)
    assert needed > 8_000  # every value but the MD5s and the full URLs (asked by host) has its own call
    assert 0 < calls * 100 <= needed, (calls, needed, world.sb.stats()["by_family"])
    assert sum(hunting_calls(world.sb).values()) == calls  # no statistics call at all


@pytest.mark.timeout(240)
def test_stats_and_hunt_agree_wherever_stats_can_answer(world):
    values = world.values(every=5)  # 2,000 values of every type
    inp = write_input(world.folder / "both.csv", values)
    enrich_run(world, inp, "both-stats", "--mode", "stats")
    # the figure the 1% test compares with: one call per distinct lookup of the plan, measured
    assert api_calls(world.sb) == stats_calls_needed(inp)
    time.sleep(1.1)
    enrich_run(world, inp, "both-hunt", "--mode", "hunt")
    stats, hunt = rows(world.folder / "both-stats.csv"), rows(world.folder / "both-hunt.csv")
    compared = 0
    for value in values:
        s, h = stats[value], hunt[value]
        if s["mde_status"] not in ("seen", "not_seen"):
            assert s["mde_type"] in ("md5",), (value, s["mde_status"], s["mde_error"])
            continue
        assert s["mde_answered_by"] == "stats" and h["mde_answered_by"].startswith("hunting-")
        cells = ("mde_type", "mde_value", "mde_status", "mde_org_first_seen", "mde_org_last_seen")
        assert [s[c] for c in cells] == [h[c] for c in cells], value
        assert int(s["mde_org_prevalence"] or 0) == int(h["mde_org_prevalence"] or 0), value
        compared += 1
    assert compared >= len(values) * 6 // 7 - 10  # all but the MD5s
    # and both are the planted truth where stats answered
    subset = {v: world.truth[v] for v in values if world.truth[v].kind != "md5"}
    assert differences({v: stats[v] for v in subset}, subset, hunted=False) == []


@pytest.mark.timeout(240)
def test_a_chunk_rejected_for_size_is_split_and_completes(world):
    values = world.values(every=4)  # 2,500 values
    # a result over 64 KB is MDE's 400 "exceeded the allowed result size": the first chunks are too big
    world.sb.configure(hunting_max_result_bytes=64 * 1024)
    inp = write_input(world.folder / "split-in.csv", values)
    enrich_run(world, inp, "split", "--mode", "hunt")
    out = rows(world.folder / "split.csv")
    assert differences(out, {v: world.truth[v] for v in values}, hunted=True) == []
    calls = hunting_calls(world.sb)
    assert calls.get("400", 0) >= 1 and calls.get("200", 0) > calls["400"], calls
    # every value was answered by a query that fit: its literal is in an answered query
    answered = asked(world.queries.answered())
    missing = [v for v in values if hunted_as(v, world.truth[v].kind) not in answered]
    assert missing == []


@pytest.mark.timeout(240)
def test_a_cpu_quota_429_is_waited_out(world):
    values = world.values(every=4)
    # a CPU quota one query uses up: then 429 with Retry-After until the 15-minute cycle ends
    # (time-scaled 600x here: a cycle lasts 1.5 s)
    world.sb.configure(hunting_cpu_quota=0.001, time_scale=600)
    inp = write_input(world.folder / "cpu-in.csv", values)
    done = enrich_run(world, inp, "cpu", "--mode", "hunt", "-v")
    out = rows(world.folder / "cpu.csv")
    assert differences(out, {v: world.truth[v] for v in values}, hunted=True) == []
    calls = hunting_calls(world.sb)
    assert calls.get("429", 0) >= 1 and calls.get("200", 0) >= 1, calls
    assert "429" in done.stderr
    assert not [r for r in out.values() if r["mde_status"] == "error"]


@pytest.mark.timeout(240)
def test_kill_9_mid_hunt_resumes_without_asking_a_finished_chunk_again(world):
    values = world.values(every=2)  # 5,000 values
    inp = write_input(world.folder / "resume.csv", values)
    # small results and a slow server: many chunks, each taking a while, so the kill lands mid-run
    world.sb.configure(hunting_max_result_bytes=48 * 1024, latency=(0.15, 0.15))
    out, cache = world.folder / "resume-out.csv", world.folder / "resume.sqlite3"
    command = run_command(inp, out, cache, "--mode", "hunt", rate=RATE)
    victim = subprocess.Popen(command, env=world.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    started = time.monotonic()
    while (
        hunting_calls(world.sb).get("200", 0) < 4
        and victim.poll() is None
        and time.monotonic() - started < 90
    ):
        time.sleep(0.05)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    assert not out.exists(), "a killed run leaves no file at the output path"

    with sqlite3.connect(f"file:{cache}?mode=ro", uri=True) as db:
        done = {(family, key) for family, key in db.execute("SELECT family, key FROM answers")}
    assert done, "the killed run committed no chunk: kill it later"
    before = len(world.queries.answered())
    assert len(done) < len(values), "the run finished before the kill: slow the sandbox down"

    world.queries.clear()
    time.sleep(1.1)
    again = subprocess.run(command, env=world.env, capture_output=True, text=True, timeout=180)
    assert again.returncode == 0, again.stderr[-4000:]
    resumed = asked(world.queries.answered())
    assert resumed, "the resumed run's queries were not recorded"
    repeated = {(f, k) for f, k in done if (f, literal_of(f, k)) in resumed}
    assert repeated == set(), f"{len(repeated)} finished lookups asked again, e.g. {sorted(repeated)[:3]}"
    assert differences(rows(out), {v: world.truth[v] for v in values}, hunted=True) == []
    assert before >= 1 and "from cache" in again.stderr


@pytest.mark.timeout(180)
def test_stix_sightings_of_a_hunt_run_carry_the_planted_devices_and_events(world):
    import stix2

    from enrich.sinks.stix_objects import EXTENSION_ID

    values = world.values(every=25)  # 400 values
    inp = write_input(world.folder / "stix.csv", values)
    out = world.folder / "stix.json"
    command = run_command(
        inp, out, world.folder / "stix.sqlite3", "--mode", "hunt", "--to", "stix", rate=RATE
    )
    done = subprocess.run(command, env=world.env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-4000:]
    sightings = [o for o in json.loads(out.read_text(encoding="utf-8"))["objects"] if o["type"] == "sighting"]
    seen = {v for v in values if world.truth[v].prevalence}
    assert {s["extensions"][EXTENSION_ID]["mde_value"] for s in sightings} == seen
    for sighting in sightings:
        stix2.parse(sighting, allow_custom=False)
        ext = sighting["extensions"][EXTENSION_ID]
        want = world.truth[ext["mde_value"]]
        assert sighting["count"] == ext["mde_devices"] == want.prevalence
        assert ext["mde_device_names"] == list(want.devices) and ext["mde_events"] == want.events
        assert ext["mde_answered_by"] == "hunting-graph" and ext["mde_api"] == "security/runHuntingQuery"
        assert (
            moment(sighting["first_seen"]) == want.first_seen
            and moment(sighting["last_seen"]) == want.last_seen
        )


@pytest.mark.timeout(180)
def test_without_the_graph_permission_hunt_mode_answers_through_the_legacy_endpoint(world):
    values = world.values(every=10)  # 1,000 values
    inp = write_input(world.folder / "legacy-in.csv", values)
    env = {**world.env, "MDE_CLIENT_ID": LEGACY_APP, "MDE_CLIENT_SECRET": LEGACY_SECRET}
    out = world.folder / "legacy.csv"
    command = run_command(inp, out, world.folder / "legacy.sqlite3", "--mode", "hunt", rate=RATE)
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-4000:]
    found = rows(out)
    assert differences(found, {v: world.truth[v] for v in values}, hunted=True) == []
    assert {r["mde_answered_by"] for r in found.values()} == {"hunting-legacy"}
    by_family = world.sb.stats()["by_family"]
    assert "graph_hunting" not in by_family and sum(by_family["hunting"].values()) >= 1
