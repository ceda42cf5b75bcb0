"""The sandbox's KQL engine on hunt mode's bulk queries: time against a hand-written Python loop.

Usage: .venv/bin/python bench/kql.py [--rows 200000] [--repeat 3] [--no-write]

Builds DeviceFileEvents, DeviceProcessEvents and DeviceNetworkEvents with `--rows` rows in all
(half network, a quarter each file and process) as the dataset holds them (shared-layout
`enrich.sandbox.tables.row` Mappings, ISO datetimes), then runs the queries hunt mode sends for
1,000 values (hashes over a two-table union with `in~`, remote IPs with `in`, URL hosts through
`extend ... parse_url(...)`) with `run_query(..., window=last 30 days)`. Each query's result is
checked against the same answer computed by a plain Python loop written for that one query (the
fastest an interpreter does it without an engine), and the ratio engine / loop is reported: what
the engine's generality costs.

The results replace the "## kql" section of BENCHMARKS.md (unless --no-write).
"""

from __future__ import annotations

import argparse
import functools
import platform
import random
import re
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from enrich.sandbox.kql import run_query  # noqa: E402
from enrich.sandbox.schema import TABLES  # noqa: E402
from enrich.sandbox.tables.row import Layout  # noqa: E402

NOW = datetime(2026, 11, 26, tzinfo=UTC)
WINDOW_START = NOW - timedelta(days=30)
Rows = Sequence[Mapping[str, object]]


def iso(moment: datetime, fraction: int) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{fraction % 10**7:07d}Z"


def build(total: int, seed: int = 7) -> tuple[dict[str, list[Mapping[str, object]]], dict[str, list[str]]]:
    """The three tables (rows spread over 60 days) and the 1,000 values each query looks for."""
    rnd = random.Random(seed)
    hashes = [f"{rnd.getrandbits(160):040x}" for _ in range(20_000)]
    hosts = [f"host{i}.example{i % 97}.com" for i in range(5_000)]
    ips = [f"10.{i % 256}.{i // 256 % 256}.{i % 7}" for i in range(20_000)]
    span = 60 * 24 * 3600

    def when() -> str:
        return iso(NOW - timedelta(seconds=rnd.randrange(span)), rnd.randrange(10**7))

    layouts = {
        name: Layout(name, TABLES[name])
        for name in ("DeviceFileEvents", "DeviceProcessEvents", "DeviceNetworkEvents")
    }
    tables: dict[str, list[Mapping[str, object]]] = {name: [] for name in layouts}
    for name, share in (("DeviceFileEvents", 4), ("DeviceProcessEvents", 4), ("DeviceNetworkEvents", 2)):
        layout = layouts[name]
        for i in range(total // share):
            device = rnd.randrange(500)
            values: dict[str, object] = {
                "Timestamp": when(),
                "DeviceId": f"{device:040x}",
                "DeviceName": f"host-{device}.contoso.com",
            }
            if name == "DeviceNetworkEvents":
                values["RemoteIP"] = rnd.choice(ips)
                values["RemoteUrl"] = f"https://{rnd.choice(hosts)}/path/{i}?q={i % 13}"
            else:
                values["SHA1"] = rnd.choice(hashes)
                values["InitiatingProcessSHA1"] = rnd.choice(hashes)
            tables[name].append(layout.row(values))
    wanted = {
        "SHA1": [h.upper() if i % 5 == 0 else h for i, h in enumerate(rnd.sample(hashes, 1000))],
        "RemoteIP": rnd.sample(ips, 1000),
        "Host": rnd.sample(hosts, 1000),
    }
    return tables, wanted


def literal_list(values: list[str]) -> str:
    return "dynamic([" + ", ".join(f"'{v}'" for v in values) + "])"


SUMMARY = (
    "summarize Devices = dcount(DeviceId), Events = count(), FirstSeen = min(Timestamp), "
    "LastSeen = max(Timestamp), DeviceNames = make_set(DeviceName, 10) by {key}"
)


def queries(wanted: dict[str, list[str]]) -> dict[str, str]:
    return {
        "hashes (union, in~)": f"let v = {literal_list(wanted['SHA1'])};\n"
        "union DeviceFileEvents, DeviceProcessEvents | where Timestamp > ago(30d)"
        " | where SHA1 in~ (v) or InitiatingProcessSHA1 in~ (v) | " + SUMMARY.format(key="SHA1"),
        "remote IPs (in)": f"let v = {literal_list(wanted['RemoteIP'])};\n"
        "DeviceNetworkEvents | where Timestamp > ago(30d) | where RemoteIP in (v) | "
        + SUMMARY.format(key="RemoteIP"),
        "URL hosts (extend parse_url)": f"let v = {literal_list(wanted['Host'])};\n"
        "DeviceNetworkEvents | where Timestamp > ago(30d)"
        " | extend Host = tolower(tostring(parse_url(RemoteUrl).Host)) | where Host in~ (v) | "
        + SUMMARY.format(key="Host"),
    }


def summarize(rows: list[tuple[str, Mapping[str, object]]]) -> dict[str, tuple[int, int, str, str]]:
    groups: dict[str, list[Mapping[str, object]]] = {}
    for key, row in rows:
        groups.setdefault(key, []).append(row)
    out = {}
    for key, members in groups.items():
        stamps = [str(r["Timestamp"]) for r in members]
        out[key] = (len({r["DeviceId"] for r in members}), len(members), min(stamps), max(stamps))
    return out


_HOST_RE = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)


