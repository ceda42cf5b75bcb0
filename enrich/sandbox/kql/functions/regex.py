"""Kusto's regular expressions (RE2 syntax) on Python's `re`: translation, caching, rewrite strings."""

from __future__ import annotations

import re
from functools import lru_cache

# RE2 spellings that Python spells differently.
_NAMED_GROUP = re.compile(r"(?<!\\)\(\?<(?=[A-Za-z_])")
_END_OF_TEXT = re.compile(r"(?<!\\)((?:\\\\)*)\\z")


def re2_unsupported(pattern: str) -> str | None:
    """The first construct RE2 (Kusto's engine) refuses but Python's `re` accepts, or None:
    lookaround, atomic groups, backreferences and possessive quantifiers."""
    i, n, in_class = 0, len(pattern), False
    while i < n:
        ch = pattern[i]
        if ch == "\\":
            nxt = pattern[i + 1 : i + 2]
            if not in_class and nxt.isdigit() and nxt != "0":
                return f"backreference \\{nxt} is not supported"
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
            if pattern[i + 1 : i + 2] == "^":
                i += 1
            if pattern[i + 1 : i + 2] == "]":
                i += 1  # a leading ] is a literal
        elif ch == "(" and pattern[i + 1 : i + 2] == "?":
            head = pattern[i + 2 : i + 4]
            if head[:1] in ("=", "!", ">") or head in ("<=", "<!"):
                return f"'(?{head[:1] if head[:1] in ('=', '!', '>') else head}' (lookaround or atomic group) is not supported"
        elif ch in "*+?}" and pattern[i + 1 : i + 2] == "+":
            return f"possessive quantifier '{ch}+' is not supported"
        i += 1
    return None


def _translate(pattern: str) -> str:
    return _END_OF_TEXT.sub(r"\1\\Z", _NAMED_GROUP.sub("(?P<", pattern))


@lru_cache(maxsize=1024)
def compile_regex(pattern: str) -> re.Pattern[str] | None:
    """The compiled form of an RE2 pattern, or None when it does not compile (or RE2 would refuse it)."""
    if re2_unsupported(pattern):
        return None
    try:
        return re.compile(_translate(pattern))
    except (re.error, RecursionError, OverflowError, ValueError):
        return None


def regex_error(pattern: str) -> str | None:
    """Why ``pattern`` is not a valid regular expression, or None when it is."""
    if compile_regex(pattern) is not None:
        return None
    unsupported = re2_unsupported(pattern)
    if unsupported:
        return unsupported
    try:
        re.compile(_translate(pattern))
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
