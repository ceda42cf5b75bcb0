"""The report in a real headless browser (Debian's Chromium through selenium and chromedriver):
loaded from disk with the network off, no console error, every chart drawn, the table sorted,
filtered and paged, no value run as markup; a screenshot is saved in out/.

Chromium is installed by the project's set-up (`make browser`, which .ci/run calls). Outside CI
(no `CI` variable) the test is skipped when it is missing, saying how to install it; in CI a
missing browser fails the test.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from enrich.report import make_report
from tests.report.helpers import XSS_DEVICES, XSS_VALUE, output_row, synthetic_rows, write_output

REPO = Path(__file__).resolve().parents[2]
SHOTS = REPO / "out"
INSTALL = (
    "install it with `make browser` (apt-get install -y chromium chromium-driver) and `pip install selenium`"
)


def _browser_paths() -> tuple[str, str] | None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    return (chromium, driver) if chromium and driver else None


@pytest.fixture(scope="module")
def browser():
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        paths = None
    else:
        paths = _browser_paths()
    if paths is None:
        if os.environ.get("CI"):
            pytest.fail(f"Chromium, chromedriver or selenium is missing in CI: {INSTALL}")
        pytest.skip(f"Chromium, chromedriver or selenium is missing: {INSTALL}")
    chromium, driver_path = paths
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1300,1800",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(60)
    try:
        driver.set_network_conditions(offline=True, latency=0, download_throughput=0, upload_throughput=0)
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    folder = tmp_path_factory.mktemp("report")
    rows = synthetic_rows(260, 40)
    rows.append(
        output_row(
            "seen",
            "domain",
            XSS_VALUE,
            "77",
            "2026-11-05T00:00:00Z",
            "2026-11-06T00:00:00Z",
            mde_devices=XSS_DEVICES,
        )
    )
    rows.append(output_row("error", "ipv4", "203.0.113.250", "", mde_error="MDE answered 500"))
    out = write_output(folder / "out.csv", rows)
    page = folder / "report.html"
    make_report([out], str(page))
    return page, rows


def _rows(driver) -> list[dict[str, str]]:
    return driver.execute_script(
        """return Array.from(document.querySelectorAll('#seen-table tbody tr')).map(tr =>
             Object.fromEntries(Array.from(tr.children).map(td => [td.dataset.col, td.textContent])));"""
    )


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def test_report_in_headless_chromium(browser, report):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    page, rows = report
    browser.get_log("browser")  # drop anything from before
    browser.get(page.as_uri())
    WebDriverWait(browser, 30).until(
        lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "1"
    )

    # no console error, and no request but the file itself (the network is off anyway)
    errors = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert errors == []
    requests = []
    for entry in browser.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            requests.append(message["params"]["request"]["url"])
    assert requests and all(u.startswith(("file:", "data:")) for u in requests), requests

    # nothing from the data ran: the values are on the page as text
    assert browser.execute_script("return window.__pwned === undefined")

    # headline
    seen_rows = [r for r in rows if r["mde_status"] == "seen"]
    card = browser.find_element(By.CSS_SELECTOR, '.card[data-key="seen"] .n').text
    assert _number(card) == len(seen_rows)
    assert _number(browser.find_element(By.CSS_SELECTOR, '.card[data-key="rows"] .n').text) == len(rows)
    assert _number(browser.find_element(By.CSS_SELECTOR, '.card[data-key="error"] .n').text) == 1

    # each chart drawn: an SVG with marks in it
    for chart, mark in (
        ("status", "rect[data-status]"),
        ("prevalence", "rect[data-count]"),
        ("timeline", "rect[data-value]"),
    ):
        marks = browser.find_elements(By.CSS_SELECTOR, f'svg[data-chart="{chart}"] {mark}')
        assert marks, chart
        size = marks[0].size
        assert size["width"] > 0 and size["height"] > 0, chart
    statuses = {
        e.get_attribute("data-status") for e in browser.find_elements(By.CSS_SELECTOR, "rect[data-status]")
    }
    assert {"seen", "not_seen", "invalid", "unsupported", "error"} <= statuses
    counts = [
        int(e.get_attribute("data-count")) for e in browser.find_elements(By.CSS_SELECTOR, "rect[data-count]")
    ]
    assert sum(counts) == len({r["mde_value"] for r in seen_rows})

    # the table: paged, 100 rows at a time
    shown = _rows(browser)
    assert len(shown) == 100
    match = browser.find_element(By.ID, "match-count")
    assert match.text == f"{len(seen_rows)} of {len(seen_rows)} seen rows"
    browser.find_element(By.ID, "next").click()
    assert _rows(browser)[0] != shown[0]
    assert "page 2 of 3" in browser.find_element(By.ID, "page-info").text

    # sort by prevalence: ascending, then descending
    header = browser.find_element(By.CSS_SELECTOR, '#seen-table th[data-col="prevalence"]')
    header.click()
    values = [_number(r["prevalence"]) for r in _rows(browser)]
    lowest = min(float(r["mde_org_prevalence"]) for r in seen_rows)
    assert values == sorted(values) and values[0] == lowest
    assert header.get_attribute("aria-sort") == "ascending"
    header.click()
    values = [_number(r["prevalence"]) for r in _rows(browser)]
    assert values == sorted(values, reverse=True)
    assert values[0] == max(float(r["mde_org_prevalence"]) for r in seen_rows)

    # filter by text: the value holding markup is found and shown as text
    box = browser.find_element(By.ID, "filter")
    box.send_keys("onerror")
    WebDriverWait(browser, 10).until(lambda d: d.find_element(By.ID, "match-count").text.startswith("1 of"))
    (only,) = _rows(browser)
    assert only["value"] == XSS_VALUE and only["devices"] == XSS_DEVICES.replace(";", "; ")
    assert browser.execute_script("return window.__pwned === undefined")
    box.clear()
    box.send_keys("host1")  # host1, host10..19, host100..
    expected = [r for r in seen_rows if "host1" in r["mde_value"] or "host1" in r.get("mde_devices", "")]
    WebDriverWait(browser, 10).until(
        lambda d: d.find_element(By.ID, "match-count").text.startswith(f"{len(expected)} of")
    )
    assert all("host1" in r["value"] for r in _rows(browser))

    # filter by type
    browser.execute_script(
        "const f = document.getElementById('filter'); f.value = ''; f.dispatchEvent(new Event('input'));"
    )
    Select(browser.find_element(By.ID, "type-filter")).select_by_value("sha256")
    sha = [r for r in seen_rows if r["mde_type"] == "sha256"]
    assert match.text == f"{len(sha)} of {len(seen_rows)} seen rows"
    assert {r["type"] for r in _rows(browser)} == {"sha256"}
    Select(browser.find_element(By.ID, "type-filter")).select_by_value("")

    SHOTS.mkdir(exist_ok=True)
    browser.set_window_size(1300, min(4000, browser.execute_script("return document.body.scrollHeight") + 40))
    browser.execute_script("window.scrollTo(0, 0)")
    assert browser.save_screenshot(str(SHOTS / "report.png"))
    assert (SHOTS / "report.png").stat().st_size > 10_000
    assert [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "ERROR")] == []


def test_report_of_a_sandbox_run_in_headless_chromium(browser, tmp_path):
    """The page `enrich run --report` writes for the samples (CSV and STIX inputs, hunting's device
    names): drawn without a console error, its table as many rows as the run saw."""
    from click.testing import CliRunner
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from enrich.cli import cli

    page, summary = tmp_path / "run.html", tmp_path / "s.json"
    samples = REPO / "sample_data"
    args = ["run", "--sandbox", "--no-cache", str(samples), "-o", str(tmp_path / "out.xlsx")]
    result = CliRunner().invoke(cli, [*args, "--report", str(page), "--summary", str(summary)])
    assert result.exit_code in (0, 3), result.stderr
    seen = json.loads(summary.read_text())["rows"]["by_status"].get("seen", 0)
    browser.get_log("browser")
    browser.get(page.as_uri())
    WebDriverWait(browser, 30).until(
        lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "1"
    )
    assert [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "ERROR")] == []
    for chart in ("status", "prevalence", "timeline"):
        assert browser.find_elements(By.CSS_SELECTOR, f'svg[data-chart="{chart}"] rect'), chart
    assert browser.find_element(By.ID, "match-count").text == f"{seen} of {seen} seen rows"
    inputs = browser.find_elements(By.CSS_SELECTOR, "#inputs-table tbody tr")
    assert len(inputs) == len(
        [p for p in samples.iterdir() if p.suffix in (".csv", ".txt", ".json", ".jsonl")]
    )