def by_hand(name: str, tables: dict[str, list[Mapping[str, object]]], wanted: dict[str, list[str]]) -> dict:
    """The same answers (devices, events, first and last seen per key) by a loop written for each query."""
    cutoff = iso(WINDOW_START, 0)
    ago = iso(NOW - timedelta(days=30), 0)
    hits: list[tuple[str, Mapping[str, object]]] = []
    if name.startswith("hashes"):
        values = {v.lower() for v in wanted["SHA1"]}
        for table in ("DeviceFileEvents", "DeviceProcessEvents"):
            for row in tables[table]:
                ts = str(row["Timestamp"])
                if (
                    ts >= cutoff
                    and ts > ago
                    and (
                        str(row["SHA1"]).lower() in values
                        or str(row["InitiatingProcessSHA1"]).lower() in values
                    )
                ):
                    hits.append((str(row["SHA1"]), row))
    elif name.startswith("remote"):
        values = set(wanted["RemoteIP"])
        for row in tables["DeviceNetworkEvents"]:
            ts = str(row["Timestamp"])
            if ts >= cutoff and ts > ago and row["RemoteIP"] in values:
                hits.append((str(row["RemoteIP"]), row))
    else:
        values = {v.lower() for v in wanted["Host"]}
        for row in tables["DeviceNetworkEvents"]:
            ts = str(row["Timestamp"])
            if ts >= cutoff and ts > ago:
                url = str(row["RemoteUrl"])
                host = (urlsplit(url).hostname or "") if _HOST_RE.match(url) else ""
                if host.lower() in values:
                    hits.append((host.lower(), row))
    return summarize(hits)


def best_of(repeat: int, fn: Callable[[], object]) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    tables, wanted = build(args.rows)
    lines = [
        "## kql",
        "",
        f"`bench/kql.py --rows {args.rows}`: hunt mode's bulk queries (1,000 values each) over "
        f"{sum(len(t) for t in tables.values()):,} shared-layout rows, window = last 30 days, best of "
        f"{args.repeat}; Python {platform.python_version()} on {platform.machine()}.",
        "",
        "| Query | Groups | Engine (s) | Hand-written loop (s) | Ratio |",
        "|---|---|---|---|---|",
    ]
    for name, query in queries(wanted).items():
        engine_s, result = best_of(
            args.repeat, functools.partial(run_query, query, tables, NOW, window=(WINDOW_START, None))
        )
        loop_s, expected = best_of(args.repeat, functools.partial(by_hand, name, tables, wanted))
        got = {
            str(r[list(r)[0]]): (r["Devices"], r["Events"], r["FirstSeen"], r["LastSeen"])
            for r in result.rows  # type: ignore[attr-defined]
        }
        if got != expected:
            print(f"{name}: the engine's answer differs from the loop's", file=sys.stderr)
            return 1
        lines.append(f"| {name} | {len(got)} | {engine_s:.3f} | {loop_s:.3f} | {engine_s / loop_s:.2f}x |")
    section = "\n".join(lines) + "\n"
    print(section)
    if not args.no_write:
        path = ROOT / "BENCHMARKS.md"
        text = path.read_text(encoding="utf-8")
        pattern = re.compile(r"^## kql\n.*?(?=^## |\Z)", re.DOTALL | re.MULTILINE)
        text = (
            pattern.sub(section + "\n", text)
            if pattern.search(text)
            else text.rstrip("\n") + "\n\n" + section
        )
        path.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
