"""Hunt and auto modes through real `enrich run` processes against the sandbox: hunting answers each
type as the sandbox's truth says; auto hunts when the app may and uses the statistics APIs when it
may not, and the summary says why; the new columns are filled; a cached hunting answer is never
reused by a stats run (and is by the next hunting run)."""

from __future__ import annotations

import csv
import json
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest

from enrich.indicators import extract
from enrich.mde.times import iso_utc, parse_mde_time
from tests.process_helpers import run_command, sandbox_env

pytestmark = pytest.mark.usefixtures("clean_mde_env")

HUNTER = "5a5a5a5a-0000-4000-8000-000000000001"
STATS_ONLY = "5a5a5a5a-0000-4000-8000-000000000002"
SECRET = "d2-hunting-run-secret"
ENTITY = ("files", "ips", "domains")


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    """A sandbox with two apps: one that may hunt (every default role), one with entity roles only."""
    from enrich.sandbox import ClientSpec, Sandbox, SandboxConfig
    from enrich.sandbox.config import DEFAULT_ROLES

    tenant = "11111111-2222-4333-8444-555555555555"
    clients = [
        ClientSpec(HUNTER, SECRET, tenant, roles=DEFAULT_ROLES),
        ClientSpec(STATS_ONLY, SECRET + "s", tenant, roles=("File.Read.All", "Ip.Read.All", "URL.Read.All")),
    ]
    with Sandbox(SandboxConfig(time_scale=60, sample_dir="", clients=clients)) as box:
        yield box


def env_for(box, client: str, secret: str) -> dict[str, str]:  # noqa: ANN001
    env = sandbox_env(box)
    env.update(MDE_CLIENT_ID=client, MDE_CLIENT_SECRET=secret, MDE_TENANT_ID=box.tenant_id)
    return env


def run(box, tmp: Path, name: str, *extra: str, client: str = HUNTER, secret: str = SECRET):  # noqa: ANN001
    """One `enrich run` of tmp/in.csv; (exit code, stderr, rows, summary)."""
    out, summary = tmp / f"{name}.csv", tmp / f"{name}.json"
    cmd = run_command(tmp / "in.csv", out, tmp / "cache.sqlite3", "--summary", str(summary), *extra)
    done = subprocess.run(cmd, env=env_for(box, client, secret), capture_output=True, text=True, timeout=240)
    rows = list(csv.DictReader(out.open(encoding="utf-8"))) if out.exists() else []
    return done.returncode, done.stderr, rows, json.loads(summary.read_text()) if summary.exists() else None


def calls(box) -> dict[str, int]:  # noqa: ANN001
    """API calls the sandbox served so far: entity (by family) and hunting (both paths)."""
    by_endpoint = box.stats()["by_endpoint"]
    entity = sum(sum(v.values()) for k, v in by_endpoint.items() if k.split("/")[0] in ENTITY)
    hunting = sum(
        sum(v.values()) for k, v in by_endpoint.items() if "run" in k.lower() or "hunting" in k.lower()
    )
    return {"entity": entity, "hunting": hunting}


def exact_url_devices(box, url: str) -> int:  # noqa: ANN001
    """Distinct devices whose events name `url` in full (RemoteUrl, FileOriginUrl) over 30 days."""
    data = box.data
    since = data.now_datetime() - timedelta(days=30)
    devices = set()
    for table, column in (("DeviceNetworkEvents", "RemoteUrl"), ("DeviceFileEvents", "FileOriginUrl")):
        for row in data.tables[table]:
            when = parse_mde_time(str(row["Timestamp"]))
            if row[column] == url and when is not None and when >= since:
                devices.add(row["DeviceId"])
    return len(devices)


def pick_values(box) -> dict[str, list[str]]:  # noqa: ANN001
    """Seen values of every type, a few unseen ones, and a URL enrich keeps as it is."""
    data = box.data
    files = [data.find_file(k).hashes() for _, k in data.seen_keys("files")[:3]]
    urls = [
        r["RemoteUrl"]
        for r in data.tables["DeviceNetworkEvents"]
        if r["RemoteUrl"].startswith("https://") and extract(r["RemoteUrl"])[0].value == r["RemoteUrl"]
    ]
    return {
        "sha1": [f[0] for f in files],
        "sha256": [f[1] for f in files],
        "md5": [f[2] for f in files] + ["0" * 31 + "1"],
        "ipv4": [k for _, k in data.seen_keys("ips") if ":" not in k][:3] + ["203.0.113.250"],
        "domain": [k for _, k in data.seen_keys("domains")][:3] + ["never-seen-d2.example"],
        "url": urls[:2] + ["https://never-seen-d2.example/x"],
    }


@pytest.fixture
def feed(sandbox, tmp_path):
    values = pick_values(sandbox)
    (tmp_path / "in.csv").write_text("indicator\n" + "".join(f"{v}\n" for vs in values.values() for v in vs))
    return values


FAMILY = {"sha1": "files", "sha256": "files", "md5": "files", "ipv4": "ips", "domain": "domains"}


