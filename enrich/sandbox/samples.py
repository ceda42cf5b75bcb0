"""Find indicators in the repository's sample files so the sandbox knows (about half of) them.

`scan` lists the indicators; `linked_hashes` lists the hashes the files give for one file (a
CSV/text line, a STIX pattern or a STIX `hashes` object holding a SHA-1, SHA-256 and/or MD5 of
distinct lengths), so the sandbox makes them one file with one identity.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

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


_URL = re.compile(r"\b(?:https?|ftp)://[^\s\"'<>,;|)\]\\]+", re.I)
_STIX_URL = re.compile(r"url:value\s*=\s*'((?:[^'\\]|\\.)*)'")


def extract_urls(text: str) -> list[str]:
    """Full URLs in `text` (refanged, without #fragment, which never reaches the network), de-duplicated.

    A STIX pattern's `url:value = '...'` is read whole (its `\\'` and `\\\\` escapes undone).
    """
    found: dict[str, None] = {}
    quoted = [re.sub(r"\\(.)", r"\1", m.group(1)) for m in _STIX_URL.finditer(text)]
    loose = [m.group(0) for m in _URL.finditer(refang(_STIX_URL.sub(" ", text)))]
    for raw in quoted + loose:
        url = refang(raw.strip()).split("#", 1)[0].rstrip(".")
        if "://" in url and url.split("://", 1)[1]:
            found[url] = None
    return list(found)


def scan_urls(directory: str | Path) -> dict[str, list[str]]:
    """Full URLs of the sample files of `directory` by host (a domain or a canonical IP)."""
    by_host: dict[str, list[str]] = {}
    for text in _sample_texts(directory):
        urls = [url for record in _records(text) for string in record for url in extract_urls(string)]
        for url in urls:
            raw = urlsplit_host(url)
            host = normalize_ip(raw) or normalize_domain(raw)
            if host and url not in by_host.setdefault(host, []):
                by_host[host].append(url)
    return by_host


def urlsplit_host(url: str) -> str:
    """The host of a URL ("" when it has none)."""
    try:
        return (urlsplit(url).hostname or "").rstrip(".")
    except ValueError:
        return ""


def default_sample_dir() -> Path:
    """The repository's `sample_data/` next to the package (may not exist when installed)."""
    return Path(__file__).resolve().parent.parent.parent / "sample_data"


def _sample_texts(directory: str | Path) -> Iterator[str]:
    """The text of each sample file of `directory` (sorted names, at most MAX_BYTES_PER_FILE each)."""
    root = Path(directory)
    if not root.is_dir():
        return
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.suffix.lower() not in SAMPLE_SUFFIXES:
            continue
        try:
            with open(path, "rb") as fh:
                yield fh.read(MAX_BYTES_PER_FILE).decode("utf-8", errors="replace")
        except OSError:
            continue


def scan(directory: str | Path) -> list[tuple[str, str]]:
    """Indicators found in the sample files of `directory` (sorted file names, capped)."""
    found: dict[tuple[str, str], None] = {}
    for text in _sample_texts(directory):
        for item in extract(text):
            found[item] = None
            if len(found) >= MAX_INDICATORS:
                return list(found)
    return list(found)


def _records(text: str) -> Iterator[list[str]]:
    """Groups of strings that each describe one thing: a STIX `hashes` object's values, any one
    JSON string (e.g. a pattern), or one line of a non-JSON file."""
    docs: list[object] = []
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        try:
            docs = [json.loads(text)]
        except json.JSONDecodeError:
            try:
                docs = [json.loads(line) for line in text.splitlines() if line.strip()]
            except json.JSONDecodeError:
                docs = []
    if not docs:
        for line in text.splitlines():
            yield [line]
        return
    stack = list(docs)
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            hashes = node.get("hashes")
            if isinstance(hashes, dict):
                yield [v for v in hashes.values() if isinstance(v, str)]
            stack.extend(v for k, v in node.items() if k != "hashes")
        elif isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, str):
            yield [node]


def one_file(strings: list[str]) -> tuple[str, ...] | None:
    """The hashes in `strings` when they can only be one file: 2 or 3 of distinct lengths."""
    found = list(dict.fromkeys(m.group(1).lower() for s in strings for m in _HASH.finditer(s)))
    if len(found) < 2 or len({len(h) for h in found}) != len(found):
        return None
    return tuple(sorted(found, key=len, reverse=True))


def linked_hashes(directory: str | Path) -> list[tuple[str, ...]]:
    """Hashes the sample files give for one file, each group (SHA-256, SHA-1, MD5 order) once.

    Groups that share a hash are merged when the result still holds one hash per algorithm;
    a conflicting link (two SHA-1 for one MD5) is left out.
    """
    groups: list[dict[int, str]] = []
    for text in _sample_texts(directory):
        for record in _records(text):
            hashes = one_file(record)
            if not hashes:
                continue
            new = {len(h): h for h in hashes}
            merged = False
            for group in groups:
                if set(group.values()) & set(new.values()):
                    if all(group.get(n, h) == h for n, h in new.items()):
                        group.update(new)
                    merged = True
                    break
            if not merged:
                groups.append(new)
    return [tuple(group[n] for n in sorted(group, reverse=True)) for group in groups]


def chosen_seen(key: str) -> bool:
    """Whether a planted indicator is made 'seen': a fixed hash of the value, about half."""
    return hashlib.sha256(key.encode()).digest()[0] % 2 == 0
