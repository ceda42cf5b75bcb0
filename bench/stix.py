"""Benchmark: `enrich run` on a generated STIX 2.1 bundle with a warm cache, against a json floor.

    .venv/bin/python bench/stix.py [--indicators 100000] [--negative] [--repeat 3] [--parts]

The bundle (100,000 indicators: IPv4, domain, SHA-256 and URL patterns in turn) is generated,
then a cache file is filled with an answer for every lookup it needs (4 in 5 seen, prevalence 3):
the run is warm, so it makes no call. Each measurement is a process of its own, timed from the
outside (wall time, start-up included) with its peak memory (ru_maxrss from wait4):
- floor: `python -c` doing `json.load` + `json.dump` of the same bundle;
- job: `enrich run BUNDLE -o OUT.json --cache CACHE`, as a user runs it: plan pass (read,
  extract, classify), lookups answered from the cache, STIX output (input objects, then ours).
  Credentials are dummies and every MDE address is https://127.0.0.1:9 (nothing listens):
  the run is checked to succeed with 0 lookups asked and 0 API calls (its --summary).
Target: the job at most 3x the floor in time and in peak memory. `--parts` adds in-process
timings of the steps (make_plan; write_stix alone, the answers in a dict) for the picture.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TLP = "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9"
STAMP = "2024-01-01T00:00:00.000Z"
TENANT = "00000000-0000-4000-8000-00000000be0c"
NOWHERE = "https://127.0.0.1:9"  # a closed port: any call would fail the run's lookups
SEEN = ("seen", 3, "2024-05-20T08:01:02.6785431Z", "2024-05-31T23:59:59Z")
NOT_SEEN = ("not_seen", 0, "", "")
FLOOR = "import json, sys; json.dump(json.load(open(sys.argv[1], encoding='utf-8')), open(sys.argv[2], 'w', encoding='utf-8'))"


def generate(path: Path, count: int, seed: int = 7) -> None:
    """A bundle of `count` indicators (IPv4, domain, SHA-256, URL in turn) and one identity."""
    rng = random.Random(seed)
    creator = "identity--" + str(uuid.UUID(int=rng.getrandbits(128), version=4))
    with path.open("w", encoding="utf-8") as out:
        out.write(f'{{"type": "bundle", "id": "bundle--{uuid.UUID(int=seed, version=4)}", "objects": [\n')
        identity = {
            "type": "identity",
            "spec_version": "2.1",
            "id": creator,
            "created": STAMP,
            "modified": STAMP,
            "name": "Generated feed",
            "identity_class": "organization",
        }
        out.write(json.dumps(identity))
        for i in range(count):
            match i % 4:
                case 0:
                    pattern = f"[ipv4-addr:value = '10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}']"
                case 1:
                    pattern = f"[domain-name:value = 'host{i}.example.com']"
                case 2:
                    pattern = f"[file:hashes.'SHA-256' = '{rng.getrandbits(256):064x}']"
                case _:
                    pattern = f"[url:value = 'http://evil{i}.example.net/path/{i}?q=1']"
            obj = {
                "type": "indicator",
                "spec_version": "2.1",
                "id": "indicator--" + str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "created": STAMP,
                "modified": STAMP,
                "created_by_ref": creator,
                "name": f"ioc {i}",
                "indicator_types": ["malicious-activity"],
                "pattern": pattern,
                "pattern_type": "stix",
                "valid_from": "2024-01-01T00:00:00Z",
                "object_marking_refs": [TLP],
            }
            out.write(",\n" + json.dumps(obj))
        out.write("\n]}\n")


def peak_kib() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def job_env() -> dict[str, str]:
    env = dict(os.environ, MDE_TENANT_ID=TENANT, MDE_CLIENT_ID="bench", MDE_CLIENT_SECRET="bench")
    env.update(MDE_API_URL=NOWHERE, MDE_LOGIN_URL=NOWHERE, MDE_GRAPH_URL=NOWHERE, PYTHONPATH=str(ROOT))
    return env


def fill_cache(src: Path, cache_path: Path) -> int:
    """An answer for every lookup the bundle needs, stored in one transaction (`Cache.put` commits
    and fsyncs each one)."""
    sys.path.insert(0, str(ROOT))
    from enrich.cache import Cache
    from enrich.outcome import STATS
    from enrich.plan import make_plan
    from enrich.request import MAX_LOOKBACK_HOURS
    from enrich.sources.open import open_sources

    keys = make_plan(open_sources([str(src)]), STATS).keys
    now = time.time()
    rows = [
        (TENANT, k.family, k.key, MAX_LOOKBACK_HOURS, *(SEEN if i % 5 else NOT_SEEN), now)
        for i, k in enumerate(keys)
    ]
    with Cache(cache_path) as cache:
        cache.db.execute("BEGIN")
        cache.db.executemany(
            "INSERT OR REPLACE INTO answers (tenant, family, key, lookback_hours, status, prevalence, "
            "first_seen, last_seen, fetched_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        cache.db.execute("COMMIT")
    return len(rows)


def timed(cmd: list[str], env: dict[str, str] | None = None) -> dict:
    """Run `cmd`; its wall time, peak memory (MiB) and exit code; stderr kept for the checks."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = proc.stderr.read() if proc.stderr else b""
    _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage (ru_maxrss)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait again
    if proc.stderr:
        proc.stderr.close()
    return {
        "seconds": seconds,
        "peak_mib": usage.ru_maxrss / 1024,
        "rc": proc.returncode,
        "stderr": err.decode(errors="replace"),
    }


