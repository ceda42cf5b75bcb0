"""Refang, classify and normalise threat indicators: pure, cached, never raising on text.

Public API: `refang`, `classify`, `extract`, `classify_as`.
"""

from __future__ import annotations

import re
from dataclasses import replace
from functools import lru_cache

from enrich.indicators import hosts
from enrich.indicators.defang import refang, refang_flagged
from enrich.indicators.hosts import NOT_INDICATOR, invalid, join_notes, port_error, with_note
from enrich.model import Indicator, IndicatorType, Status

__all__ = ["MAX_CELL", "classify", "classify_as", "extract", "refang"]

MAX_CELL = 8192  # longer cells are rejected without further work
_CACHE_LEN = 1024  # longer inputs bypass the caches (bounds their memory)

_T = IndicatorType
PENDING, INVALID, UNSUPPORTED = Status.PENDING, Status.INVALID, Status.UNSUPPORTED

EMAIL_REASON = "e-mail addresses are not supported"

# ---------------------------------------------------------------- URLs, e-mails, hashes
_SCHEMES = frozenset("http https ftp ftps sftp ws wss tcp udp ssh telnet smb irc ircs".split())  # noqa: SIM905
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")
_AUTHORITY = re.compile(r"[^/?#\\]*")
_HEX = re.compile(r"[0-9a-fA-F]+")
_HASHES = {32: _T.MD5, 40: _T.SHA1, 64: _T.SHA256}
_OTHER_HASHES = {56: "SHA-224", 96: "SHA-384", 128: "SHA-512"}
_SSDEEP = re.compile(r"[0-9]{1,10}:[0-9A-Za-z/+]+:[0-9A-Za-z/+]+(?:,.*)?")
_TLSH = re.compile(r"T1[0-9A-Fa-f]{70}")
_EMAIL_LOCAL = re.compile(r"[^\s@,;|<>()\[\]\\:\"]+")


def _url(s: str, assumed: bool = False) -> Indicator:
    """scheme://[userinfo@]host[:port][rest]: scheme and host normalised, the rest byte-for-byte."""
    scheme, _, rest = s.partition("://")
    low = scheme.lower()
    if low not in _SCHEMES:
        return invalid(s, f"URL scheme '{scheme}' is not supported (only {', '.join(sorted(_SCHEMES))})")
    match = _AUTHORITY.match(rest)  # always matches (maybe empty)
    authority = match.group() if match else ""
    tail = rest[len(authority) :]
    userinfo, at, hostport = authority.rpartition("@")
    if hostport.startswith("["):
        inner, close, after = hostport.partition("]")
        host, port = inner + close, (after[1:] if after.startswith(":") else None)
        if after and port is None:
            return invalid(s, f"URL host '{hostport}' is not valid")
    else:
        host, colon, port = hostport.partition(":")
        port = port if colon else None
    if not host:
        return invalid(s, "URL has no host")
    if port is not None and port and port_error(port):
        return invalid(s, f"URL {port_error(port)}")
    h = hosts.host(host)
    if h.status is not PENDING:
        detail = "" if h.reason == NOT_INDICATOR else f": {h.reason}"
        return invalid(s, f"URL host '{host[:100]}' is not a valid domain or IP address{detail}")
    hostval = f"[{h.value}]" if h.type is _T.IPV6 else h.value
    portpart = "" if port is None else ":" + port
    value = f"{low}://{userinfo}{at}{hostval}{portpart}{tail}"
    return Indicator(
        _T.URL, value, PENDING, note=join_notes("no scheme; http:// assumed" if assumed else "", h.note)
    )


def _email(s: str) -> Indicator | None:
    """An e-mail address (UNSUPPORTED, domain normalised) or None."""
    addr = s[7:] if s[:7].lower() == "mailto:" else s
    local, _, dom = addr.rpartition("@")
    if not _EMAIL_LOCAL.fullmatch(local) or "/" in dom or ":" in dom:
        return None
    h = hosts.host(dom)
    return (
        None if h.status is not PENDING else Indicator(None, f"{local}@{h.value}", UNSUPPORTED, EMAIL_REASON)
    )


