"""Deterministic synthetic telemetry: devices, files, connections and alerts from a seed.

Event times are spread over the last 40 days (so `lookBackHours` matters) and always fall 15 to
45 minutes past a whole hour before "now"; a lookback of whole hours or days therefore never
cuts an event in two ways during the first quarter of an hour after the data was built.
"""

from __future__ import annotations

import hashlib
import random

from enrich.sandbox import samples
from enrich.sandbox.data import (
    TICKS_PER_HOUR,
    TICKS_PER_SECOND,
    Dataset,
    Device,
    FileInfo,
    format_ticks,
    normalize_domain,
    normalize_ip,
    parse_ticks,
)

DAY = 24 * TICKS_PER_HOUR
DOTNET_EPOCH_OFFSET = 621_355_968_000_000_000  # .NET ticks at 1970-01-01

# (name, folder, product, publisher, issuer)
_PROCESSES = [
    (
        "svchost.exe",
        r"C:\Windows\System32",
        "Microsoft® Windows® Operating System",
        "Microsoft Windows",
        "Microsoft Windows Production PCA 2011",
    ),
    (
        "explorer.exe",
        r"C:\Windows",
        "Microsoft® Windows® Operating System",
        "Microsoft Windows",
        "Microsoft Windows Production PCA 2011",
    ),
    (
        "powershell.exe",
        r"C:\Windows\System32\WindowsPowerShell\v1.0",
        "Microsoft® Windows® Operating System",
        "Microsoft Windows",
        "Microsoft Windows Production PCA 2011",
    ),
    (
        "cmd.exe",
        r"C:\Windows\System32",
        "Microsoft® Windows® Operating System",
        "Microsoft Windows",
        "Microsoft Windows Production PCA 2011",
    ),
    (
        "rundll32.exe",
        r"C:\Windows\System32",
        "Microsoft® Windows® Operating System",
        "Microsoft Windows",
        "Microsoft Windows Production PCA 2011",
    ),
    (
        "chrome.exe",
        r"C:\Program Files\Google\Chrome\Application",
        "Google Chrome",
        "Google LLC",
        "DigiCert Trusted G4 Code Signing RSA4096 SHA384 2021 CA1",
    ),
    (
        "msedge.exe",
        r"C:\Program Files (x86)\Microsoft\Edge\Application",
        "Microsoft Edge",
        "Microsoft Corporation",
        "Microsoft Code Signing PCA 2011",
    ),
    (
        "OUTLOOK.EXE",
        r"C:\Program Files\Microsoft Office\root\Office16",
        "Microsoft Outlook",
        "Microsoft Corporation",
        "Microsoft Code Signing PCA 2011",
    ),
    (
        "WINWORD.EXE",
        r"C:\Program Files\Microsoft Office\root\Office16",
        "Microsoft Office",
        "Microsoft Corporation",
        "Microsoft Code Signing PCA 2011",
    ),
    (
        "Teams.exe",
        r"C:\Users\Public\AppData\Local\Microsoft\Teams\current",
        "Microsoft Teams",
        "Microsoft Corporation",
        "Microsoft Code Signing PCA 2011",
    ),
    (
        "OneDrive.exe",
        r"C:\Program Files\Microsoft OneDrive",
        "Microsoft OneDrive",
        "Microsoft Corporation",
        "Microsoft Code Signing PCA 2011",
    ),
    (
        "python.exe",
        r"C:\Program Files\Python311",
        "Python",
        "Python Software Foundation",
        "DigiCert Trusted G4 Code Signing RSA4096 SHA384 2021 CA1",
    ),
]
_NET_PROCESSES = (
    "chrome.exe",
    "msedge.exe",
    "powershell.exe",
    "svchost.exe",
    "rundll32.exe",
    "OUTLOOK.EXE",
    "Teams.exe",
)
_BENIGN_DOMAINS = [
    "www.microsoft.com",
    "login.microsoftonline.com",
    "settings-win.data.microsoft.com",
    "update.googleapis.com",
    "github.com",
    "www.google.com",
    "outlook.office365.com",
    "teams.microsoft.com",
    "ctldl.windowsupdate.com",
    "pypi.org",
]
_MAL_NAMES = [
    "invoice",
    "update",
    "setup",
    "payload",
    "loader",
    "svc",
    "report",
    "scan",
    "helper",
    "agent",
    "patch",
    "doc",
]
_MAL_EXT = [".exe", ".dll", ".exe", ".scr", ".ps1", ".js", ".msi"]
_MAL_FOLDERS = [
    r"C:\Users\{u}\Downloads",
    r"C:\Users\{u}\AppData\Local\Temp",
    r"C:\ProgramData\{d}",
    r"C:\Windows\Temp",
]
_USERS = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"]
_DETERMINATIONS = [
    ("Malware", "Trojan:Win32/Wacatac.B!ml"),
    ("Malware", "Backdoor:Win64/CobaltStrike.NP!dha"),
    ("Malware", "Ransom:Win32/LockBit.AB"),
    ("Pua", "PUA:Win32/Presenoker"),
    ("Suspicious", "Behavior:Win32/SuspRemoteExec"),
    ("Unknown", None),
    ("Unknown", None),
    ("Clean", ""),
]
_WORDS = [
    "cloud",
    "secure",
    "update",
    "cdn",
    "data",
    "mail",
    "portal",
    "sync",
    "files",
    "auth",
    "login",
    "api",
    "static",
    "track",
    "news",
    "shop",
    "pay",
    "docs",
    "share",
    "net",
    "app",
    "web",
]
_TLDS = ["com", "net", "org", "io", "xyz", "top", "info", "ru", "biz", "online", "site", "cc"]
_PUBLIC_FIRST_OCTETS = [
    23,
    31,
    37,
    45,
    46,
    51,
    62,
    77,
    78,
    80,
    85,
    91,
    94,
    103,
    104,
    139,
    141,
    146,
    176,
    185,
    188,
    193,
    195,
    212,
    213,
    217,
]