def best(cmd: list[str], repeat: int, env: dict[str, str] | None = None) -> dict:
    """The fastest (least disturbed) of `repeat` runs; the largest peak memory of them all."""
    runs = [timed(cmd, env) for _ in range(repeat)]
    for run in runs:
        if run["rc"] != 0:
            raise SystemExit(f"{' '.join(cmd)}: exit {run['rc']}\n{run['stderr']}")
    fastest = min(runs, key=lambda r: r["seconds"])
    return dict(fastest, peak_mib=max(r["peak_mib"] for r in runs))


def check_no_call(summary_path: Path) -> dict:
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    lookups, calls = summary["lookups"], summary["calls"]
    if lookups["asked"] or calls["total"] or lookups["from_cache"] != lookups["distinct"]:
        raise SystemExit(f"the run was not warm: lookups {lookups}, calls {calls}")
    return summary


def child_parts(src: str, dst: str, negative: bool) -> dict:
    """In-process timings of the steps, the answers in a dict as if the cache were warm."""
    sys.path.insert(0, str(ROOT))
    from datetime import UTC, datetime

    from enrich.model import Answer, Status
    from enrich.outcome import STATS
    from enrich.plan import make_plan
    from enrich.sinks.stix import write_stix
    from enrich.sources.open import open_sources

    start = time.perf_counter()
    sources = open_sources([src])
    opened = time.perf_counter()
    plan = make_plan(sources, STATS)
    planned = time.perf_counter()
    seen = Answer(Status.SEEN, 3, SEEN[2], SEEN[3])
    answers = {k: seen if i % 5 else Answer(Status.NOT_SEEN, 0) for i, k in enumerate(plan.keys)}
    before = time.perf_counter()
    counts = write_stix(
        sources,
        answers,
        dst,
        org_name="Bench Org",
        negative_sightings=negative,
        queried_at=datetime(2025, 6, 1, tzinfo=UTC),
        lookback_hours=720,
        api_url="https://api.security.microsoft.com",
    )
    done = time.perf_counter()
    return {
        "open_seconds": opened - start,
        "plan_seconds": planned - opened,
        "write_seconds": done - before,
        "peak_mib": peak_kib() / 1024,
        "counts": dict(counts),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--indicators", type=int, default=100_000)
    parser.add_argument("--negative", action="store_true", help="write count-0 sightings too")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; the fastest counts")
    parser.add_argument("--parts", action="store_true", help="also time the steps in-process")
    parser.add_argument("--child", nargs=2, metavar=("SRC", "DST"), help=argparse.SUPPRESS)
    parser.add_argument("--fill", nargs=2, metavar=("SRC", "CACHE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child_parts(*args.child, args.negative)))
        return
    if args.fill:
        print(fill_cache(Path(args.fill[0]), Path(args.fill[1])))
        return
    with tempfile.TemporaryDirectory(prefix="enrich-bench-") as tmp:
        src, cache, summary = (
            Path(tmp) / "bundle.json",
            Path(tmp) / "cache.sqlite3",
            Path(tmp) / "summary.json",
        )
        generate(src, args.indicators)
        size = src.stat().st_size / 2**20
        # in a process of its own: a child forked from a big parent would count its pages (ru_maxrss)
        fill = [sys.executable, __file__, "--fill", str(src), str(cache)]
        cached = int(subprocess.run(fill, check=True, capture_output=True, text=True).stdout)
        floor = best([sys.executable, "-c", FLOOR, str(src), str(Path(tmp) / "floor.json")], args.repeat)
        out = Path(tmp) / "out.json"
        cmd = [sys.executable, "-m", "enrich", "run", str(src), "-o", str(out), "--cache", str(cache)]
        cmd += ["--summary", str(summary)] + (["--negative-sightings"] if args.negative else [])
        job = best(cmd, args.repeat, job_env())
        facts = check_no_call(summary)
        out_size = out.stat().st_size / 2**20
        parts = None
        if args.parts:
            child = [sys.executable, __file__, "--child", str(src), str(Path(tmp) / "parts.json")]
            child += ["--negative"] if args.negative else []
            runs = []
            for _ in range(args.repeat):
                done = subprocess.run(child, check=True, capture_output=True, text=True)
                runs.append(json.loads(done.stdout))
            parts = min(runs, key=lambda r: r["plan_seconds"] + r["write_seconds"])
    t_ratio, m_ratio = job["seconds"] / floor["seconds"], job["peak_mib"] / floor["peak_mib"]
    print(
        f"input: {args.indicators:,} indicators, {size:.1f} MiB; output {out_size:.1f} MiB; "
        f"{cached:,} answers cached; python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
        f"load {os.getloadavg()[0]:.1f}, best of {args.repeat}"
        + (", negative sightings" if args.negative else "")
    )
    print("| run | seconds | peak MiB |")
    print("|---|---:|---:|")
    print(
        f"| floor: json.load + json.dump (own process) | {floor['seconds']:.2f} | {floor['peak_mib']:.0f} |"
    )
    print(f"| job: enrich run, cache warm (own process) | {job['seconds']:.2f} | {job['peak_mib']:.0f} |")
    print(f"| ratio job / floor | {t_ratio:.2f}x | {m_ratio:.2f}x |")
    if parts:
        print(f"| in-process: open (probe, parse) | {parts['open_seconds']:.2f} | |")
        print(f"| in-process: make_plan (read 1) | {parts['plan_seconds']:.2f} | |")
        print(
            f"| in-process: write_stix alone | {parts['write_seconds']:.2f} | {parts['peak_mib']:.0f} (process) |"
        )
    print(
        f"rows: {facts['rows']['by_status']}; lookups: {facts['lookups']['from_cache']} from cache, "
        f"{facts['lookups']['asked']} asked, {facts['calls']['total']} API calls"
    )
    ok = t_ratio <= 3 and m_ratio <= 3
    print("targets (<= 3x time and memory): " + ("met" if ok else "MISSED"))


if __name__ == "__main__":
    main()
