"""Kusto's regular expressions (RE2 syntax) on Python's `re`: translation, caching, rewrite strings."""

from __future__ import annotations

import re
from functools import lru_cache

# RE2 spellings that Python spells differently.
_NAMED_GROUP = re.compile(r"(?<!\\)\(\?<(?=[A-Za-z_])")
_END_OF_TEXT = re.compile(r"(?<!\\)((?:\\\\)*)\\z")


@lru_cache(maxsize=1024)
def compile_regex(pattern: str) -> re.Pattern[str] | None:
    """The compiled form of an RE2 pattern, or None when it does not compile."""
    translated = _NAMED_GROUP.sub("(?P<", pattern)
    translated = _END_OF_TEXT.sub(r"\1\\Z", translated)
    try:
        return re.compile(translated)
    except (re.error, RecursionError, OverflowError, ValueError):
        return None


def regex_error(pattern: str) -> str | None:
    """Why ``pattern`` is not a valid regular expression, or None when it is."""
    if compile_regex(pattern) is not None:
        return None
    translated = _END_OF_TEXT.sub(r"\1\\Z", _NAMED_GROUP.sub("(?P<", pattern))
    try:
        re.compile(translated)
    except re.error as exc:
        return str(exc)
    except (RecursionError, OverflowError, ValueError):
        return "pattern too complex"
    return "invalid pattern"


@lru_cache(maxsize=256)
def rewrite_template(rewrite: str) -> tuple[tuple[bool, str | int], ...]:
    """An RE2 rewrite string (``\\0``..``\\9`` are groups) as (is_group, text|group) parts."""
    parts: list[tuple[bool, str | int]] = []
    literal: list[str] = []
    i = 0
    while i < len(rewrite):
        ch = rewrite[i]
        if ch == "\\" and i + 1 < len(rewrite):
            nxt = rewrite[i + 1]
            if nxt.isdigit():
                if literal:
                    parts.append((False, "".join(literal)))
                    literal = []
                parts.append((True, int(nxt)))
            else:
                literal.append(nxt)
            i += 2
            continue
        literal.append(ch)
        i += 1
    if literal:
        parts.append((False, "".join(literal)))
    return tuple(parts)


def expand(match: re.Match[str], template: tuple[tuple[bool, str | int], ...]) -> str:
    """The rewrite of one match (a group that did not take part, or does not exist, gives "")."""
    out: list[str] = []
    for is_group, part in template:
        if is_group:
            assert isinstance(part, int)
            if part <= (match.re.groups or 0):
                out.append(match.group(part) or "")
        else:
            assert isinstance(part, str)
            out.append(part)
    return "".join(out)
