"""Hunt mode against stats mode: API calls and wall time for the same input, under time-scaled real quotas.

Usage: .venv/bin/python bench/hunt.py [--scale 120] [--generated 10000] [--no-feed] [--no-write]

Each input runs through `enrich run --mode stats` and `enrich run --mode hunt` as real processes
(fresh cache each, CSV output) against an in-process sandbox whose quota clock is sped up
(`--scale`: with 120, the entity APIs' 100/minute window lasts 0.5 s and 1,500/hour 30 s; hunting's
45/minute 0.5 s), with the client's budget set to the same scaled limits, as `enrich run --sandbox`
does. Reported: the calls each run made, its wall time (under the scaled quotas, start-up and the
sandbox's work included), and the least time MDE's real quotas allow for those calls
(`enrich.mde.limits.min_duration`: entity families 100/minute and 1,500/hour each, in parallel;
Graph hunting 45/minute per tenant), which is what decides a large feed's run time against MDE.

Inputs:
1. the abuse.ch URLhaus feed of `../shared/feeds/csv/abusech_urlhaus_online.csv` (skipped when
   absent) against the sandbox's generated data (its URLs are asked by host in stats mode);
2. `--generated` distinct indicators of the seven types, about 70% planted in the sandbox with
   their devices (`tests/test_hunt_mode.py: plant`, the data of the must-show tests).

Each pair of outputs is also compared: rows whose status, prevalence and first/last seen agree
between the modes, over the rows stats mode answered (MD5s are unsupported there).

The results replace the "## hunt" section of BENCHMARKS.md (unless --no-write).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from enrich.mde.limits import min_duration  # noqa: E402
from enrich.sandbox import Sandbox, SandboxConfig  # noqa: E402
from tests.test_hunt_mode import plant, write_input  # noqa: E402

FEED = ROOT.parent / "shared" / "feeds" / "csv" / "abusech_urlhaus_online.csv"
ENTITY = ("files", "ips", "domains")
HUNTING = ("hunting", "graph_hunting")  # the sandbox's names of the legacy and Graph endpoints
CELLS = ("mde_status", "mde_org_prevalence", "mde_org_first_seen", "mde_org_last_seen")
ENTITY_QUOTA = [(100, 60.0), (1500, 3600.0)]  # per entity family and application
HUNTING_QUOTA = {"graph_hunting": [(45, 60.0)], "hunting": [(45, 60.0), (1500, 3600.0)]}  # per tenant


def rate_limit(scale: float) -> str:
    """MDE's quotas (entity 100/min and 1,500/hour; hunting 45/min and 1,500/hour; Graph 45/min), scaled."""
    minute, hour = 60 / scale, 3600 / scale
    return (
        f"100/{minute:g}s,1500/{hour:g}s;hunting=45/{minute:g}s,1500/{hour:g}s;hunting-graph=45/{minute:g}s"
    )


def calls(sb: Sandbox, families: tuple[str, ...]) -> dict[str, int]:
    """Calls the sandbox served, by family (those with any)."""
    by_family = sb.stats()["by_family"]
    counts = {f: sum(by_family.get(f, {}).values()) for f in families}
    return {f: n for f, n in counts.items() if n}


def least_time(counts: dict[str, int]) -> float:
    """The least seconds MDE's real quotas allow for these calls (families in parallel)."""
    quota = {**{f: ENTITY_QUOTA for f in ENTITY}, **HUNTING_QUOTA}
    return max((min_duration(quota[f], n) for f, n in counts.items()), default=0.0)


def enrich_run(sb: Sandbox, inp: Path, mode: str, folder: Path, scale: float) -> dict:
    """One `enrich run --mode MODE` process: wall time, calls by kind, its summary and its rows."""
    sb.reset_quotas()
    sb.reset_stats()
    out, summary = folder / f"{mode}.csv", folder / f"{mode}.summary.json"
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "MDE_RATE_LIMIT")
    }
    env.update(sb.env())
    command = [
        sys.executable, "-m", "enrich", "run", str(inp), "-o", str(out), "--mode", mode,
        "--cache", str(folder / f"{mode}.sqlite3"), "--rate-limit", rate_limit(scale),
        "--summary", str(summary), "-q",
    ]  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=3600)
    wall = time.perf_counter() - started
    if done.returncode not in (0, 3):
        raise SystemExit(f"enrich run --mode {mode} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    with out.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return {
        "wall": wall,
        "calls": calls(sb, ENTITY + HUNTING),
        "summary": json.loads(summary.read_text(encoding="utf-8")),
        "rows": rows,
    }


def agreement(stats: list[dict], hunt: list[dict]) -> tuple[int, int]:
    """(rows that agree, rows stats mode answered): status, prevalence, first and last seen."""
    answered = agree = 0
    for s, h in zip(stats, hunt, strict=True):
        if s["mde_status"] not in ("seen", "not_seen"):
            continue
        answered += 1
        same = [s[c] for c in CELLS] == [h[c] for c in CELLS]
        same = same or (s["mde_status"] == h["mde_status"] == "not_seen")  # prevalence 0 or empty
        agree += same
    return agree, answered