def _hex_reason(s: str) -> Indicator:
    """Why a hex string of the wrong length is not a supported hash."""
    n = len(s)
    if n in _OTHER_HASHES:
        reason = f"{_OTHER_HASHES[n]} hashes are not supported; only MD5, SHA-1 and SHA-256"
        return Indicator(None, s.lower(), UNSUPPORTED, reason)
    if n >= 16 and not s.isdigit():
        return invalid(s, f"hex string of {n} characters is not an MD5 (32), SHA-1 (40) or SHA-256 (64) hash")
    return invalid(s, NOT_INDICATOR)


# ---------------------------------------------------------------- classify
def _classify_clean(s: str) -> Indicator:
    """Classify refanged, stripped, non-empty text."""
    n = len(s)
    if n in _HASHES and _HEX.fullmatch(s):  # fast paths: hash, IPv4, plain domain
        return Indicator(_HASHES[n], s.lower(), PENDING)
    ind = hosts.v4_fast(s)
    if ind is not None:
        return ind
    if s.isascii():
        low = s.lower()
        if n <= 253 and hosts.DOMAIN_RE.fullmatch(low) and low[low.rfind(".") + 1 :] not in hosts.FILE_EXTS:
            return Indicator(_T.DOMAIN, low, PENDING)
    if not s.isprintable() or " " in s:
        if not any(c.isspace() for c in s):
            return invalid(s, "contains control or invisible characters")
        ext = s.rpartition(".")[2].lower()
        if ext in hosts.FILE_EXTS:
            return invalid(s, f"looks like a file name (.{ext}), not an indicator")
        return invalid(s, f"contains spaces; not a single {NOT_INDICATOR[7:]}")
    i = s.find("://")
    if i > 0 and _SCHEME.fullmatch(s, 0, i):
        return _url(s)
    if _HEX.fullmatch(s):
        return _hex_reason(s)
    ind = hosts.ip_forms(s)
    if ind is not None:
        return ind
    if "@" in s:
        ind = _email(s)
        if ind is not None:
            return ind
    if _SSDEEP.fullmatch(s):
        return Indicator(None, s, UNSUPPORTED, "ssdeep fuzzy hashes are not supported")
    if _TLSH.fullmatch(s):
        return Indicator(None, s.upper(), UNSUPPORTED, "TLSH fuzzy hashes are not supported")
    head, slash, _ = s.partition("/")
    host, colon, port = head.partition(":")
    if colon and port_error(port):
        return invalid(s, NOT_INDICATOR)
    if host.startswith("*.") and not slash and not colon:
        ind = hosts.domain(host[2:])
        if ind.status is PENDING:
            return Indicator(_T.DOMAIN, "*." + ind.value, UNSUPPORTED, "wildcard domains are not supported")
        return invalid(s, ind.reason)
    ind = hosts.host(host)
    if ind.status is not PENDING:
        return invalid(s, NOT_INDICATOR if slash else ind.reason)
    if slash:
        return _url("http://" + s, assumed=True)
    return replace(ind, note=join_notes(ind.note, f"port {int(port)} dropped")) if colon else ind


# ---------------------------------------------------------------- fast paths
# http(s)://host[:port][/?#rest]: lower-case scheme and host, the rest printable ASCII but blanks,
# quotes ("'`), brackets ([({) and backslash, so refanging leaves it as it is (see `_plain`).
_PLAIN_HTTP = re.compile(r"https?://([a-z0-9_.-]+)(?::([0-9]{1,5}))?(?:[/?#][!#-&*-Z^_a-z|}~]*)?")


def _plain(s: str) -> Indicator | None:
    """`_classify(s)` when `s` is a plain hash, canonical dotted quad, domain or http(s) URL, else None.

    Each case is one that refanging leaves as it is and that `_classify_clean` settles with the
    same test (the earlier tests there cannot take it): hex only; digits and dots; letters,
    digits, `_` `.` `-` with a letter TLD; a URL whose host is one of those, in the characters
    `_PLAIN_HTTP` allows and without a defanged-scheme hint; hex, colons and dots that make an
    IPv6 address (`ip_forms` finds no port, prefix or brackets and asks `hosts.address`).
    """
    n = len(s)
    if n in _HASHES:
        if _HEX.fullmatch(s):
            return Indicator(_HASHES[n], s.lower(), PENDING)
    elif n <= 15 and s[:1].isdigit():
        ind = hosts.v4_fast(s)
        if ind is not None:
            return ind
    if "://" in s:
        return _plain_url(s) if s[:4] == "http" and n <= MAX_CELL else None
    if ":" in s:  # an IPv6 address in hex digits, colons (two or more) and dots, alone
        if s.count(":") < 2 or n > MAX_CELL or not hosts.V6_CHARS.fullmatch(s):
            return None
        ind = hosts.address(s)
        return ind if ind is not None and ind.status is PENDING else None
    if n > 253 or not s.isascii():
        return None
    low = s.lower()
    if hosts.DOMAIN_RE.fullmatch(low) and low[low.rfind(".") + 1 :] not in hosts.FILE_EXTS:
        return Indicator(_T.DOMAIN, low, PENDING)
    return None