def _derived(kind: str, key: str) -> str:
    data = f"enrich-sandbox/{kind}/{key}".encode()
    return {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "md5": hashlib.md5}[kind](data).hexdigest()


class Generator:
    """Builds a Dataset from a seed; see `build`."""

    def __init__(self, seed: int, now: int, tenant_id: str) -> None:
        self.rng = random.Random(seed)
        self.ds = Dataset(now)
        self.tenant_id = tenant_id
        self.reserved: set[tuple[str, str]] = set()  # planted keys that must stay unseen
        self.processes: dict[str, FileInfo] = {}
        self._incident = 1000 + self.rng.randrange(9000)

    # --- small helpers ----------------------------------------------------------------------

    def hexstr(self, bits: int) -> str:
        return f"{self.rng.getrandbits(bits):0{bits // 4}x}"

    def ticks(self, hours_ago: int) -> int:
        """A time 15-45 minutes past whole hour `hours_ago` before now; last tick digit non-zero."""
        offset = hours_ago * TICKS_PER_HOUR + self.rng.randint(900, 2699) * TICKS_PER_SECOND
        t = self.ds.now - offset - self.rng.randrange(TICKS_PER_SECOND)
        return t - 1 if t % 10 == 0 else t

    def window(self, kind: str) -> tuple[int, int]:
        """Hours-ago range of an indicator's activity: recent, inside 30 days, anywhere, old only."""
        if kind == "recent":
            return 0, 72
        if kind == "old":
            return 725, 955
        lo = self.rng.randint(0, 650)
        hi = min(955 if kind == "any" else 715, lo + self.rng.randint(24, 600))
        return lo, hi

    def prevalence(self) -> int:
        r = self.rng.random()
        if r < 0.35:
            return 1
        if r < 0.65:
            return self.rng.randint(2, 3)
        if r < 0.88:
            return self.rng.randint(4, 10)
        return self.rng.randint(11, 40)

    def public_ip(self, v6: bool = False) -> str:
        while True:
            if v6:
                ip = f"2a0{self.rng.randint(1, 9)}:{self.rng.randrange(1, 0xFFFF):x}:{self.rng.randrange(0xFFFF):x}::{self.rng.randrange(1, 0xFFFF):x}"
            else:
                o = [self.rng.choice(_PUBLIC_FIRST_OCTETS)] + [self.rng.randint(1, 254) for _ in range(3)]
                ip = ".".join(map(str, o))
            ip = normalize_ip(ip) or ip
            if ("ips", ip) not in self.reserved:
                return ip

    def domain(self) -> str:
        while True:
            a, b = self.rng.sample(_WORDS, 2)
            host = f"{a}{self.rng.choice(['-', '', ''])}{b}{self.rng.randint(1, 99) if self.rng.random() < 0.3 else ''}.{self.rng.choice(_TLDS)}"
            if self.rng.random() < 0.3:
                host = f"{self.rng.choice(['cdn', 'www', 'mail', 'api', 'dl'])}.{host}"
            if ("domains", host) not in self.reserved:
                return host

    # --- entities ---------------------------------------------------------------------------

    def make_devices(self, count: int) -> None:
        platforms = [
            ("Windows11", 22631, "23H2"),
            ("Windows10", 19045, "22H2"),
            ("WindowsServer2022", 20348, "21H2"),
        ]
        nat = [self.public_ip() for _ in range(3)]
        for i in range(1, count + 1):
            plat, build, version = platforms[0 if i % 3 else (1 if i % 2 else 2)]
            prefix = "srv" if plat.startswith("WindowsServer") else ("laptop" if i % 2 else "desktop")
            first = self.ds.now - self.rng.randint(60, 900) * DAY
            self.ds.add_device(
                Device(
                    id=self.hexstr(160),
                    name=f"{prefix}-{i:03d}.corp.contoso.com",
                    local_ip=f"10.{1 + i % 8}.{self.rng.randint(0, 254)}.{self.rng.randint(2, 254)}",
                    external_ip=self.rng.choice(nat),
                    os_platform=plat,
                    os_build=build,
                    version=version,
                    aad_device_id=f"{self.hexstr(32)[:8]}-{self.hexstr(16)}-4{self.hexstr(12)}-a{self.hexstr(12)}-{self.hexstr(48)}",
                    first_seen=first,
                    last_seen=first,
                    risk=self.rng.choice(["None", "Low", "Low", "Medium", "High"]),
                    rbac_group=self.rng.choice(["UnassignedGroup", "Workstations", "Servers"]),
                    tags=tuple(self.rng.sample(["Finance", "VIP", "Lab", "Kiosk"], self.rng.randint(0, 1))),
                )
            )

    def global_profile(self, info: FileInfo) -> FileInfo:
        info.global_prevalence = int(10 ** self.rng.uniform(0, 6))
        info.global_first = self.ticks(self.rng.randint(1000, 40000))
        info.global_last = max(info.global_first, self.ticks(self.rng.randint(0, 200)))
        return info

    def malicious_file(self, sha1: str, sha256: str, md5: str) -> FileInfo:
        name = f"{self.rng.choice(_MAL_NAMES)}{self.rng.randint(1, 999) if self.rng.random() < 0.5 else ''}{self.rng.choice(_MAL_EXT)}"
        folder = self.rng.choice(_MAL_FOLDERS).format(u=self.rng.choice(_USERS), d=self.hexstr(16))
        det, value = self.rng.choice(_DETERMINATIONS)
        signed = self.rng.random() < 0.35
        info = FileInfo(
            sha1=sha1,
            sha256=sha256,
            md5=md5,
            name=name,
            folder=folder,
            size=self.rng.randint(2_000, 30_000_000),
            file_type=self.rng.choice([None, None, "APP"]),
            is_pe=name.endswith((".exe", ".dll", ".scr")),
            determination_type=det,
            determination_value=value,
        )
        if signed:
            info.publisher = info.signer = self.rng.choice(
                ["Shenzhen Tools Co., Ltd.", "Blue Orbit Software", "ACME Utilities"]
            )
            info.product = info.name.rsplit(".", 1)[0].title()
            info.issuer = "DigiCert SHA2 Assured ID Code Signing CA"
            info.signer_hash = self.hexstr(160)
            info.valid_cert = self.rng.random() < 0.5
        return self.global_profile(info)

    def random_file(self) -> FileInfo:
        return self.malicious_file(self.hexstr(160), self.hexstr(256), self.hexstr(128))

    def make_processes(self) -> None:
        for name, folder, product, publisher, issuer in _PROCESSES:
            info = FileInfo(
                sha1=self.hexstr(160),
                sha256=self.hexstr(256),
                md5=self.hexstr(128),
                name=name,
                folder=folder,
                size=self.rng.randint(50_000, 5_000_000),
                is_pe=True,
                publisher=publisher,
                product=product,
                signer=publisher,
                issuer=issuer,
                signer_hash=self.hexstr(160),
                valid_cert=True,
                determination_type="Clean",
                determination_value="",
            )
            self.global_profile(info).global_prevalence = self.rng.randint(10_000_000, 900_000_000)
            self.processes[name] = self.ds.add_file(info)

    # --- sightings --------------------------------------------------------------------------

    def devices(self, count: int) -> list[Device]:
        return self.rng.sample(self.ds.devices, min(count, len(self.ds.devices)))

    def sight_file(self, info: FileInfo, n_devices: int, window: tuple[int, int]) -> None:
        self.ds.add_file(info)
        for dev in self.devices(n_devices):
            for _ in range(self.rng.randint(1, 3)):
                t = self.ticks(self.rng.randint(*window))
                parent = self.rng.choice(
                    ["explorer.exe", "cmd.exe", "powershell.exe", "OUTLOOK.EXE", "chrome.exe", "WINWORD.EXE"]
                )
                if self.rng.random() < 0.5:
                    action = self.rng.choice(["FileCreated", "FileCreated", "FileModified", "FileRenamed"])
                    self.ds.add_file_event("DeviceFileEvents", t, dev, info, action, parent)
                else:
                    cmd = f'"{info.name}"' + self.rng.choice(["", " /silent", " -k netsvcs", " --update"])
                    self.ds.add_file_event("DeviceProcessEvents", t, dev, info, "ProcessCreated", parent, cmd)

    def sight_ip(self, ip: str, n_devices: int, window: tuple[int, int], url: str = "") -> None:
        for dev in self.devices(n_devices):
            for _ in range(self.rng.randint(1, 3)):
                port = self.rng.choice([443, 443, 80, 8080, 4444, 53, 445, 3389])
                action = self.rng.choice(
                    ["ConnectionSuccess", "ConnectionSuccess", "ConnectionAttempt", "ConnectionFailed"]
                )
                proc = self.processes[self.rng.choice(_NET_PROCESSES)]
                self.ds.add_network_event(
                    self.ticks(self.rng.randint(*window)),
                    dev,
                    ip,
                    url,
                    port,
                    action,
                    proc,
                    "Udp" if port == 53 else "Tcp",
                )

    def sight_domain(self, host: str, n_devices: int, window: tuple[int, int]) -> None:
        resolved = [self.public_ip() for _ in range(self.rng.randint(1, 2))]
        for dev in self.devices(n_devices):
            for _ in range(self.rng.randint(1, 3)):
                form = self.rng.random()
                if form < 0.4:
                    url = host
                elif form < 0.8:
                    url = (
                        f"https://{host}/{self.rng.choice(['', 'index.html', 'api/v1/check', 'dl/file.bin'])}"
                    )
                else:
                    url = f"http://{host}:{self.rng.choice([80, 8080])}/{self.rng.choice(['gate.php', 'x'])}"
                proc = self.processes[self.rng.choice(_NET_PROCESSES)]
                port = 80 if url.startswith("http://") else 443
                self.ds.add_network_event(
                    self.ticks(self.rng.randint(*window)),
                    dev,
                    self.rng.choice(resolved),
                    url,
                    port,
                    "ConnectionSuccess",
                    proc,
                )

    # --- alerts -----------------------------------------------------------------------------

    def alert(self, family: str, key: str, title: str, category: str, info: FileInfo | None = None) -> None:
        devices = self.ds.devices_for(family, key)
        if not devices:
            return
        for dev in devices[:2]:
            sightings = [t for t, d in self.ds.sightings(family, key) if d == dev.id]
            first, last = min(sightings), max(sightings)
            created = last + self.rng.randint(60, 900) * TICKS_PER_SECOND + 7
            self._incident += self.rng.randint(1, 7)
            evidence = _evidence(family, key, info, first)
            alert = {
                "id": f"da{created + DOTNET_EPOCH_OFFSET}_{self.rng.randrange(10**9, 2**31)}",
                "incidentId": self._incident,
                "investigationId": None,
                "assignedTo": None,
                "severity": self.rng.choice(["Informational", "Low", "Medium", "High"]),
                "status": self.rng.choice(["New", "New", "InProgress", "Resolved"]),
                "classification": None,
                "determination": None,
                "investigationState": self.rng.choice(["Queued", "Running", "Benign", "PendingApproval"]),
                "detectionSource": "WindowsDefenderAtp",
                "detectorId": f"{self.hexstr(32)}-{self.hexstr(16)}-{self.hexstr(16)}-{self.hexstr(16)}-{self.hexstr(48)}",
                "category": category,
                "threatFamilyName": _family_name(info),
                "title": title,
                "description": f"{title}. Review the device timeline around the first event.",
                "alertCreationTime": _fmt(created),
                "firstEventTime": _fmt(first),
                "lastEventTime": _fmt(last),
                "lastUpdateTime": _fmt(created + 12_345_678),
                "resolvedTime": None,
                "machineId": dev.id,
                "computerDnsName": dev.name,
                "rbacGroupName": dev.rbac_group,
                "aadTenantId": self.tenant_id,
                "threatName": info.determination_value if info and info.determination_value else None,
                "mitreTechniques": self.rng.sample(
                    ["T1059.001", "T1105", "T1071.001", "T1204.002", "T1218.011"], 2
                ),
                "relatedUser": {"userName": self.rng.choice(_USERS), "domainName": "CONTOSO"},
                "comments": [],
                "evidence": evidence,
            }
            self.ds.add_alert(alert, [(family, info.sha1 if info else key)])


