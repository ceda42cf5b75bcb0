"""The tokenizer of the sandbox's KQL engine."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from enrich.sandbox.kql.values import _TIMESPAN_UNITS, KqlError, parse_datetime

#: The string operators (``has``, ``contains_cs``...); each also takes a ``!`` prefix.
STRING_OPERATORS = frozenset(
    {
        "has",
        "has_cs",
        "contains",
        "contains_cs",
        "startswith",
        "startswith_cs",
        "endswith",
        "endswith_cs",
        "hasprefix",
        "hasprefix_cs",
        "hassuffix",
        "hassuffix_cs",
    }
)
#: Operators that take a ``!`` prefix (``!has``, ``!in~``, ``!between``...).
_NEGATABLE = STRING_OPERATORS | {"in", "between"}
#: Hyphenated operator names, read as one identifier.
_HYPHENATED = frozenset(
    {
        "project-away",
        "project-keep",
        "project-rename",
        "project-reorder",
        "mv-expand",
        "mv-apply",
        "make-series",
    }
)
_PUNCTUATION = (
    "==",
    "=~",
    "!=",
    "!~",
    "<=",
    ">=",
    "<>",
    "..",
    "=",
    "<",
    ">",
    "|",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ",",
    ";",
    ":",
    ".",
    "+",
    "-",
    "*",
    "/",
    "%",
)
_TIMESPAN_TEXT_RE = re.compile(r"(-)?(?:(\d+)\.)?(\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.(\d{1,7}))?)?")

# ---------------------------------------------------------------------------
# Tokenizer


@dataclass(slots=True)
class _Token:
    kind: str  # "id", "str", "num", "span", "date", "op", "eof"
    value: object
    text: str
    pos: int


def _line_col(text: str, pos: int) -> tuple[int, int]:
    line = text.count("\n", 0, pos) + 1
    column = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return line, column


def _parse_error(text: str, pos: int, token: str, detail: str | None = None) -> KqlError:
    line, column = _line_col(text, pos)
    shown = token if token else "<EOF>"
    message = f"Query could not be parsed at '{shown}' on line [{line},{column}]"
    if detail:
        message += f": {detail}"
    return KqlError(message, line=line, column=column, position=pos, token=shown)


_IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER_RE = re.compile(r"\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")
_ESCAPES = {"\\": "\\", "'": "'", '"': '"', "n": "\n", "t": "\t", "r": "\r", "0": "\0"}


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while True:
        # whitespace and // comments
        while i < n:
            ch = text[i]
            if ch in " \t\r\n\f\v":
                i += 1
            elif text.startswith("//", i):
                j = text.find("\n", i)
                i = n if j < 0 else j + 1
            else:
                break
        if i >= n:
            tokens.append(_Token("eof", None, "", n))
            return tokens
        ch = text[i]
        start = i
        # multi-line string literal: ```...``` (no escapes)
        if text.startswith("```", i):
            close = text.find("```", i + 3)
            if close < 0:
                raise _parse_error(text, i, "```", "unterminated string literal")
            tokens.append(_Token("str", text[i + 3 : close], text[i : close + 3], i))
            i = close + 3
            continue
        # string literals: 'x', "x", @'x', @"x", h'x' (obfuscated), h@'x'
        prefix = 0
        if (
            ch in "hH"
            and i + 1 < n
            and text[i + 1] in "'\"@"
            and (text[i + 1] != "@" or (i + 2 < n and text[i + 2] in "'\""))
        ):
            prefix = 1
        verbatim = text[i + prefix] == "@" if i + prefix < n else False
        if verbatim and not (i + prefix + 1 < n and text[i + prefix + 1] in "'\""):
            raise _parse_error(text, i, "@")
        if prefix or verbatim or ch in "'\"":
            j = i + prefix + (1 if verbatim else 0)
            literal, i = _read_string(text, j, verbatim, start)
            tokens.append(_Token("str", literal, text[start:i], start))
            continue
        if ch == "$" and _IDENT_RE.match(text, i + 1):
            m = _IDENT_RE.match(text, i + 1)
            assert m is not None
            i = m.end()
            tokens.append(_Token("id", "$" + m.group(), text[start:i], start))
            continue
        if ch.isascii() and (ch.isalpha() or ch == "_"):
            m = _IDENT_RE.match(text, i)
            assert m is not None
            word = m.group()
            i = m.end()
            if word in ("project", "mv", "make") and i < n and text[i] == "-":
                m2 = _IDENT_RE.match(text, i + 1)
                if m2 is not None and f"{word}-{m2.group()}" in _HYPHENATED:
                    word = f"{word}-{m2.group()}"
                    i = m2.end()
                    tokens.append(_Token("id", word, word, start))
                    continue
            if word in ("time", "timespan"):
                span_tok = _timespan_literal(text, i, start)
                if span_tok is not None:
                    tokens.append(span_tok)
                    i = span_tok.pos + len(span_tok.text)
                    continue
            if word == "in" and i < n and text[i] == "~":
                i += 1
                tokens.append(_Token("op", "in~", "in~", start))
                continue
            if word == "datetime":
                j = i
                while j < n and text[j] in " \t\r\n":
                    j += 1
                if j < n and text[j] == "(":
                    close = text.find(")", j)
                    if close < 0:
                        raise _parse_error(text, j, "(", "unterminated datetime literal")
                    raw = text[j + 1 : close].strip()
                    ticks = None if raw == "null" else parse_datetime(raw)
                    if ticks is None and raw != "null":
                        raise _parse_error(text, j + 1, raw, "invalid datetime literal")
                    i = close + 1
                    tokens.append(_Token("date", ticks, text[start:i], start))
                    continue
            tokens.append(_Token("id", word, word, start))
            continue
        if ch.isascii() and ch.isdigit():
            m = _NUMBER_RE.match(text, i)
            assert m is not None
            number = m.group()
            i = m.end()
            unit_match = _IDENT_RE.match(text, i)
            if unit_match is not None:
                unit = unit_match.group()
                if unit not in _TIMESPAN_UNITS:
                    raise _parse_error(text, start, text[start : unit_match.end()])
                i = unit_match.end()
                try:
                    if number.isdigit():
                        span = int(number) * _TIMESPAN_UNITS[unit]
                    else:
                        span = round(float(number) * _TIMESPAN_UNITS[unit])
                except (OverflowError, ValueError):
                    raise _parse_error(text, start, text[start:i], "timespan out of range") from None
                tokens.append(_Token("span", span, text[start:i], start))
                continue
            num: int | float
            if number.isdigit():
                num = int(number)
                if num >= 2**63:
                    raise _parse_error(text, start, number, "number out of range")
            else:
                num = float(number)
                if not math.isfinite(num):
                    raise _parse_error(text, start, number, "number out of range")
            tokens.append(_Token("num", num, number, start))
            continue
        if ch == "!":
            nxt = text[i + 1 : i + 2]
            if nxt in ("=", "~"):
                tokens.append(_Token("op", "!" + nxt, "!" + nxt, start))
                i += 2
                continue
            m = _IDENT_RE.match(text, i + 1)
            if m is not None and m.group() in _NEGATABLE:
                word = m.group()
                i = m.end()
                if word == "in" and i < n and text[i] == "~":
                    word = "in~"
                    i += 1
                tokens.append(_Token("op", "!" + word, text[start:i], start))
                continue
            raise _parse_error(text, start, "!")
        for punct in _PUNCTUATION:
            if text.startswith(punct, i):
                tokens.append(_Token("op", punct, punct, start))
                i += len(punct)
                break
        else:
            raise _parse_error(text, start, ch)


def _timespan_literal(text: str, i: int, start: int) -> _Token | None:
    """``time(...)``/``timespan(...)`` whose argument is ``30d``-style or ``[d.]hh:mm[:ss[.f]]``."""
    j = i
    while j < len(text) and text[j] in " \t\r\n":
        j += 1
    if j >= len(text) or text[j] != "(":
        return None
    close = text.find(")", j)
    if close < 0:
        return None
    raw = text[j + 1 : close].strip()
    ticks: int | None = None
    if raw == "null":
        ticks = None
    elif m := _TIMESPAN_TEXT_RE.fullmatch(raw):
        sign, days, hours, minutes, seconds, frac = m.groups()
        ticks = (
            (int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + int(seconds or 0)) * 10_000_000
        ) + int((frac or "").ljust(7, "0"))
        if sign:
            ticks = -ticks
    elif m := re.fullmatch(r"(-)?(\d+(?:\.\d+)?)\s*([A-Za-z]+)?", raw):
        sign, number, unit = m.groups()
        scale = _TIMESPAN_UNITS.get(unit or "d")
        if scale is None:
            return None
        ticks = round(float(number) * scale) if "." in number else int(number) * scale
        if sign:
            ticks = -ticks
    else:
        return None
    return _Token("span", ticks, text[start : close + 1], start)


_STRING_BODY = {
    "'": re.compile(r"(?:[^'\\\n]|\\.)*'"),
    '"': re.compile(r'(?:[^"\\\n]|\\.)*"'),
}
_VERBATIM_BODY = {
    "'": re.compile(r"(?:[^'\n]|'')*'"),
    '"': re.compile(r'(?:[^"\n]|"")*"'),
}
_ESCAPE_RE = re.compile(r"\\(u[0-9a-fA-F]{4}|.)", re.DOTALL)


def _read_string(text: str, i: int, verbatim: bool, start: int) -> tuple[str, int]:
    """Read a quoted literal whose opening quote is at ``i``; return (value, end index)."""
    quote = text[i]
    m = (_VERBATIM_BODY if verbatim else _STRING_BODY)[quote].match(text, i + 1)
    if m is None:
        raise _parse_error(
            text, start, text[start : start + 20].split("\n")[0], "unterminated string literal"
        )
    body = text[i + 1 : m.end() - 1]
    if verbatim:
        return body.replace(quote * 2, quote), m.end()
    if "\\" not in body:
        return body, m.end()

    def unescape(esc: re.Match[str]) -> str:
        code = esc.group(1)
        if code in _ESCAPES:
            return _ESCAPES[code]
        if len(code) == 5:
            return chr(int(code[1:], 16))
        raise _parse_error(text, i + 1 + esc.start(), esc.group(), "invalid escape sequence")

    return _ESCAPE_RE.sub(unescape, body), m.end()
