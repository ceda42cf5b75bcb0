"""Benchmark: a generated STIX 2.1 bundle through the STIX output path, against a json floor.

    .venv/bin/python bench/stix.py [--indicators 100000] [--negative]

Each measurement runs in its own subprocess, which reports its wall time and its peak memory
(VmHWM from /proc/self/status, else ru_maxrss):
- floor: `json.load` + `json.dump` of the same bundle;
- stix: the plan pass (`make_plan`: reading the source once, as `enrich run` does first), then
  answers for every lookup in a dict (as if the cache were warm: 4 in 5 seen, prevalence 3),
  then `write_stix` (reading the source again, copying every object, writing our objects).
  The target compares `write_stix` with the floor (time and peak memory at most 3x); the
  plan pass is reported too, for the whole picture.
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


def child_floor(src: str, dst: str) -> dict:
    start = time.perf_counter()
    with open(src, encoding="utf-8") as fh:
        doc = json.load(fh)
    with open(dst, "w", encoding="utf-8") as fh:
        json.dump(doc, fh)
    return {"seconds": time.perf_counter() - start}


def child_stix(src: str, dst: str, negative: bool, extract_cache: int | None) -> dict:
    sys.path.insert(0, str(ROOT))
    from datetime import UTC, datetime

    if extract_cache is not None:  # what-if: the pattern cache of enrich.sources.patterns resized
        import functools

        import enrich.sources.patterns as patterns
        import enrich.sources.stix as stix_source

        patterns.extract = functools.lru_cache(maxsize=extract_cache)(patterns.extract.__wrapped__)
        stix_source.extract = patterns.extract

    from enrich.model import Answer, Status
    from enrich.plan import make_plan
    from enrich.sinks.stix import write_stix
    from enrich.sources.open import open_sources

    start = time.perf_counter()
    sources = open_sources([src])
    plan = make_plan(sources)
    planned = time.perf_counter()
    seen = Answer(Status.SEEN, 3, "2024-05-20T08:01:02.6785431Z", "2024-05-31T23:59:59Z")
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
    return {"seconds": done - before, "plan_seconds": planned - start, "counts": dict(counts)}


def measure(kind: str, src: str, dst: str, args: argparse.Namespace) -> dict:
    """The best (least disturbed) of `--repeat` runs, each in a fresh subprocess."""
    cmd = [sys.executable, __file__, "--child", kind, src, dst]
    cmd += ["--negative"] if args.negative else []
    cmd += ["--extract-cache", str(args.extract_cache)] if args.extract_cache is not None else []
    runs = []
    for _ in range(args.repeat):
        done = subprocess.run(cmd, check=True, capture_output=True, text=True)
        runs.append(json.loads(done.stdout))
    return min(runs, key=lambda r: r["seconds"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--indicators", type=int, default=100_000)
    parser.add_argument("--negative", action="store_true", help="write count-0 sightings too")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; the fastest counts")
    parser.add_argument(
        "--extract-cache",
        type=int,
        metavar="N",
        help="what-if: resize the lru_cache of enrich.sources.patterns.extract to N patterns",
    )
    parser.add_argument("--child", nargs=3, metavar=("KIND", "SRC", "DST"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, src, dst = args.child
        result = (
            child_floor(src, dst)
            if kind == "floor"
            else child_stix(src, dst, args.negative, args.extract_cache)
        )
        result["peak_mib"] = peak_kib() / 1024
        print(json.dumps(result))
        return
    with tempfile.TemporaryDirectory(prefix="enrich-bench-") as tmp:
        src = Path(tmp) / "bundle.json"
        generate(src, args.indicators)
        size = src.stat().st_size / 2**20
        floor = measure("floor", str(src), str(Path(tmp) / "floor.json"), args)
        stix = measure("stix", str(src), str(Path(tmp) / "out.json"), args)
        out_size = (Path(tmp) / "out.json").stat().st_size / 2**20
    t_ratio, m_ratio = stix["seconds"] / floor["seconds"], stix["peak_mib"] / floor["peak_mib"]
    print(
        f"input: {args.indicators:,} indicators, {size:.1f} MiB; output {out_size:.1f} MiB; "
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}, "
        f"best of {args.repeat}" + (f", extract cache {args.extract_cache}" if args.extract_cache else "")
    )
    print("| run | seconds | peak MiB |")
    print("|---|---|---|")
    print(f"| floor: json.load + json.dump | {floor['seconds']:.2f} | {floor['peak_mib']:.0f} |")
    print(f"| plan pass (make_plan, read 1) | {stix['plan_seconds']:.2f} | |")
    print(f"| write_stix (read 2 + write) | {stix['seconds']:.2f} | {stix['peak_mib']:.0f} (whole process) |")
    print(f"| ratio write_stix / floor | {t_ratio:.2f}x | {m_ratio:.2f}x |")
    print(f"counts: {stix['counts']}")
    ok = t_ratio <= 3 and m_ratio <= 3
    print("targets (<= 3x time and memory): " + ("met" if ok else "MISSED"))


if __name__ == "__main__":
    main()
