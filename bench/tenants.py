"""How far one machine goes with many tenants per job: wall time, CPU and memory against tenant count.

Usage: .venv/bin/python bench/tenants.py [--tenants 1,4,16,32] [--lookups 150] [--scale 6] [--no-write]

For each tenant count N: a fresh `enrich sandbox --tenants N` (its own process, quota clock sped up
`--scale` times: with 6, the 100/minute window lasts 10 s), then `enrich job` (its own process) with
N [[tenant]] tables over one input of `--lookups` distinct domains the sandbox has never seen
(stats mode, one call per lookup), all N tenants at once (tenant_concurrency = N), each within its
own budget (100 calls per scaled minute). Measured per job: wall time, CPU seconds (user + system)
and peak RSS of the job process (`os.wait4`), and the sandbox's 429s (expected 0).

The figures that matter are ratios: wall time of N tenants over wall time of 1 (near 1: the tenants'
quotas, not the machine, set the pace), CPU seconds per tenant, and memory per added tenant
((RSS(N) - RSS(1)) / (N - 1)). The results replace the "## tenants" section of BENCHMARKS.md
(unless --no-write).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
PER_MINUTE = 100  # the sandbox's and the client's entity quota per (scaled) minute


def start_sandbox(count: int, scale: float, folder: Path) -> tuple[subprocess.Popen[str], dict[str, str]]:
    """`enrich sandbox --tenants count` in its own process; its export lines as a dict."""
    proc = subprocess.Popen(
        [
            PYTHON,
            "-m",
            "enrich",
            "sandbox",
            "--tenants",
            str(count),
            "--time-scale",
            str(scale),
            "--secrets-dir",
            str(folder),
            "--rate-limit",
            f"{PER_MINUTE}/min,100000/hour",
        ],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    env: dict[str, str] = {}
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    while "MDE_CA_BUNDLE" not in env and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith("export "):
            name, _, value = line[len("export ") :].strip().partition("=")
            env[name] = value.strip("'")
    if "MDE_CA_BUNDLE" not in env:
        proc.kill()
        raise SystemExit("the sandbox did not start")
    while not (folder / f"tenant-{count}.json").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return proc, env


def sandbox_429s(env: dict[str, str]) -> int:
    context = ssl.create_default_context(cafile=env["MDE_CA_BUNDLE"])
    with urllib.request.urlopen(
        env["MDE_API_URL"] + "/_sandbox/stats", context=context, timeout=30
    ) as answer:
        stats = json.load(answer)
    return sum(counts.get("429", 0) for counts in stats["by_endpoint"].values())


def write_job(folder: Path, count: int, lookups: int, scale: float) -> Path:
    values = [f"bench-{i}.tenants-unseen.example" for i in range(lookups)]
    (folder / "input.csv").write_text("indicator\n" + "".join(f"{v}\n" for v in values))
    window = 60 / scale
    tables = "".join(f'[[tenant]]\nname = "{n}"\n' for n in range(1, count + 1))
    job = folder / "job.toml"
    job.write_text(
        'inputs = ["input.csv"]\noutput = "out-{tenant}.csv"\nsummary = "job.summary.json"\n'
        'secrets = "tenant-{tenant}.json"\nmode = "stats"\nno_cache = true\nprogress_interval = 3600\n'
        f'rate_limit = "{PER_MINUTE}/{window:g}s"\ntenant_concurrency = {count}\n' + tables
    )
    return job


def measure(count: int, lookups: int, scale: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-tenants-") as tmp:
        folder = Path(tmp)
        sandbox, env = start_sandbox(count, scale, folder)
        try:
            job = write_job(folder, count, lookups, scale)
            hosts = {k: v for k, v in os.environ.items() if not k.startswith("MDE_")}
            hosts.update(
                {
                    k: v
                    for k, v in env.items()
                    if k not in ("MDE_TENANT_ID", "MDE_CLIENT_ID", "MDE_CLIENT_SECRET")
                }
            )
            started = time.monotonic()
            proc = subprocess.Popen(
                [PYTHON, "-m", "enrich", "job", "-q", str(job)],
                cwd=folder,
                env=hosts,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            _, status, usage = os.wait4(proc.pid, 0)
            wall = time.monotonic() - started
            code = os.waitstatus_to_exitcode(status)
            if code != 0:
                raise SystemExit(
                    f"the job with {count} tenants exited {code}: {proc.stderr.read() if proc.stderr else ''}"
                )
            summary = json.loads((folder / "job.summary.json").read_text())
            throttled = sandbox_429s(env)
        finally:
            sandbox.send_signal(signal.SIGTERM)
            _, _, served = os.wait4(sandbox.pid, 0)
            sandbox.returncode = 0  # reaped here (os.wait4 gives its CPU time)
    return {
        "tenants": count,
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "rss_mb": usage.ru_maxrss / 1024,  # KiB on Linux
        "sandbox_cpu": served.ru_utime + served.ru_stime,
        "calls": summary["totals"]["calls"]["total"],
        "client_429": summary["totals"]["calls"]["throttled_429"],
        "sandbox_429": throttled,
    }


def section(rows: list[dict[str, float]], lookups: int, scale: float) -> str:
    base = rows[0]
    least = ((lookups - 1) // PER_MINUTE) * 60 / scale  # full windows to wait before the last call
    lines = [
        "## tenants",
        "",
        "`bench/tenants.py`: one `enrich job` process with N tenants at once against `enrich sandbox --tenants N`",
        f"(another process on the same machine), each tenant {lookups} distinct lookups in stats mode under its own",
        f"quota of {PER_MINUTE} calls per minute (clock sped up {scale:g}x: the least time the quota allows is",
        f"{least:.1f} s per tenant). Machine: {os.cpu_count()} CPUs shared with other work, CPython {platform.python_version()}.",
        "",
        "| tenants | wall s | wall / 1 tenant | job CPU s | CPU s per tenant | job CPU / wall | sandbox CPU s | both / (wall x CPUs) | peak RSS MB | MB per added tenant | calls | 429s (client, sandbox) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        added = (row["rss_mb"] - base["rss_mb"]) / (row["tenants"] - 1) if row["tenants"] > 1 else 0.0
        lines.append(
            f"| {row['tenants']:.0f} | {row['wall']:.1f} | {row['wall'] / base['wall']:.2f}x | {row['cpu']:.1f} | "
            f"{row['cpu'] / row['tenants']:.2f} | {row['cpu'] / row['wall']:.2f} | {row['sandbox_cpu']:.1f} | "
            f"{(row['cpu'] + row['sandbox_cpu']) / (row['wall'] * (os.cpu_count() or 1)):.0%} | {row['rss_mb']:.0f} | "
            f"{added:.1f} | {row['calls']:.0f} | {row['client_429']:.0f}, {row['sandbox_429']:.0f} |"
        )
    lines.append("")
    return "\n".join(lines) + "\n"


def write_section(text: str) -> None:
    path = ROOT / "BENCHMARKS.md"
    old = path.read_text()
    start = old.find("\n## tenants\n")
    if start == -1:
        path.write_text(old.rstrip("\n") + "\n\n" + text)
        return
    end = old.find("\n## ", start + 1)
    path.write_text(old[: start + 1] + text + (old[end + 1 :] if end != -1 else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--tenants", default="1,4,16,32", help="tenant counts, comma-separated (first is the base)"
    )
    parser.add_argument("--lookups", type=int, default=150, help="distinct lookups per tenant (default 150)")
    parser.add_argument("--scale", type=float, default=6.0, help="quota clock speed-up (default 6)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    args = parser.parse_args()
    counts = [int(n) for n in args.tenants.split(",")]
    rows = []
    for count in counts:
        rows.append(measure(count, args.lookups, args.scale))
        print(rows[-1], flush=True)
    text = section(rows, args.lookups, args.scale)
    print(text)
    if not args.no_write:
        write_section(text)
        print("written to BENCHMARKS.md (section ## tenants)")


if __name__ == "__main__":
    main()
