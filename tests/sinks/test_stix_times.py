"""STIX dates through `enrich run` against the sandbox: from the cached answers, not a constant or the clock.

A sighting's `created` is when MDE first gave its answer and `modified` when the answer was last
fetched (both kept in the cache); our indicators are valid from their answer's first time. So a
rerun on the same cache writes the same bytes, a refetch of the same answer only moves
`modified`, and a changed answer makes a new sighting dated when it came.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from enrich.cli import cli
from enrich.sandbox import Sandbox, SandboxConfig
from enrich.sandbox.server import default_client
from enrich.sinks import stix_objects as so

SAMPLES = Path(__file__).resolve().parents[2] / "sample_data"
INPUTS = [str(SAMPLES / "mixed_indicators.csv"), str(SAMPLES / "stix21_bundle.json")]
FAST = "100/1s,1500/60s"  # the sandbox's quota at time scale 60


def use(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "MDE_RATE_LIMIT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in sandbox.env().items():
        monkeypatch.setenv(name, value)


def enrich(out: Path, cache: Path, *extra: str) -> tuple[bytes, dict]:
    """`enrich run INPUTS -o out --cache cache`: the output's bytes and the run summary."""
    summary = out.with_suffix(".summary.json")
    args = ["run", *INPUTS, "-o", str(out), "--cache", str(cache), "--summary", str(summary)]
    result = CliRunner().invoke(cli, [*args, "--rate-limit", FAST, *extra], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    return out.read_bytes(), json.loads(summary.read_text(encoding="utf-8"))


def ours(data: bytes) -> list[dict]:
    objects = json.loads(data)["objects"]
    return [o for o in objects if o.get("created_by_ref") == so.TOOL_ID or o["id"] == so.TOOL_ID]


def cached(cache: Path) -> dict[tuple[str, str], tuple]:
    """(family, key) -> (first given, last fetched, the answer) as the cache holds them (times as STIX's)."""
    db = sqlite3.connect(cache)
    try:
        rows = db.execute(
            "SELECT family, key, answered_at, fetched_at, status, prevalence, first_seen, last_seen, "
            "error, detail FROM answers"
        ).fetchall()
    finally:
        db.close()
    return {(f, k): (so.epoch_time(a), so.epoch_time(t), answer) for f, k, a, t, *answer in rows}


def sightings(objects: list[dict]) -> dict[tuple[str, str, str], dict]:
    """(sighting_of_ref, family, key) -> the sighting."""
    found = {}
    for obj in objects:
        lookup = obj.get("extensions", {}).get(so.EXTENSION_ID, {}).get("mde_lookup")
        if obj["type"] == "sighting" and lookup:
            found[obj["sighting_of_ref"], lookup["family"], lookup["key"]] = obj
    return found


def check_dates(objects: list[dict], times: dict[tuple[str, str], tuple]) -> None:
    """Every sighting dated by its answer; no constant date outside the tool's fixed objects."""
    seen = sightings(objects)
    assert seen
    for (_, family, key), obj in seen.items():
        answered, fetched, _ = times[family, key]
        assert (obj["created"], obj["modified"]) == (answered, fetched), obj
        assert obj["extensions"][so.EXTENSION_ID]["mde_queried_at"] == fetched
    ours_by_id = {o["id"]: o for o in objects}
    for (ref, family, key), _ in seen.items():
        indicator = ours_by_id.get(ref)
        if indicator is not None:  # ours (a CSV value): valid from its answer's first time
            assert indicator["valid_from"] == indicator["created"] == times[family, key][0]
    constant = sorted(o["type"] for o in objects if "2020-01-01" in json.dumps(o))
    assert constant == ["extension-definition", "identity", "identity"]


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(SandboxConfig(time_scale=60, seed=7)) as sb:
        yield sb


def test_a_rerun_on_the_same_cache_writes_the_same_bytes(sandbox, monkeypatch, tmp_path):
    use(sandbox, monkeypatch)
    cache = tmp_path / "cache.sqlite3"
    first, summary = enrich(tmp_path / "1.json", cache)
    assert summary["lookups"]["asked"] > 0
    again, summary = enrich(tmp_path / "2.json", cache)
    assert summary["lookups"]["asked"] == 0
    assert again == first
    check_dates(ours(first), cached(cache))


def test_a_refetch_moves_modified_and_a_changed_answer_moves_created(sandbox, monkeypatch, tmp_path):
    use(sandbox, monkeypatch)
    cache = tmp_path / "cache.sqlite3"
    data, _ = enrich(tmp_path / "1.json", cache)
    before, times = sightings(ours(data)), cached(cache)
    # asked again (--max-age 0), the sandbox answers the same: same sightings, a newer version
    data, summary = enrich(tmp_path / "2.json", cache, "--max-age", "0")
    assert summary["lookups"]["asked"] == summary["lookups"]["distinct"]
    refetched, again = sightings(ours(data)), cached(cache)
    check_dates(ours(data), again)
    assert refetched.keys() == before.keys()
    for where, obj in refetched.items():
        assert obj["id"] == before[where]["id"] and obj["created"] == before[where]["created"]
        assert obj["modified"] >= before[where]["modified"]
    assert all(again[k][0] == times[k][0] and again[k][1] >= times[k][1] for k in times)
    # the same tenant with other data: changed answers are new sightings, created when they came
    same_tenant = [default_client(7)]
    with Sandbox(SandboxConfig(time_scale=60, seed=8, clients=same_tenant)) as other:
        use(other, monkeypatch)
        data, _ = enrich(tmp_path / "3.json", cache, "--max-age", "0", "--negative-sightings")
    later = cached(cache)
    changed = {k for k in times if later[k][2] != times[k][2]}
    assert changed and len(changed) < len(times)  # some answers changed, some did not
    assert all(later[k][0] == later[k][1] > times[k][0] for k in changed)
    for (ref, family, key), obj in sightings(ours(data)).items():
        old = before.get((ref, family, key)) or refetched.get((ref, family, key))
        if (family, key) in changed:
            assert obj["created"] == later[family, key][0] > times[family, key][0]
            assert old is None or obj["id"] != old["id"]
        else:
            assert obj["created"] == times[family, key][0]
            assert old is None or obj["id"] == old["id"]
