"""Every real STIX feed in ../shared/feeds/stix goes through the STIX sink and comes out valid."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import stix2

from enrich.model import Answer, Status
from enrich.outcome import STATS
from enrich.plan import make_plan
from enrich.sinks import stix_objects as so
from enrich.sinks.stix import write_stix
from enrich.sources.open import open_source

FEEDS = Path(__file__).resolve().parents[3] / "shared" / "feeds" / "stix"
FILES = sorted(p for p in FEEDS.glob("*") if p.suffix in (".json", ".jsonl")) if FEEDS.is_dir() else []


def input_objects(path: Path) -> list[dict]:
    """The input's top-level objects as JSON values (bundles, nested or not, give their objects)."""
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix == ".jsonl":
        values = [json.loads(line) for line in text.splitlines() if line.strip()]
    else:
        doc = json.loads(text)
        values = doc if isinstance(doc, list) else [doc]
    out = []
    for value in values:
        out.extend(value["objects"] if value.get("type") == "bundle" else [value])
    return out


@pytest.mark.skipif(not FILES, reason="../shared/feeds/stix is absent")
@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
@pytest.mark.parametrize("negative", [False, True], ids=["positive", "negative"])
def test_feed_through_the_sink(path: Path, negative: bool, tmp_path: Path):
    sources = [open_source(str(path))]
    keys = list(make_plan(sources, STATS).keys)
    answers = {
        k: Answer(Status.SEEN, 3, "2024-01-02T03:04:05.1234567Z", "2024-02-03T04:05:06Z")
        if i % 3 != 2
        else Answer(Status.NOT_SEEN, 0)
        for i, k in enumerate(keys)
    }
    out = tmp_path / ("out" + (".jsonl" if path.suffix == ".jsonl" else ".json"))
    counts = write_stix(
        sources,
        answers,
        str(out),
        org_name="Contoso SOC",
        negative_sightings=negative,
        queried_at=datetime(2025, 6, 1, tzinfo=UTC),
        lookback_hours=720,
        api_url="https://api.security.microsoft.com",
    )
    text = out.read_text(encoding="utf-8")
    if path.suffix == ".jsonl":
        lines = text.splitlines()
        originals = [
            json.loads(line) for line in path.read_text(encoding="utf-8-sig").splitlines() if line.strip()
        ]
        written = [json.loads(line) for line in lines]
        assert written[: len(originals)] == originals
        mine = written[len(originals) :]
    else:
        doc = json.loads(text)
        originals = input_objects(path)
        assert doc["objects"][: len(originals)] == originals
        mine = doc["objects"][len(originals) :]
    ids = {o.get("id") for o in originals} | {o["id"] for o in mine}
    assert mine and all(o.get("created_by_ref") == so.TOOL_ID or o["id"] == so.TOOL_ID for o in mine)
    for obj in mine:
        stix2.parse(obj, allow_custom=False)
        for ref in (obj.get("sighting_of_ref"), obj.get("source_ref"), obj.get("target_ref")):
            assert ref is None or ref in ids
    sightings = [o for o in mine if o["type"] == "sighting"]
    assert len(sightings) == counts["sightings"] + counts["negative_sightings"]
    assert counts["sightings"] == sum(1 for s in sightings if s["count"] == 3)
    if keys:
        assert counts["sightings"] > 0
    assert counts["written"] == len(originals) + len(mine)