def test_hunt_mode_answers_every_type_as_the_sandbox_truth_says(sandbox, tmp_path, feed):
    before = calls(sandbox)
    code, err, rows, summary = run(sandbox, tmp_path, "hunt", "--mode", "hunt", "--max-devices", "3")
    assert code == 0, err
    after = calls(sandbox)
    assert after["entity"] == before["entity"]  # hunting only
    assert 0 < after["hunting"] - before["hunting"] <= 8  # a few calls for every value
    assert summary["mode"]["asked"] == summary["mode"]["chosen"] == "hunt"
    by_value = {r["mde_value"]: r for r in rows}
    for kind, values in feed.items():
        for value in values:
            row = by_value[value]
            assert row["mde_type"] == kind and row["mde_answered_by"] == "hunting-graph", row
            if kind == "url":
                host = extract(value)[0]
                truth = sandbox.truth("domains", row["mde_lookup"].split(";")[0].split("/", 1)[1])
                exact = exact_url_devices(sandbox, value)
                said = (
                    "the exact URL was not seen"
                    if exact == 0
                    else f"the exact URL was seen on {exact} device"
                )
                assert said in row["mde_note"], (host, row)
            else:
                truth = sandbox.truth(FAMILY[kind], value) or {
                    "prevalence": 0,
                    "first_seen": None,
                    "last_seen": None,
                }
            assert row["mde_org_prevalence"] == str(truth["prevalence"]), (value, row, truth)
            if truth["prevalence"]:
                assert row["mde_status"] == "seen"
                assert row["mde_org_first_seen"] == iso_utc(truth["first_seen"])
                assert row["mde_org_last_seen"] == iso_utc(truth["last_seen"])
                names = row["mde_devices"].split(";")
                assert len(names) == min(3, truth["prevalence"]) and names == sorted(names)
                family = FAMILY.get(kind, "domains")
                key = value if kind != "url" else row["mde_lookup"].split(";")[0].split("/", 1)[1]
                assert set(names) <= {d.name for d in sandbox.data.devices_for(family, key)}
                assert int(row["mde_events"]) >= truth["prevalence"]
            else:
                assert (row["mde_status"], row["mde_events"], row["mde_devices"]) == ("not_seen", "0", "")


def test_auto_hunts_when_the_app_may_and_says_why(sandbox, tmp_path, feed):
    before = calls(sandbox)
    code, err, rows, summary = run(sandbox, tmp_path, "auto")
    assert code == 0, err
    assert calls(sandbox)["entity"] == before["entity"]
    mode = summary["mode"]
    assert (mode["asked"], mode["chosen"]) == ("auto", "hunt")
    assert mode["paths"] == {"hunting-graph": "usable", "hunting-legacy": "usable"}
    assert set(mode["estimated_seconds"]) == {"stats", "hunt"}
    assert "enrich: mode auto: hunt (advanced hunting is usable" in err
    md5 = next(r for r in rows if r["mde_value"] == feed["md5"][0])
    assert md5["mde_status"] == "seen" and md5["mde_answered_by"] == "hunting-graph"


def test_auto_uses_the_statistics_apis_when_the_app_may_not_hunt(sandbox, tmp_path, feed):
    before = calls(sandbox)
    code, err, rows, summary = run(sandbox, tmp_path, "auto-stats", client=STATS_ONLY, secret=SECRET + "s")
    assert code == 0, err
    after = calls(sandbox)
    assert after["hunting"] == before["hunting"]  # deciding asks nothing of the hunting endpoints
    mode = summary["mode"]
    assert (mode["asked"], mode["chosen"]) == ("auto", "stats")
    assert "no hunting path is usable" in mode["reason"] and "ThreatHunting.Read.All" in mode["reason"]
    assert "enrich: mode auto: stats (no hunting path is usable" in err
    stats_lookups = summary["lookups"]["asked"]
    assert after["entity"] - before["entity"] == stats_lookups  # one entity call per lookup
    for row in rows:
        assert row["mde_events"] == row["mde_devices"] == ""
        if row["mde_type"] == "md5":
            assert row["mde_status"] == "unsupported" and "ThreatHunting.Read.All" in row["mde_error"]
        elif row["mde_type"] == "url":
            assert "the exact URL was not asked" in row["mde_note"]
            assert row["mde_answered_by"] == "stats"
        else:
            assert row["mde_answered_by"] == "stats"


def test_a_cached_hunting_answer_serves_hunting_runs_only(sandbox, tmp_path, feed):
    code, err, _, first = run(sandbox, tmp_path, "h1", "--mode", "hunt")
    assert code == 0, err
    assert first["lookups"]["from_cache"] == 0
    before = calls(sandbox)
    code, err, rows, stats = run(sandbox, tmp_path, "s1", "--mode", "stats")
    assert code == 0, err
    assert stats["lookups"]["from_cache"] == 0  # no hunting answer read as a stats one
    assert calls(sandbox)["entity"] - before["entity"] == stats["lookups"]["asked"] > 0
    assert {r["mde_answered_by"] for r in rows if r["mde_status"] in ("seen", "not_seen")} == {"stats"}
    before = calls(sandbox)
    code, err, rows, again = run(sandbox, tmp_path, "h2", "--mode", "hunt")
    assert code == 0, err
    assert again["lookups"]["asked"] == 0 and again["lookups"]["from_cache"] == first["lookups"]["distinct"]
    assert calls(sandbox) == before
    assert {r["mde_answered_by"] for r in rows if r["mde_status"] in ("seen", "not_seen")} == {"cache"}
    # asking for more device names than were kept asks the seen values again
    code, err, _, wider = run(sandbox, tmp_path, "h3", "--mode", "hunt", "--max-devices", "50")
    assert code == 0, err
    assert 0 < wider["lookups"]["asked"] < first["lookups"]["distinct"]
