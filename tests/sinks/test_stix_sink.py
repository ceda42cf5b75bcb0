"""The STIX sink: input objects untouched, our objects valid STIX 2.1, stable ids, containers, atomicity."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
import stix2
from stix2.canonicalization.Canonicalize import canonicalize

from enrich.model import Answer, IndicatorType, LookupKey, Status
from enrich.outcome import STATS
from enrich.plan import make_plan
from enrich.sinks import stix_objects as so
from enrich.sinks.stix import StixSinkError, write_stix
from enrich.sources.open import open_source

QUERIED = datetime(2025, 6, 1, 12, 0, 0, 123456, tzinfo=UTC)
TLP = "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9"
IDENT = "identity--f431f809-377b-45e0-aa1c-6a4751cae5ff"
SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
SHA1 = "da39a3ee5e6b4b0d3255bfef95601890afd80709"
MD5 = "d41d8cd98f00b204e9800998ecf8427e"
TS = "2024-01-01T00:00:00.000Z"
ANSWERED = 1_748_779_200.25  # when MDE first gave the answers: 2025-06-01T12:00:00.250Z
FETCHED = 1_748_782_800.5  # when they were last fetched: 2025-06-01T13:00:00.500Z


def ind(n: int, pattern: str, **extra) -> dict:
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{n:08d}-0000-4000-8000-000000000000",
        "created": TS,
        "modified": TS,
        "pattern": pattern,
        "pattern_type": "stix",
        "valid_from": "2024-01-01T00:00:00Z",
        **extra,
    }


OBJECTS = [
    {"type": "identity", "spec_version": "2.1", "id": IDENT, "created": TS, "modified": TS, "name": "Feed"},
    ind(1, "[ipv4-addr:value = '198.51.100.7']", object_marking_refs=[TLP], x_feed_score=87.5),
    ind(2, "[domain-name:value = 'evil.example' OR domain-name:value = 'bad.example']"),
    ind(3, f"[file:hashes.'SHA-256' = '{SHA256.upper()}']", labels=["ünïcode ✓"]),
    ind(4, "[url:value = 'http://evil.example/a?b=1']"),
    ind(5, "rule x { condition: true }", pattern_type="yara"),
    ind(6, "[email-addr:value = 'a@b.example']"),
    {
        "type": "ipv4-addr",
        "spec_version": "2.1",
        "id": "ipv4-addr--39090fdc-366e-571f-ab5b-d05e2918f88f",
        "value": "203.0.113.9",
    },
    {
        "type": "file",
        "spec_version": "2.1",
        "id": "file--7d4e1b2a-1c2d-5e3f-8a4b-9c0d1e2f3a4b",
        "hashes": {"MD5": MD5, "SHA-1": SHA1},
    },
    {
        "type": "malware",
        "spec_version": "2.1",
        "id": "malware--0c7b5b88-8ff7-4a4d-aa9d-feb398cd0061",
        "created": TS,
        "modified": TS,
        "name": "x",
        "is_family": False,
        "x_big": 12345678901234567890,
    },
]


def dump(tmp_path: Path, name: str, doc) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(doc, indent=1, ensure_ascii=False), encoding="utf-8")
    return str(path)


def bundle(objects, spec: str | None = None) -> dict:
    doc = {"type": "bundle", "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d", "objects": objects}
    if spec:
        doc["spec_version"] = spec
    return doc


def answers_for(sources, seen=lambda key, i: True) -> dict[LookupKey, Answer]:
    out = {}
    for i, key in enumerate(make_plan(sources, STATS).keys):
        if seen(key, i):
            out[key] = Answer(
                Status.SEEN,
                3,
                "2024-05-20T08:01:02.6785431Z",
                "2024-05-31T23:59:59Z",
                detail=(("global_prevalence", "1200"),),
                answered_at=ANSWERED,
                fetched_at=FETCHED,
            )
        else:
            out[key] = Answer(Status.NOT_SEEN, 0, answered_at=ANSWERED, fetched_at=FETCHED)
    return out


def run(paths: list[str], output: str, answers: Mapping | None = None, **kw):
    sources = [open_source(p) for p in paths]
    answers = answers_for(sources) if answers is None else answers
    opts = {
        "org_name": "Contoso SOC",
        "queried_at": QUERIED,
        "lookback_hours": 720,
        "api_url": "https://api.security.microsoft.com",
    }
    opts.update(kw)
    return write_stix(sources, answers, output, **opts)


def read_out(path: str) -> list[dict]:
    text = Path(path).read_text(encoding="utf-8")
    if path.endswith(".jsonl"):
        return [json.loads(line) for line in text.splitlines()]
    doc = json.loads(text)
    assert doc["type"] == "bundle" and so.is_stix_id(doc["id"], "bundle") and "spec_version" not in doc
    return doc["objects"]


def ours(objects: list[dict]) -> list[dict]:
    return [o for o in objects if o.get("created_by_ref") == so.TOOL_ID or o.get("id") == so.TOOL_ID]


def check_ours(objs: list[dict]) -> dict[str, list[dict]]:
    """Each of our objects parses with stix2 (no custom content) and its refs resolve."""
    by_type: dict[str, list[dict]] = {}
    ids = {o["id"] for o in objs}
    for obj in objs:
        parsed = stix2.parse(json.loads(json.dumps(obj)), allow_custom=False)
        assert parsed.id == obj["id"]
        by_type.setdefault(obj["type"], []).append(obj)
        assert obj["created"] <= obj["modified"]
        if obj["type"] == "sighting":
            assert obj["where_sighted_refs"][0] in ids and obj["created_by_ref"] in ids
            ((key, ext),) = obj["extensions"].items()
            assert key == so.EXTENSION_ID and key in ids
            assert ext["extension_type"] == "property-extension"
            assert all(len(name) >= 3 and name.replace("_", "").isalnum() for name in ext)
    assert len(by_type["identity"]) == 2 and len(by_type["extension-definition"]) == 1
    return by_type


@pytest.fixture
def feed(tmp_path) -> str:
    return dump(tmp_path, "feed.json", bundle(OBJECTS))


def test_inputs_unchanged_then_valid_objects_of_ours(feed, tmp_path):
    out = str(tmp_path / "out.json")
    counts = run([feed], out)
    objects = read_out(out)
    original = json.loads(Path(feed).read_text(encoding="utf-8"))["objects"]
    assert objects[: len(original)] == original  # same JSON values, same order
    assert (
        objects[1]["x_feed_score"] == 87.5
        and objects[-len(ours(objects)) - 1]["x_big"] == 12345678901234567890
    )
    mine = objects[len(original) :]
    assert mine == ours(objects)
    by_type = check_ours(mine)
    sightings = {s["sighting_of_ref"]: s for s in by_type["sighting"]}
    s1 = sightings[OBJECTS[1]["id"]]
    assert s1["count"] == 3 and s1["first_seen"] == "2024-05-20T08:01:02.678Z"
    assert s1["last_seen"] == "2024-05-31T23:59:59.000Z" and s1["object_marking_refs"] == [TLP]
    # dated by the answer: first given, last fetched (not the run's time, QUERIED)
    assert s1["created"] == "2025-06-01T12:00:00.250Z" and s1["modified"] == "2025-06-01T13:00:00.500Z"
    ext = s1["extensions"][so.EXTENSION_ID]
    assert ext["mde_status"] == "seen" and ext["mde_api"] == "ips/stats" and ext["mde_devices"] == 3
    assert ext["mde_lookup"] == {"family": "ips", "key": "198.51.100.7"}
    assert ext["mde_lookback_hours"] == 720 and ext["mde_queried_at"] == "2025-06-01T13:00:00.500Z"
    assert ext["mde_detail"] == {"global_prevalence": "1200"}
    # compound OR pattern: one sighting per seen value
    compound = [s for s in by_type["sighting"] if s["sighting_of_ref"] == OBJECTS[2]["id"]]
    assert sorted(s["extensions"][so.EXTENSION_ID]["mde_value"] for s in compound) == [
        "bad.example",
        "evil.example",
    ]
    url = sightings[OBJECTS[4]["id"]]["extensions"][so.EXTENSION_ID]
    assert url["mde_lookup"] == {"family": "domains", "key": "evil.example"} and "host" in url["mde_note"]
    # observables: our indicator, based-on the observable, sighted
    ip_ind = so.det_id("indicator", {"pattern": "[ipv4-addr:value = '203.0.113.9']"})
    assert ip_ind in sightings
    rels = {(r["source_ref"], r["target_ref"]) for r in by_type["relationship"]}
    assert (ip_ind, OBJECTS[7]["id"]) in rels
    file_inds = [i for i in by_type["indicator"] if i["pattern"].startswith("[file:")]
    # one row per hash: the MD5 cannot be looked up, so only the SHA-1 is sighted
    assert [i["pattern"] for i in file_inds] == [f"[file:hashes.'SHA-1' = '{SHA1}']"]
    assert counts["sightings"] == len(by_type["sighting"]) == 7
    assert counts["unsupported"] == 3 and counts["objects_without_indicator"] == 2 and counts["objects"] == 10
    assert counts["written"] == len(objects) and counts["negative_sightings"] == 0


def test_rerun_gives_the_same_ids_and_bytes(feed, tmp_path):
    a, b, c, d, e = (str(tmp_path / f"{n}.json") for n in "abcde")
    run([feed], a)
    run([feed], b)
    assert Path(a).read_bytes() == Path(b).read_bytes()
    # every entry has an answer: the run's clock dates nothing
    run([feed], c, queried_at=datetime(2025, 6, 2, tzinfo=UTC))
    assert Path(a).read_bytes() == Path(c).read_bytes()
    # fetched again, MDE answered the same: the same sightings in a newer version
    answers = answers_for([open_source(feed)])
    run([feed], d, {k: replace(v, fetched_at=FETCHED + 86_400) for k, v in answers.items()})
    first, later = read_out(a), read_out(d)
    assert [o["id"] for o in first] == [o["id"] for o in later]
    changed = [(o, p) for o, p in zip(first, later, strict=True) if o != p]
    assert changed and all(o["type"] == "sighting" for o, _ in changed)
    assert all(o["created"] == p["created"] and o["modified"] < p["modified"] for o, p in changed)
    assert {p["modified"] for _, p in changed} == {"2025-06-02T13:00:00.500Z"}
    # MDE's answer changed: new sightings, created when the new answer came; our indicators too
    moved = {k: replace(v, prevalence=4, answered_at=FETCHED + 86_400) for k, v in answers.items()}
    run([feed], e, {k: replace(v, fetched_at=FETCHED + 86_400) for k, v in moved.items()})
    first_ids, again = {o["id"] for o in first}, ours(read_out(e))
    for obj in again:
        if obj["type"] == "sighting":
            assert obj["id"] not in first_ids and obj["created"] == "2025-06-02T13:00:00.500Z"
        if obj["type"] == "indicator":  # same indicator (from the pattern), valid from the new answer
            assert obj["id"] in first_ids and obj["valid_from"] == "2025-06-02T13:00:00.500Z"


def test_times_come_from_the_answers_and_the_run_never_from_a_constant(feed, tmp_path):
    out = str(tmp_path / "out.json")
    sources = [open_source(feed)]
    answers = answers_for(sources, lambda key, i: key.family != "domains")
    answers.pop(LookupKey("domains", "bad.example"))  # never answered: an error
    run([feed], out, answers, negative_sightings=True)
    mine = ours(read_out(out))
    check_ours(mine)
    run_time, answered, fetched = so.stix_time(QUERIED), so.epoch_time(ANSWERED), so.epoch_time(FETCHED)
    assert (answered, fetched) == ("2025-06-01T12:00:00.250Z", "2025-06-01T13:00:00.500Z")
    constant = [o["type"] for o in mine if so.EPOCH in json.dumps(o)]
    assert sorted(constant) == ["extension-definition", "identity", "identity"]
    indicators = {o["name"]: o for o in mine if o["type"] == "indicator"}
    assert indicators["203.0.113.9"]["valid_from"] == answered  # an observable, answered
    assert indicators[MD5]["valid_from"] == run_time  # an MD5: no lookup, no answer
    for obj in indicators.values():
        assert obj["created"] == obj["modified"] == obj["valid_from"]
    for rel in (o for o in mine if o["type"] == "relationship"):
        source = next(i for i in indicators.values() if i["id"] == rel["source_ref"])
        assert rel["created"] == rel["modified"] == source["created"]
    for sighting in (o for o in mine if o["type"] == "sighting"):
        ext = sighting["extensions"][so.EXTENSION_ID]
        times = (sighting["created"], sighting["modified"], ext["mde_queried_at"])
        if ext["mde_status"] in ("seen", "not_seen"):
            assert times == (answered, fetched, fetched), sighting
        else:  # unsupported, error: no answer
            assert times == (run_time, run_time, run_time), sighting


def test_a_rerun_on_our_own_output_adds_no_duplicate(feed, tmp_path):
    first, second = str(tmp_path / "1.json"), str(tmp_path / "2.json")
    run([feed], first)
    counts = run([first], second)
    objects = read_out(second)
    versions = [(o["id"], o.get("modified")) for o in objects]
    assert len(versions) == len(set(versions))
    assert counts["already_in_input"] == len(ours(read_out(first)))
    assert objects == read_out(first)


def test_negative_sightings(feed, tmp_path):
    out = str(tmp_path / "neg.json")
    only_ips = lambda key, i: key.family == "ips"  # noqa: E731
    sources = [open_source(feed)]
    answers = answers_for(sources, only_ips)
    answers.pop(LookupKey("domains", "bad.example"))  # no answer: error
    counts = run([feed], out, answers, negative_sightings=True)
    by_type = check_ours(ours(read_out(out)))
    by_value = {
        s["extensions"][so.EXTENSION_ID].get("mde_value", s["sighting_of_ref"]): s
        for s in by_type["sighting"]
    }
    assert by_value["198.51.100.7"]["count"] == 3
    nots = by_value["evil.example"]
    assert nots["count"] == 0 and "first_seen" not in nots
    assert nots["extensions"][so.EXTENSION_ID]["mde_status"] == "not_seen"
    err = by_value["bad.example"]["extensions"][so.EXTENSION_ID]
    assert err["mde_status"] == "error" and "no answer" in err["mde_reason"]
    yara = by_value[OBJECTS[5]["id"]]  # no value, still sighted: the input indicator is there
    assert yara["count"] == 0 and yara["sighting_of_ref"] == OBJECTS[5]["id"]
    assert yara["extensions"][so.EXTENSION_ID]["mde_status"] == "unsupported"
    email = by_value["a@b.example"]
    assert email["sighting_of_ref"] == OBJECTS[6]["id"]
    md5 = by_value[MD5]["extensions"][so.EXTENSION_ID]
    assert md5["mde_status"] == "unsupported" and "MD5" in md5["mde_reason"] and "mde_lookup" not in md5
    assert counts["negative_sightings"] == len(by_type["sighting"]) - counts["sightings"] > 0
    assert counts["error"] == 1 and counts["not_seen"] >= 3


def test_stix20_merged_and_separate(tmp_path):
    objs = [
        {
            "type": "identity",
            "id": IDENT,
            "created": TS,
            "modified": TS,
            "name": "Feed",
            "identity_class": "organization",
        },
        {
            "type": "indicator",
            "id": "indicator--a932fcc6-e032-476c-826f-cb970a5a1ade",
            "created": TS,
            "modified": TS,
            "labels": ["malicious-activity"],
            "pattern": "[ipv4-addr:value = '198.51.100.1']",
            "valid_from": "2024-01-01T00:00:00Z",
            "object_marking_refs": [TLP],
        },
        {
            "type": "observed-data",
            "id": "observed-data--b67d30ff-02ac-498a-92f9-32f845f448cf",
            "created": TS,
            "modified": TS,
            "first_observed": TS,
            "last_observed": TS,
            "number_observed": 1,
            "objects": {"0": {"type": "domain-name", "value": "evil.example"}},
        },
    ]
    path = dump(tmp_path, "v20.json", bundle(objs, "2.0"))
    merged, separate = str(tmp_path / "merged.json"), str(tmp_path / "separate.json")
    run([path], merged)
    out = read_out(merged)
    assert out[:3] == objs
    by_type = check_ours(out[3:])
    rel = by_type["relationship"][0]
    assert rel["target_ref"] == objs[2]["id"] and rel["relationship_type"] == "based-on"
    stix2.parse({"type": "bundle", "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d", "objects": out[3:]})
    run([path], separate, separate=True)
    alone = read_out(separate)
    assert alone == out[3:]
    assert json.loads(Path(separate).read_text())["id"] != json.loads(Path(merged).read_text())["id"]


def test_jsonl_in_jsonl_out(tmp_path):
    lines = [
        json.dumps(OBJECTS[1]),
        '{ "type": "bundle", "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d", "objects": ['
        + json.dumps(OBJECTS[7])
        + "] }",
        "not json at all",
        json.dumps(OBJECTS[9], indent=None, separators=(",", ":")),
    ]
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(lines) + "\n\n", encoding="utf-8")
    out = str(tmp_path / "out.jsonl")
    counts = run([str(path)], out, negative_sightings=True)
    written = Path(out).read_text(encoding="utf-8").splitlines()
    assert written[:3] == [lines[0], lines[1], lines[3]]  # lines as read; the broken one dropped
    check_ours([json.loads(line) for line in written[3:]])
    assert counts["invalid"] == 1 and counts["no_sighting_target"] == 1
    assert counts["written"] == len(written)


def test_csv_in_stix_out(tmp_path):
    csv = tmp_path / "iocs.csv"
    csv.write_text(
        "indicator,comment\n198.51.100.7,x\nhxxp://evil[.]example/it's\\,y\n"
        f"{SHA256},z\n{MD5},md5 only\nnot an indicator,w\n198.51.100.7,dup\n"
        f'"{SHA1},{MD5}",one file\n',
        encoding="utf-8",
    )
    out = str(tmp_path / "out.json")
    sources = [open_source(str(csv))]
    answers = answers_for(sources, lambda key, i: key.family != "files")
    counts = run([str(csv)], out, answers, negative_sightings=True)
    objects = read_out(out)
    by_type = check_ours(objects)
    assert objects == ours(objects)
    patterns = {i["pattern"]: i for i in by_type["indicator"]}
    assert "[ipv4-addr:value = '198.51.100.7']" in patterns
    assert any(p.startswith("[url:value = 'http://evil.example/it\\'s") for p in patterns)
    for pattern, obj in patterns.items():  # OpenCTI's Indicator.generate_id
        assert obj["id"] == "indicator--" + str(
            __import__("uuid").uuid5(so.NAMESPACE, canonicalize({"pattern": pattern.strip()}, utf8=False))
        )
    assert f"[file:hashes.MD5 = '{MD5}']" in patterns
    sightings = by_type["sighting"]
    assert len({s["id"] for s in sightings}) == len(sightings)  # the duplicate row: one sighting
    assert counts["rows"] == 7 and counts["seen"] == 3 and counts["invalid"] == 1
    assert counts["sightings"] == 2 and "relationship" not in by_type
    shared = [
        s for s in sightings if s["extensions"][so.EXTENSION_ID].get("mde_lookup", {}).get("key") == SHA1
    ]
    assert len(shared) == 2  # SHA-1 and MD5 of one file: both answered by the SHA-1 lookup
    assert {s["extensions"][so.EXTENSION_ID]["mde_status"] for s in shared} == {"not_seen"}


def test_stdout(feed, capsys):
    run([feed], "-")
    doc = json.loads(capsys.readouterr().out)
    check_ours(ours(doc["objects"]))


class Boom(dict):
    def get(self, key, default=None):
        raise KeyboardInterrupt


@pytest.mark.parametrize("negative", [False, True])
def test_atomic_write(feed, tmp_path, negative):
    out = tmp_path / "out.json"
    out.write_text("previous", encoding="utf-8")
    with pytest.raises(KeyboardInterrupt):
        run([feed], str(out), Boom(), negative_sightings=negative)
    assert out.read_text(encoding="utf-8") == "previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["feed.json", "out.json"]
    with pytest.raises(StixSinkError, match="cannot write"):
        run([feed], str(tmp_path / "missing" / "out.json"))
    fresh = tmp_path / "new.json"
    run([feed], str(fresh))
    umask = os.umask(0)
    os.umask(umask)
    assert fresh.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600


def test_org_name_required(feed, tmp_path):
    with pytest.raises(StixSinkError, match="org"):
        run([feed], str(tmp_path / "o.json"), org_name="  ")


# ------------------------------------------------------------------------------- object builders


def test_ids_match_stix2_and_opencti():
    assert so.det_id("ipv4-addr", {"value": "203.0.113.9"}) == stix2.IPv4Address(value="203.0.113.9").id
    for value in ("Contoso SOC", "Société Générale ✓", 'a "quoted" \\ name\n'):
        expected = __import__("uuid").uuid5(
            so.NAMESPACE,
            canonicalize({"name": value.lower().strip(), "identity_class": "organization"}, utf8=False),
        )
        assert so.identity_id(value, "organization") == f"identity--{expected}"
    assert so.org_identity(" Contoso SOC ")["id"] == so.org_identity("contoso soc")["id"]
    stix2.parse(so.tool_identity(), allow_custom=False)
    stix2.parse(so.extension_definition(), allow_custom=False)
    assert so.is_stix_id(so.EXTENSION_ID, "extension-definition")
    assert not so.is_stix_id("indicator--bad") and not so.is_stix_id(
        "indicator--00000000-0000-0000-0000-000000000000"
    )


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2017-09-19T03:51:27.6785431Z", "2017-09-19T03:51:27.678Z"),
        ("2017-09-19T03:51:27.678543Z", "2017-09-19T03:51:27.678Z"),
        ("2017-09-19T03:51:27.6Z", "2017-09-19T03:51:27.600Z"),
        ("2017-09-19T03:51:27Z", "2017-09-19T03:51:27.000Z"),
        ("2017-09-19T03:51:27", "2017-09-19T03:51:27.000Z"),
        ("2017-09-19 03:51:27.1+02:00", "2017-09-19T01:51:27.100Z"),
        ("2017-09-19T23:51:27-01:30", "2017-09-20T01:21:27.000Z"),
        ("", None),
        ("yesterday", None),
        ("2017-02-30T00:00:00Z", None),
    ],
)
def test_mde_time(text, expected):
    assert so.mde_time(text) == expected


def test_stix_time():
    assert so.stix_time(datetime(2025, 1, 2, 3, 4, 5, 678999)) == "2025-01-02T03:04:05.678Z"


@pytest.mark.parametrize(
    "seconds",
    [0.0, 0.0009995, 59.9999, 86_399.9995, ANSWERED, FETCHED, 1_335_348_760.0079994, 4_102_444_800.5],
)
def test_epoch_time_is_stix_time_of_the_moment(seconds):
    assert so.epoch_time(seconds) == so.stix_time(datetime.fromtimestamp(seconds, UTC))


@pytest.mark.parametrize(
    "kind, value",
    [
        (IndicatorType.URL, "http://evil.example/it's\\x"),
        (IndicatorType.DOMAIN, "xn--bcher-kva.example"),
        (IndicatorType.IPV6, "2001:db8::1"),
        (IndicatorType.SHA256, SHA256),
        (IndicatorType.SHA1, SHA1),
        (IndicatorType.MD5, MD5),
    ],
)
def test_indicator_patterns_validate(kind, value):
    obj = so.indicator(kind, value, [TLP], TS)
    parsed = stix2.parse(obj, allow_custom=False)
    assert parsed.pattern == obj["pattern"]


def test_sighting_edge_cases():
    common = dict(
        of_ref=OBJECTS[1]["id"],
        org_ref=so.org_identity("x")["id"],
        key=LookupKey("ips", "1.2.3.4"),
        kind=IndicatorType.IPV4,
        value="1.2.3.4",
        path="",
        reason="",
        note="",
        markings=None,
        lookback_hours=24,
        queried_at="2019-01-01T00:00:00.000Z",
        api_url="https://a",
    )
    huge = Answer(Status.SEEN, 10**12, "2024-05-31T00:00:00Z", "2024-05-01T00:00:00Z")  # dates swapped
    obj = so.sighting(status=Status.SEEN, answer=huge, **common)
    assert obj["count"] == so.MAX_COUNT and obj["first_seen"] < obj["last_seen"]
    assert obj["created"] == obj["modified"] == "2019-01-01T00:00:00.000Z"  # never created > modified
    stix2.parse(obj, allow_custom=False)
    other = so.sighting(status=Status.SEEN, answer=huge, **{**common, "lookback_hours": 48})
    assert other["id"] != obj["id"]


def test_lone_surrogate_and_list_input(tmp_path):
    path = tmp_path / "list.json"
    weird = ind(9, "[domain-name:value = 'evil.example']")
    text = json.dumps([weird, OBJECTS[7]]).replace('"created": "', '"x_odd": "\\ud800", "created": "', 1)
    path.write_text(text, encoding="utf-8")
    out = str(tmp_path / "out.json")
    run([str(path)], out)
    objects = read_out(out)  # valid UTF-8 JSON
    assert objects[:2] == json.loads(text) and objects[0]["x_odd"] == "\ud800"
    check_ours(objects[2:])


def test_csv_and_stix_inputs_into_one_bundle(feed, tmp_path):
    csv = tmp_path / "iocs.csv"
    csv.write_text("ioc\n198.51.100.7\n192.0.2.1\n", encoding="utf-8")
    out = str(tmp_path / "out.json")
    counts = run([feed, str(csv)], out)
    objects = read_out(out)
    assert objects[: len(OBJECTS)] == json.loads(Path(feed).read_text(encoding="utf-8"))["objects"]
    by_type = check_ours(objects[len(OBJECTS) :])
    # 198.51.100.7 is sighted twice: as the feed's indicator and as our indicator for the CSV row
    refs = [s["sighting_of_ref"] for s in by_type["sighting"] if "198.51.100.7" in json.dumps(s)]
    assert len(refs) == 2 and OBJECTS[1]["id"] in refs
    assert counts["rows"] == 10 + 2


def test_bundle_in_jsonl_out_when_asked(feed, tmp_path):
    out = str(tmp_path / "out.jsonl")
    run([feed], out, container="jsonl")
    objects = read_out(out)
    assert objects[: len(OBJECTS)] == json.loads(Path(feed).read_text(encoding="utf-8"))["objects"]
    check_ours(objects[len(OBJECTS) :])
