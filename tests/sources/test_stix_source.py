"""The STIX / JSON Lines source: containers, rows, errors, chunking, the writer's helpers."""

from __future__ import annotations

import io
import json
from collections import Counter
from pathlib import Path

import pytest

from enrich.model import IndicatorType as T
from enrich.model import Status
from enrich.sources import stix
from enrich.sources.interface import SourceError
from enrich.sources.stix import COLUMNS, container_info, iter_objects, open_stix

SAMPLES = Path(__file__).resolve().parents[2] / "sample_data"
P, U, BAD = Status.PENDING, Status.UNSUPPORTED, Status.INVALID
MD5 = "0cc175b9c0f1b6a831c399e269772661"


def read(path) -> tuple[list[dict], list]:
    """All rows of a source as dicts, and their indicators."""
    source = open_stix(str(path), b"")
    cells, found = [], []
    for chunk in source.chunks():
        assert list(chunk.frame.columns) == COLUMNS
        assert len(chunk.frame) == len(chunk.indicators)
        cells.extend(chunk.frame.to_dict("records"))
        for entry in chunk.indicators:
            assert isinstance(entry, tuple) and len(entry) == 1
            found.append(entry[0])
    return cells, found


def write(tmp_path: Path, name: str, content) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_text(json.dumps(content), encoding="utf-8")
    return path


def ind(pattern: str, n: int = 1, **extra) -> dict:
    obj = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--00000000-0000-4000-8000-{n:012d}",
        "pattern": pattern,
        "pattern_type": "stix",
    }
    obj.update(extra)
    return obj


def kinds(found) -> Counter:
    return Counter((i.type.value if i.type else "-", i.status.value) for i in found)


# ----------------------------------------------------------------------------------- sample files


def test_sample_stix21_bundle():
    cells, found = read(SAMPLES / "stix21_bundle.json")
    source = open_stix(str(SAMPLES / "stix21_bundle.json"), b"{")
    assert source.format == "stix" and source.columns() == COLUMNS
    assert kinds(found) == Counter(
        {
            ("ipv4", "pending"): 7,
            ("domain", "pending"): 6,
            ("-", "unsupported"): 6,
            ("url", "pending"): 4,
            ("sha256", "pending"): 4,
            ("md5", "pending"): 3,
            ("sha1", "pending"): 1,
            ("ipv6", "pending"): 1,
            ("ipv4", "unsupported"): 1,
        }
    )
    by_value = {c["stix_value"]: (c, i) for c, i in zip(cells, found, strict=True)}
    assert by_value["bücher-update.example"][1].value == "xn--bcher-update-dlb.example"
    assert by_value["invoice-portal[.]example"][1].value == "invoice-portal.example"
    assert by_value["http://shop.example/it's-free"][0]["stix_path"] == "url:value"
    assert (
        by_value["hxxps://files-share[.]example/dl/report.zip"][1].value
        == "https://files-share.example/dl/report.zip"
    )
    assert by_value["http://203.0.113.77:8080/gate.php?id=42&x=1"][1].type is T.URL
    yara = [c for c in cells if c["stix_pattern_type"] == "yara"]
    assert len(yara) == 1 and yara[0]["stix_path"] == "" and yara[0]["stix_pattern"].startswith("rule ")
    assert {c["stix_spec_version"] for c in cells} == {"2.1"}


def test_sample_stix20_bundle():
    cells, found = read(SAMPLES / "stix20_bundle.json")
    assert {c["stix_spec_version"] for c in cells} == {"2.0"}
    assert {c["stix_pattern_type"] for c in cells} == {""}  # 2.0 has no pattern_type: STIX implied
    observed = [(c["stix_path"], c["stix_value"]) for c in cells if c["stix_type"] == "observed-data"]
    assert observed == [
        ("domain-name:value", "exfil.example"),
        ("ipv4-addr:value", "198.51.100.140"),
        ("file:hashes.MD5", "098f6bcd4621d373cade4e832627b4f6"),
        ("file:hashes.'SHA-256'", "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"),
        ("ipv6-addr:value", "2001:db8::dead:beef"),
    ]
    assert all(i.status is P for i in found)
    assert len(found) == 10


