"""Properties of the STIX reader: only SourceError escapes, and every object is accounted for."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from enrich.model import Indicator, Status
from enrich.sources.interface import SourceError
from enrich.sources.patterns import extract, parse_pattern
from enrich.sources.stix import open_stix

# STIX_PROP_EXAMPLES=5000 runs a longer fuzzing session.
SETTINGS = settings(
    max_examples=int(os.environ.get("STIX_PROP_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
STATUSES = {Status.PENDING, Status.UNSUPPORTED, Status.INVALID}


@pytest.fixture(scope="module")
def workdir():
    path = Path(tempfile.mkdtemp(prefix="stix-props-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def consume(path: Path, name: str = "in.json") -> tuple[int, dict] | None:
    """Read a file fully; None when it is refused with SourceError (anything else fails the test)."""
    try:
        source = open_stix(str(path), path.read_bytes()[:16])
        rows = 0
        for chunk in source.chunks():
            assert len(chunk.frame) == len(chunk.indicators)
            for entry in chunk.indicators:
                assert len(entry) == 1 and isinstance(entry[0], Indicator)
                assert entry[0].status in STATUSES
                assert (entry[0].status is Status.PENDING) == (entry[0].reason == "")
            assert all(isinstance(v, str) for v in chunk.frame.to_numpy().ravel())
        rows = source.stats()["rows"]
    except SourceError as exc:
        message = str(exc)
        assert message.startswith(str(path)) and "\n" not in message
        return None
    return rows, source.stats()


def check_accounted(result) -> None:
    """Accepted input: rows came from objects, and objects without rows are counted."""
    if result is None:
        return
    rows, stats = result
    assert stats["rows"] == rows
    if rows == 0:
        assert stats["objects_without_indicator"] == stats["objects"]
    else:
        assert stats["objects_without_indicator"] < stats["objects"]


# ------------------------------------------------------------------------------------ strategies

OBJECT_TYPES = [
    "indicator",
    "ipv4-addr",
    "domain-name",
    "url",
    "file",
    "observed-data",
    "relationship",
    "bundle",
]
PATHS = [
    "ipv4-addr:value",
    "ipv6-addr:value",
    "domain-name:value",
    "url:value",
    "file:hashes.MD5",
    "file:hashes.'SHA-256'",
    "file:name",
    "network-traffic:dst_ref.value",
    "network-traffic:dst_ref.type",
    "email-addr:value",
    "x-custom:a[*].b",
]
OPERATORS = ["=", "!=", "NOT =", "LIKE", "MATCHES", "ISSUBSET", "IN", "NOT IN", ">", "EXISTS"]
values = st.one_of(
    st.sampled_from(
        ["1.2.3.4", "1.2.3.4/32", "10.0.0.0/8", "2001:db8::1", "a.example", "http://a.example/", "x"]
    ),
    st.text(max_size=20),
    st.integers().map(str),
)


def _literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


@st.composite
def comparisons(draw) -> str:
    path, op = draw(st.sampled_from(PATHS)), draw(st.sampled_from(OPERATORS))
    if op == "EXISTS":
        return f"{op} {path}"
    if op.endswith("IN"):
        items = draw(st.lists(values, min_size=1, max_size=3))
        return f"{path} {op} ({', '.join(_literal(v) for v in items)})"
    raw = draw(st.booleans())
    value = draw(values)
    return f"{path} {op} {value if raw else _literal(value)}"


@st.composite
def patterns(draw) -> str:
    observations = []
    for _ in range(draw(st.integers(1, 3))):
        parts = draw(st.lists(comparisons(), min_size=1, max_size=3))
        joiner = draw(st.sampled_from([" AND ", " OR "]))
        observations.append("[" + joiner.join(parts) + "]")
    pattern = draw(st.sampled_from([" AND ", " OR ", " FOLLOWEDBY "])).join(observations)
    if draw(st.booleans()):
        pattern += draw(
            st.sampled_from([" WITHIN 5 SECONDS", " REPEATS 2 TIMES", " START t'2020-01-01T00:00:00Z'"])
        )
    if draw(st.booleans()):  # damage it
        cut = draw(st.integers(0, len(pattern)))
        pattern = pattern[:cut] + draw(st.text(max_size=3)) + pattern[cut:]
    return pattern


json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=10)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def stix_objects(draw) -> dict:
    obj = draw(
        st.dictionaries(
            st.sampled_from(["id", "spec_version", "value", "hashes", "objects", "x"]), json_values
        )
    )
    kind = draw(st.one_of(st.sampled_from(OBJECT_TYPES), json_values))
    obj["type"] = kind
    if kind == "indicator" or draw(st.booleans()):
        obj["pattern"] = draw(st.one_of(patterns(), st.text(max_size=30), json_values))
        if draw(st.booleans()):
            obj["pattern_type"] = draw(st.one_of(st.sampled_from(["stix", "yara", "STIX"]), json_values))
    if kind == "bundle":
        obj["objects"] = draw(
            st.one_of(st.lists(st.builds(dict, type=st.just("ipv4-addr"), value=values)), json_values)
        )
    return obj


containers = st.one_of(
    st.lists(stix_objects(), max_size=5).map(
        lambda objs: {"type": "bundle", "id": "bundle--1", "objects": objs}
    ),
    st.lists(stix_objects(), max_size=5),
    stix_objects(),
)


# ------------------------------------------------------------------------------------ properties


@SETTINGS
@given(data=st.binary(max_size=300))
def test_arbitrary_bytes(workdir, data):
    path = workdir / "bytes.json"
    path.write_bytes(data)
    check_accounted(consume(path))


@SETTINGS
@given(data=st.binary(max_size=200))
def test_arbitrary_bytes_after_a_valid_first_line(workdir, data):
    path = workdir / "lines.jsonl"
    path.write_bytes(b'{"type": "ipv4-addr", "value": "1.2.3.4"}\n' + data)
    result = consume(path)
    assert result is not None and result[0] >= 1  # the good line always gives its row
    check_accounted(result)


@SETTINGS
@given(value=json_values)
def test_arbitrary_json_values(workdir, value):
    path = workdir / "value.json"
    path.write_text(json.dumps(value), encoding="utf-8")
    check_accounted(consume(path))


@SETTINGS
@given(doc=containers)
def test_stix_like_documents(workdir, doc):
    path = workdir / "doc.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    result = consume(path)
    check_accounted(result)
    objects = doc.get("objects") if isinstance(doc, dict) and doc.get("type") == "bundle" else doc
    objects = objects if isinstance(objects, list) else [objects]
    indicators = sum(1 for o in objects if isinstance(o, dict) and o.get("type") == "indicator")
    if result is not None:
        assert result[0] >= indicators  # every indicator gives at least one row


@SETTINGS
@given(
    lines=st.lists(st.one_of(stix_objects().map(json.dumps), st.text(max_size=30)), min_size=1, max_size=6)
)
def test_json_lines(workdir, lines):
    path = workdir / "lines.jsonl"
    path.write_text(
        "\n".join(line.replace("\n", " ").replace("\r", " ") for line in lines) + "\n", encoding="utf-8"
    )
    check_accounted(consume(path))


@SETTINGS
@given(pattern=st.one_of(patterns(), st.text(max_size=60)), version=st.sampled_from(["2.0", "2.1"]))
def test_random_patterns_never_raise(pattern, version):
    atoms = extract(pattern, version)
    assert atoms
    for atom in atoms:
        assert atom.indicator.status in STATUSES
        assert (atom.indicator.status is Status.PENDING) == (atom.indicator.reason == "")


@SETTINGS
@given(path=st.sampled_from(PATHS[:6] + ["email-addr:value"]), value=st.text(max_size=25))
def test_fast_path_matches_the_parser(path, value):
    pattern = f"[{path} = {_literal(value)}]"
    fast = parse_pattern(pattern)
    slow = parse_pattern(pattern + " // comment defeats the fast path")
    assert [(c.path, c.values) for c in fast.comparisons] == [(c.path, c.values) for c in slow.comparisons]
    assert fast.comparisons[0].values == (value,)
