"""The seeded `Generator`: random devices, files, sightings and alerts, the bricks of a dataset.

Event times are spread over the last 40 days (so `lookBackHours` matters) and always fall 15 to
45 minutes past a whole hour before the build time; a lookback of whole hours or days therefore
never cuts an event in two ways during the first quarter of an hour after the data was built.

Files are sighted in the tables their kind belongs to (executables in DeviceFileEvents and
DeviceProcessEvents, DLLs also in DeviceImageLoadEvents, detected malware also in DeviceEvents),
each event started by one of the common processes (`PROCESSES`), whose hashes fill the
InitiatingProcess* columns. Devices also get heartbeats (DeviceInfo, DeviceNetworkInfo), logons
and registry writes, none of which count for the indicator statistics.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from urllib.parse import urlsplit

from enrich.sandbox.catalog import (
    DAY,
    DETERMINATIONS,
    DOTNET_EPOCH_OFFSET,
    MAL_EXT,
    MAL_FOLDERS,
    MAL_NAMES,
    NET_PROCESSES,
    PARENTS,
    PROCESSES,
    PUBLIC_FIRST_OCTETS,
    TLDS,
    USERS,
    WORDS,
    evidence,
    family_name,
)
from enrich.sandbox.data import (
    TICKS_PER_HOUR,
    TICKS_PER_SECOND,
    Dataset,
    Device,
    FileInfo,
    format_ticks,
    normalize_ip,
)


def url_port(url: str) -> int:
    """The remote port a connection to `url` uses (443 for a bare host)."""
    if "://" not in url:
        return 443
    try:
        parts = urlsplit(url)
        return parts.port or (80 if parts.scheme.lower() == "http" else 443)
    except ValueError:
        return 443


class Generator:
    """Builds a Dataset from a seed; see `build`."""

    def __init__(self, seed: int, now: int, tenant_id: str) -> None:
        self.rng = random.Random(seed)
        self.ds = Dataset(now)
        self.tenant_id = tenant_id
        self.reserved: set[tuple[str, str]] = set()  # planted keys that must stay unseen
        self.processes: dict[str, FileInfo] = {}
        self.origin_hosts: list[tuple[str, str]] = []
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
                o = [self.rng.choice(PUBLIC_FIRST_OCTETS)] + [self.rng.randint(1, 254) for _ in range(3)]
                ip = ".".join(map(str, o))
            ip = normalize_ip(ip) or ip
            if ("ips", ip) not in self.reserved:
                return ip

    def domain(self) -> str:
        while True:
            a, b = self.rng.sample(WORDS, 2)
            host = f"{a}{self.rng.choice(['-', '', ''])}{b}{self.rng.randint(1, 99) if self.rng.random() < 0.3 else ''}.{self.rng.choice(TLDS)}"
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
                    user=self.rng.choice(USERS),
                )
            )

    def global_profile(self, info: FileInfo) -> FileInfo:
        info.global_prevalence = int(10 ** self.rng.uniform(0, 6))
        info.global_first = self.ticks(self.rng.randint(1000, 40000))
        info.global_last = max(info.global_first, self.ticks(self.rng.randint(0, 200)))
        return info

    def malicious_file(self, sha1: str, sha256: str, md5: str) -> FileInfo:
        name = f"{self.rng.choice(MAL_NAMES)}{self.rng.randint(1, 999) if self.rng.random() < 0.5 else ''}{self.rng.choice(MAL_EXT)}"
        folder = self.rng.choice(MAL_FOLDERS).format(u=self.rng.choice(USERS), d=self.hexstr(16))
        det, value = self.rng.choice(DETERMINATIONS)
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
        for name, folder, product, publisher, issuer in PROCESSES:
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
        """Events of `info` on `n_devices` random devices at times within `window` (hours ago)."""
        info = self.ds.add_file(info)
        detected = info.determination_type in ("Malware", "Pua")
        for dev in self.devices(n_devices):
            for _ in range(self.rng.randint(1, 3)):
                t = self.ticks(self.rng.randint(*window))
                parent = self.processes[self.rng.choice(PARENTS)]
                r = self.rng.random()
                if info.name.lower().endswith(".dll") and r < 0.5:
                    host = self.processes[self.rng.choice(["rundll32.exe", "svchost.exe", "explorer.exe"])]
                    self.ds.add_file_event("DeviceImageLoadEvents", t, dev, info, "ImageLoaded", host)
                elif r < 0.5:
                    action = self.rng.choice(["FileCreated", "FileCreated", "FileModified", "FileRenamed"])
                    url, ip = self.origin(parent.name)
                    self.ds.add_file_event(
                        "DeviceFileEvents", t, dev, info, action, parent, origin_url=url, origin_ip=ip
                    )
                else:
                    cmd = f'"{info.name}"' + self.rng.choice(["", " /silent", " -k netsvcs", " --update"])
                    self.ds.add_file_event("DeviceProcessEvents", t, dev, info, "ProcessCreated", parent, cmd)
                if detected and self.rng.random() < 0.3:
                    msmpeng = self.processes["MsMpEng.exe"]
                    self.ds.add_file_event(
                        "DeviceEvents", t + 7 * TICKS_PER_SECOND, dev, info, "AntivirusDetection", msmpeng
                    )

    def origin(self, parent: str) -> tuple[str, str]:
        """(FileOriginUrl, FileOriginIP) of a file written by `parent`: a download for browsers and mail."""
        if parent not in ("chrome.exe", "msedge.exe", "OUTLOOK.EXE") or self.rng.random() < 0.4:
            return "", ""
        if not self.origin_hosts:
            self.origin_hosts = [(self.domain(), self.public_ip()) for _ in range(6)]
        host, ip = self.rng.choice(self.origin_hosts)
        path = self.rng.choice(
            ["dl/setup.exe", "files/invoice.zip", "download?id=7731&src=mail", "a/b/c.bin"]
        )
        return f"https://{host}/{path}", ip

    def background(self) -> None:
        """Heartbeats every 3 days, a few logons and registry writes per device (not indicator data)."""
        explorer, svchost = self.processes["explorer.exe"], self.processes["svchost.exe"]
        for dev in self.ds.devices:
            for hours_ago in range(self.rng.randint(0, 23), 1000, 72):
                self.ds.add_heartbeat(self.ticks(hours_ago), dev)
            for _ in range(self.rng.randint(3, 6)):
                t = self.ticks(self.rng.randint(0, 955))
                r = self.rng.random()
                if r < 0.6:
                    self.ds.add_logon_event(
                        t, dev, "LogonSuccess", "Interactive", dev.user, initiating=svchost
                    )
                elif r < 0.85:
                    peer = self.rng.choice(self.ds.devices)
                    self.ds.add_logon_event(
                        t,
                        dev,
                        "LogonSuccess",
                        "Network",
                        peer.user,
                        remote_ip=peer.local_ip,
                        remote_device=peer.name.split(".")[0].upper(),
                    )
                else:
                    self.ds.add_logon_event(
                        t,
                        dev,
                        "LogonFailed",
                        "RemoteInteractive",
                        self.rng.choice(["administrator", "admin", "test"]),
                        remote_ip=self.public_ip(),
                        failure="InvalidUserNameOrPassword",
                    )
            for _ in range(self.rng.randint(1, 2)):
                name, folder, *_ = self.rng.choice(PROCESSES)
                self.ds.add_registry_event(
                    self.ticks(self.rng.randint(0, 955)),
                    dev,
                    "RegistryValueSet",
                    r"HKEY_CURRENT_USER\Software\Microsoft\Windows\CurrentVersion\Run",
                    name.rsplit(".", 1)[0],
                    f"{folder}\\{name}",
                    self.rng.choice([explorer, svchost]),
                )

    def sight_ip(self, ip: str, n_devices: int, window: tuple[int, int], urls: Sequence[str] = ()) -> None:
        """Connections to `ip`; with `urls` (full URLs on that address) the first and about half
        of the others carry one of them in RemoteUrl."""
        first = True
        for dev in self.devices(n_devices):
            for _ in range(self.rng.randint(1, 3)):
                port = self.rng.choice([443, 443, 80, 8080, 4444, 53, 445, 3389])
                url = ""
                if urls and (first or self.rng.random() < 0.5):
                    url = self.rng.choice(urls) if not first else urls[0]
                    port = url_port(url)
                first = False
                action = self.rng.choice(
                    ["ConnectionSuccess", "ConnectionSuccess", "ConnectionAttempt", "ConnectionFailed"]
                )
                proc = self.processes[self.rng.choice(NET_PROCESSES)]
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

    def sight_domain(
        self, host: str, n_devices: int, window: tuple[int, int], urls: Sequence[str] = ()
    ) -> None:
        """Connections to `host`: RemoteUrl a bare host, a full https URL or an http URL with a port;
        with `urls` (full URLs on that host) the first and about half of the others carry one of them."""
        resolved = [self.public_ip() for _ in range(self.rng.randint(1, 2))]
        first = True
        for dev in self.devices(n_devices):
            for _ in range(self.rng.randint(1, 3)):
                form = self.rng.random()
                if urls and (first or self.rng.random() < 0.5):
                    url = self.rng.choice(urls) if not first else urls[0]
                elif form < 0.4:
                    url = host
                elif form < 0.8:
                    path = self.rng.choice(
                        ["", "index.html", "api/v1/check?id=4821&v=2", "dl/file.bin", "login?next=%2F"]
                    )
                    url = f"https://{host}/{path}"
                else:
                    url = f"http://{host}:{self.rng.choice([80, 8080])}/{self.rng.choice(['gate.php?id=1', 'x'])}"
                first = False
                proc = self.processes[self.rng.choice(NET_PROCESSES)]
                self.ds.add_network_event(
                    self.ticks(self.rng.randint(*window)),
                    dev,
                    self.rng.choice(resolved),
                    url,
                    url_port(url),
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
            items = evidence(family, key, info, first)
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
                "threatFamilyName": family_name(info),
                "title": title,
                "description": f"{title}. Review the device timeline around the first event.",
                "alertCreationTime": format_ticks(created),
                "firstEventTime": format_ticks(first),
                "lastEventTime": format_ticks(last),
                "lastUpdateTime": format_ticks(created + 12_345_678),
                "resolvedTime": None,
                "machineId": dev.id,
                "computerDnsName": dev.name,
                "rbacGroupName": dev.rbac_group,
                "aadTenantId": self.tenant_id,
                "threatName": info.determination_value if info and info.determination_value else None,
                "mitreTechniques": self.rng.sample(
                    ["T1059.001", "T1105", "T1071.001", "T1204.002", "T1218.011"], 2
                ),
                "relatedUser": {"userName": self.rng.choice(USERS), "domainName": "CONTOSO"},
                "comments": [],
                "evidence": items,
            }
            self.ds.add_alert(alert, [(family, info.sha1 if info else key)])
