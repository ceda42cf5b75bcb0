"""The sandbox's KQL engine: every construct of the subset against small hand-made tables.

Expected rows are computed independently in each case with plain Python over the same
tables, never with the engine's own helpers.
"""

from __future__ import annotations

import random
import re
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from enrich.sandbox.kql import KqlError, QueryResult, run_query

NOW = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)
_COMMON = [
    ("Timestamp", "datetime"),
    ("DeviceId", "string"),
    ("DeviceName", "string"),
    ("ActionType", "string"),
]
#: Small fixed schemas, so the expected rows do not depend on the sandbox's full table columns.
SCHEMAS = {
    "DeviceFileEvents": _COMMON
    + [
        (c, "string")
        for c in ("FileName", "FolderPath", "SHA1", "SHA256", "MD5", "InitiatingProcessFileName")
    ],
    "DeviceProcessEvents": _COMMON
    + [
        (c, "string")
        for c in (
            "FileName",
            "FolderPath",
            "SHA1",
            "SHA256",
            "MD5",
            "ProcessCommandLine",
            "InitiatingProcessFileName",
        )
    ],
    "DeviceNetworkEvents": _COMMON
    + [("RemoteIP", "string"), ("RemotePort", "int")]
    + [
        (c, "string")
        for c in ("RemoteUrl", "LocalIP", "Protocol", "InitiatingProcessFileName", "InitiatingProcessSHA1")
    ],
}
TABLES = SCHEMAS


def ts(ago: timedelta, frac: str = "1234567") -> str:
    return (NOW - ago).strftime("%Y-%m-%dT%H:%M:%S.") + frac + "Z"


def when(value: str) -> datetime:
    return datetime.fromisoformat(value)  # 3.11 reads the 7-digit fraction (truncated to µs)


D, H, M = timedelta(days=1), timedelta(hours=1), timedelta(minutes=1)
SHA1_A = "3395856ce81f2b7382dee72602f798b642f14140"
SHA1_B = "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3"
SHA256_A = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"


def _file(when_, device, name, action, fname, folder, sha1, sha256, md5, parent):
    return {
        "Timestamp": when_,
        "DeviceId": device,
        "DeviceName": name,
        "ActionType": action,
        "FileName": fname,
        "FolderPath": folder,
        "SHA1": sha1,
        "SHA256": sha256,
        "MD5": md5,
        "InitiatingProcessFileName": parent,
    }


FILES = [
    _file(
        ts(D),
        "dev1",
        "host1.contoso.com",
        "FileCreated",
        "evil.exe",
        r"C:\Users\a\evil.exe",
        SHA1_A,
        SHA256_A,
        "44d88612fea8a8f36de82e1278abb02f",
        "powershell.exe",
    ),
    _file(
        ts(2 * D),
        "dev2",
        "host2.contoso.com",
        "FileCreated",
        "evil.exe",
        r"C:\Temp\evil.exe",
        SHA1_A,
        "",
        "44d88612fea8a8f36de82e1278abb02f",
        "cmd.exe",
    ),
    _file(
        ts(3 * D, "0000001"),
        "dev2",
        "host2.contoso.com",
        "FileModified",
        "Invoice.PDF.exe",
        r"C:\Users\b\Downloads\Invoice.PDF.exe",
        SHA1_B.upper(),
        "",
        "",
        "outlook.exe",
    ),
    _file(
        ts(10 * M),
        "dev3",
        "HOST3",
        "FileRenamed",
        "notes.txt",
        r"C:\Users\c\notes.txt",
        SHA1_B,
        "",
        "0cc175b9c0f1b6a831c399e269772661",
        "notepad.exe",
    ),
    _file(
        ts(20 * D),
        "dev1",
        "host1.contoso.com",
        "FileDeleted",
        "evil.exe",
        r"C:\Users\a\evil.exe",
        SHA1_A,
        SHA256_A,
        "44d88612fea8a8f36de82e1278abb02f",
        "explorer.exe",
    ),
    _file(
        ts(45 * D),
        "dev4",
        "old-host",
        "FileCreated",
        "old.dll",
        r"C:\Windows\System32\old.dll",
        "da39a3ee5e6b4b0d3255bfef95601890afd80709",
        "",
        "",
        "svchost.exe",
    ),
    _file(
        ts(29 * D + 23 * H),
        "dev5",
        "edge",
        "FileCreated",
        "run.ps1",
        r"\\server\share\run.ps1",
        "",
        "",
        "",
        "Explorer.EXE",
    ),
]


def _net(when_, device, action, ip, port, url, local, proto, parent, parent_sha1):
    return {
        "Timestamp": when_,
        "DeviceId": device,
        "DeviceName": device + ".contoso.com",
        "ActionType": action,
        "RemoteIP": ip,
        "RemotePort": port,
        "RemoteUrl": url,
        "LocalIP": local,
        "Protocol": proto,
        "InitiatingProcessFileName": parent,
        "InitiatingProcessSHA1": parent_sha1,
    }