def test_sample_jsonl():
    source = open_stix(str(SAMPLES / "indicators.jsonl"), b"{")
    assert source.format == "jsonl"
    _, found = read(SAMPLES / "indicators.jsonl")
    assert len(found) == 9
    assert kinds(found)[("-", "unsupported")] == 1  # the email-addr pattern
    list(source.chunks())
    assert source.stats() == {
        "objects": 10,
        "rows": 9,
        "objects_without_indicator": 1,
        "without_indicator_by_type": {"relationship": 1},
    }


def test_chunks_can_be_read_twice():
    source = open_stix(str(SAMPLES / "stix21_bundle.json"), b"")
    first = [c.frame.to_dict("records") for c in source.chunks()]
    second = [c.frame.to_dict("records") for c in source.chunks()]
    assert first == second and first


def test_frame_columns_are_text():
    source = open_stix(str(SAMPLES / "stix20_bundle.json"), b"")
    frame = next(iter(source.chunks())).frame
    assert all(isinstance(v, str) for v in frame.to_numpy().ravel())


def test_chunk_size(tmp_path, monkeypatch):
    monkeypatch.setattr(stix, "CHUNK_ROWS", 4)
    objects = [ind(f"[ipv4-addr:value = '10.0.0.{n}']", n) for n in range(10)]
    path = write(tmp_path, "b.json", {"type": "bundle", "id": "bundle--1", "objects": objects})
    sizes = [len(c.frame) for c in open_stix(str(path), b"").chunks()]
    assert sizes == [4, 4, 2]
    cells, _ = read(path)
    assert [c["stix_value"] for c in cells] == [f"10.0.0.{n}" for n in range(10)]


# ------------------------------------------------------------------------------------- containers


def test_bare_list(tmp_path):
    path = write(
        tmp_path, "l.json", [ind(f"[file:hashes.MD5 = '{MD5}']"), {"type": "ipv4-addr", "value": "8.8.8.8"}]
    )
    source = open_stix(str(path), b"[")
    assert source.format == "stix" and source.layout.kind == "list"
    cells, found = read(path)
    assert [c["stix_type"] for c in cells] == ["indicator", "ipv4-addr"]
    assert [i.type for i in found] == [T.MD5, T.IPV4]
    assert cells[1]["stix_spec_version"] == "2.1"  # an SCO without spec_version is 2.1


def test_single_object(tmp_path):
    path = write(tmp_path, "o.json", ind("[url:value = 'http://a.example/']"))
    assert open_stix(str(path), b"{").layout.kind == "object"
    _, found = read(path)
    assert [i.type for i in found] == [T.URL]


def test_pretty_printed_single_object(tmp_path):
    path = write(tmp_path, "o.json", json.dumps(ind("[url:value = 'http://a.example/']"), indent=2))
    assert open_stix(str(path), b"{").layout.kind == "object"


def test_list_of_bundles_and_taxii_envelope(tmp_path):
    bundle = {
        "type": "bundle",
        "id": "bundle--1",
        "spec_version": "2.0",
        "objects": [ind("[ipv4-addr:value = '1.1.1.1']")],
    }
    path = write(tmp_path, "lb.json", [bundle, bundle])
    cells, _ = read(path)
    assert len(cells) == 2
    envelope = write(tmp_path, "env.json", {"more": False, "objects": [ind("[ipv4-addr:value = '1.1.1.1']")]})
    info = container_info(str(envelope))
    assert info["kind"] == "list" and info["envelope"] is True and info["objects"] == 1


