"""Find indicators in the repository's sample files so the sandbox knows (about half of) them."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from enrich.sandbox.data import normalize_domain, normalize_ip

SAMPLE_SUFFIXES = (".csv", ".txt", ".json", ".jsonl", ".stix", ".tsv")
MAX_BYTES_PER_FILE = 4 * 1024 * 1024
MAX_INDICATORS = 5000

_REFANG = [
    (re.compile(r"\[\s*\.\s*\]|\(\s*\.\s*\)|\{\s*\.\s*\}|\[dot\]|\(dot\)", re.I), "."),
    (re.compile(r"\[\s*:\s*\]"), ":"),
    (re.compile(r"\bhxxp", re.I), "http"),
    (re.compile(r"\bfxp", re.I), "ftp"),
]
_HASH = re.compile(r"(?<![0-9A-Za-z])([0-9A-Fa-f]{64}|[0-9A-Fa-f]{40}|[0-9A-Fa-f]{32})(?![0-9A-Za-z])")
_IPV4 = re.compile(r"(?<![\d.])(\d{1,3}(?:\.\d{1,3}){3})(?![\d.])")
_IPV6 = re.compile(r"(?<![0-9A-Za-z:])((?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4})(?![0-9A-Za-z:])")
_DOMAIN = re.compile(r"(?<![\w.@-])((?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,24})(?![\w-])", re.I)
_EMAIL_HOST = re.compile(r"@((?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,24})(?![\w-])", re.I)

# Last labels that are far more often file extensions or property names than top-level domains.
_NOT_TLDS = frozenset(
    [
        "exe",
        "dll",
        "sys",
        "bat",
        "cmd",
        "ps1",
        "vbs",
        "js",
        "jse",
        "wsf",
        "hta",
        "lnk",
        "scr",
        "msi",
        "msp",
        "jar",
        "py",
        "pl",
        "sh",
        "rb",
        "php",
        "asp",
        "aspx",
        "jsp",
        "html",
        "htm",
        "xml",
        "json",
        "jsonl",
        "csv",
        "tsv",
        "txt",
        "log",
        "md",
        "rst",
        "ini",
        "cfg",
        "conf",
        "yaml",
        "yml",
        "toml",
        "doc",
        "docx",
        "docm",
        "xls",
        "xlsx",
        "xlsm",
        "ppt",
        "pptx",
        "pdf",
        "rtf",
        "odt",
        "zip",
        "rar",
        "gz",
        "tgz",
        "bz",
        "xz",
        "iso",
        "img",
        "vhd",
        "dmg",
        "apk",
        "bin",
        "dat",
        "tmp",
        "bak",
        "png",
        "jpg",
        "jpeg",
        "gif",
        "bmp",
        "svg",
        "ico",
        "mp",
        "mov",
        "wav",
        "eml",
        "msg",
        "one",
        "pst",
        "db",
        "sqlite",
        "key",
        "pem",
        "crt",
        "cer",
        "der",
        "pfx",
        "so",
        "dylib",
        "elf",
        "out",
        "go",
        "rs",
        "ts",
        "cpp",
        "java",
        "class",
        "war",
        "ear",
        "value",
        "type",
        "name",
        "id",
        "ref",
        "refs",
        "pattern",
        "hashes",
        "stix",
        "lock",
        "whl",
        "egg",
        "cab",
        "ocx",
        "drv",
        "cpl",
        "chm",
        "gadget",
        "application",
        "inf",
        "reg",
        "vb",
        "vbe",
        "wsc",
        "wsh",
        "psd",
        "ai",
        "tif",
        "tiff",
        "webp",
        "avi",
        "mkv",
        "flac",
        "ogg",
        "ssdeep",
        "tlsh",
        "imphash",
        "authentihash",
        "pehash",
        "vhash",
    ]
)


def refang(text: str) -> str:
    """Undo the usual defanging (hxxp, [.], [:])."""
    for pattern, repl in _REFANG:
        text = pattern.sub(repl, text)
    return text


def extract(text: str) -> list[tuple[str, str]]:
    """(family, key) pairs found in `text`, in order of first appearance, de-duplicated."""
    text = refang(text)
    found: dict[tuple[str, str], None] = {}
    for m in _HASH.finditer(text):
        found[("files", m.group(1).lower())] = None
    for m in _IPV4.finditer(text):
        ip = normalize_ip(m.group(1))
        if ip:
            found[("ips", ip)] = None
    for m in _IPV6.finditer(text):
        if m.group(1).count(":") >= 2 and any(c.isalnum() for c in m.group(1)):
            ip = normalize_ip(m.group(1))
            if ip and ip != "::":
                found[("ips", ip)] = None
    for regex in (_DOMAIN, _EMAIL_HOST):
        for m in regex.finditer(text):
            host = normalize_domain(m.group(1))
            if host and host.rsplit(".", 1)[-1] not in _NOT_TLDS:
                found[("domains", host)] = None
    return list(found)


def default_sample_dir() -> Path:
    """The repository's `sample_data/` next to the package (may not exist when installed)."""
    return Path(__file__).resolve().parent.parent.parent / "sample_data"


def scan(directory: str | Path) -> list[tuple[str, str]]:
    """Indicators found in the sample files of `directory` (sorted file names, capped)."""
    root = Path(directory)
    if not root.is_dir():
        return []
    found: dict[tuple[str, str], None] = {}
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.suffix.lower() not in SAMPLE_SUFFIXES:
            continue
        try:
            with open(path, "rb") as fh:
                text = fh.read(MAX_BYTES_PER_FILE).decode("utf-8", errors="replace")
        except OSError:
            continue
        for item in extract(text):
            found[item] = None
            if len(found) >= MAX_INDICATORS:
                return list(found)
    return list(found)


def chosen_seen(key: str) -> bool:
    """Whether a planted indicator is made 'seen': a fixed hash of the value, about half."""
    return hashlib.sha256(key.encode()).digest()[0] % 2 == 0
