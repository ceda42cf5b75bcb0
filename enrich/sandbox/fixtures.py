"""Documented example entities planted in every generated dataset (MDE docs' own examples).

`plant_fixtures` runs the steps below in a fixed order. Several draw from the generator's seeded
random source, so moving one would change every dataset built after it; the file builders that
need no randomness are pure functions.
"""

from __future__ import annotations

from dataclasses import dataclass

from enrich.sandbox.catalog import derived
from enrich.sandbox.data import FileInfo, parse_ticks
from enrich.sandbox.generator import Generator

# Documented IPs and domains with the number of devices that saw them.
DOCUMENTED_IPS: tuple[tuple[str, int], ...] = (
    ("10.209.67.177", 6),
    ("2a01:110:68:4:59e4:3916:3b3e:4f96", 2),
)
DOCUMENTED_DOMAINS: tuple[tuple[str, int], ...] = (("example.com", 4), ("client.wns.windows.com", 30))
# Keys the API must always report as never seen: planted unseen and kept out of random data.
NEVER_SEEN: tuple[tuple[str, str], ...] = (
    ("files", "1111111111111111111111111111111111111111"),
    ("ips", "203.0.113.7"),
    ("domains", "never-seen.example.net"),
)
MREC_SHA1 = "0991a395da64e1c5fbe8732ed11e6be064081d9f"


@dataclass(frozen=True)
class DocumentedFiles:
    """The planted files: four seen in the organisation, `not_in_org` known to MDE only."""

    pua: FileInfo  # MobiSaver.exe, the PUA of the file API docs; alerted
    mrec: FileInfo  # Microsoft-signed and widespread
    rundll32: FileInfo  # the alert docs' evidence file; alerted
    unsigned: FileInfo  # an unsigned tool seen on one device
    not_in_org: FileInfo  # malware MDE knows, never seen here

    def seen(self) -> tuple[tuple[FileInfo, int], ...]:
        """The files seen in the organisation, each with its number of devices."""
        return ((self.pua, 3), (self.mrec, 25), (self.rundll32, 2), (self.unsigned, 1))


def pua_file() -> FileInfo:
    """MobiSaver.exe as in the MDE file API docs: a PUA with a revoked signature."""
    return FileInfo(
        sha1="4388963aaa83afe2042a46a3c017ad50bdcdafb3",
        sha256="413c58c8267d2c8648d8f6384bacc2ae9c929b2b96578b6860b5087cd1bd6462",
        md5=derived("md5", "4388963aaa83afe2042a46a3c017ad50bdcdafb3"),
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


def mrec_file(signer_hash: str) -> FileInfo:
    """MREC.exe, a clean Microsoft-signed file (no global profile yet)."""
    return FileInfo(
        sha1=MREC_SHA1,
        sha256=derived("sha256", MREC_SHA1),
        md5=derived("md5", MREC_SHA1),
        name="MREC.exe",
        folder=r"C:\Program Files\MREC",
        size=1_404_928,
        publisher="Microsoft Corporation",
        product="Microsoft Remote Event Collector",
        signer="Microsoft Corporation",
        issuer="Microsoft Code Signing PCA 2011",
        signer_hash=signer_hash,
        valid_cert=True,
        determination_type="Clean",
        determination_value="",
    )


def rundll32_file() -> FileInfo:
    """rundll32.exe as in the MDE alert docs' evidence."""
    return FileInfo(
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


def unsigned_file() -> FileInfo:
    """An unsigned tool whose hashes derive from a fixed key (no global profile yet)."""
    key = "enrich-sandbox/unsigned"
    return FileInfo(
        sha1=derived("sha1", key),
        sha256=derived("sha256", key),
        md5=derived("md5", key),
        name="tool.exe",
        folder=r"C:\Users\bob\Downloads",
        size=48_640,
        determination_type="Unknown",
    )


def not_in_org_file() -> FileInfo:
    """A malware DLL MDE knows but the organisation never saw (no global profile yet)."""
    key = "enrich-sandbox/not-in-org"
    return FileInfo(
        sha1=derived("sha1", key),
        sha256=derived("sha256", key),
        md5=derived("md5", key),
        name="rare.dll",
        folder=r"C:\Windows\Temp",
        size=90_112,
        determination_type="Malware",
        determination_value="Trojan:Win32/Emotet.RPX!MTB",
    )


def documented_files(g: Generator) -> DocumentedFiles:
    """The planted files, with global profiles drawn from `g` where the docs give none."""
    pua = pua_file()
    mrec = g.global_profile(mrec_file(signer_hash=g.hexstr(160)))
    mrec.global_prevalence = 705012
    mrec.global_first = parse_ticks("2015-03-19T12:20:07.3432441Z")
    rundll32 = rundll32_file()
    unsigned = g.global_profile(unsigned_file())
    not_in_org = g.global_profile(not_in_org_file())
    return DocumentedFiles(pua, mrec, rundll32, unsigned, not_in_org)


def plant_files(g: Generator, files: DocumentedFiles) -> None:
    """Sight the seen files (on under 3 devices: in the last 3 days) and add the unseen one."""
    for info, n_devices in files.seen():
        g.sight_file(info, n_devices, g.window("recent") if n_devices < 3 else g.window("inside"))
        g.ds.planted[("files", info.sha1)] = True
    g.ds.add_file(files.not_in_org)
    g.ds.planted[("files", files.not_in_org.sha1)] = False


def alert_files(g: Generator, files: DocumentedFiles) -> None:
    """Alerts on rundll32.exe and on the PUA, as in the docs."""
    g.alert(
        "files",
        files.rundll32.sha1,
        "Low-reputation arbitrary code executed by signed executable",
        "Execution",
        files.rundll32,
    )
    g.alert(
        "files", files.pua.sha1, "'FusionCore' unwanted software was detected", "UnwantedSoftware", files.pua
    )


def plant_network(g: Generator) -> None:
    """Sight the documented IPs and domains within 30 days; alert on the notification service."""
    for ip, n_devices in DOCUMENTED_IPS:
        g.sight_ip(ip, n_devices, g.window("inside"))
        g.ds.planted[("ips", ip)] = True
    for host, n_devices in DOCUMENTED_DOMAINS:
        g.sight_domain(host, n_devices, g.window("inside"))
        g.ds.planted[("domains", host)] = True
    g.alert(
        "domains",
        "client.wns.windows.com",
        "Suspicious connection to a notification service",
        "CommandAndControl",
    )


def reserve_never_seen(g: Generator) -> None:
    """Plant the `NEVER_SEEN` keys as unseen and keep random data from using them."""
    for family, key in NEVER_SEEN:
        g.ds.planted[(family, key)] = False
        g.reserved.add((family, key))


def plant_fixtures(g: Generator) -> None:
    """Documented example entities, so responses can be compared with the MDE docs."""
    files = documented_files(g)
    plant_files(g, files)
    alert_files(g, files)
    plant_network(g)
    reserve_never_seen(g)