def test_jsonl_blank_lines_bom_crlf(tmp_path):
    lines = [json.dumps(ind(f"[ipv4-addr:value = '10.0.0.{n}']", n)) for n in range(3)]
    data = b"\xef\xbb\xbf" + b"\r\n\r\n".join(line.encode() for line in lines) + b"\r\n\r\n"
    path = write(tmp_path, "x.jsonl", data)
    source = open_stix(str(path), data[:10])
    assert source.format == "jsonl"
    cells, found = read(path)
    assert [c["stix_value"] for c in cells] == ["10.0.0.0", "10.0.0.1", "10.0.0.2"]
    assert all(i.status is P for i in found)


def test_jsonl_malformed_line_keeps_a_row(tmp_path):
    good = json.dumps(ind("[ipv4-addr:value = '10.0.0.1']"))
    path = write(tmp_path, "x.jsonl", f'{good}\n{{"type": "indicator", "pattern": \n42\n{good}\n')
    cells, found = read(path)
    assert [i.status for i in found] == [P, BAD, BAD, P]
    assert found[1].reason.startswith("line 2: not valid JSON (column ")
    assert found[2].reason == "line 3: a JSON number, not an object"
    assert cells[1]["stix_id"] == ""


def test_jsonl_first_line_broken(tmp_path):
    good = json.dumps(ind("[ipv4-addr:value = '10.0.0.1']"))
    path = write(tmp_path, "x.jsonl", f'{{"type": "indicator", \n{good}\n{good}\n')
    _, found = read(path)
    assert [i.status for i in found] == [BAD, P, P]


def test_jsonl_line_holding_a_bundle(tmp_path):
    bundle = {
        "type": "bundle",
        "id": "bundle--1",
        "objects": [ind("[ipv4-addr:value = '1.1.1.1']"), {"type": "relationship"}],
    }
    path = write(
        tmp_path,
        "x.jsonl",
        json.dumps(bundle) + "\n" + json.dumps(ind("[domain-name:value = 'a.example']")) + "\n",
    )
    cells, _ = read(path)
    assert [c["stix_value"] for c in cells] == ["1.1.1.1", "a.example"]


def test_one_line_jsonl_file_is_jsonl(tmp_path):
    path = write(tmp_path, "one.jsonl", json.dumps(ind("[ipv4-addr:value = '1.1.1.1']")) + "\n")
    assert open_stix(str(path), b"{").format == "jsonl"


def test_stdin(monkeypatch):
    data = json.dumps(
        {"type": "bundle", "id": "bundle--1", "objects": [ind("[ipv4-addr:value = '1.1.1.1']")]}
    ).encode()
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(data[5:])))
    source = open_stix("-", data[:5])
    assert [len(c.frame) for c in source.chunks()] == [1]
    assert [len(c.frame) for c in source.chunks()] == [1]  # kept in memory, readable twice


# ----------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "x.json: empty file"),
        (b"  \n\n ", "x.json: empty file"),
        (
            b'{"type": "bundle",\n "objects": [\n  {"a" 1}]}',
            "x.json: not valid JSON (line 3, column 8: Expecting ':' delimiter)",
        ),
        (b'{"type": "bundle", "objects": [', "x.json: not valid JSON (line 1, column 32: Expecting value)"),
        (b'{"foo": 1}', "x.json: not STIX: the JSON object has no 'type'"),
        (b"[]", "x.json: not STIX: an empty list"),
        (b"[1, 2, 3]", "x.json: not STIX: no item is an object with a 'type'"),
        (b'[{"a": 1}]', "x.json: not STIX: no item is an object with a 'type'"),
        (b'"indicator"', "x.json: not STIX: the file holds a JSON string, not objects"),
        (b"42", "x.json: not STIX: the file holds a JSON number, not objects"),
        (b'{"type": "bundle", "objects": {}}', "x.json: not STIX: the bundle's 'objects' is not a list"),
        (
            b'{"type": "bundle", "objects": [{"x": 1}]}',
            "x.json: not STIX: no object in the bundle has a 'type'",
        ),
        (b'{"a": 1}\n{"b": 2}\n', "x.json: not STIX: no line is an object with a 'type'"),
        (b'{"type": "bundle", "x": "\xff"}', "x.json: not UTF-8 text (byte 0xff at offset 25)"),
    ],
)
def test_source_errors(tmp_path, content, message):
    path = write(tmp_path, "x.json", content)
    with pytest.raises(SourceError) as caught:
        open_stix(str(path), content[:4])
    assert str(caught.value) == str(path.parent / message)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(SourceError, match="no such file"):
        open_stix(str(tmp_path / "nope.json"), b"")
    with pytest.raises(SourceError, match="is a directory"):
        open_stix(str(tmp_path), b"")