_EVIDENCE_KEYS = [
    "entityType",
    "evidenceCreationTime",
    "sha1",
    "sha256",
    "fileName",
    "filePath",
    "processId",
    "processCommandLine",
    "processCreationTime",
    "parentProcessId",
    "parentProcessCreationTime",
    "parentProcessFileName",
    "parentProcessFilePath",
    "ipAddress",
    "url",
    "registryKey",
    "registryHive",
    "registryValueType",
    "registryValue",
    "accountName",
    "domainName",
    "userSid",
    "aadUserId",
    "userPrincipalName",
    "detectionStatus",
]


def _fmt(ticks: int) -> str:
    return format_ticks(ticks)


def _family_name(info: FileInfo | None) -> str | None:
    """'Trojan:Win32/Wacatac.B!ml' -> 'Wacatac'."""
    if not info or not info.determination_value:
        return None
    return info.determination_value.split("/")[-1].split(".")[0].split("!")[0] or None


def _evidence(family: str, key: str, info: FileInfo | None, ticks: int) -> list[dict]:
    item = dict.fromkeys(_EVIDENCE_KEYS)
    item["evidenceCreationTime"] = _fmt(ticks)
    if family == "files" and info:
        item.update(
            entityType="File",
            sha1=info.sha1,
            sha256=info.sha256,
            fileName=info.name,
            filePath=info.folder,
            detectionStatus="Detected",
        )
    elif family == "ips":
        item.update(entityType="Ip", ipAddress=key)
    else:
        item.update(entityType="Url", url=key)
    return [item]


