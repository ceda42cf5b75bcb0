"""Real STIX feeds from ../shared/feeds/stix (skipped when the folder is absent).

The expected counts below were counted by hand over the raw files, without this project's code:
- pattern comparisons with grep, e.g.
  grep -o "ipv4-addr:value = '\\|domain-name:value = '\\|url:value = '\\|file:hashes\\.[^ ]* = '\\|
  file:name = '\\|dst_ref.value = '\\|resolves_to_refs\\[\\*\\]\\.value = '\\|x509-certificate:[a-z_]* = '\\|
  file:[a-z_]* = '\\|\\"pattern_type\\": \\"[a-z]*\\"" FILE | sort | uniq -c
- CIDR values and odd values by eye: grep -o "ipv4-addr:value = '[^']*'" FILE (apt1: four /15 ranges;
  DigitalSide: /32 suffixes); grep -o "domain-name:value = '[^']*'" oasis_poisonivy.json | grep -c " '[^']* "
  (one value with a space, 'domain autuo.xicp.net')
- top-level SCOs and 2.0 embedded objects with jq:
  jq -c '[.objects[] | select(.type|test("^(ipv4-addr|ipv6-addr|domain-name|url|file|email-addr)$"))
         | {t:.type, h:(.hashes//{}|keys)}]' FILE
  jq -c '[.objects[] | select(.type=="observed-data") | (.objects//{})[] | {t:.type, h:(.hashes//{}|keys)}]' FILE
- object counts: jq '.objects | length' FILE, wc -l for the JSON Lines file; objects that carry no
  entry: jq '[.objects[].type] | group_by(.) | map({(.[0]): length}) | add' FILE minus the above.
Keys are (mde_type or "-", status).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from enrich.model import Status
from enrich.sources.patterns import extract
from enrich.sources.stix import open_stix

FEEDS = Path(__file__).resolve().parents[3] / "shared" / "feeds" / "stix"
pytestmark = pytest.mark.skipif(not FEEDS.is_dir(), reason="shared feeds folder not present")

PENDING, UNSUPPORTED, INVALID = "pending", "unsupported", "invalid"

EXPECTED = {
    # 25 indicators: 40 ipv4 + 25 domain comparisons (one is 'domain autuo.xicp.net': invalid),
    # 2 file:name. 155 objects, 130 without an indicator (90 relationships, 25 malware, ...).
    "oasis_poisonivy.json": (
        {("ipv4", PENDING): 40, ("domain", PENDING): 24, ("-", INVALID): 1, ("-", UNSUPPORTED): 2},
        155,
        130,
    ),
    # 12 indicators: 4 ipv4 /15 ranges, 3 domains, 3 md5 (lower-case hashes.md5), 2 x509 patterns
    # with 2 comparisons each.
    "oasis_apt1.json": (
        {("ipv4", UNSUPPORTED): 4, ("domain", PENDING): 3, ("md5", PENDING): 3, ("-", UNSUPPORTED): 4},
        76,
        64,
    ),
    # 104 indicators (102 stix, 2 yara): 53 ipv4, 43 domain, 6 MD5, 2 SHA-1, 2 SHA-256 comparisons;
    # unsupported: 2 yara, 1 SHA-512, 1 SSDEEP, 1 file:size, 1 file:mime_type.
    "sekoia_apt31_stix21.jsonl": (
        {
            ("ipv4", PENDING): 53,
            ("domain", PENDING): 43,
            ("md5", PENDING): 6,
            ("sha1", PENDING): 2,
            ("sha256", PENDING): 2,
            ("-", UNSUPPORTED): 6,
        },
        370,
        266,
    ),
    # 5 indicators (MD5, SHA1, SHA256, url, network-traffic dst_ref ipv4); the observed-data embeds
    # one file with a name and no hashes (one unsupported row).
    "digitalside_stix20_bundle_00004634.json": (
        {
            ("md5", PENDING): 1,
            ("sha1", PENDING): 1,
            ("sha256", PENDING): 1,
            ("url", PENDING): 1,
            ("ipv4", PENDING): 1,
            ("-", UNSUPPORTED): 1,
        },
        11,
        5,
    ),
    # 5 indicators ('MD5', 'SHA-1', 'SHA-256', url with port, ipv4 /32) + a file SCO with 3 hashes.
    "digitalside_stix21_bundle_00016e45_compact.json": (
        {
            ("md5", PENDING): 2,
            ("sha1", PENDING): 2,
            ("sha256", PENDING): 2,
            ("url", PENDING): 1,
            ("ipv4", PENDING): 1,
        },
        21,
        15,
    ),
    # 7 indicators (3 hashes, 2 urls, 2 ipv4 /32) + a file SCO with 3 hashes.
    "digitalside_stix21_bundle_00144031_pretty.json": (
        {
            ("md5", PENDING): 2,
            ("sha1", PENDING): 2,
            ("sha256", PENDING): 2,
            ("url", PENDING): 2,
            ("ipv4", PENDING): 2,
        },
        12,
        4,
    ),
    # patterns: 2 domain-name:value, 1 resolves_to_refs ipv4, 1 file:name; top-level SCOs: 2 domain-name,
    # 1 ipv4-addr, 1 file without hashes (autonomous-system gives no row).
    "misp_stix_events_collection_stix21.json": (
        {("domain", PENDING): 4, ("ipv4", PENDING): 2, ("-", UNSUPPORTED): 2},
        20,
        13,
    ),
    # the same events in 2.0: the SCOs are embedded in observed-data (2 domain-name, 1 ipv4-addr,
    # 1 file without hashes, 1 autonomous-system).
    "misp_stix_events_collection_stix20.json": (
        {("domain", PENDING): 4, ("ipv4", PENDING): 2, ("-", UNSUPPORTED): 2},
        15,
        9,
    ),
    "oasis_sighting_of_an_indicator.json": ({("url", PENDING): 1}, 4, 3),
}


def _feed_files() -> list[Path]:
    if not FEEDS.is_dir():
        return []
    return sorted(p for p in FEEDS.iterdir() if p.suffix in (".json", ".jsonl"))


def _read(path: Path):
    source = open_stix(str(path), path.read_bytes()[:64])
    cells, found = [], []
    for chunk in source.chunks():
        cells.extend(chunk.frame.to_dict("records"))
        found.extend(entry[0] for entry in chunk.indicators)
    return source, cells, found


def _raw_objects(path: Path) -> list[dict]:
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    return json.loads(text)["objects"]


def test_every_feed_file_is_covered():
    assert {p.name for p in _feed_files()} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_feed_reads_and_counts(name):
    path = FEEDS / name
    if not path.is_file():
        pytest.skip(f"{name} not present")
    source, cells, found = _read(path)
    expected_rows, objects, without = EXPECTED[name]
    got = Counter((i.type.value if i.type else "-", i.status.value) for i in found)
    assert got == Counter(expected_rows)
    stats = source.stats()
    assert stats["objects"] == objects
    assert stats["objects_without_indicator"] == without
    assert source.format == ("jsonl" if name.endswith(".jsonl") else "stix")


@pytest.mark.parametrize("path", _feed_files(), ids=lambda p: p.name)
def test_feed_rows_follow_object_order_and_no_indicator_is_dropped(path):
    _, cells, found = _read(path)
    raw = _raw_objects(path)
    order = {o["id"]: n for n, o in enumerate(raw)}
    positions = [order[c["stix_id"]] for c in cells]
    assert positions == sorted(positions)
    indicator_ids = {o["id"] for o in raw if o["type"] == "indicator"}
    assert indicator_ids <= {c["stix_id"] for c in cells}
    for cell, indicator in zip(cells, found, strict=True):
        assert indicator.status in (Status.PENDING, Status.UNSUPPORTED, Status.INVALID)
        assert (indicator.status is Status.PENDING) == (indicator.reason == "")
        assert cell["stix_type"] in {"indicator", "observed-data", "ipv4-addr", "domain-name", "file", "url"}


def test_feed_spec_version_column():
    _, cells, _ = _read(FEEDS / "digitalside_stix20_bundle_00004634.json")
    assert {c["stix_spec_version"] for c in cells} == {"2.0"}
    _, cells, _ = _read(FEEDS / "sekoia_apt31_stix21.jsonl")
    assert {c["stix_spec_version"] for c in cells} == {"2.1"}


def test_pattern_examples_file():
    """The .txt file is a list of patterns (one per line), not a STIX container."""
    path = FEEDS / "stix21_pattern_spec_examples.txt"
    if not path.is_file():
        pytest.skip("pattern examples not present")
    patterns = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(patterns) == 23
    rows = [atom for pattern in patterns for atom in extract(pattern)]
    assert not [a for a in rows if a.indicator.status is Status.INVALID]  # all 23 parse