NETWORK = [
    _net(
        ts(H),
        "dev1",
        "ConnectionSuccess",
        "93.184.216.34",
        443,
        "https://www.example.com/login",
        "10.0.0.4",
        "Tcp",
        "chrome.exe",
        SHA1_A,
    ),
    _net(
        ts(2 * H),
        "dev2",
        "ConnectionSuccess",
        "93.184.216.34",
        80,
        "example.com",
        "10.0.0.5",
        "Tcp",
        "curl.exe",
        SHA1_B,
    ),
    _net(
        ts(3 * H),
        "dev2",
        "ConnectionFailed",
        "198.51.100.7",
        8080,
        "notexample.com",
        "10.0.0.5",
        "Tcp",
        "curl.exe",
        SHA1_B,
    ),
    _net(
        ts(4 * H),
        "dev3",
        "ConnectionSuccess",
        "203.0.113.9",
        443,
        "mail.EXAMPLE.com.evil.net",
        "10.0.0.6",
        "Tcp",
        "outlook.exe",
        "",
    ),
    _net(
        ts(5 * H),
        "dev3",
        "DnsConnectionInspected",
        "2001:db8::1",
        53,
        "",
        "fe80::1",
        "Udp",
        "svchost.exe",
        "",
    ),
    _net(
        ts(6 * H),
        "dev4",
        "ConnectionSuccess",
        "10.0.0.9",
        None,
        "http://10.0.0.9:8080/x",
        "10.0.0.7",
        "Tcp",
        "python.exe",
        "",
    ),
    _net(
        ts(40 * D),
        "dev1",
        "ConnectionSuccess",
        "93.184.216.34",
        443,
        "EXAMPLE.COM",
        "10.0.0.4",
        "Tcp",
        "chrome.exe",
        SHA1_A,
    ),
]


def _proc(when_, device, fname, cmd, sha1, parent):
    return {
        "Timestamp": when_,
        "DeviceId": device,
        "DeviceName": device,
        "ActionType": "ProcessCreated",
        "FileName": fname,
        "FolderPath": "C:\\Windows\\System32\\" + fname,
        "SHA1": sha1,
        "SHA256": "",
        "MD5": "",
        "ProcessCommandLine": cmd,
        "InitiatingProcessFileName": parent,
    }


PROCESSES = [
    _proc(ts(H), "dev1", "powershell.exe", 'powershell.exe -enc "SQBFAFgA" -w hidden', SHA1_A, "winword.exe"),
    _proc(
        ts(2 * H), "dev2", "cmd.exe", r"cmd.exe /c copy C:\Temp\a.txt \\server\share", SHA1_B, "explorer.exe"
    ),
    _proc(ts(3 * D), "dev2", "rundll32.exe", "rundll32.exe it's,Entry", "", "cmd.exe"),
]

TABLE_DATA = {"DeviceFileEvents": FILES, "DeviceNetworkEvents": NETWORK, "DeviceProcessEvents": PROCESSES}


def run(query: str) -> QueryResult:
    return run_query(query, TABLE_DATA, NOW, schemas=SCHEMAS)


# ---------------------------------------------------------------------------
# independent reference helpers


def has(hay: str, needle: str) -> bool:
    hay, needle = hay.lower(), needle.lower()
    if not needle:
        return False
    before = r"(?<![a-z0-9])" if re.match(r"[a-z0-9]", needle[0]) else ""
    after = r"(?![a-z0-9])" if re.match(r"[a-z0-9]", needle[-1]) else ""
    return re.search(before + re.escape(needle) + after, hay) is not None


def pick(rows, *cols, **aliases):
    out = []
    for r in rows:
        item = {c: r[c] for c in cols}
        item.update({alias: r[c] for alias, c in aliases.items()})
        out.append(item)
    return out


def group(rows, keys, **aggs):
    """aggs: name -> ("count"|"dcount"|"min"|"max", column)."""
    groups: dict[tuple, list] = defaultdict(list)
    for r in rows:
        groups[tuple(r[k] for k in keys)].append(r)
    out = []
    for key, members in groups.items():
        item = dict(zip(keys, key, strict=True))
        for name, (fn, col) in aggs.items():
            values = [] if col is None else [m[col] for m in members if m[col] is not None]
            item[name] = {
                "count": lambda v, ms=members: len(ms),
                "dcount": lambda v: len(set(v)),
                "min": lambda v: min(v) if v else None,
                "max": lambda v: max(v) if v else None,
            }[fn](values)
        out.append(item)
    return out


def unordered(rows):
    return sorted(rows, key=lambda r: repr(sorted(r.items(), key=lambda kv: kv[0])))


def recent(rows, delta):
    return [r for r in rows if when(r["Timestamp"]) > NOW - delta]


IOCS = [SHA1_A, SHA1_B, "0" * 40]

