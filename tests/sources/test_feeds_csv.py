"""Every real CSV feed in ../shared/feeds/csv through `classify` (skipped when the folder is absent).

Row counts are checked against an independent count (Python's csv module, after the `#` banner),
and every input cell must come out unchanged. Type counts were counted BY HAND with grep/awk on
the raw files (commands in the comments) and must match what the classifier reports.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from pathlib import Path

import pytest

from enrich.classify_job import classify_files
from enrich.model import MDE_COLUMNS

HEADERLESS = {"sekoia_calisto_infrastructure_20221205.txt", "volexity_device_code_phishing_iocs_noheader.txt"}


def feed_files(feeds: Path) -> list[Path]:
    return sorted(p for p in (feeds / "csv").iterdir() if p.suffix in (".csv", ".txt"))


def independent_records(path: Path) -> list[list[str]]:
    """Data records as Python's csv module reads them: banner, blank and `# ...` lines skipped."""
    text = path.read_bytes().decode("utf-8-sig")
    lines = text.splitlines(keepends=True)
    while lines and (not lines[0].strip() or lines[0].lstrip().startswith("#")):
        lines.pop(0)
    records = [
        r
        for r in csv.reader(io.StringIO("".join(lines), newline=""), skipinitialspace=True)
        if r and any(c.strip() for c in r) and not (len(r) == 1 and r[0].startswith("#"))
    ]
    return records if path.name in HEADERLESS else records[1:]


def classify(path: Path, tmp_path: Path) -> tuple[list[list[str]], Counter]:
    out = tmp_path / (path.name + ".out.csv")
    counts = classify_files([str(path)], str(out), None, False, None, err=io.StringIO())
    with open(out, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    return rows, counts


def test_every_feed_keeps_every_row_and_cell(feeds_dir, tmp_path):
    files = feed_files(feeds_dir)
    assert len(files) >= 10
    for path in files:
        rows, _ = classify(path, tmp_path)
        header, data = rows[0], rows[1:]
        assert header[-len(MDE_COLUMNS) :] == list(MDE_COLUMNS), path.name
        expected = independent_records(path)
        assert len(data) == len(expected), path.name
        width = len(header) - len(MDE_COLUMNS)
        for got, want in zip(data, expected, strict=True):
            assert got[:width] == want + [""] * (width - len(want)), path.name
            assert got[width + 2] in ("pending", "unsupported", "invalid"), path.name


def type_counts(feeds_dir: Path, name: str, tmp_path: Path) -> Counter:
    path = feeds_dir / "csv" / name
    if not path.exists():
        pytest.skip(f"{name} not present")
    _, counts = classify(path, tmp_path)
    return Counter({t: n for (t, s), n in counts.items() if s == "pending"})


def test_hand_count_feodotracker(feeds_dir, tmp_path):
    # grep -c '^"[0-9]' abusech_feodotracker_ipblocklist.csv  -> 28 quoted data rows, all dst_ip IPv4
    assert type_counts(feeds_dir, "abusech_feodotracker_ipblocklist.csv", tmp_path) == Counter(ipv4=28)


def test_hand_count_raccoon(feeds_dir, tmp_path):
    # awk -F, 'NR>1{print $1}' sekoia_raccoon_stealer_iocs_20220628.csv | sort | uniq -c
    #   -> 7 domain, 86 ip, 21 md5, 21 sha1, 21 sha256, 905 url (all defanged ones included)
    # A lone MD5 is unsupported in stats mode (commit ce19018): the 21 MD5s are counted there.
    assert type_counts(feeds_dir, "sekoia_raccoon_stealer_iocs_20220628.csv", tmp_path) == Counter(
        ipv4=86, domain=7, url=905, sha1=21, sha256=21
    )
    _, counts = classify(feeds_dir / "csv" / "sekoia_raccoon_stealer_iocs_20220628.csv", tmp_path)
    assert counts[("md5", "unsupported")] == 21


def test_hand_count_evilbamboo(feeds_dir, tmp_path):
    # sed 1d volexity_evilbamboo_iocs.csv | awk -F, '{print $2}' | sort | uniq -c
    #   -> 212 file (each a sha256), 24 hostname, 7 ipaddress
    assert type_counts(feeds_dir, "volexity_evilbamboo_iocs.csv", tmp_path) == Counter(
        sha256=212, domain=24, ipv4=7
    )


def test_hand_count_xegroup_multi_hash_cells(feeds_dir, tmp_path):
    # grep -o ',\(file\|hostname\|ipaddress\),' volexity_xegroup_indicators.csv | sort | uniq -c
    #   -> 52 file (each cell "sha1,sha256,md5": 52 of each), 84 hostname, 8 ipaddress
    assert type_counts(feeds_dir, "volexity_xegroup_indicators.csv", tmp_path) == Counter(
        sha1=52, sha256=52, md5=52, domain=84, ipv4=8
    )


def test_hand_count_ryuk_quoted_newlines(feeds_dir, tmp_path):
    # grep -cE '^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+,' -> 102;  grep -cE '^https?://' -> 9;
    # grep -cE '^[A-Za-z0-9.-]+\.[a-z]+,SEKOIA' -> 119 (domains); 230 records over 461 lines
    assert type_counts(feeds_dir, "sekoia_ryuk_c2_20201029.csv", tmp_path) == Counter(
        ipv4=102, domain=119, url=9
    )


def test_hand_count_pikabot_ip_port(feeds_dir, tmp_path):
    # sed 1d sekoia_pikabot_iocs_20240603.csv | wc -l -> 368 (grep -cE '^[0-9.]+:[0-9]+,' -> 332 with a port)
    # The Link column (URLs to one site) must not be chosen.
    assert type_counts(feeds_dir, "sekoia_pikabot_iocs_20240603.csv", tmp_path) == Counter(ipv4=368)


def test_hand_count_headerless_lists(feeds_dir, tmp_path):
    # grep -c . sekoia_calisto_infrastructure_20221205.txt -> 85 defanged domains, no header
    assert type_counts(feeds_dir, "sekoia_calisto_infrastructure_20221205.txt", tmp_path) == Counter(
        domain=85
    )
    # grep -oE ',(hostname|ipaddress),' volexity_device_code_phishing_iocs_noheader.txt | sort | uniq -c
    #   -> 8 hostname, 4 ipaddress (the first row is data, not a header)
    assert type_counts(feeds_dir, "volexity_device_code_phishing_iocs_noheader.txt", tmp_path) == Counter(
        domain=8, ipv4=4
    )


def test_hand_count_3cx_emails_unsupported(feeds_dir, tmp_path):
    # sed 1d volexity_3cx_iocs.csv | grep -oE ',(hostname|emailwhois|file),' | sort | uniq -c
    #   -> 23 hostname, 5 emailwhois (unsupported), 6 file (sha256,sha1,md5 each)
    path = feeds_dir / "csv" / "volexity_3cx_iocs.csv"
    if not path.exists():
        pytest.skip("volexity_3cx_iocs.csv not present")
    _, counts = classify(path, tmp_path)
    assert counts == Counter(
        {
            ("domain", "pending"): 23,
            ("-", "unsupported"): 5,
            ("sha256", "pending"): 6,
            ("sha1", "pending"): 6,
            ("md5", "pending"): 6,
        }
    )


def test_urlhaus_picks_url_not_urlhaus_link(feeds_dir, tmp_path):
    # 11,125 rows (MANIFEST); both `url` and `urlhaus_link` hold URLs, the links all on one host.
    assert type_counts(feeds_dir, "abusech_urlhaus_online.csv", tmp_path) == Counter(url=11125)