def measure(name: str, inp: Path, config: SandboxConfig, scale: float) -> dict:
    with Sandbox(config) as sb, tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        stats = enrich_run(sb, inp, "stats", folder, scale)
        time.sleep(2 * 60 / scale)  # the minute windows of the first run pass
        hunt = enrich_run(sb, inp, "hunt", folder, scale)
    agree, answered = agreement(stats["rows"], hunt["rows"])
    result = {
        "input": name,
        "rows": len(stats["rows"]),
        "lookups_stats": stats["summary"]["lookups"]["distinct"],
        "lookups_hunt": hunt["summary"]["lookups"]["distinct"],
        "calls_stats": sum(stats["calls"].values()),
        "calls_hunt": sum(hunt["calls"].values()),
        "least_stats": least_time(stats["calls"]),
        "least_hunt": least_time(hunt["calls"]),
        "by_family_stats": stats["calls"],
        "by_family_hunt": hunt["calls"],
        "wall_stats": stats["wall"],
        "wall_hunt": hunt["wall"],
        "agree": agree,
        "answered": answered,
        "seen_stats": sum(r["mde_status"] == "seen" for r in stats["rows"]),
        "seen_hunt": sum(r["mde_status"] == "seen" for r in hunt["rows"]),
        "hunt_by_family": hunt["summary"]["lookups"]["by_family"],
    }
    print(json.dumps(result, indent=1), flush=True)
    return result


def real_time(seconds: float) -> str:
    """`h:mm:ss` of a duration (seconds under a minute)."""
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def section(args: argparse.Namespace, results: list[dict]) -> str:
    command = f".venv/bin/python bench/hunt.py --scale {args.scale:g} --generated {args.generated}"
    lines = [
        "## hunt",
        "",
        f"Command: `{command}` ({platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} CPUs shared with other jobs, {time.strftime('%Y-%m-%d')}).",
        "",
        f"`enrich run --mode stats` then `--mode hunt` on the same input, real processes, fresh cache each, "
        f"against an in-process sandbox whose quota clock runs {args.scale:g}x (the client's budget scaled "
        "the same way, as `enrich run --sandbox` does). Calls: every API call the sandbox served (entity "
        "statistics, or hunting on Graph). Wall: the process's time under the scaled quotas, start-up and "
        "the sandbox's work included (its Python KQL engine scans its tables for every query, which makes "
        "hunt mode's wall time an upper bound). Least under MDE's quotas: the least time MDE's real quotas "
        "allow for those calls (`min_duration`: 100/min and 1,500/hour per entity family, in parallel; "
        "Graph hunting 45/min per tenant), what decides a large feed's run time against MDE. Agreement: rows "
        "with the same status, prevalence and first and last seen in both modes, over the rows stats mode "
        "answered.",
        "",
        "| input | rows | lookups stats / hunt | calls stats | calls hunt | calls hunt / stats | wall s stats | "
        "wall s hunt | wall hunt / stats | least under MDE's quotas: stats | hunt | rows agreeing |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['input']} | {r['rows']:,} | {r['lookups_stats']:,} / {r['lookups_hunt']:,} | "
            f"{r['calls_stats']:,} | {r['calls_hunt']:,} | {r['calls_hunt'] / max(1, r['calls_stats']):.4f} | "
            f"{r['wall_stats']:.1f} | {r['wall_hunt']:.1f} | {r['wall_hunt'] / r['wall_stats']:.3f} | "
            f"{real_time(r['least_stats'])} | {real_time(r['least_hunt'])} | "
            f"{r['agree']:,} / {r['answered']:,} |"
        )
    lines += [
        "",
        "Hunt mode asks more lookups than stats for the same rows: MD5 hashes (unsupported in stats mode) "
        "and each URL as a whole beside its host.",
    ]
    if not any(r["input"].startswith("URLhaus") for r in results):
        lines += ["", f"The URLhaus feed ({args.feed.name}) was not present or not asked for when this ran."]
    return "\n".join(lines) + "\n"


def write_section(text: str) -> None:
    """Replace (or append) the `## hunt` section of BENCHMARKS.md."""
    path = ROOT / "BENCHMARKS.md"
    old = path.read_text(encoding="utf-8")
    start = old.find("\n## hunt\n")
    if start == -1:
        new = old.rstrip("\n") + "\n\n" + text
    else:
        end = old.find("\n## ", start + 1)
        new = old[: start + 1] + text + (old[end:] if end != -1 else "")
    path.write_text(new, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=120.0, help="quota clock speed-up (default 120)")
    parser.add_argument(
        "--generated", type=int, default=10_000, help="generated indicators, seven types (default 10000)"
    )
    parser.add_argument("--feed", type=Path, default=FEED, help=f"the URLhaus CSV (default {FEED})")
    parser.add_argument("--no-feed", action="store_true", help="skip the URLhaus feed")
    parser.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    args = parser.parse_args()
    os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if args.feed.is_file() and not args.no_feed:
            config = SandboxConfig(time_scale=args.scale, sample_dir="", seed=11)
            results.append(measure("URLhaus online (abuse.ch)", args.feed, config, args.scale))
        elif not args.no_feed:
            print(f"{args.feed} not present: the feed run is skipped")
        records, truth = plant(args.generated, seed=12, now=datetime.now(UTC))
        data = folder / "planted.json"
        data.write_text(json.dumps({"indicators": records}), encoding="utf-8")
        inp = write_input(folder / "generated.csv", list(truth))
        config = SandboxConfig(time_scale=args.scale, sample_dir="", seed=12, data_file=str(data))
        results.append(measure(f"{args.generated:,} generated, 7 types", inp, config, args.scale))
    text = section(args, results)
    print(text)
    if not args.no_write:
        write_section(text)
        print("written to BENCHMARKS.md (section ## hunt)")


if __name__ == "__main__":
    main()