# (id, query, expected rows, order matters)
CASES = [
    ("table", "DeviceFileEvents", lambda: FILES, True),
    (
        "eq_case_sensitive",
        f"DeviceFileEvents | where SHA1 == '{SHA1_B}'",
        lambda: [r for r in FILES if r["SHA1"] == SHA1_B],
        True,
    ),
    (
        "neq",
        "DeviceFileEvents | where FileName != 'evil.exe'",
        lambda: [r for r in FILES if r["FileName"] != "evil.exe"],
        True,
    ),
    (
        "eq_tilde",
        f"DeviceFileEvents | where SHA1 =~ '{SHA1_B}'",
        lambda: [r for r in FILES if r["SHA1"].lower() == SHA1_B],
        True,
    ),
    (
        "neq_tilde",
        "DeviceFileEvents | where InitiatingProcessFileName !~ 'EXPLORER.exe'",
        lambda: [r for r in FILES if r["InitiatingProcessFileName"].lower() != "explorer.exe"],
        True,
    ),
    (
        "in",
        f"DeviceFileEvents | where SHA1 in ('{SHA1_A}', '{SHA1_B}', 'zzz')",
        lambda: [r for r in FILES if r["SHA1"] in (SHA1_A, SHA1_B)],
        True,
    ),
    (
        "in_tilde",
        f"DeviceFileEvents | where SHA1 in~ ('{SHA1_B.upper()}')",
        lambda: [r for r in FILES if r["SHA1"].lower() == SHA1_B],
        True,
    ),
    (
        "not_in",
        f"DeviceFileEvents | where SHA1 !in ('{SHA1_A}')",
        lambda: [r for r in FILES if r["SHA1"] != SHA1_A],
        True,
    ),
    (
        "not_in_tilde",
        f"DeviceFileEvents | where SHA1 !in~ ('{SHA1_B.upper()}', '{SHA1_A}')",
        lambda: [r for r in FILES if r["SHA1"].lower() not in (SHA1_B, SHA1_A)],
        True,
    ),
    (
        "in_numbers",
        "DeviceNetworkEvents | where RemotePort in (443, 53)",
        lambda: [r for r in NETWORK if r["RemotePort"] in (443, 53)],
        True,
    ),
    (
        "not_in_numbers_null",
        "DeviceNetworkEvents | where RemotePort !in (443)",
        lambda: [r for r in NETWORK if r["RemotePort"] is not None and r["RemotePort"] != 443],
        True,
    ),
    (
        "has_any_domain",
        "DeviceNetworkEvents | where RemoteUrl has_any ('example.com', '10.0.0.9')",
        lambda: [r for r in NETWORK if has(r["RemoteUrl"], "example.com") or has(r["RemoteUrl"], "10.0.0.9")],
        True,
    ),
    (
        "has_any_single_term",
        "DeviceNetworkEvents | where RemoteUrl has_any ('LOGIN')",
        lambda: [r for r in NETWORK if has(r["RemoteUrl"], "login")],
        True,
    ),
    ("has_any_empty_list", "DeviceNetworkEvents | where RemoteUrl has_any ()", lambda: [], True),
    (
        "has",
        "DeviceNetworkEvents | where RemoteUrl has 'EXAMPLE.COM'",
        lambda: [r for r in NETWORK if has(r["RemoteUrl"], "example.com")],
        True,
    ),
    (
        "has_term_not_substring",
        "DeviceNetworkEvents | where RemoteUrl has 'exam'",
        lambda: [r for r in NETWORK if has(r["RemoteUrl"], "exam")],
        True,
    ),
    (
        "not_has",
        "DeviceNetworkEvents | where RemoteUrl !has 'example.com'",
        lambda: [r for r in NETWORK if not has(r["RemoteUrl"], "example.com")],
        True,
    ),
    (
        "contains",
        "DeviceNetworkEvents | where RemoteUrl contains 'EXAMPLE'",
        lambda: [r for r in NETWORK if "example" in r["RemoteUrl"].lower()],
        True,
    ),
    (
        "not_contains",
        "DeviceNetworkEvents | where RemoteUrl !contains 'example'",
        lambda: [r for r in NETWORK if "example" not in r["RemoteUrl"].lower()],
        True,
    ),
    (
        "startswith",
        "DeviceFileEvents | where FolderPath startswith @'c:\\users\\'",
        lambda: [r for r in FILES if r["FolderPath"].lower().startswith("c:\\users\\")],
        True,
    ),
    (
        "endswith",
        "DeviceFileEvents | where FileName endswith '.EXE'",
        lambda: [r for r in FILES if r["FileName"].lower().endswith(".exe")],
        True,
    ),
    (
        "not_startswith",
        "DeviceFileEvents | where FolderPath !startswith 'C:'",
        lambda: [r for r in FILES if not r["FolderPath"].lower().startswith("c:")],
        True,
    ),
    (
        "and_or_parens",
        "DeviceFileEvents | where (DeviceId == 'dev1' or DeviceId == 'dev2') and FileName == 'evil.exe'",
        lambda: [r for r in FILES if r["DeviceId"] in ("dev1", "dev2") and r["FileName"] == "evil.exe"],
        True,
    ),
    (
        "precedence_and_over_or",
        "DeviceFileEvents | where DeviceId == 'dev3' or DeviceId == 'dev1' and ActionType == 'FileDeleted'",
        lambda: [
            r
            for r in FILES
            if r["DeviceId"] == "dev3" or (r["DeviceId"] == "dev1" and r["ActionType"] == "FileDeleted")
        ],
        True,
    ),
    (
        "not",
        "DeviceFileEvents | where not(FileName == 'evil.exe' or DeviceId == 'dev5')",
        lambda: [r for r in FILES if not (r["FileName"] == "evil.exe" or r["DeviceId"] == "dev5")],
        True,
    ),
    (
        "null_comparison_filtered",
        "DeviceNetworkEvents | where not(RemotePort > 100)",
        lambda: [r for r in NETWORK if r["RemotePort"] is not None and not r["RemotePort"] > 100],
        True,
    ),
    (
        "numbers_gt",
        "DeviceNetworkEvents | where RemotePort > 443",
        lambda: [r for r in NETWORK if r["RemotePort"] is not None and r["RemotePort"] > 443],
        True,
    ),
    (
        "numbers_ge_le",
        "DeviceNetworkEvents | where RemotePort >= 80 and RemotePort <= 443",
        lambda: [r for r in NETWORK if r["RemotePort"] is not None and 80 <= r["RemotePort"] <= 443],
        True,
    ),
    (
        "numbers_lt",
        "DeviceNetworkEvents | where RemotePort < 443",
        lambda: [r for r in NETWORK if r["RemotePort"] is not None and r["RemotePort"] < 443],
        True,
    ),
    ("ago_days", "DeviceFileEvents | where Timestamp > ago(30d)", lambda: recent(FILES, 30 * D), True),
    ("ago_hours", "DeviceFileEvents | where Timestamp >= ago(720h)", lambda: recent(FILES, 720 * H), True),
    ("ago_minutes", "DeviceFileEvents | where Timestamp > ago(15m)", lambda: recent(FILES, 15 * M), True),
    (
        "ago_lt",
        "DeviceFileEvents | where Timestamp < ago(2d)",
        lambda: [r for r in FILES if when(r["Timestamp"]) < NOW - 2 * D],
        True,
    ),
    (
        "datetime_literal",
        "DeviceFileEvents | where Timestamp >= datetime(2026-11-01)",
        lambda: [r for r in FILES if when(r["Timestamp"]) >= datetime(2026, 11, 1, tzinfo=UTC)],
        True,
    ),
    (
        "datetime_literal_full",
        f"DeviceFileEvents | where Timestamp == datetime({FILES[2]['Timestamp']})",
        lambda: [FILES[2]],
        True,
    ),
    (
        "datetime_fraction_order",
        f"DeviceFileEvents | where Timestamp > datetime({FILES[2]['Timestamp'][:-2]}0Z)",
        lambda: [r for r in FILES if r["Timestamp"] > FILES[2]["Timestamp"][:-2] + "0Z"],
        True,
    ),
    (
        "isnotempty",
        "DeviceFileEvents | where isnotempty(SHA256)",
        lambda: [r for r in FILES if r["SHA256"]],
        True,
    ),
    ("isempty", "DeviceFileEvents | where isempty(MD5)", lambda: [r for r in FILES if not r["MD5"]], True),
    (
        "isempty_null_number",
        "DeviceNetworkEvents | where isempty(RemotePort)",
        lambda: [r for r in NETWORK if r["RemotePort"] is None],
        True,
    ),
    (
        "summarize_count_by",
        "DeviceFileEvents | summarize count() by SHA1",
        lambda: group(FILES, ["SHA1"], count_=("count", None)),
        False,
    ),
    (
        "summarize_aliases_two_keys",
        "DeviceFileEvents | summarize Devices = dcount(DeviceId), FirstSeen = min(Timestamp), LastSeen = max(Timestamp), Hits = count() by SHA1, FileName",
        lambda: group(
            FILES,
            ["SHA1", "FileName"],
            Devices=("dcount", "DeviceId"),
            FirstSeen=("min", "Timestamp"),
            LastSeen=("max", "Timestamp"),
            Hits=("count", None),
        ),
        False,
    ),
    (
        "summarize_default_names",
        "DeviceNetworkEvents | summarize dcount(DeviceId), min(RemotePort), max(RemotePort) by RemoteIP",
        lambda: group(
            NETWORK,
            ["RemoteIP"],
            dcount_DeviceId=("dcount", "DeviceId"),
            min_RemotePort=("min", "RemotePort"),
            max_RemotePort=("max", "RemotePort"),
        ),
        False,
    ),
    (
        "summarize_no_by",
        "DeviceFileEvents | summarize n = count(), d = dcount(DeviceId)",
        lambda: [{"n": len(FILES), "d": len({r["DeviceId"] for r in FILES})}],
        True,
    ),
    (
        "summarize_empty_no_by",
        "DeviceFileEvents | where DeviceId == 'none' | summarize count(), max(Timestamp)",
        lambda: [{"count_": 0, "max_Timestamp": None}],
        True,
    ),
    (
        "summarize_empty_by",
        "DeviceFileEvents | where DeviceId == 'none' | summarize count() by SHA1",
        lambda: [],
        True,
    ),
    (
        "summarize_only_by",
        "DeviceFileEvents | summarize by DeviceId",
        lambda: [{"DeviceId": d} for d in dict.fromkeys(r["DeviceId"] for r in FILES)],
        False,
    ),
    (
        "summarize_by_alias",
        "DeviceFileEvents | summarize c = count() by Hash = SHA1",
        lambda: [{"Hash": g["SHA1"], "c": g["c"]} for g in group(FILES, ["SHA1"], c=("count", None))],
        False,
    ),
    (
        "project",
        "DeviceFileEvents | project DeviceName, Hash = SHA1, Timestamp",
        lambda: pick(FILES, "DeviceName", "Timestamp", Hash="SHA1"),
        True,
    ),
    ("take", "DeviceFileEvents | take 3", lambda: FILES[:3], True),
    ("limit", "DeviceFileEvents | limit 2", lambda: FILES[:2], True),
    ("take_zero", "DeviceFileEvents | take 0", lambda: [], True),
    (
        "distinct",
        "DeviceFileEvents | distinct DeviceId",
        lambda: [{"DeviceId": d} for d in dict.fromkeys(r["DeviceId"] for r in FILES)],
        True,
    ),
    (
        "distinct_two",
        "DeviceFileEvents | distinct DeviceId, FileName",
        lambda: [
            {"DeviceId": a, "FileName": b}
            for a, b in dict.fromkeys((r["DeviceId"], r["FileName"]) for r in FILES)
        ],
        True,
    ),
    (
        "count_operator",
        "DeviceNetworkEvents | where RemotePort == 443 | count",
        lambda: [{"Count": sum(1 for r in NETWORK if r["RemotePort"] == 443)}],
        True,
    ),
    (
        "sort_desc_default",
        "DeviceFileEvents | sort by Timestamp | project Timestamp",
        lambda: pick(sorted(FILES, key=lambda r: r["Timestamp"], reverse=True), "Timestamp"),
        True,
    ),
    (
        "order_asc_nulls",
        "DeviceNetworkEvents | order by RemotePort asc | project RemotePort",
        lambda: pick(
            [r for r in NETWORK if r["RemotePort"] is None]
            + sorted((r for r in NETWORK if r["RemotePort"] is not None), key=lambda r: r["RemotePort"]),
            "RemotePort",
        ),
        True,
    ),
    (
        "union_plain",
        "union DeviceFileEvents, DeviceProcessEvents | where SHA1 == '"
        + SHA1_A
        + "' | project DeviceId, SHA1, ProcessCommandLine",
        lambda: (
            [
                {"DeviceId": r["DeviceId"], "SHA1": r["SHA1"], "ProcessCommandLine": ""}
                for r in FILES
                if r["SHA1"] == SHA1_A
            ]
            + [
                {"DeviceId": r["DeviceId"], "SHA1": r["SHA1"], "ProcessCommandLine": r["ProcessCommandLine"]}
                for r in PROCESSES
                if r["SHA1"] == SHA1_A
            ]
        ),
        False,
    ),
    (
        "union_subqueries",
        f"union (DeviceFileEvents | where SHA1 in~ ('{SHA1_B}') | project Timestamp, DeviceId, Hit = SHA1), (DeviceNetworkEvents | where InitiatingProcessSHA1 == '{SHA1_B}' | project Timestamp, DeviceId, Hit = InitiatingProcessSHA1) | summarize Devices = dcount(DeviceId), Last = max(Timestamp) by Hit",
        lambda: group(
            [
                {"Hit": r["SHA1"], "DeviceId": r["DeviceId"], "Timestamp": r["Timestamp"]}
                for r in FILES
                if r["SHA1"].lower() == SHA1_B
            ]
            + [
                {"Hit": r["InitiatingProcessSHA1"], "DeviceId": r["DeviceId"], "Timestamp": r["Timestamp"]}
                for r in NETWORK
                if r["InitiatingProcessSHA1"] == SHA1_B
            ],
            ["Hit"],
            Devices=("dcount", "DeviceId"),
            Last=("max", "Timestamp"),
        ),
        False,
    ),
    (
        "union_missing_numeric_is_null",
        "union DeviceProcessEvents, DeviceNetworkEvents | where isempty(RemotePort) | count",
        lambda: [{"Count": len(PROCESSES) + sum(1 for r in NETWORK if r["RemotePort"] is None)}],
        True,
    ),
    (
        "let_dynamic_in",
        "let iocs = dynamic(['"
        + "', '".join(IOCS)
        + "']);\nDeviceFileEvents | where SHA1 in (iocs) | project SHA1",
        lambda: pick([r for r in FILES if r["SHA1"] in IOCS], "SHA1"),
        True,
    ),
    (
        "let_dynamic_in_tilde_and_has_any",
        'let iocs = dynamic(["'
        + SHA1_B.upper()
        + '"]);\nlet doms = dynamic(["example.com"]);\nunion (DeviceFileEvents | where SHA1 in~ (iocs) | project Id = DeviceId), (DeviceNetworkEvents | where RemoteUrl has_any (doms) | project Id = DeviceId) | distinct Id',
        lambda: [
            {"Id": d}
            for d in dict.fromkeys(
                [r["DeviceId"] for r in FILES if r["SHA1"].lower() == SHA1_B]
                + [r["DeviceId"] for r in NETWORK if has(r["RemoteUrl"], "example.com")]
            )
        ],
        True,
    ),
    (
        "let_scalars",
        "let since = ago(2d); let who = 'dev2'; let n = 1;\nDeviceFileEvents | where Timestamp > since and DeviceId == who | take n",
        lambda: [r for r in FILES if when(r["Timestamp"]) > NOW - 2 * D and r["DeviceId"] == "dev2"][:1],
        True,
    ),
    (
        "let_mixed_list",
        "let ports = dynamic([443, 8080]); DeviceNetworkEvents | where RemotePort in (ports, 53)",
        lambda: [r for r in NETWORK if r["RemotePort"] in (443, 8080, 53)],
        True,
    ),
    (
        "double_quotes_escapes",
        'DeviceProcessEvents | where ProcessCommandLine contains "-enc \\"SQBFAFgA\\""',
        lambda: [r for r in PROCESSES if '-enc "sqbfafga"' in r["ProcessCommandLine"].lower()],
        True,
    ),
    (
        "single_quote_escape",
        "DeviceProcessEvents | where ProcessCommandLine has 'it\\'s'",
        lambda: [r for r in PROCESSES if has(r["ProcessCommandLine"], "it's")],
        True,
    ),
    (
        "backslash_escape",
        "DeviceProcessEvents | where ProcessCommandLine contains 'C:\\\\Temp\\\\a.txt'",
        lambda: [r for r in PROCESSES if "c:\\temp\\a.txt" in r["ProcessCommandLine"].lower()],
        True,
    ),
    (
        "verbatim",
        "DeviceProcessEvents | where ProcessCommandLine endswith @'\\\\server\\share'",
        lambda: [r for r in PROCESSES if r["ProcessCommandLine"].lower().endswith("\\\\server\\share")],
        True,
    ),
    (
        "verbatim_doubled_quote",
        "DeviceProcessEvents | where ProcessCommandLine contains @'it''s'",
        lambda: [r for r in PROCESSES if "it's" in r["ProcessCommandLine"]],
        True,
    ),
    (
        "comments",
        "// header comment\nDeviceFileEvents // the table\n| where DeviceId == 'dev3' // only dev3\n// trailing",
        lambda: [r for r in FILES if r["DeviceId"] == "dev3"],
        True,
    ),
    ("trailing_semicolon", "DeviceFileEvents | take 1;", lambda: FILES[:1], True),
    (
        "parenthesized_source",
        "(DeviceFileEvents | where DeviceId == 'dev1') | project FileName",
        lambda: pick([r for r in FILES if r["DeviceId"] == "dev1"], "FileName"),
        True,
    ),
]