def _fixtures(g: Generator) -> None:
    """Documented example entities, so responses can be compared with the MDE docs."""
    ds = g.ds
    pua = FileInfo(
        sha1="4388963aaa83afe2042a46a3c017ad50bdcdafb3",
        sha256="413c58c8267d2c8648d8f6384bacc2ae9c929b2b96578b6860b5087cd1bd6462",
        md5=_derived("md5", "4388963aaa83afe2042a46a3c017ad50bdcdafb3"),
        name="MobiSaver.exe",
        folder=r"C:\Users\alice\Downloads",
        size=22139496,
        file_type="APP",
        publisher="CHENGDU YIWO Tech Development Co., Ltd.",
        product="EaseUS MobiSaver for Android",
        signer="CHENGDU YIWO Tech Development Co., Ltd.",
        issuer="VeriSign Class 3 Code Signing 2010 CA",
        signer_hash="6c3245d4a9bc0244d99dff27af259cbbae2e2d16",
        valid_cert=False,
        determination_type="Pua",
        determination_value="PUA:Win32/FusionCore",
        global_prevalence=180022,
        global_first=parse_ticks("2017-09-19T03:51:27.6785431Z"),
        global_last=parse_ticks("2020-01-06T03:59:21.3229314Z"),
    )
    mrec = g.global_profile(
        FileInfo(
            sha1="0991a395da64e1c5fbe8732ed11e6be064081d9f",
            sha256=_derived("sha256", "0991a395da64e1c5fbe8732ed11e6be064081d9f"),
            md5=_derived("md5", "0991a395da64e1c5fbe8732ed11e6be064081d9f"),
            name="MREC.exe",
            folder=r"C:\Program Files\MREC",
            size=1_404_928,
            publisher="Microsoft Corporation",
            product="Microsoft Remote Event Collector",
            signer="Microsoft Corporation",
            issuer="Microsoft Code Signing PCA 2011",
            signer_hash=g.hexstr(160),
            valid_cert=True,
            determination_type="Clean",
            determination_value="",
        )
    )
    mrec.global_prevalence = 705012
    mrec.global_first = parse_ticks("2015-03-19T12:20:07.3432441Z")
    alert_file = FileInfo(
        sha1="f2a00fd2f2de1be0214b8529f1e9f67096c1aa70",
        sha256="dcd71ef5fff4362a9f64cf3f96f14f2b11d6f428f3badbedcb9ff3361e7079aa",
        md5="8d5b7cc9a832e21d22503057e1fec8e9",
        name="rundll32.exe",
        folder=r"C:\Windows\SysWOW64",
        size=113984,
        publisher="Microsoft Corporation",
        product="Microsoft&copy; Windows&copy; Operating System",
        signer="Microsoft Corporation",
        issuer="Microsoft Code Signing PCA",
        signer_hash="9dc17888b5cfad98b3cb35c1994e96227f061675",
        valid_cert=True,
        determination_type="Unknown",
        global_prevalence=29,
        global_first=parse_ticks("2019-03-23T23:54:06.0135204Z"),
        global_last=parse_ticks("2019-04-23T00:43:20.0489831Z"),
    )
    key = "enrich-sandbox/unsigned"
    unsigned = g.global_profile(
        FileInfo(
            sha1=_derived("sha1", key),
            sha256=_derived("sha256", key),
            md5=_derived("md5", key),
            name="tool.exe",
            folder=r"C:\Users\bob\Downloads",
            size=48_640,
            determination_type="Unknown",
        )
    )
    key = "enrich-sandbox/not-in-org"
    not_in_org = g.global_profile(
        FileInfo(
            sha1=_derived("sha1", key),
            sha256=_derived("sha256", key),
            md5=_derived("md5", key),
            name="rare.dll",
            folder=r"C:\Windows\Temp",
            size=90_112,
            determination_type="Malware",
            determination_value="Trojan:Win32/Emotet.RPX!MTB",
        )
    )
    for info, n in ((pua, 3), (mrec, 25), (alert_file, 2), (unsigned, 1)):
        g.sight_file(info, n, g.window("recent") if n < 3 else g.window("inside"))
        ds.planted[("files", info.sha1)] = True
    ds.add_file(not_in_org)
    ds.planted[("files", not_in_org.sha1)] = False
    g.alert(
        "files",
        alert_file.sha1,
        "Low-reputation arbitrary code executed by signed executable",
        "Execution",
        alert_file,
    )
    g.alert("files", pua.sha1, "'FusionCore' unwanted software was detected", "UnwantedSoftware", pua)
    for ip, n in (("10.209.67.177", 6), ("2a01:110:68:4:59e4:3916:3b3e:4f96", 2)):
        g.sight_ip(ip, n, g.window("inside"))
        ds.planted[("ips", ip)] = True
    for host, n in (("example.com", 4), ("client.wns.windows.com", 30)):
        g.sight_domain(host, n, g.window("inside"))
        ds.planted[("domains", host)] = True
    g.alert(
        "domains",
        "client.wns.windows.com",
        "Suspicious connection to a notification service",
        "CommandAndControl",
    )
    for fam, key in (
        ("files", "1111111111111111111111111111111111111111"),
        ("ips", "203.0.113.7"),
        ("domains", "never-seen.example.net"),
    ):
        ds.planted[(fam, key)] = False
        g.reserved.add((fam, key))


