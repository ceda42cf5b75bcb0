"""STIX sightings from hunting answers: the devices (names) and events in the extension, valid STIX 2.1."""

from __future__ import annotations

import json
from pathlib import Path

import stix2

from enrich.model import Answer, LookupKey, Status
from enrich.sinks import stix_objects as so
from tests.sinks.test_stix_sink import ANSWERED, FETCHED, check_ours, read_out, run

API = "https://api.security.microsoft.com"
SHA1 = "da39a3ee5e6b4b0d3255bfef95601890afd80709"
ROWS = f"indicator\n198.51.100.7\nevil.example\n{SHA1}\n203.0.113.9\n"


def hunted(method: str, prevalence: int, events: int, names: tuple[str, ...]) -> Answer:
    status = Status.SEEN if prevalence else Status.NOT_SEEN
    return Answer(
        status,
        prevalence,
        "2026-11-20T10:11:12.1234567Z" if prevalence else "",
        "2026-12-01T00:00:00Z" if prevalence else "",
        detail=(("events", str(events)), ("devices", ";".join(names)), ("max_devices", "10")),
        method=method,
        answered_at=ANSWERED,
        fetched_at=FETCHED,
    )


ANSWERS = {
    LookupKey("ips", "198.51.100.7"): hunted("hunting-graph", 2, 7, ("pc-01.contoso.local", "srv-02")),
    LookupKey("domains", "evil.example"): hunted("hunting-legacy", 1, 1, ("pc-ünï.contoso.local",)),
    LookupKey("files", SHA1): Answer(
        Status.SEEN,
        4,
        "2026-11-01T00:00:00Z",
        "2026-11-02T00:00:00Z",
        detail=(("global_prevalence", "9"),),
        method="stats",
        answered_at=ANSWERED,
        fetched_at=FETCHED,
    ),
    LookupKey("ips", "203.0.113.9"): hunted("hunting-graph", 0, 0, ()),
}


def sightings_by_key(path: str) -> dict[str, dict]:
    objects = read_out(path)
    by_type = check_ours(objects)  # each parses with stix2, allow_custom=False; refs resolve
    return {s["extensions"][so.EXTENSION_ID]["mde_lookup"]["key"]: s for s in by_type["sighting"]}


def test_hunting_sightings_carry_events_and_device_names(tmp_path):
    csv = tmp_path / "iocs.csv"
    csv.write_text(ROWS, encoding="utf-8")
    out = str(tmp_path / "out.json")
    counts = run([str(csv)], out, ANSWERS, negative_sightings=True, api_url=API)
    found = sightings_by_key(out)

    graph = found["198.51.100.7"]
    ext = graph["extensions"][so.EXTENSION_ID]
    assert graph["count"] == 2 == ext["mde_devices"]  # the count is still the prevalence
    assert ext["mde_events"] == 7 and ext["mde_device_names"] == ["pc-01.contoso.local", "srv-02"]
    assert ext["mde_answered_by"] == "hunting-graph" and ext["mde_api"] == "security/runHuntingQuery"
    assert "mde_api_url" not in ext  # Graph is not the MDE API host
    assert "mde_detail" not in ext  # events and names are properties of their own, not detail
    assert (
        graph["first_seen"] == "2026-11-20T10:11:12.123Z" and graph["last_seen"] == "2026-12-01T00:00:00.000Z"
    )

    legacy = found["evil.example"]["extensions"][so.EXTENSION_ID]
    assert legacy["mde_api"] == "advancedqueries/run" and legacy["mde_api_url"] == API
    assert legacy["mde_answered_by"] == "hunting-legacy" and legacy["mde_device_names"] == [
        "pc-ünï.contoso.local"
    ]

    stats = found[SHA1]["extensions"][so.EXTENSION_ID]
    assert stats["mde_api"] == "files/stats" and stats["mde_answered_by"] == "stats"
    assert "mde_events" not in stats and "mde_device_names" not in stats
    assert stats["mde_detail"] == {"global_prevalence": "9"}

    unseen = found["203.0.113.9"]
    ext = unseen["extensions"][so.EXTENSION_ID]
    assert unseen["count"] == 0 and ext["mde_status"] == "not_seen" and ext["mde_events"] == 0
    assert "mde_device_names" not in ext  # a STIX list is never empty
    assert counts["sightings"] == 3 and counts["negative_sightings"] == 1


def test_the_extension_definition_describes_the_hunting_properties(tmp_path):
    csv = tmp_path / "iocs.csv"
    csv.write_text(ROWS, encoding="utf-8")
    out = str(tmp_path / "out.json")
    run([str(csv)], out, ANSWERS)
    (definition,) = [o for o in read_out(out) if o["type"] == "extension-definition"]
    stix2.parse(definition, allow_custom=False)
    assert definition["version"] == so.EXTENSION_VERSION == "1.2.0"
    for name in ("mde_events", "mde_device_names", "mde_answered_by", "urls"):
        assert name in definition["schema"]
    # every property a sighting carries is named in the schema
    for sighting in (o for o in read_out(out) if o["type"] == "sighting"):
        for name in sighting["extensions"][so.EXTENSION_ID]:
            assert name == "extension_type" or name in definition["schema"], name


def test_the_same_answers_write_the_same_bytes(tmp_path):
    csv = tmp_path / "iocs.csv"
    csv.write_text(ROWS, encoding="utf-8")
    a, b = str(tmp_path / "a.json"), str(tmp_path / "b.json")
    run([str(csv)], a, ANSWERS)
    run([str(csv)], b, dict(ANSWERS))
    assert Path(a).read_bytes() == Path(b).read_bytes()
    # and the sighting text is the dict `sighting` builds, as JSON
    sighting = so.sighting(
        org_ref=so.identity_id("Contoso SOC", "organization"),
        lookback_hours=720,
        queried_at="2025-06-01T12:00:00.123Z",
        api_url=API,
        of_ref="indicator--00000001-0000-4000-8000-000000000000",
        status=Status.SEEN,
        key=LookupKey("ips", "198.51.100.7"),
        answer=ANSWERS[LookupKey("ips", "198.51.100.7")],
        kind=None,
        value="198.51.100.7",
        path="",
        reason="",
        note="",
        markings=None,
    )
    assert json.loads(json.dumps(sighting)) == sighting
    assert stix2.parse(sighting, allow_custom=False).count == 2
