"""Benchmark: the xlsx output and the HTML report for 100,000 rows, against pandas `to_excel` and
the CSV output of the same rows.

    .venv/bin/python bench/report.py [--rows 100000] [--seen 0.3] [--repeat 2] [--browser]

A CSV input of ROWS rows is generated (an indicator column holding IPv4 addresses, domains,
SHA-256 hashes and URLs in turn, and four more columns), then answers are made for every lookup
(a share SEEN seen, prevalence spread over 1..20,000 on a log scale, first/last seen dates, and
device names and event counts when the model has hunting's columns). Each measurement runs in a
process of its own, which reads the input, plans and makes the answers (not timed), then times
one step with `time.perf_counter`; peak memory is the process's ru_maxrss (from wait4), and
"base" is a process that only does the untimed part:
- csv: `CsvSink`, the run's CSV output of the rows;
- xlsx: `XlsxSink` (xlsxwriter, constant_memory);
- pandas+openpyxl / pandas+xlsxwriter: `DataFrame.to_excel` of the same cells (input columns
  and the mde_* cells as text, the frame built before the clock starts);
- report: `write_run_report` (the inputs read again with their outcomes, the page written);
- report from csv: `enrich report` on the CSV output (`make_report`).
`--browser` then opens the report in headless Chromium (selenium + Debian's chromedriver) and
times the page until drawn, a sort of the seen table by prevalence and a text filter.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

STEPS = ("base", "csv", "xlsx", "pandas+openpyxl", "pandas+xlsxwriter", "report", "report from csv")


def generate(path: Path, rows: int, seed: int = 12) -> None:
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("indicator,kind,first_seen,source,comment\n")
        for i in range(rows):
            match i % 4:
                case 0:
                    value, kind = f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}", "ip"
                case 1:
                    value, kind = f"host-{i}.example", "domain"
                case 2:
                    value, kind = f"{rng.getrandbits(256):064x}", "sha256"
                case _:
                    value, kind = f"https://site-{i}.example/path/{i}?q=1", "url"
            out.write(
                f"{value},{kind},2026-11-{1 + i % 28:02d}T10:00:00Z,feed-{i % 7},row {i} of the generated feed\n"
            )


def _setup(input_path: str, seen_share: float):
    from enrich.model import MDE_DETAIL_COLUMNS, Answer, Status
    from enrich.outcome import STATS, Outcomes
    from enrich.plan import make_plan
    from enrich.sources.open import open_source

    source = open_source(input_path)
    plan = make_plan([source], STATS)
    hunting = "mde_devices" in dict(MDE_DETAIL_COLUMNS)
    rng = random.Random(5)
    answers = {}
    for key in plan.keys:
        if rng.random() < seen_share:
            prevalence = max(1, int(20000 ** rng.random()))
            day = rng.randint(1, 20)
            detail = (
                (
                    ("devices", ";".join(f"pc-{rng.randint(1, 999)}" for _ in range(min(prevalence, 3)))),
                    ("events", str(prevalence * 4)),
                )
                if hunting
                else ()
            )
            answers[key] = Answer(
                Status.SEEN,
                prevalence,
                f"2026-11-{day:02d}T01:02:03.4567891Z",
                f"2026-11-{day + rng.randint(0, 8):02d}T05:06:07.1234567Z",
                detail=detail,
            )
        else:
            answers[key] = Answer(Status.NOT_SEEN, 0)
    return source, Outcomes(STATS, answers), plan


def run_step(step: str, input_path: str, folder: str, seen_share: float) -> dict:
    """One measurement, in this process: (seconds of the step, bytes written)."""
    from enrich.sinks.interface import SinkOptions

    source, outcomes, plan = _setup(input_path, seen_share)
    options = SinkOptions(lookback_hours=720, api_url="https://api.security.microsoft.com")
    out = os.path.join(
        folder,
        {"csv": "out.csv", "report": "report.html", "report from csv": "report-csv.html"}.get(
            step, step.replace("+", "-") + ".xlsx"
        ),
    )
    frame = None
    if step.startswith("pandas"):
        import pandas as pd

        from enrich.model import MDE_COLUMNS

        parts = []
        for chunk, cells in outcomes.rows(source):
            part = chunk.frame.reset_index(drop=True).copy()
            mde = pd.DataFrame(cells, columns=list(MDE_COLUMNS))
            parts.append(pd.concat([part, mde], axis=1))
        frame = pd.concat(parts, ignore_index=True)
    started = time.perf_counter()
    if step == "csv":
        from enrich.sinks.csv import CsvSink

        with CsvSink(out, [source], options) as sink:
            sink.write(source, outcomes)
    elif step == "xlsx":
        from enrich.sinks.xlsx import XlsxSink

        with XlsxSink(out, [source], options) as sink:
            sink.write(source, outcomes)
    elif step.startswith("pandas"):
        assert frame is not None
        frame.to_excel(out, index=False, engine=step.split("+")[1])
    elif step == "report":
        from enrich.report import write_run_report

        summary = {"lookback_hours": 720, "output": "out.csv", "version": "bench", "rows": plan.rows}
        write_run_report(out, [source], outcomes, summary, argparse.Namespace(mode="stats"), "csv")
    elif step == "report from csv":
        from enrich.report import make_report

        make_report([os.path.join(folder, "out.csv")], out)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "bytes": os.path.getsize(out) if step != "base" else 0}


def measure(step: str, input_path: str, folder: str, seen_share: float) -> dict:
    """Run `step` in a child process; its figures and peak memory (MiB)."""
    cmd = [
        sys.executable,
        __file__,
        "--one",
        step,
        "--input",
        input_path,
        "--dir",
        folder,
        "--seen",
        str(seen_share),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdout is not None
    text = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"{step} failed")
    result = json.loads(text)
    result["peak_mib"] = usage.ru_maxrss / 1024
    return result


def browse(page: str) -> dict[str, float]:
    """Milliseconds, in headless Chromium, to draw the page, sort the table and filter it."""
    import shutil

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(arg)
    driver = webdriver.Chrome(
        service=Service(shutil.which("chromedriver") or "chromedriver"), options=options
    )
    try:
        started = time.perf_counter()
        driver.get(Path(page).as_uri())
        WebDriverWait(driver, 120).until(
            lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready")
        )
        figures = {"open and draw": (time.perf_counter() - started) * 1000}
        figures["sort by prevalence"] = driver.execute_script(
            "const t = performance.now(); document.querySelector('th[data-col=\"prevalence\"]').click();"
            "return performance.now() - t;"
        )
        figures["filter ('example/path/1')"] = driver.execute_script(
            "const f = document.getElementById('filter'); f.value = 'example/path/1'; const t = performance.now();"
            "f.dispatchEvent(new Event('input')); return performance.now() - t;"
        )
        return figures
    finally:
        driver.quit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seen", type=float, default=0.3, help="share of lookups answered seen")
    parser.add_argument("--repeat", type=int, default=2, help="runs per step (the fastest is kept)")
    parser.add_argument("--browser", action="store_true", help="also time the report in headless Chromium")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--input", help=argparse.SUPPRESS)
    parser.add_argument("--dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_step(args.one, args.input, args.dir, args.seen)))
        return
    with tempfile.TemporaryDirectory() as folder:
        input_path = os.path.join(folder, "feed.csv")
        generate(Path(input_path), args.rows)
        size = os.path.getsize(input_path)
        print(f"input: {args.rows:,} rows, {size / 2**20:.1f} MiB; seen share {args.seen}")
        results: dict[str, dict] = {}
        for _ in range(args.repeat):  # steps in turn, so a burst of load hits all of them alike
            for step in STEPS:
                run = measure(step, input_path, folder, args.seen)
                print(f"  {step}: {run['seconds']:.2f} s", file=sys.stderr, flush=True)
                if step not in results or run["seconds"] < results[step]["seconds"]:
                    results[step] = run
        browser_figures = browse(os.path.join(folder, "report.html")) if args.browser else {}
    csv_s = results["csv"]["seconds"]
    base = results["base"]["peak_mib"]
    print()
    print("| output | seconds | vs CSV output | size MiB | peak MiB (base: reading + answers) |")
    print("|---|---:|---:|---:|---:|")
    for step in STEPS:
        r = results[step]
        if step == "base":
            print(f"| base (read, plan, answers; untimed) | - | - | - | {base:.0f} |")
            continue
        print(
            f"| {step} | {r['seconds']:.2f} | {r['seconds'] / csv_s:.2f}x | {r['bytes'] / 2**20:.1f} | {r['peak_mib']:.0f} (+{r['peak_mib'] - base:.0f}) |"
        )
    if browser_figures:
        print()
        print("| in headless Chromium | ms |")
        print("|---|---:|")
        for name, ms in browser_figures.items():
            print(f"| {name} | {ms:.0f} |")
    xlsx, best_pandas = (
        results["xlsx"]["seconds"],
        min(results["pandas+openpyxl"]["seconds"], results["pandas+xlsxwriter"]["seconds"]),
    )
    print(f"\nxlsx vs the faster pandas to_excel: {xlsx / best_pandas:.2f}x the time")


if __name__ == "__main__":
    main()