def test_empty_bundle_is_not_an_error(tmp_path):
    path = write(tmp_path, "e.json", {"type": "bundle", "id": "bundle--1", "objects": []})
    source = open_stix(str(path), b"{")
    assert list(source.chunks()) == []
    assert source.stats()["objects"] == 0


def test_file_changed_into_garbage_between_reads(tmp_path):
    path = write(tmp_path, "b.json", [ind("[ipv4-addr:value = '1.1.1.1']")])
    source = open_stix(str(path), b"[")
    path.write_text("[", encoding="utf-8")
    with pytest.raises(SourceError, match="not valid JSON"):
        list(source.chunks())
    path.unlink()
    with pytest.raises(SourceError, match="cannot read"):
        list(source.chunks())


# --------------------------------------------------------------------------------------- extraction


def test_indicator_without_rows_still_gives_one(tmp_path):
    objects = [
        ind("rule x { condition: true }", 1, pattern_type="yara"),
        ind("[ipv4-addr:value = '1.2.3.4'", 2),
        {"type": "indicator", "id": "indicator--3", "spec_version": "2.1", "pattern_type": "stix"},
        ind("[file:name = 'a.exe']", 4),
        ind("[ipv4-addr:value = '1.2.3.4']", 5, pattern_type=None, spec_version=None),
        ind("[ipv4-addr:value = '1.2.3.4']", 6, pattern_type="SNORT"),
        {"type": "indicator", "id": "indicator--7", "pattern": ["not", "a", "string"]},
    ]
    path = write(tmp_path, "b.json", {"type": "bundle", "id": "bundle--1", "objects": objects})
    cells, found = read(path)
    assert len(found) == len(objects)
    assert found[0].status is U and found[0].reason.startswith("pattern_type 'yara' is not supported")
    assert found[1].status is BAD and found[1].reason.startswith("pattern cannot be parsed: ")
    assert found[2].status is BAD and found[2].reason == "indicator has no pattern"
    assert found[3].status is U
    assert found[4].status is P  # pattern_type null: treated as missing, i.e. STIX (2.0 style)
    assert found[5].status is U and "'SNORT'" in found[5].reason
    assert found[6].status is BAD
    assert [c["stix_id"] for c in cells][:2] == [objects[0]["id"], objects[1]["id"]]