def _planted_file(g: Generator, key: str) -> FileInfo:
    if len(key) == 64:
        sha1, sha256, md5 = _derived("sha1", key), key, _derived("md5", key)
    elif len(key) == 40:
        sha1, sha256, md5 = key, _derived("sha256", key), _derived("md5", key)
    else:
        sha1, sha256, md5 = _derived("sha1", key), _derived("sha256", key), key
    return g.malicious_file(sha1, sha256, md5)


def build(
    seed: int, now: int, tenant_id: str, sample_dir: str | None = None, device_count: int = 50
) -> Dataset:
    """The synthetic dataset for `seed`; plants indicators found in `sample_dir` ("" to skip)."""
    g = Generator(seed, now, tenant_id)
    g.make_devices(device_count)
    g.make_processes()
    ds = g.ds
    planted = (
        samples.scan(samples.default_sample_dir() if sample_dir is None else sample_dir)
        if sample_dir != ""
        else []
    )
    for fam, key in planted:  # reserve first, so random data never makes an unseen one seen
        if not samples.chosen_seen(key):
            g.reserved.add((fam, key))
    _fixtures(g)
    # background: common processes and services seen everywhere
    for info in g.processes.values():
        g.sight_file(info, g.rng.randint(15, 45), g.window("any"))
    for host in _BENIGN_DOMAINS:
        g.sight_domain(host, g.rng.randint(10, 45), g.window("any"))
    # indicators from the sample files: about half seen (within 30 days), the rest unknown
    for fam, key in planted:
        if (fam, key) in ds.planted:
            continue
        seen = samples.chosen_seen(key)
        ds.planted[(fam, key)] = seen
        if not seen:
            continue
        n = g.prevalence()
        if fam == "files":
            info = _planted_file(g, key)
            g.sight_file(info, n, g.window("inside"))
            if info.determination_type in ("Malware", "Pua") and g.rng.random() < 0.5:
                g.alert("files", info.sha1, f"'{info.name}' malware was detected", "Malware", info)
        elif fam == "ips":
            g.sight_ip(key, n, g.window("inside"))
        elif normalize_domain(key):
            g.sight_domain(key, n, g.window("inside"))
    # random extra indicators
    for _ in range(120):
        info = g.random_file()
        r = g.rng.random()
        if r < 0.2:
            ds.add_file(info)  # known to MDE, never in this organisation
            continue
        g.sight_file(info, g.prevalence(), g.window("old" if r < 0.28 else "any"))
        if info.determination_type in ("Malware", "Pua") and g.rng.random() < 0.6:
            g.alert("files", info.sha1, f"'{info.determination_value}' malware was detected", "Malware", info)
    for i in range(56):
        ip = (
            g.public_ip(v6=i % 10 == 9)
            if i % 12
            else f"192.168.{g.rng.randint(0, 254)}.{g.rng.randint(2, 254)}"
        )
        g.sight_ip(ip, g.prevalence(), g.window("old" if i % 9 == 4 else "any"))
        if g.rng.random() < 0.2:
            g.alert("ips", ip, "Communication with a known malicious IP address", "CommandAndControl")
    for i in range(42):
        host = g.domain()
        g.sight_domain(host, g.prevalence(), g.window("old" if i % 9 == 4 else "any"))
        if g.rng.random() < 0.2:
            g.alert("domains", host, "Connection to a suspicious domain", "CommandAndControl")
    ds.finish()
    return ds
