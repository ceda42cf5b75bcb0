"""A report from an xlsx workbook written by `enrich run --to xlsx` (`sinks/xlsx.py`).

Each sheet but `Summary` is one input: its `mde_*` columns (headers of times end in ` (UTC)`),
numbers and date-times turned back into the text the CSV output holds. The `Summary` sheet says
which input each sheet holds, the lookback and the mode. Read with openpyxl in read-only mode
(row by row: a workbook of a million rows is not held whole).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from enrich.report.data import Collector

SUMMARY = "Summary"


def _text(value: Any) -> str:
    """A cell as the CSV output writes it: times as ISO 8601 UTC with milliseconds."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _summary(sheet: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """(the Summary sheet's facts by label, input by sheet name)."""
    facts: dict[str, Any] = {}
    inputs: dict[str, str] = {}
    in_table = False
    for row in sheet.iter_rows(values_only=True):
        if not row or row[0] is None:
            continue
        if row[:2] == ("sheet", "input"):
            in_table = True
            continue
        if in_table and len(row) > 1:
            inputs[str(row[0])] = _text(row[1])
        elif len(row) > 1:
            facts[str(row[0])] = row[1]
    return facts, inputs


def read_xlsx(path: str, collector: Collector, error: type[Exception]) -> dict[str, Any]:
    """Add every row of the workbook at `path` to `collector`; returns the Summary sheet's facts.

    `error` is raised (with a message naming `path`) when the file is not an enrich workbook."""
    import zipfile

    from openpyxl import load_workbook  # only `enrich report` on a workbook pays for the import

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except (OSError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise error(f"{path}: not an xlsx workbook that can be read ({exc})") from None
    try:
        facts, inputs = _summary(book[SUMMARY]) if SUMMARY in book.sheetnames else ({}, {})
        found = False
        for name in book.sheetnames:
            if name == SUMMARY:
                continue
            rows = book[name].iter_rows(values_only=True)
            header = [_text(h).removesuffix(" (UTC)") for h in next(rows, ())]
            if "mde_status" not in header:
                continue
            found = True
            where = {h: i for i, h in enumerate(header) if h.startswith("mde_")}  # the last of a name
            file = inputs.get(name) or f"{path} [{name}]"
            for number, line in enumerate(rows, 1):
                cells = {h: _text(line[i]) if i < len(line) else "" for h, i in where.items()}
                status = cells.get("mde_status", "")
                collector.add_row(
                    file, number, cells, [(t, status) for t in cells.get("mde_type", "").split(";")]
                )
        if not found:
            raise error(f"{path}: no sheet with an mde_status column (not an xlsx output of enrich run)")
        return facts
    finally:
        book.close()