def test_scos_and_observed_data(tmp_path):
    objects = [
        {"type": "ipv4-addr", "id": "ipv4-addr--1", "value": "8.8.8.8"},
        {"type": "ipv6-addr", "id": "ipv6-addr--1", "value": "2001:4860:4860::8888"},
        {"type": "domain-name", "id": "domain-name--1", "value": "a.example"},
        {"type": "url", "id": "url--1", "value": "https://a.example:8443/x"},
        {"type": "file", "id": "file--1", "hashes": {"MD5": MD5, "SHA-512": "ab" * 64, "sha256": "cd" * 32}},
        {"type": "file", "id": "file--2", "name": "only-a-name.exe"},
        {"type": "email-addr", "id": "email-addr--1", "value": "x@a.example"},
        {"type": "ipv4-addr", "id": "ipv4-addr--2"},
        {"type": "mac-addr", "id": "mac-addr--1", "value": "00:11:22:33:44:55"},
        {
            "type": "observed-data",
            "id": "observed-data--1",
            "object_refs": ["ipv4-addr--1", "domain-name--1"],
        },
        {
            "type": "observed-data",
            "id": "observed-data--2",
            "objects": {
                "0": {"type": "domain-name", "value": "b.example"},
                "1": {"type": "autonomous-system", "number": 1},
            },
        },
        {"type": "relationship", "id": "relationship--1"},
        {"type": "x-misp-attribute", "id": "x-misp-attribute--1"},
    ]
    path = write(tmp_path, "b.json", {"type": "bundle", "id": "bundle--1", "objects": objects})
    source = open_stix(str(path), b"{")
    cells = [row for chunk in source.chunks() for row in chunk.frame.to_dict("records")]
    found = [e[0] for chunk in source.chunks() for e in chunk.indicators]
    got = [(c["stix_id"], c["stix_path"], i.type, i.status) for c, i in zip(cells, found, strict=True)]
    assert got == [
        ("ipv4-addr--1", "ipv4-addr:value", T.IPV4, P),
        ("ipv6-addr--1", "ipv6-addr:value", T.IPV6, P),
        ("domain-name--1", "domain-name:value", T.DOMAIN, P),
        ("url--1", "url:value", T.URL, P),
        ("file--1", "file:hashes.MD5", T.MD5, P),
        ("file--1", "file:hashes.'SHA-512'", None, U),
        ("file--1", "file:hashes.sha256", T.SHA256, P),
        ("file--2", "file:hashes", None, U),
        ("email-addr--1", "email-addr:value", None, U),
        ("ipv4-addr--2", "ipv4-addr:value", None, BAD),
        ("observed-data--2", "domain-name:value", T.DOMAIN, P),
    ]
    assert source.stats()["without_indicator_by_type"] == {
        "mac-addr": 1,
        "observed-data": 1,
        "relationship": 1,
        "x-misp-attribute": 1,
    }
    assert source.stats()["objects"] == len(objects)


def test_list_items_that_are_not_stix_objects(tmp_path):
    path = write(tmp_path, "l.json", [ind("[ipv4-addr:value = '1.1.1.1']"), 7, {"id": "x--1"}, None])
    cells, found = read(path)
    assert [i.status for i in found] == [P, BAD, BAD, BAD]
    assert found[1].reason == "object 2: a JSON number, not an object"
    assert found[2].reason == "object has no 'type'" and cells[2]["stix_id"] == "x--1"


# ------------------------------------------------------------------------------ writer's helpers


def test_iter_objects_unchanged():
    path = SAMPLES / "stix21_bundle.json"
    original = json.loads(path.read_text(encoding="utf-8"))["objects"]
    assert list(iter_objects(str(path))) == original
    jsonl = SAMPLES / "indicators.jsonl"
    lines = [json.loads(line) for line in jsonl.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert list(iter_objects(str(jsonl))) == lines


def test_iter_objects_skips_broken_lines(tmp_path):
    good = ind("[ipv4-addr:value = '10.0.0.1']")
    path = write(tmp_path, "x.jsonl", f"{json.dumps(good)}\n{{broken\n{json.dumps(good)}\n")
    assert list(iter_objects(str(path))) == [good, good]


def test_container_info():
    assert container_info(str(SAMPLES / "stix21_bundle.json")) == {
        "kind": "bundle",
        "id": json.loads((SAMPLES / "stix21_bundle.json").read_text(encoding="utf-8"))["id"],
        "spec_version": None,
        "objects": 32,
        "envelope": False,
    }
    info20 = container_info(str(SAMPLES / "stix20_bundle.json"))
    assert info20["kind"] == "bundle" and info20["spec_version"] == "2.0" and info20["objects"] == 12
    info = container_info(str(SAMPLES / "indicators.jsonl"))
    assert info["kind"] == "jsonl" and info["id"] is None and info["objects"] == 10
