"""Prove that a refactor left the outputs of `enrich` byte for byte the same as a base commit.

Usage: .venv/bin/python bench/same_outputs.py [--base 13a017a] [--new REV] [--feeds ../shared/feeds]
                                              [--only PATTERN] [--keep DIR] [--timeout 600]

The base commit is checked out with `git worktree add --detach` in a temporary folder (removed at
the end, even on failure). Each version runs as `PYTHONPATH=<tree> .venv/bin/python -m enrich ...`
(the same installed dependencies; the current version is the working tree, or --new REV in a
second worktree), from a scratch working folder holding only the symlinks `sample_data` and
`feeds`, so that `python -m` cannot pick the package up from the current directory.

One `enrich sandbox` (current tree, quotas out of the way) answers both versions; its answers are
stable for its lifetime. Every run gets its MDE_* exports plus MDE_RATE_LIMIT, without
REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE.

Inputs: every file in sample_data/ and under FEEDS/csv and FEEDS/stix. For each input and version:
  classify INPUT -o OUT.csv
  run INPUT -o OUT.csv --cache CACHE
  run INPUT -o OUT.json --to stix --cache CACHE                    (answers from the cache)
  run INPUT -o OUT.json --to stix --negative-sightings --stix-output separate --cache CACHE
and once per version: `run sample_data/ -o DIR/` and `run sample_data/*.csv -o one.csv` (both with
--cache CACHE, so ~/.cache is never touched). Each version has its own cache file; its runs go one
after the other in the same order for both versions, and the two versions run side by side.
An input that `classify` refuses in both versions with the same exit code is reported as
"skipped: unreadable by both" and not run further.

Compared: exit codes and output bytes; stderr is not compared. The only normalisation: in STIX
(.json) outputs the run's query time, the value of `"mde_queried_at": "..."`, is replaced by
QUERIED_AT wherever that exact string occurs (it is also the sightings' `modified`). Prints one
line per output and `N outputs compared, M different`; exit code 0 when all are the same, else 1.
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import queue
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = ROOT / ".venv" / "bin" / "python"
VERSIONS = ("base", "new")
RATE = "100000/min,1000000/hour"
SANDBOX_VARS = (
    "MDE_TENANT_ID",
    "MDE_CLIENT_ID",
    "MDE_CLIENT_SECRET",
    "MDE_API_URL",
    "MDE_LOGIN_URL",
    "MDE_GRAPH_URL",
    "MDE_CA_BUNDLE",
)
QUERIED_AT = re.compile(rb'"mde_queried_at": "([^"]*)"')


@dataclass(frozen=True)
class Step:
    """One `enrich` command, the same for both versions; {out} and {cache} are filled per version."""

    label: str
    args: tuple[str, ...]
    out: str  # output path relative to the version's output folder; a trailing / is a folder


@dataclass
class Result:
    """Exit code of one step in one version (None: timed out)."""

    code: int | None
    seconds: float


def git(*args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(ROOT), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


@contextmanager
def worktree(rev: str, path: Path) -> Iterator[Path]:
    """A detached worktree of `rev` at `path`, removed on exit."""
    git("worktree", "add", "--detach", str(path), rev)
    try:
        yield path
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(path)], check=False)


def base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MDE_")}
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "PYTHONPATH"):
        env.pop(name, None)
    return env


@contextmanager
def sandbox(cwd: Path, log: Path) -> Iterator[dict[str, str]]:
    """Run `enrich sandbox` (current tree) and yield its MDE_* variables; stop it on exit."""
    cmd = [str(PYTHON), "-m", "enrich", "sandbox", "--rate-limit", RATE, "--hunting-rate-limit", RATE]
    with log.open("wb") as err:
        proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            env={**base_env(), "PYTHONPATH": str(ROOT)},
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:  # keeps reading stdout until EOF so the sandbox never blocks on it
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    try:
        found: dict[str, str] = {}
        deadline = time.monotonic() + 60
        while not all(name in found for name in SANDBOX_VARS):
            try:
                line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                line = None
            if line is None:
                raise SystemExit(f"sandbox gave no {SANDBOX_VARS} within 60 s; its stderr: {log.read_text()}")
            words = shlex.split(line)
            if len(words) == 2 and words[0] == "export" and "=" in words[1]:
                name, value = words[1].split("=", 1)
                found[name] = value
        yield {name: found[name] for name in SANDBOX_VARS}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def list_inputs(cwd: Path) -> list[str]:
    """Input paths relative to `cwd`: sample_data/* then feeds/{csv,stix}/** (files only, sorted)."""
    names = sorted(f"sample_data/{p.name}" for p in (cwd / "sample_data").iterdir() if p.is_file())
    for sub in ("csv", "stix"):
        top = cwd / "feeds" / sub
        if top.is_dir():
            names += sorted(p.relative_to(cwd).as_posix() for p in top.rglob("*") if p.is_file())
    return names


def input_steps(name: str) -> tuple[Step, list[Step]]:
    """(classify step, run steps) of one input."""
    stem = name.replace("/", "__")
    classify = Step(f"{name} classify", ("classify", name, "-o", "{out}"), f"{stem}.classified.csv")
    cache = ("--cache", "{cache}")
    runs = [
        Step(f"{name} run csv", ("run", name, "-o", "{out}", *cache), f"{stem}.run.csv"),
        Step(f"{name} run stix", ("run", name, "-o", "{out}", "--to", "stix", *cache), f"{stem}.stix.json"),
        Step(
            f"{name} run stix negative separate",
            (
                "run",
                name,
                "-o",
                "{out}",
                "--to",
                "stix",
                "--negative-sightings",
                "--stix-output",
                "separate",
                *cache,
            ),
            f"{stem}.stix-negative-separate.json",
        ),
    ]
    return classify, runs


def multi_steps(cwd: Path) -> list[Step]:
    """The two multi-input runs over sample_data (a folder output; several CSV inputs into one file)."""
    csvs = sorted(f"sample_data/{p.name}" for p in (cwd / "sample_data").glob("*.csv"))
    cache = ("--cache", "{cache}")
    return [
        Step("sample_data/ run -o DIR/", ("run", "sample_data/", "-o", "{out}", *cache), "multi-folder/"),
        Step("sample_data/*.csv run -o one.csv", ("run", *csvs, "-o", "{out}", *cache), "multi-one.csv"),
    ]


class Runner:
    """Runs steps for one version: `PYTHONPATH=tree python -m enrich ...` from the scratch folder."""

    def __init__(
        self, version: str, tree: Path, cwd: Path, outdir: Path, env: dict[str, str], timeout: float
    ):
        self.version, self.cwd, self.outdir, self.timeout = version, cwd, outdir, timeout
        self.env = {**base_env(), **env, "MDE_RATE_LIMIT": RATE, "PYTHONPATH": str(tree)}
        self.cache = outdir / "cache.sqlite3"
        self.logs = outdir / "stderr"
        self.logs.mkdir(parents=True)
        self.tree = tree

    def check_import(self) -> None:
        """Fail unless this version imports `enrich` from its own tree."""
        got = subprocess.run(
            [str(PYTHON), "-c", "import enrich; print(enrich.__file__)"],
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        if not Path(got).resolve().is_relative_to(self.tree.resolve()):
            raise SystemExit(f"{self.version}: imports enrich from {got}, not from {self.tree}")

    def run(self, step: Step) -> Result:
        out = self.outdir / step.out
        if step.out.endswith("/"):
            out.mkdir(parents=True, exist_ok=True)
        fill = {"{out}": str(out) + ("/" if step.out.endswith("/") else ""), "{cache}": str(self.cache)}
        args = [fill.get(a, a) for a in step.args]
        log = self.logs / (step.out.rstrip("/") + ".stderr")
        started = time.monotonic()
        with log.open("wb") as err:
            try:
                code: int | None = subprocess.run(
                    [str(PYTHON), "-m", "enrich", *args],
                    cwd=self.cwd,
                    env=self.env,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=err,
                    timeout=self.timeout,
                ).returncode
            except subprocess.TimeoutExpired:
                code = None
        return Result(code, time.monotonic() - started)


def normalise(data: bytes, path: Path) -> bytes:
    """STIX outputs: every query time found as "mde_queried_at" replaced by QUERIED_AT; else as is."""
    if path.suffix not in (".json", ".jsonl"):
        return data
    for stamp in sorted(set(QUERIED_AT.findall(data)), key=len, reverse=True):
        data = data.replace(stamp, b"QUERIED_AT")
    return data


def first_difference(a: bytes, b: bytes) -> str:
    n = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
    lo = max(0, n - 30)
    return (
        f"first differing byte at offset {n} (sizes {len(a)} and {len(b)}): "
        f"base {a[lo : n + 40]!r} / new {b[lo : n + 40]!r}"
    )


def compare_file(a: Path, b: Path) -> str | None:
    """None when both are absent or the same after normalisation; else what differs."""
    if not a.exists() and not b.exists():
        return None
    if not a.exists() or not b.exists():
        return f"output only in {'new' if not a.exists() else 'base'}"
    da, db = normalise(a.read_bytes(), a), normalise(b.read_bytes(), b)
    return None if da == db else first_difference(da, db)


def compare(step: Step, results: dict[str, Result], outdirs: dict[str, Path]) -> list[tuple[str, str | None]]:
    """(label, None or what differs) per output of `step`, exit codes included."""
    base, new = results["base"], results["new"]
    if base.code is None or new.code is None:
        return [(step.label, f"timed out (base {base.code}, new {new.code}; None = timeout)")]
    code = None if base.code == new.code else f"exit code base {base.code}, new {new.code}"
    exit_ = f"exit {base.code}" if code is None else f"exit {base.code}/{new.code}"
    a, b = outdirs["base"] / step.out, outdirs["new"] / step.out
    if not step.out.endswith("/"):
        diff = compare_file(a, b)
        return [(f"{step.label} ({exit_})", "; ".join(filter(None, [code, diff])) or None)]
    names = sorted({p.relative_to(d).as_posix() for d in (a, b) for p in d.rglob("*") if p.is_file()})
    lines: list[tuple[str, str | None]] = [
        (f"{step.label} {n} ({exit_})", compare_file(a / n, b / n)) for n in names
    ]
    if code or not names:
        lines.append((f"{step.label} ({exit_})", code))
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="13a017a", help="git rev of the reference version")
    parser.add_argument("--new", default=None, help="git rev to compare (default: the working tree)")
    parser.add_argument("--feeds", type=Path, default=ROOT.parent / "shared" / "feeds")
    parser.add_argument("--only", default=None, help="only inputs whose path matches (glob or substring)")
    parser.add_argument("--keep", type=Path, default=None, help="write outputs here and keep them")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per enrich run")
    args = parser.parse_args()
    started = time.monotonic()

    base_sha = git("rev-parse", "--verify", f"{args.base}^{{commit}}")
    new_sha = git("rev-parse", "--verify", f"{args.new}^{{commit}}") if args.new else None
    head_sha = git("rev-parse", "HEAD")
    dirty = git("status", "--porcelain", "--untracked-files=no", "--", "enrich")
    print(f"base {args.base} = {base_sha[:12]}; new = {new_sha[:12] if new_sha else 'working tree'}", end="")
    print("" if new_sha else f" (HEAD {head_sha[:12]}{', enrich/ modified' if dirty else ''})")

    tmp = Path(tempfile.mkdtemp(prefix="same-outputs-"))
    try:
        work = args.keep.resolve() if args.keep else tmp / "out"
        if work.exists() and any(work.iterdir()):
            raise SystemExit(f"--keep {work}: not empty")
        cwd = tmp / "cwd"
        cwd.mkdir()
        (cwd / "sample_data").symlink_to(ROOT / "sample_data")
        feeds = args.feeds.resolve() if args.feeds.is_dir() else None
        if feeds is None:
            print(f"feeds folder {args.feeds} absent: sample_data only")
        else:
            (cwd / "feeds").symlink_to(feeds)
        with worktree(base_sha, tmp / "tree-base") as base_tree:
            new_ctx = worktree(new_sha, tmp / "tree-new") if new_sha else nullpath(ROOT)
            with new_ctx as new_tree, sandbox(cwd, tmp / "sandbox.stderr") as sb_env:
                trees = {"base": base_tree, "new": new_tree}
                outdirs = {v: work / v for v in VERSIONS}
                runners = {v: Runner(v, trees[v], cwd, outdirs[v], sb_env, args.timeout) for v in VERSIONS}
                for r in runners.values():
                    r.check_import()
                return compare_all(args, cwd, runners, outdirs, started)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if args.keep:
            print(f"outputs kept in {args.keep}")


@contextmanager
def nullpath(path: Path) -> Iterator[Path]:
    yield path


def compare_all(
    args: argparse.Namespace, cwd: Path, runners: dict[str, Runner], outdirs: dict[str, Path], started: float
) -> int:
    """Run every step in both versions (at most 2 processes at once) and print the comparisons."""

    def wanted(label: str) -> bool:
        return args.only is None or args.only in label or fnmatch.fnmatch(label, args.only)

    inputs = [name for name in list_inputs(cwd) if wanted(name)]
    steps = {name: input_steps(name) for name in inputs}
    multi = [s for s in multi_steps(cwd) if wanted(s.label)]
    print(
        f"{len(inputs)} inputs, {len(multi)} multi-input runs; timeout {args.timeout:.0f} s per run",
        flush=True,
    )

    # Phase 1: classify (no cache), both versions in a pool of 2.
    classified: dict[str, dict[str, Result]] = {name: {} for name in inputs}
    with ThreadPoolExecutor(max_workers=2) as pool:
        jobs = {(n, v): pool.submit(runners[v].run, steps[n][0]) for n in inputs for v in VERSIONS}
        for (n, v), job in jobs.items():
            classified[n][v] = job.result()
    skipped = [
        n
        for n in inputs
        if classified[n]["base"].code not in (0, None)
        and classified[n]["base"].code == classified[n]["new"].code
    ]
    # Phase 2: the runs, one after the other per version (its cache sees the same order), versions in parallel.
    run_steps = [s for n in inputs if n not in skipped for s in steps[n][1]] + multi

    def chain(version: str) -> list[Result]:
        out = []
        for s in run_steps:
            out.append(runners[version].run(s))
            print(".", end="", file=sys.stderr, flush=True)
        return out

    with ThreadPoolExecutor(max_workers=2) as pool:
        chains = {v: pool.submit(chain, v) for v in VERSIONS}
        ran = {v: chains[v].result() for v in VERSIONS}
    print(file=sys.stderr)

    done = {s: {v: ran[v][i] for v in VERSIONS} for i, s in enumerate(run_steps)}
    results: dict[Step, dict[str, Result]] = {}
    for n in inputs:
        if n in skipped:
            print(f"{n}: skipped: unreadable by both (classify exit {classified[n]['base'].code})")
            continue
        results[steps[n][0]] = classified[n]
        results.update((s, done[s]) for s in steps[n][1])
    results.update((s, done[s]) for s in multi)
    compared = different = 0
    for step, res in results.items():
        for label, diff in compare(step, res, outdirs):
            compared += 1
            different += diff is not None
            print(f"{label}: {'same' if diff is None else 'DIFFERENT: ' + diff}")
    seconds = {v: sum(r[v].seconds for r in results.values()) for v in VERSIONS}
    with (outdirs["base"].parent / "timings.tsv").open("w") as f:  # seconds per run, for --keep
        f.writelines(
            f"{s.label}\t{r['base'].seconds:.2f}\t{r['new'].seconds:.2f}\n" for s, r in results.items()
        )
    print(
        f"run time: base {seconds['base']:.0f} s, new {seconds['new']:.0f} s (sum over runs); "
        f"wall {time.monotonic() - started:.0f} s; {len(skipped)} inputs skipped"
    )
    print(f"{compared} outputs compared, {different} different")
    return 1 if different else 0


if __name__ == "__main__":
    sys.exit(main())
