"""Refanging: undo the defanging conventions of threat feeds, conservatively."""

from __future__ import annotations

import re

__all__ = ["refang", "refang_flagged"]

_INVISIBLE_CHARS = "\u200b\u200c\u200d\u2060\ufeff\u00ad"  # zero-width, word joiner, BOM, soft hyphen
_INVISIBLE = dict.fromkeys(map(ord, _INVISIBLE_CHARS), None)
_PAIRS = {'"': '"', "'": "'", "`": "`", "\u201c": "\u201d", "\u2018": "\u2019", "<": ">", "\u00ab": "\u00bb"}
_QUOTES = "\"'`\u201c\u201d\u2018\u2019\u00ab\u00bb"
_HINT = re.compile(r"[\[({\\]|(?<![a-z0-9])(?:h(?:xx|\*\*|__)ps?|fxps?)[:\[(]", re.I)
_SCHEME_DEFANG = re.compile(r"(?<![a-z0-9])(h(?:xx|\*\*|__)p|fxp)(s?)(?=[:\[(])", re.I)
_BRACKETED = re.compile(r"\s*[\[({]\s*(\.|dot)\s*[\])}]\s*|[\[({]\s*(://|//|/|:|@|at)\s*[\])}]", re.I)


def _unquote(s: str) -> str:
    while len(s) >= 2 and _PAIRS.get(s[0]) == s[-1]:
        s = s[1:-1].strip()
    s = s.lstrip(_QUOTES).strip()
    if s and s[-1] in _QUOTES and (s[-1] != "'" or "://" not in s):
        s = s.rstrip(_QUOTES).strip()
    return s


def _unbracket(m: re.Match[str]) -> str:
    tok = (m.group(1) or m.group(2)).lower()
    return "." if tok == "dot" else "@" if tok == "at" else tok


def _maybe_defanged(s: str) -> bool:
    """Cheap pre-check (substring tests) before the regexes."""
    if "[" in s or "(" in s or "{" in s or "\\" in s:
        return True
    low = s.lower()
    return ("xxp" in low or "fxp" in low or "**p" in low or "__p" in low) and _HINT.search(s) is not None


def _one_pass(s: str) -> str:
    s = s.strip()
    if s and (s[0] in _PAIRS or s[0] in _QUOTES or s[-1] in _QUOTES):
        s = _unquote(s)
    if _maybe_defanged(s):
        s = _SCHEME_DEFANG.sub(lambda m: ("http" if m.group(1)[0] in "hH" else "ftp") + m.group(2).lower(), s)
        s = _BRACKETED.sub(_unbracket, s).replace("\\.", ".").strip()
    return s


def refang_flagged(text: str) -> tuple[str, bool]:
    """Return (refanged text, whether defanging was undone: markers, or invisible characters inside)."""
    raw = text
    if not text.isascii():
        text = text.translate(_INVISIBLE)
    clean = text.strip()
    s = _one_pass(clean)
    if s != clean:
        for _ in range(len(s) + 1):  # to a fixed point, so refang(refang(x)) == refang(x)
            prev, s = s, _one_pass(s)
            if s == prev:
                break
    elif text is raw:
        return s, False
    # trimming whitespace, quotes and invisible characters at the ends is not "defanged"
    return s, s != _unquote(raw.strip().strip(_INVISIBLE_CHARS).strip())


def refang(text: str) -> str:
    """Undo common defanging (hxxp, [.], (dot), [:], [://], \\.), zero-width chars and stray quotes."""
    return refang_flagged(text)[0]