def _plain_url(s: str) -> Indicator | None:
    m = _PLAIN_HTTP.fullmatch(s)
    if m is None:
        return None
    low = s.lower()
    if "xxp" in low or "fxp" in low or "**p" in low or "__p" in low:
        return None
    host, port = m.groups()
    if port is not None and int(port) > 65535:
        return None
    if len(host) <= 253 and hosts.DOMAIN_RE.fullmatch(host):
        if host[host.rfind(".") + 1 :] in hosts.FILE_EXTS:
            return None
        return Indicator(_T.URL, s, PENDING)
    h = hosts.v4_fast(host)
    return None if h is None else Indicator(_T.URL, s, PENDING, note=h.note)


def _fast(s: str) -> Indicator | None:
    """`_classify(s)` for plain tokens and for tokens defanged only with `[.]` and a leading
    `hxxp://` / `hxxps://`, else None (the caller takes the long way)."""
    ind = _plain(s)
    if ind is not None or ("[.]" not in s and s[:4] != "hxxp") or len(s) > MAX_CELL:
        return ind
    # Refanging such a token replaces exactly these, once: `_plain` takes no bracket, no blank
    # and no quote, and the hints of another defanged scheme send it the long way.
    t = s.replace("[.]", ".")
    if t[:7] == "hxxp://" or t[:8] == "hxxps://":
        t = "http" + t[4:]
    low = t.lower()
    if "xxp" in low or "fxp" in low or "**p" in low or "__p" in low:
        return None
    ind = _plain(t)
    if ind is None:
        return None
    return (
        Indicator(ind.type, ind.value, PENDING, note="defanged")
        if not ind.note
        else with_note(ind, "defanged")
    )


def _too_long(text: str) -> Indicator:
    shown = text.strip()
    return invalid(shown[:256] + "\u2026", f"cell too long ({len(text)} characters; at most {MAX_CELL})")


def _classify(token: str) -> Indicator:
    if len(token) > MAX_CELL:
        return _too_long(token)
    s, defanged = refang_flagged(token)
    if not s:
        return Indicator(None, "", INVALID, "empty cell")
    ind = _classify_clean(s)
    if ind.status is INVALID:
        raw = token.strip()
        return ind if ind.value == raw else replace(ind, value=raw)
    return with_note(ind, "defanged") if defanged else ind


_classify_cached = lru_cache(maxsize=65536)(_classify)


def classify(token: str) -> Indicator:
    """Classify one token: PENDING (lookupable), INVALID (type None, raw value, reason) or UNSUPPORTED."""
    if token.__class__ is str:
        ind = _fast(token)
        if ind is not None:
            return ind
    elif not isinstance(token, str):
        token = "" if token is None else str(token)
    return _classify_cached(token) if len(token) <= _CACHE_LEN else _classify(token)


# ---------------------------------------------------------------- extract, classify_as
_PUNCT_SEP = re.compile(r"[,;|]+")
_ANY_SEP = re.compile(r"[\s,;|]")


def _split(s: str, defanged: bool) -> tuple[Indicator, ...] | None:
    """Split on whitespace, then on , ; | -- only if every part is an indicator."""
    out: list[Indicator] = []
    for word in s.split():
        word = word.strip(",;|")
        if not word:
            continue
        ind = classify(word)
        if ind.status is INVALID:
            pieces = [p for p in _PUNCT_SEP.split(word) if p]
            if len(pieces) < 2:
                return None
            parts = [classify(p) for p in pieces]
            if any(p.status is INVALID for p in parts):
                return None
            out.extend(parts)
        else:
            out.append(ind)
    return tuple(with_note(i, "defanged") if defanged else i for i in out) or None


# Hex strings joined by , ; | (one file's hashes): as a whole no indicator (no dot, colon or slash,
# so nothing but the domain test takes it, and that fails), and nothing to refang or strip.
_HEX_LIST = re.compile(r"[0-9a-fA-F]+(?:[,;|]+[0-9a-fA-F]+)+")