@pytest.mark.parametrize(("query", "expected", "ordered"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_construct(query, expected, ordered):
    result = run(query)
    want = expected()
    if ordered:
        assert result.rows == want
    else:
        assert unordered(result.rows) == unordered(want)
    names = [name for name, _ in result.schema]
    for row in result.rows:
        assert list(row) == names


def test_schema_types_and_column_order():
    result = run("DeviceNetworkEvents | take 1")
    assert result.schema == TABLES["DeviceNetworkEvents"]
    assert list(result.rows[0]) == [name for name, _ in TABLES["DeviceNetworkEvents"]]
    summary = run(
        "DeviceNetworkEvents | summarize n = count(), d = dcount(RemoteIP), p = max(RemotePort), t = min(Timestamp) by DeviceId"
    )
    assert summary.schema == [
        ("DeviceId", "string"),
        ("n", "long"),
        ("d", "long"),
        ("p", "int"),
        ("t", "datetime"),
    ]
    project = run("DeviceFileEvents | project When = Timestamp, SHA1")
    assert project.schema == [("When", "datetime"), ("SHA1", "string")]


def test_datetimes_render_with_seven_digit_fraction():
    tables = {
        "DeviceFileEvents": [
            {"Timestamp": "2026-11-20T10:11:12Z", "SHA1": "x"},
            {"Timestamp": datetime(2026, 11, 21, 1, 2, 3, 450000, tzinfo=UTC), "SHA1": "y"},
        ]
    }
    rows = run_query(
        "DeviceFileEvents | project Timestamp, SHA1, DeviceId", tables, NOW, schemas=SCHEMAS
    ).rows
    assert rows == [
        {"Timestamp": "2026-11-20T10:11:12.0000000Z", "SHA1": "x", "DeviceId": ""},
        {"Timestamp": "2026-11-21T01:02:03.4500000Z", "SHA1": "y", "DeviceId": ""},
    ]


def test_window_hides_rows_outside_it():
    result = run_query(
        "DeviceFileEvents | project Timestamp", TABLE_DATA, NOW, window=(NOW - 30 * D, None), schemas=SCHEMAS
    )
    assert result.rows == pick(recent(FILES, 30 * D), "Timestamp")


def test_table_known_to_schema_but_absent_is_empty():
    assert run_query("DeviceProcessEvents | count", {}, NOW).rows == [{"Count": 0}]


def test_batched_query_over_1000_values():
    rnd = random.Random(7)
    present = [f"{rnd.getrandbits(256):064x}" for _ in range(300)]
    rows = []
    for i in range(3000):
        sha = present[i % 300] if i % 3 == 0 else f"{rnd.getrandbits(256):064x}"
        rows.append(
            {
                "Timestamp": ts(timedelta(minutes=i * 13), f"{rnd.randrange(10**7):07d}"),
                "DeviceId": f"dev{rnd.randrange(40)}",
                "SHA256": sha,
                "SHA1": "",
                "FileName": f"f{i}.exe",
            }
        )
    iocs = (
        present[:250]
        + [f"{rnd.getrandbits(256):064x}" for _ in range(740)]
        + [s.upper() for s in present[250:260]]
    )
    assert len(iocs) == 1000
    query = (
        "let iocs = dynamic([" + ", ".join(f'"{v}"' for v in iocs) + "]);\n"
        "DeviceFileEvents\n| where Timestamp > ago(30d)\n| where SHA256 in (iocs)\n"
        "| summarize Devices = dcount(DeviceId), FirstSeen = min(Timestamp), LastSeen = max(Timestamp), Hits = count() by SHA256"
    )
    tables = {"DeviceFileEvents": rows}
    result = run_query(query, tables, NOW, schemas=SCHEMAS)
    ioc_set = set(iocs)
    matching = [r for r in rows if r["SHA256"] in ioc_set and when(r["Timestamp"]) > NOW - 30 * D]
    expected = group(
        matching,
        ["SHA256"],
        Devices=("dcount", "DeviceId"),
        FirstSeen=("min", "Timestamp"),
        LastSeen=("max", "Timestamp"),
        Hits=("count", None),
    )
    assert unordered(result.rows) == unordered(expected)
    assert {r["SHA256"] for r in result.rows} <= set(present[:250])  # upper-cased values do not match `in`
    # ... but do match in~
    tilde = run_query(query.replace(" in (iocs)", " in~ (iocs)"), tables, NOW, schemas=SCHEMAS)
    assert {r["SHA256"] for r in tilde.rows} - {r["SHA256"] for r in result.rows} <= set(present[250:260])
    assert len(tilde.rows) > len(result.rows)


def test_batched_query_is_fast_over_10000_rows():
    rnd = random.Random(3)
    rows = [
        {
            "Timestamp": ts(timedelta(minutes=i * 4), f"{i % 10**7:07d}"),
            "DeviceId": f"dev{i % 97}",
            "DeviceName": "h",
            "RemoteIP": f"10.{i % 256}.{i // 256 % 256}.{rnd.randrange(256)}",
            "RemotePort": 443,
            "RemoteUrl": f"https://host{i}.example{i % 50}.com/path",
        }
        for i in range(10_000)
    ]
    ips = [f"10.{i % 256}.{i // 256 % 256}.{i % 7}" for i in range(1000)]
    domains = [f"example{i}.com" for i in range(1000)]
    q_in = (
        "let ips = dynamic(["
        + ",".join(f"'{v}'" for v in ips)
        + "]);\nDeviceNetworkEvents | where Timestamp > ago(30d) and RemoteIP in (ips) | summarize Devices = dcount(DeviceId), FirstSeen = min(Timestamp), LastSeen = max(Timestamp) by RemoteIP"
    )
    q_has = (
        "let d = dynamic(["
        + ",".join(f"'{v}'" for v in domains)
        + "]);\nDeviceNetworkEvents | where RemoteUrl has_any (d) | summarize count() by DeviceId"
    )
    tables = {"DeviceNetworkEvents": rows}
    for query in (q_in, q_has):
        result = run_query(query, tables, NOW, schemas=SCHEMAS)
        assert result.rows
    has_rows = run_query(q_has, tables, NOW, schemas=SCHEMAS).rows
    assert sum(r["count_"] for r in has_rows) == len(rows)  # every host*.exampleN.com matches "exampleN.com"


def test_has_any_matches_terms_not_substrings():
    tables = {
        "DeviceNetworkEvents": [
            {"RemoteUrl": u}
            for u in ["badexample.com", "a.example.com", "example.co", "EXAMPLE.COM:443", "x-example.com"]
        ]
    }
    rows = run_query(
        "DeviceNetworkEvents | where RemoteUrl has_any ('example.com') | project RemoteUrl",
        tables,
        NOW,
        schemas=SCHEMAS,
    ).rows
    assert [r["RemoteUrl"] for r in rows] == ["a.example.com", "EXAMPLE.COM:443", "x-example.com"]


INVALID = [
    ("missing_operand", "DeviceFileEvents | where SHA1 == "),
    ("empty_where", "DeviceFileEvents | where"),
    ("dangling_pipe", "DeviceFileEvents |"),
    ("unknown_table", "NoSuchTable | take 1"),
    ("table_name_case", "devicefileevents | take 1"),
    ("keyword_case", "DeviceFileEvents | Where SHA1 == 'x'"),
    ("unknown_column", "DeviceFileEvents | where Nope == 'x'"),
    ("column_of_other_table", "DeviceFileEvents | where RemotePort == 443"),
    ("type_mismatch", "DeviceFileEvents | where SHA1 == 1"),
    ("datetime_vs_string", "DeviceFileEvents | where Timestamp > '2026-01-01'"),
    ("summarize_nothing", "DeviceFileEvents | summarize"),
    ("summarize_duplicate", "DeviceFileEvents | summarize count() by SHA1, SHA1"),
    ("project_duplicate", "DeviceFileEvents | project SHA1, SHA1"),
    ("take_negative", "DeviceFileEvents | take -1"),
    ("take_string", "DeviceFileEvents | take 'a'"),
    ("take_missing", "DeviceFileEvents | take"),
    ("unterminated_string", "DeviceFileEvents | where SHA1 == 'abc"),
    ("newline_in_string", "DeviceFileEvents | where SHA1 == 'ab\nc'"),
    ("bad_escape", "DeviceFileEvents | where SHA1 == 'a\\qb'"),
    ("let_without_query", "let x = dynamic(['a']);"),
    ("let_missing_semicolon", "let x = 'a' DeviceFileEvents"),
    ("let_not_constant", "let x = SHA1; DeviceFileEvents"),
    ("let_as_table", "let x = dynamic(['a']); x | take 1"),
    ("empty", ""),
    ("only_comment", "// nothing"),
    ("ago_of_column", "DeviceFileEvents | where Timestamp > ago(SHA1)"),
    ("ago_of_number", "DeviceFileEvents | where Timestamp > ago(30)"),
    ("bad_timespan_unit", "DeviceFileEvents | where Timestamp > ago(30x)"),
    ("bad_datetime", "DeviceFileEvents | where Timestamp > datetime(2026-13-01)"),
    ("non_bool_where", "DeviceFileEvents | where SHA1"),
    ("non_bool_and", "DeviceFileEvents | where SHA1 and DeviceId == 'x'"),
    ("trailing_garbage", "DeviceFileEvents | where SHA1 == 'a' SHA1"),
    ("union_unknown_table", "union DeviceFileEvents, Nope"),
    ("two_statements", "DeviceFileEvents; DeviceProcessEvents"),
    ("in_non_list", "DeviceFileEvents | where SHA1 in 'a'"),
    ("deep_nesting", "DeviceFileEvents | where " + "(" * 200 + "SHA1 == 'a'" + ")" * 200),
    ("deep_not", "DeviceFileEvents | where " + "not(" * 200 + "SHA1 == 'a'" + ")" * 200),
    ("stray_character", "DeviceFileEvents | where SHA1 == 'a' #"),
    ("lonely_bang", "DeviceFileEvents | where ! SHA1 == 'a'"),
    ("tabular_function", "FileProfile(SHA1) | take 1"),
    ("print_unknown_column", "print NoSuchColumn"),
    ("sort_without_by", "DeviceFileEvents | sort Timestamp"),
    ("unknown_operator", "DeviceFileEvents | frobnicate"),
    ("unknown_function", "DeviceFileEvents | where frobnicate(SHA1)"),
    ("sum_of_column_of_other_table", "DeviceFileEvents | summarize sum(RemotePort)"),
    ("sum_of_string", "DeviceFileEvents | summarize sum(SHA1)"),
    ("summarize_not_aggregate", "DeviceFileEvents | summarize SHA1"),
    ("string_plus", "DeviceFileEvents | extend X = SHA1 + 'x'"),
    ("aggregate_in_where", "DeviceFileEvents | where count() > 1"),
    ("has_any_column_list", "DeviceFileEvents | where SHA1 has_any (SHA256)"),
    ("union_bad_kind", "union kind=sideways DeviceFileEvents, DeviceProcessEvents"),
    ("join_unknown_key", "DeviceFileEvents | join (DeviceProcessEvents) on Nope"),
    ("join_bad_kind", "DeviceFileEvents | join kind=sideways (DeviceProcessEvents) on SHA1"),
    ("mv_expand_string", "DeviceFileEvents | mv-expand SHA1"),
    ("backslash_u", 'DeviceFileEvents | where FolderPath startswith "C:\\Users"'),
    ("file_profile_bad_count", "DeviceFileEvents | invoke FileProfile(SHA1, 1001)"),
    ("invoke_unknown", "DeviceFileEvents | invoke NoSuchFunction()"),
    ("summarize_by_dynamic", "DeviceFileEvents | extend D = dynamic([1]) | summarize count() by D"),
]


@pytest.mark.parametrize("query", [c[1] for c in INVALID], ids=[c[0] for c in INVALID])
def test_outside_subset_raises_kql_error(query):
    with pytest.raises(KqlError):
        run(query)


def test_error_message_names_token_and_position():
    with pytest.raises(KqlError) as info:
        run("DeviceFileEvents\n| whre SHA1 == 'x'")
    assert str(info.value) == "Query could not be parsed at 'whre' on line [2,3]"
    assert (info.value.line, info.value.column, info.value.position) == (2, 3, 19)
    with pytest.raises(KqlError) as info:
        run("DeviceFileEvents | where Nope == 'x'")
    assert str(info.value) == "'where' operator: Failed to resolve scalar expression named 'Nope'"
    with pytest.raises(KqlError) as info:
        run("DeviceFileEvents | extend X = 1 | where Y == 1")
    assert str(info.value) == "'where' operator: Failed to resolve scalar expression named 'Y'"
    with pytest.raises(KqlError) as info:
        run("DeviceFileEvents | frobnicate")
    assert str(info.value) == "Query could not be parsed at 'frobnicate' on line [1,20]"
    assert info.value.token == "frobnicate"


KQL_WORDS = [
    "DeviceFileEvents",
    "DeviceNetworkEvents",
    "union",
    "let",
    "x",
    "=",
    "==",
    "!=",
    "=~",
    "!~",
    "in",
    "in~",
    "!in",
    "has_any",
    "has",
    "!has",
    "contains",
    "startswith",
    "and",
    "or",
    "not",
    "(",
    ")",
    ",",
    ";",
    "|",
    "where",
    "summarize",
    "count()",
    "dcount",
    "min",
    "max",
    "by",
    "project",
    "take",
    "limit",
    "distinct",
    "sort",
    "order",
    "asc",
    "desc",
    "ago(30d)",
    "datetime(2026-01-01)",
    "dynamic",
    "[",
    "]",
    "'a'",
    '"b"',
    "@'c:\\x'",
    "SHA1",
    "Timestamp",
    "RemotePort",
    "443",
    "-1",
    "1.5",
    "30d",
    "isempty",
    "isnotempty",
    "//",
    "\n",
    "count",
    "now()",
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=80), st.lists(st.sampled_from(KQL_WORDS), max_size=25).map(" ".join)))
def test_never_raises_anything_but_kql_error(text):
    try:
        result = run(text)
    except KqlError:
        return
    assert isinstance(result, QueryResult)
