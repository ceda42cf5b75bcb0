"""Static name lists and helpers the synthetic data generator draws from."""

from __future__ import annotations

import hashlib

from enrich.sandbox.data import TICKS_PER_HOUR, FileInfo, format_ticks

DAY = 24 * TICKS_PER_HOUR
DOTNET_EPOCH_OFFSET = 621_355_968_000_000_000  # .NET ticks at 1970-01-01

# (name, folder, product, publisher, issuer)
PROCESSES = [
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
        "MsMpEng.exe",
        r"C:\ProgramData\Microsoft\Windows Defender\Platform\4.18.24090.11-0",
        "Microsoft® Windows® Operating System",
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
# Processes that write or start the files users bring in (InitiatingProcess* of file events).
PARENTS = (
    "explorer.exe",
    "cmd.exe",
    "powershell.exe",
    "OUTLOOK.EXE",
    "chrome.exe",
    "msedge.exe",
    "WINWORD.EXE",
)
NET_PROCESSES = (
    "chrome.exe",
    "msedge.exe",
    "powershell.exe",
    "svchost.exe",
    "rundll32.exe",
    "OUTLOOK.EXE",
    "Teams.exe",
)
BENIGN_DOMAINS = [
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
MAL_NAMES = [
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
MAL_EXT = [".exe", ".dll", ".exe", ".scr", ".ps1", ".js", ".msi"]
MAL_FOLDERS = [
    r"C:\Users\{u}\Downloads",
    r"C:\Users\{u}\AppData\Local\Temp",
    r"C:\ProgramData\{d}",
    r"C:\Windows\Temp",
]
USERS = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"]
DETERMINATIONS = [
    ("Malware", "Trojan:Win32/Wacatac.B!ml"),
    ("Malware", "Backdoor:Win64/CobaltStrike.NP!dha"),
    ("Malware", "Ransom:Win32/LockBit.AB"),
    ("Pua", "PUA:Win32/Presenoker"),
    ("Suspicious", "Behavior:Win32/SuspRemoteExec"),
    ("Unknown", None),
    ("Unknown", None),
    ("Clean", ""),
]
WORDS = [
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
TLDS = ["com", "net", "org", "io", "xyz", "top", "info", "ru", "biz", "online", "site", "cc"]
PUBLIC_FIRST_OCTETS = [
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


def derived(kind: str, key: str) -> str:
    data = f"enrich-sandbox/{kind}/{key}".encode()
    return {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "md5": hashlib.md5}[kind](data).hexdigest()


EVIDENCE_KEYS = [
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


def family_name(info: FileInfo | None) -> str | None:
    """'Trojan:Win32/Wacatac.B!ml' -> 'Wacatac'."""
    if not info or not info.determination_value:
        return None
    return info.determination_value.split("/")[-1].split(".")[0].split("!")[0] or None


def evidence(family: str, key: str, info: FileInfo | None, ticks: int) -> list[dict]:
    item = dict.fromkeys(EVIDENCE_KEYS)
    item["evidenceCreationTime"] = format_ticks(ticks)
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
