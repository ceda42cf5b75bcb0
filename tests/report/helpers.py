"""Outputs of `enrich run` made for report tests: CSV written by hand in the output's own shape."""

from __future__ import annotations

import csv
from pathlib import Path

from enrich.model import MDE_COLUMNS

XSS_VALUE = '<img src=x onerror="window.__pwned=1">'
XSS_DEVICES = "</script><script>window.__pwned=2</script>;host-2"


def output_row(
    status: str, kind: str, value: str, prevalence: str = "", first: str = "", last: str = "", **more: str
) -> dict:
    cells = dict.fromkeys(MDE_COLUMNS, "")
    cells.update(
        mde_type=kind,
        mde_value=value,
        mde_status=status,
        mde_org_prevalence=prevalence,
        mde_org_first_seen=first,
        mde_org_last_seen=last,
    )
    for name, text in more.items():
        cells[name] = text
    return cells


def write_output(path: Path, rows: list[dict], inputs: list[str] | None = None) -> str:
    """An enrich CSV output: an input column `indicator`, then the mde_* columns (a first column
    source_file when `inputs` names each row's input)."""
    extra = [name for row in rows for name in row if name not in MDE_COLUMNS]
    mde = list(MDE_COLUMNS) + [n for n in dict.fromkeys(extra)]
    header = (["source_file"] if inputs else []) + ["indicator"] + mde
    with path.open("w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh, lineterminator="\n")
        out.writerow(header)
        for i, row in enumerate(rows):
            out.writerow(([inputs[i]] if inputs else []) + [row["mde_value"]] + [row.get(n, "") for n in mde])
    return str(path)


def synthetic_rows(n_seen: int, n_unseen: int) -> list[dict]:
    """`n_seen` seen rows across types with prevalence 1..n and dates over November 2026, then unseen ones."""
    kinds = ["ipv4", "domain", "sha256", "url"]
    rows = []
    for i in range(n_seen):
        kind = kinds[i % len(kinds)]
        value = {
            "ipv4": f"198.51.{i // 250}.{i % 250}",
            "domain": f"host{i}.example",
            "sha256": f"{i:064x}",
            "url": f"https://bad{i}.example/p?q={i}",
        }[kind]
        day = 1 + i % 28
        rows.append(
            output_row(
                "seen",
                kind,
                value,
                str(1 + (i * 7919) % 5000),
                f"2026-11-{day:02d}T01:02:03.456Z",
                f"2026-11-{min(30, day + 2):02d}T04:05:06.789Z",
                mde_devices=f"pc-{i};pc-{i + 1}",
                mde_events=str(i + 3),
                mde_answered_by="hunting-graph" if i % 2 else "cache",
            )
        )
    for i in range(n_unseen):
        rows.append(output_row("not_seen", "domain", f"quiet{i}.example", "0"))
    rows.append(output_row("invalid", "", "not an indicator at all"))
    rows.append(output_row("unsupported", "md5", "d41d8cd98f00b204e9800998ecf8427e"))
    return rows