def _extract(cell: str) -> tuple[Indicator, ...]:
    if len(cell) <= MAX_CELL and _HEX_LIST.fullmatch(cell):  # what `_split` finds, without the rest
        parts = tuple(map(classify, _PUNCT_SEP.split(cell)))
        if all(p.status is not INVALID for p in parts):
            return parts
    whole = _classify_cached(cell) if len(cell) <= _CACHE_LEN else _classify(cell)  # `classify` less `_fast`
    if whole.status is not INVALID or len(cell) > MAX_CELL or not _ANY_SEP.search(cell.strip()):
        return (whole,)
    s, defanged = refang_flagged(cell)
    return _split(cell, False) or (_split(s, defanged) if defanged else None) or (whole,)


_extract_cached = lru_cache(maxsize=65536)(_extract)


def extract(cell: str) -> tuple[Indicator, ...]:
    """All indicators in a CSV cell (split on whitespace , ; | only when every part is an indicator)."""
    if cell.__class__ is str:
        ind = _fast(cell)  # plain tokens: cheaper than a cache miss, and kept out of the cache
        if ind is not None:
            return (ind,)
    elif not isinstance(cell, str):
        cell = "" if cell is None else str(cell)
    return _extract_cached(cell) if len(cell) <= _CACHE_LEN else _extract(cell)


_ARTICLES = {
    _T.IPV4: "an IPv4 address",
    _T.IPV6: "an IPv6 address",
    _T.DOMAIN: "a domain name",
    _T.URL: "a URL",
    _T.MD5: "an MD5 hash",
    _T.SHA1: "a SHA-1 hash",
    _T.SHA256: "a SHA-256 hash",
}


_HASH_LENGTHS = {_T.MD5: 32, _T.SHA1: 40, _T.SHA256: 64}
# scheme://, then printable ASCII but blanks, quotes ("'`), brackets ([({ and ]}) and backslash
_URL_PLAIN = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[!#-&*-Z^_a-z|}~]*")


def _declared_fast(value: str, declared: IndicatorType) -> Indicator | None:
    """`classify_as(value, declared)` for plain values of the declared type, else None.

    What `classify` would find, without its layers: each test here holds only for text that
    refanging leaves as it is and that no earlier test of `_classify_clean` takes.
    """
    if declared is _T.IPV4:
        return hosts.v4_fast(value)  # a canonical dotted quad: digits and dots only
    if declared is _T.DOMAIN:  # letters, digits, _ . - : nothing to refang; a dot, a letter TLD
        if value.isascii() and len(value) <= 253:
            low = value.lower()
            if hosts.DOMAIN_RE.fullmatch(low) and low[low.rfind(".") + 1 :] not in hosts.FILE_EXTS:
                return Indicator(_T.DOMAIN, low, PENDING)
        return None
    if declared in _HASH_LENGTHS:  # hex digits only: nothing to refang
        if len(value) == _HASH_LENGTHS[declared] and _HEX.fullmatch(value):
            return Indicator(declared, value.lower(), PENDING)
        return None
    if declared is _T.URL and len(value) <= MAX_CELL and _URL_PLAIN.fullmatch(value):
        low = value.lower()
        if "xp" in low or "*p" in low or "_p" in low:  # could be a defanged scheme: the long way
            return None
        ind = _url(value)
        return ind if ind.type is _T.URL else None
    return None


def classify_as(value: str, declared: IndicatorType) -> Indicator:
    """Classify a value whose type the source declares; INVALID with a reason when it is not that type."""
    if declared.__class__ is not IndicatorType:  # the enum call is slow; members pass as they are
        declared = IndicatorType(declared)
    if value.__class__ is str:
        fast = _declared_fast(value, declared)
        if fast is not None:
            return fast
    ind = classify(value)
    if ind.type is declared:
        return ind
    raw = ind.value if ind.status is INVALID else str(value).strip()
    shown = raw if len(raw) <= 80 else raw[:77] + "..."
    reason = f"declared {declared.value} but '{shown}' is not {_ARTICLES[declared]}"
    if ind.type is not None:
        reason += f" (it looks like {_ARTICLES[ind.type]})"
    elif ind.reason and ind.reason != NOT_INDICATOR:
        reason += f": {ind.reason}"
    return invalid(raw, reason)
