"""String functions: case, length, concatenation, substrings, splitting, regex, trimming, encodings, hashes."""

from __future__ import annotations

import base64
import binascii
import functools
import gzip
import hashlib
import re
import uuid
import zlib
from collections.abc import Callable, Sequence
from typing import TypeGuard

from enrich.sandbox.kql.functions.convert import convert_to, to_string
from enrich.sandbox.kql.functions.regex import compile_regex, expand, regex_error, rewrite_template
from enrich.sandbox.kql.functions.registry import (
    ANY,
    INTEGER,
    KQL_TYPES,
    SCALAR,
    STRING,
    TYPE,
    FunctionTypeError,
    register,
    signature_rule,
)
from enrich.sandbox.kql.functions.xxh64 import xxh64

MAX_REPEAT_CHARS = 1_048_576  # strrep output cap (Kusto caps strings at 1 MB)


def stringifiers(types: Sequence[str]) -> list[Callable[[object], str]]:
    """Per argument, the conversion of its value to text given its KQL type."""
    return [functools.partial(_render, kql_type=t) for t in types]


def _render(value: object, kql_type: str) -> str:
    return to_string(value, kql_type)


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


# ---------------------------------------------------------------------------
# Case, length, concatenation


def tolower(ctx: object, text: object) -> str:
    return text.lower() if isinstance(text, str) else ""


def toupper(ctx: object, text: object) -> str:
    return text.upper() if isinstance(text, str) else ""


def strlen(ctx: object, text: object) -> int:
    return len(text) if isinstance(text, str) else 0


def strcat(ctx: object, *args: object) -> str:
    return "".join(map(to_string, args))


def _strcat_typed(types: Sequence[str]) -> Callable[..., object]:
    if not any(t in ("datetime", "timespan") for t in types):
        return strcat
    conv = stringifiers(types)
    return lambda ctx, *args: "".join(c(a) for c, a in zip(conv, args, strict=False))


def strcat_delim(ctx: object, delimiter: object, *args: object) -> str:
    return to_string(delimiter).join(map(to_string, args))


def _strcat_delim_typed(types: Sequence[str]) -> Callable[..., object]:
    conv = stringifiers(types)
    return lambda ctx, *args: conv[0](args[0]).join(c(a) for c, a in zip(conv[1:], args[1:], strict=False))


def strrep(ctx: object, value: object, multiplier: object, delimiter: object = "") -> str:
    text, delim = to_string(value), to_string(delimiter)
    if not _is_int(multiplier) or multiplier <= 0:
        return ""
    count = min(int(multiplier), MAX_REPEAT_CHARS // max(1, len(text) + len(delim)))
    return delim.join([text] * max(count, 0))


def reverse(ctx: object, value: object) -> str:
    return to_string(value)[::-1]


_OMITTED = object()  # an optional argument not given (a given null is a value)


def substring(ctx: object, source: object, start: object, length: object = _OMITTED) -> str:
    if not isinstance(source, str) or not _is_int(start):
        return ""
    begin = int(start)
    size = len(source)
    if begin < 0:
        begin = max(0, size + begin)
    if length is _OMITTED:
        return source[begin:]
    if not _is_int(length) or length < 0:
        return ""
    return source[begin : begin + int(length)]


def split(ctx: object, source: object, delimiter: object, index: object = _OMITTED) -> list[str]:
    text = source if isinstance(source, str) else ""
    delim = delimiter if isinstance(delimiter, str) else ""
    parts = text.split(delim) if delim else [text]
    if index is _OMITTED:
        return parts
    if not _is_int(index) or not 0 <= index < len(parts):
        return []
    return [parts[int(index)]]


def replace_string(ctx: object, text: object, lookup: object, rewrite: object) -> str:
    source = text if isinstance(text, str) else ""
    if not isinstance(lookup, str) or not lookup:
        return source
    return source.replace(lookup, rewrite if isinstance(rewrite, str) else "")


# ---------------------------------------------------------------------------
# Regular expressions


def _regex_check(*positions: int) -> Callable[[Sequence[object]], str | None]:
    def check(args: Sequence[object]) -> str | None:
        for pos in positions:
            pattern = args[pos] if pos < len(args) else None
            if isinstance(pattern, str):
                error = regex_error(pattern)
                if error:
                    return f"argument #{pos + 1} is not a valid regular expression: {error}"
        return None

    return check


def _type_arg(arg_type: str) -> str | None:
    """The T of a ``typeof(T)`` argument type ("typeof(long)" or "type:long"), None when unnamed."""
    for prefix, suffix in (("typeof(", ")"), ("type:", "")):
        if arg_type.startswith(prefix) and arg_type.endswith(suffix):
            inner = arg_type[len(prefix) : len(arg_type) - len(suffix)].strip()
            return {"double": "real", "boolean": "bool", "date": "datetime", "time": "timespan"}.get(
                inner, inner
            )
    return None


def _is_type_arg(arg_type: str) -> bool:
    return arg_type == "type" or _type_arg(arg_type) is not None


def extract(ctx: object, regex: object, group: object, source: object, type_name: object = None) -> object:
    pattern = compile_regex(regex) if isinstance(regex, str) else None
    found: str | None = None
    if pattern is not None and _is_int(group) and 0 <= group <= pattern.groups and isinstance(source, str):
        m = pattern.search(source)
        if m is not None:
            found = m.group(int(group)) or ""
    if type_name is None or type_name == "string":
        return found or ""
    if found is None or not isinstance(type_name, str) or type_name not in KQL_TYPES:
        return None
    return convert_to(found, "string", type_name)


def _extract_returns(types: Sequence[str]) -> str:
    rule = signature_rule(
        "extract", [STRING, INTEGER, STRING, TYPE | frozenset(types[3:4])], "string", min_args=3
    )
    result = rule(types)
    if len(types) == 4:
        if not _is_type_arg(types[3]):
            raise FunctionTypeError(
                f"extract(): argument #4 expected to be a typeof(...) expression, not {types[3]}"
            )
        return _type_arg(types[3]) or "dynamic"
    return result


def _extract_check(args: Sequence[object]) -> str | None:
    error = _regex_check(0)(args)
    if error or len(args) < 2:
        return error
    regex, group = args[0], args[1]
    if _is_int(group):
        if group < 0:
            return "argument #2 (capture group) must not be negative"
        pattern = compile_regex(regex) if isinstance(regex, str) else None
        if pattern is not None and group > pattern.groups:
            return f"argument #2 asks for capture group {group} of a regular expression with {pattern.groups}"
    if len(args) == 4 and isinstance(args[3], str) and args[3] not in KQL_TYPES:
        return f"argument #4 names an unknown type '{args[3]}'"
    return None


def extract_all(ctx: object, regex: object, *rest: object) -> list[object] | None:
    """extract_all(regex, [groups,] source): every match; one group gives strings, several give arrays."""
    groups: object = None
    source = rest[-1] if rest else None
    if len(rest) == 2:
        groups = rest[0]
    pattern = compile_regex(regex) if isinstance(regex, str) else None
    if pattern is None or not isinstance(source, str) or pattern.groups == 0:
        return None
    wanted: list[int]
    if isinstance(groups, list):
        wanted = [g for g in groups if _is_int(g) and 0 < g <= pattern.groups]
        if not wanted:
            return None
    else:
        wanted = list(range(1, pattern.groups + 1))
    results: list[object] = []
    for m in pattern.finditer(source):
        if len(wanted) == 1:
            results.append(m.group(wanted[0]) or "")
        else:
            results.append([m.group(g) or "" for g in wanted])
    return results or None


def _extract_all_check(args: Sequence[object]) -> str | None:
    error = _regex_check(0)(args)
    if error:
        return error
    if args and isinstance(args[0], str):
        pattern = compile_regex(args[0])
        if pattern is not None and pattern.groups == 0:
            return "argument #1 must contain at least one capture group"
    return None


def replace_regex(ctx: object, source: object, lookup: object, rewrite: object) -> str:
    text = source if isinstance(source, str) else ""
    pattern = compile_regex(lookup) if isinstance(lookup, str) else None
    if pattern is None:
        return text
    template = rewrite_template(rewrite if isinstance(rewrite, str) else "")
    return pattern.sub(lambda m: expand(m, template), text)


def replace(ctx: object, regex: object, rewrite: object, source: object) -> str:
    """Kusto's deprecated ``replace(regex, rewrite, text)`` (older queries use it so, e.g.
    ``replace("\\"", "", ProcessCommandLine)``): :func:`replace_regex` with that argument order."""
    return replace_regex(ctx, source, regex, rewrite)


def _trim_patterns(regex: str) -> tuple[re.Pattern[str], re.Pattern[str]] | None:
    """(one leading match, one trailing match) of ``regex``; applied repeatedly rather than as
    ``(?:X)+``, whose nested repetition can backtrack exponentially before an anchor."""
    inner = compile_regex(regex)
    if inner is None:
        return None
    lead = compile_regex(rf"\A(?:{inner.pattern})")
    trail = compile_regex(rf"(?:{inner.pattern})\Z")
    return None if lead is None or trail is None else (lead, trail)


def _trim(regex: object, source: object, start: bool, end: bool) -> str:
    text = source if isinstance(source, str) else ""
    if not isinstance(regex, str) or not text:
        return text
    pats = _trim_patterns(regex)
    if pats is None:
        return text
    lead, trail = pats
    while start and text:
        m = lead.match(text)
        if m is None or m.end() == 0:
            break
        text = text[m.end() :]
    while end and text:
        m = trail.search(text)
        if m is None or m.start() == len(text):
            break
        text = text[: m.start()]
    return text


def trim(ctx: object, regex: object, source: object) -> str:
    return _trim(regex, source, True, True)


def trim_start(ctx: object, regex: object, source: object) -> str:
    return _trim(regex, source, True, False)


def trim_end(ctx: object, regex: object, source: object) -> str:
    return _trim(regex, source, False, True)


def countof(ctx: object, source: object, search: object, kind: object = "normal") -> int | None:
    text = source if isinstance(source, str) else ""
    if not isinstance(search, str) or not search:
        return 0
    if kind == "regex":
        pattern = compile_regex(search)
        return None if pattern is None else sum(1 for _ in pattern.finditer(text))
    if kind != "normal":
        return None
    count, i = 0, text.find(search)
    while i >= 0:
        count += 1
        i = text.find(search, i + 1)
    return count


def _countof_check(args: Sequence[object]) -> str | None:
    kind = args[2] if len(args) > 2 else "normal"
    if isinstance(kind, str) and kind not in ("normal", "regex"):
        return f"argument #3 must be 'normal' or 'regex', not '{kind}'"
    if kind == "regex":
        return _regex_check(1)(args)
    return None


def indexof(
    ctx: object,
    source: object,
    lookup: object,
    start: object = 0,
    length: object = -1,
    occurrence: object = 1,
) -> int | None:
    text, needle = to_string(source), to_string(lookup)
    if not (_is_int(start) and _is_int(length) and _is_int(occurrence)):
        return None
    begin, size, nth = start, length, occurrence
    if size < -1 or nth <= 0:
        return None
    if begin < 0:
        begin = max(0, len(text) + begin)
    if begin > len(text):
        return -1
    stop = len(text) if size == -1 else min(len(text), begin + size)
    i = begin - 1
    for _ in range(nth):
        i = text.find(needle, i + 1, stop)
        if i < 0:
            return -1
    return i


def _indexof_typed(types: Sequence[str]) -> Callable[..., object]:
    conv = stringifiers(types[:2])
    return lambda ctx, source, lookup, *rest: indexof(ctx, conv[0](source), conv[1](lookup), *rest)


# ---------------------------------------------------------------------------
# Encodings and hashes

_URL_SAFE = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.!*()")


def _url_encode(text: str, space: str) -> str:
    out: list[str] = []
    for byte in text.encode("utf-8", "surrogatepass"):
        if byte in _URL_SAFE:
            out.append(chr(byte))
        elif byte == 0x20:
            out.append(space)
        else:
            out.append(f"%{byte:02x}")
    return "".join(out)


def url_encode(ctx: object, text: object) -> str:
    return _url_encode(text, "+") if isinstance(text, str) else ""


def url_encode_component(ctx: object, text: object) -> str:
    return _url_encode(text, "%20") if isinstance(text, str) else ""


def url_decode(ctx: object, text: object) -> str:
    """Percent-decoding (``+`` is a space); invalid UTF-8 gives null ("")."""
    if not isinstance(text, str):
        return ""
    data = bytearray()
    i = 0
    raw = text.encode("utf-8", "surrogatepass")
    while i < len(raw):
        b = raw[i]
        if b == 0x25 and i + 2 < len(raw) + 0 and _is_hex(raw[i + 1 : i + 3]):
            data.append(int(raw[i + 1 : i + 3], 16))
            i += 3
            continue
        data.append(0x20 if b == 0x2B else b)
        i += 1
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return ""


def _is_hex(pair: bytes) -> bool:
    return len(pair) == 2 and all(c in b"0123456789abcdefABCDEF" for c in pair)


def base64_encode_tostring(ctx: object, text: object) -> str:
    if not isinstance(text, str):
        return ""
    return base64.b64encode(text.encode("utf-8", "surrogatepass")).decode("ascii")


def base64_decode_tostring(ctx: object, text: object) -> str:
    if not isinstance(text, str):
        return ""
    try:
        return base64.b64decode(text.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return ""


def _hasher(algorithm: str) -> Callable[..., str]:
    def digest(ctx: object, value: object) -> str:
        return hashlib.new(algorithm, to_string(value).encode("utf-8", "surrogatepass")).hexdigest()

    return digest


def _hash_typed(algorithm: str) -> Callable[[Sequence[str]], Callable[..., object]]:
    def bind(types: Sequence[str]) -> Callable[..., object]:
        conv = stringifiers(types)[0]
        return lambda ctx, value: hashlib.new(
            algorithm, conv(value).encode("utf-8", "surrogatepass")
        ).hexdigest()

    return bind


def _unary_typed(fn: Callable[..., object]) -> Callable[[Sequence[str]], Callable[..., object]]:
    def bind(types: Sequence[str]) -> Callable[..., object]:
        conv = stringifiers(types)
        return lambda ctx, value, *rest: fn(ctx, conv[0](value), *rest)

    return bind


# ---------------------------------------------------------------------------
# Registration

S = STRING
register("tolower", tolower, [S], "string", signature="tolower(s) -> string", summary="Lower-case of s.")
register("toupper", toupper, [S], "string", signature="toupper(s) -> string", summary="Upper-case of s.")
register("strlen", strlen, [S], "long", signature="strlen(s) -> long", summary="Number of characters of s.")
register(
    "strcat",
    strcat,
    [ANY],
    "string",
    rest=ANY,
    max_args=64,
    typed=_strcat_typed,
    signature="strcat(a1, a2, ...) -> string",
    summary="Concatenation of 1 to 64 arguments, each rendered as tostring does.",
)
register(
    "strcat_delim",
    strcat_delim,
    [S, ANY, ANY],
    "string",
    rest=ANY,
    max_args=65,
    typed=_strcat_delim_typed,
    signature="strcat_delim(delimiter, a1, a2, ...) -> string",
    summary="Concatenation of 2 to 64 arguments separated by delimiter.",
)
register(
    "strrep",
    strrep,
    [ANY, INTEGER, S],
    "string",
    min_args=2,
    typed=_unary_typed(strrep),
    signature="strrep(value, multiplier[, delimiter]) -> string",
    summary="value repeated multiplier times, joined by delimiter.",
)
register(
    "reverse",
    reverse,
    [SCALAR],
    "string",
    typed=_unary_typed(reverse),
    signature="reverse(value) -> string",
    summary="The text of value reversed.",
)
register(
    "substring",
    substring,
    [S, INTEGER, INTEGER],
    "string",
    min_args=2,
    signature="substring(s, start[, length]) -> string",
    summary="Characters from start (negative counts from the end) for length (default: to the end), clamped to s.",
)
register(
    "split",
    split,
    [S, S, INTEGER],
    "dynamic",
    min_args=2,
    signature="split(s, delimiter[, index]) -> dynamic",
    summary="Array of the parts of s between delimiters; with index, an array of that one part (empty when out of range).",
)
register(
    "replace_string",
    replace_string,
    [S, S, S],
    "string",
    signature="replace_string(s, lookup, rewrite) -> string",
    summary="s with every occurrence of lookup replaced by rewrite.",
)
register(
    "extract",
    extract,
    [S, INTEGER, S, TYPE],
    "string",
    min_args=3,
    returns=_extract_returns,
    check=_extract_check,
    signature="extract(regex, group, s[, typeof(T)]) -> string or T",
    summary='Capture group (0: whole match) of the first match of regex in s, converted to T; "" (or null) when no match.',
)
register(
    "extract_all",
    extract_all,
    [S, ANY, S],
    "dynamic",
    min_args=2,
    returns=lambda types: signature_rule(
        "extract_all", [S, S] if len(types) == 2 else [S, frozenset({"dynamic"}), S], "dynamic"
    )(types),
    check=_extract_all_check,
    signature="extract_all(regex, [groups,] s) -> dynamic",
    summary="Array of every match's capture group (array of groups when several); null when no match.",
)
register(
    "replace_regex",
    replace_regex,
    [S, S, S],
    "string",
    check=_regex_check(1),
    signature="replace_regex(s, regex, rewrite) -> string",
    summary="s with every match of regex replaced by rewrite (\\0..\\9 name capture groups).",
)
register(
    "replace",
    replace,
    [S, S, S],
    "string",
    check=_regex_check(0),
    signature="replace(regex, rewrite, s) -> string",
    summary="The older spelling of replace_regex, its arguments in its own order: replace(regex, rewrite, s).",
)
for _name, _fn, _what in (
    ("trim", trim, "leading and trailing"),
    ("trim_start", trim_start, "leading"),
    ("trim_end", trim_end, "trailing"),
):
    register(
        _name,
        _fn,
        [S, S],
        "string",
        check=_regex_check(0),
        signature=f"{_name}(regex, s) -> string",
        summary=f"s without its {_what} matches of regex.",
    )
register(
    "countof",
    countof,
    [S, S, S],
    "long",
    min_args=2,
    check=_countof_check,
    signature="countof(s, search[, kind]) -> long",
    summary="Occurrences of search in s: overlapping for kind 'normal' (default), non-overlapping regex matches for 'regex'.",
)
register(
    "indexof",
    indexof,
    [SCALAR, SCALAR, INTEGER, INTEGER, INTEGER],
    "long",
    min_args=2,
    typed=_indexof_typed,
    signature="indexof(s, lookup[, start[, length[, occurrence]]]) -> long",
    summary="0-based index of the occurrence-th lookup in s from start (negative: from the end) within length; -1 when absent.",
)
register(
    "url_encode",
    url_encode,
    [S],
    "string",
    signature="url_encode(s) -> string",
    summary="Percent-encoding of s, spaces as '+'.",
)
register(
    "url_encode_component",
    url_encode_component,
    [S],
    "string",
    signature="url_encode_component(s) -> string",
    summary="Percent-encoding of s, spaces as '%20'.",
)
register(
    "url_decode",
    url_decode,
    [S],
    "string",
    signature="url_decode(s) -> string",
    summary="Percent-decoding of s ('+' is a space); null when not UTF-8.",
)
register(
    "base64_encode_tostring",
    base64_encode_tostring,
    [S],
    "string",
    aliases=["base64_encodestring"],
    signature="base64_encode_tostring(s) -> string",
    summary="Base64 of the UTF-8 bytes of s.",
)
register(
    "base64_decode_tostring",
    base64_decode_tostring,
    [S],
    "string",
    aliases=["base64_decodestring"],
    signature="base64_decode_tostring(b64) -> string",
    summary="UTF-8 text of base64 b64; null when not valid base64 or UTF-8.",
)
for _name, _algorithm in (("hash_sha256", "sha256"), ("hash_sha1", "sha1"), ("hash_md5", "md5")):
    register(
        _name,
        _hasher(_algorithm),
        [SCALAR],
        "string",
        typed=_hash_typed(_algorithm),
        signature=f"{_name}(value) -> string",
        summary=f"Lower-case hex {_algorithm.upper()} of the UTF-8 text of value.",
    )


# ---------------------------------------------------------------------------
# More string functions


def strcmp(ctx: object, a: object, b: object) -> int:
    x, y = to_string(a), to_string(b)
    return (x > y) - (x < y)


def translate(ctx: object, search: object, replacement: object, text: object) -> str:
    """Each character of ``search`` in ``text`` becomes the character at its position in
    ``replacement`` (the last one when shorter); an empty ``replacement`` removes them."""
    source = text if isinstance(text, str) else ""
    chars = search if isinstance(search, str) else ""
    repl = replacement if isinstance(replacement, str) else ""
    if not chars:
        return source
    table: dict[int, str | None] = {}
    for i, ch in enumerate(chars):
        if ord(ch) not in table:
            table[ord(ch)] = repl[min(i, len(repl) - 1)] if repl else None
    return source.translate(table)


def isascii(ctx: object, text: object) -> bool:
    return isinstance(text, str) and text.isascii()


def string_size(ctx: object, text: object) -> int:
    return len(text.encode("utf-8", "surrogatepass")) if isinstance(text, str) else 0


def indexof_regex(
    ctx: object, source: object, regex: object, start: object = 0, length: object = -1, occurrence: object = 1
) -> int | None:
    text = source if isinstance(source, str) else ""
    pattern = compile_regex(regex) if isinstance(regex, str) else None
    if pattern is None or not (_is_int(start) and _is_int(length) and _is_int(occurrence)):
        return None
    begin, size, nth = start, length, occurrence
    if begin < 0 or size < -1 or nth <= 0:
        return None
    stop = len(text) if size == -1 else min(len(text), begin + size)
    if begin > stop:
        return -1
    for count, m in enumerate(pattern.finditer(text, begin, stop), 1):
        if count == nth:
            return m.start()
    return -1


def parse_command_line(ctx: object, command_line: object, parser: object = "windows") -> list[str] | None:
    """Arguments of a Windows command line (CommandLineToArgvW rules for quotes and backslashes)."""
    if not isinstance(command_line, str) or parser != "windows":
        return None
    args: list[str] = []
    current: list[str] = []
    in_arg = in_quotes = False
    i, n = 0, len(command_line)
    while i < n:
        ch = command_line[i]
        if ch == "\\":
            j = i
            while j < n and command_line[j] == "\\":
                j += 1
            slashes = j - i
            if j < n and command_line[j] == '"':
                current.append("\\" * (slashes // 2))
                if slashes % 2:
                    current.append('"')
                    j += 1
                i, in_arg = j, True
                continue
            current.append("\\" * slashes)
            i, in_arg = j, True
            continue
        if ch == '"':
            if in_quotes and i + 1 < n and command_line[i + 1] == '"':
                current.append('"')
                i += 2
                continue
            in_quotes, in_arg = not in_quotes, True
            i += 1
            continue
        if ch in " \t" and not in_quotes:
            if in_arg:
                args.append("".join(current))
                current, in_arg = [], False
            i += 1
            continue
        current.append(ch)
        in_arg = True
        i += 1
    if in_arg:
        args.append("".join(current))
    return args


def parse_csv(ctx: object, text: object) -> list[str]:
    """The fields of one CSV record (double quotes escape separators and doubled quotes)."""
    import csv

    if not isinstance(text, str):
        return []
    try:
        rows = list(csv.reader([text.split("\n", 1)[0]], strict=False))
    except csv.Error:
        return [text]
    return rows[0] if rows else [""]


def hash_(ctx: object, value: object, modulo: object = None) -> int | None:
    """xxHash64 of the value's UTF-8 text as a signed long, or that modulo ``modulo``."""
    digest = xxh64(to_string(value).encode("utf-8", "surrogatepass"))
    signed = digest - (1 << 64) if digest >= 1 << 63 else digest
    if modulo is None:
        return signed
    if not _is_int(modulo) or modulo <= 0:
        return None
    return digest % int(modulo)


def _hash_typed_xx(types: Sequence[str]) -> Callable[..., object]:
    conv = stringifiers(types)[0]
    return lambda ctx, value, *rest: hash_(ctx, conv(value), *rest)


def new_guid(ctx: object) -> str:
    return str(uuid.uuid4())


register(
    "strcmp",
    strcmp,
    [S, S],
    "int",
    signature="strcmp(a, b) -> int",
    summary="-1, 0 or 1 as a sorts before, with or after b (ordinal).",
)
register(
    "translate",
    translate,
    [S, S, S],
    "string",
    signature="translate(search, replacement, s) -> string",
    summary="s with each character of search replaced by the one at its position in replacement (removed when replacement is empty).",
)
register(
    "isascii",
    isascii,
    [S],
    "bool",
    signature="isascii(s) -> bool",
    summary="True when every character of s is ASCII.",
)
register(
    "string_size",
    string_size,
    [S],
    "long",
    signature="string_size(s) -> long",
    summary="Size of s in UTF-8 bytes.",
)
register(
    "indexof_regex",
    indexof_regex,
    [S, S, INTEGER, INTEGER, INTEGER],
    "long",
    min_args=2,
    check=_regex_check(1),
    signature="indexof_regex(s, regex[, start[, length[, occurrence]]]) -> long",
    summary="0-based index of the occurrence-th match of regex in s within start..start+length; -1 when absent.",
)
register(
    "parse_command_line",
    parse_command_line,
    [S, S],
    "dynamic",
    check=lambda args: (
        None
        if len(args) < 2 or not isinstance(args[1], str) or args[1] == "windows"
        else f"argument #2 must be 'windows', not '{args[1]}'"
    ),
    signature="parse_command_line(command_line, 'windows') -> dynamic",
    summary="Array of the arguments of a Windows command line (quotes and backslashes as CommandLineToArgvW).",
)
register(
    "parse_csv",
    parse_csv,
    [S],
    "dynamic",
    signature="parse_csv(s) -> dynamic",
    summary="Array of the fields of one CSV record.",
)
register(
    "hash",
    hash_,
    [SCALAR, INTEGER],
    "long",
    min_args=1,
    typed=_hash_typed_xx,
    signature="hash(value[, mod]) -> long",
    summary="xxHash64 of the UTF-8 text of value (signed), or that hash modulo mod.",
)
register(
    "new_guid", new_guid, [], "guid", signature="new_guid() -> guid", summary="A random (version 4) GUID."
)


# ---------------------------------------------------------------------------
# Compressed and binary payloads (decoding encoded command lines is a common hunt)

_MAX_INFLATED = 32 * 1024 * 1024  # refuse decompression bombs


def _inflate(data: bytes, wbits: int) -> bytes | None:
    decompressor = zlib.decompressobj(wbits)
    try:
        out = decompressor.decompress(data, _MAX_INFLATED)
    except zlib.error:
        return None
    return out if decompressor.eof and not decompressor.unconsumed_tail else None


def _decompressor(wbits: int) -> Callable[..., str]:
    def decompress(ctx: object, text: object) -> str:
        if not isinstance(text, str):
            return ""
        try:
            raw = base64.b64decode(text.strip(), validate=True)
        except (binascii.Error, ValueError):
            return ""
        inflated = _inflate(raw, wbits)
        if inflated is None:
            return ""
        try:
            return inflated.decode("utf-8")
        except UnicodeDecodeError:
            return ""

    return decompress


def _compressor(gzip_format: bool) -> Callable[..., str]:
    def compress(ctx: object, text: object) -> str:
        if not isinstance(text, str):
            return ""
        data = text.encode("utf-8", "surrogatepass")
        packed = gzip.compress(data, mtime=0) if gzip_format else zlib.compress(data)
        return base64.b64encode(packed).decode("ascii")

    return compress


def base64_decode_toarray(ctx: object, text: object) -> list[object] | None:
    if not isinstance(text, str):
        return None
    try:
        return list(base64.b64decode(text.strip(), validate=True))
    except (binascii.Error, ValueError):
        return None


def base64_encode_fromarray(ctx: object, array: object) -> str:
    if not isinstance(array, list) or not all(_is_int(b) and 0 <= b <= 255 for b in array):
        return ""
    return base64.b64encode(bytes(array)).decode("ascii")


def unicode_codepoints_from_string(ctx: object, text: object) -> list[object] | None:
    return [ord(ch) for ch in text] if isinstance(text, str) else None


def make_string(ctx: object, *codes: object) -> str:
    """The text of Unicode code points (numbers or arrays of numbers); "" when one is invalid."""
    out: list[str] = []
    for item in codes:
        for code in item if isinstance(item, list) else [item]:
            if not _is_int(code) or not 0 <= code <= 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                return ""
            out.append(chr(code))
    return "".join(out)


register(
    "zlib_decompress_from_base64_string",
    _decompressor(zlib.MAX_WBITS),
    [S],
    "string",
    signature="zlib_decompress_from_base64_string(b64) -> string",
    summary="UTF-8 text of zlib-compressed bytes given as base64; null when invalid.",
)
register(
    "gzip_decompress_from_base64_string",
    _decompressor(zlib.MAX_WBITS | 16),
    [S],
    "string",
    signature="gzip_decompress_from_base64_string(b64) -> string",
    summary="UTF-8 text of gzip-compressed bytes given as base64; null when invalid.",
)
register(
    "zlib_compress_to_base64_string",
    _compressor(False),
    [S],
    "string",
    signature="zlib_compress_to_base64_string(s) -> string",
    summary="Base64 of the zlib-compressed UTF-8 bytes of s.",
)
register(
    "gzip_compress_to_base64_string",
    _compressor(True),
    [S],
    "string",
    signature="gzip_compress_to_base64_string(s) -> string",
    summary="Base64 of the gzip-compressed UTF-8 bytes of s.",
)
register(
    "base64_decode_toarray",
    base64_decode_toarray,
    [S],
    "dynamic",
    signature="base64_decode_toarray(b64) -> dynamic",
    summary="Array of the bytes (0-255) of base64 b64; null when invalid.",
)
register(
    "base64_encode_fromarray",
    base64_encode_fromarray,
    [frozenset({"dynamic"})],
    "string",
    signature="base64_encode_fromarray(bytes) -> string",
    summary="Base64 of an array of bytes (0-255).",
)
register(
    "unicode_codepoints_from_string",
    unicode_codepoints_from_string,
    [S],
    "dynamic",
    signature="unicode_codepoints_from_string(s) -> dynamic",
    summary="Array of the Unicode code points of s.",
)
register(
    "unicode_codepoints_to_string",
    make_string,
    [INTEGER | frozenset({"dynamic"})],
    "string",
    rest=INTEGER | frozenset({"dynamic"}),
    max_args=64,
    aliases=["make_string"],
    signature="unicode_codepoints_to_string(c1, ...) -> string",
    summary="Text of Unicode code points (numbers or arrays of numbers).",
)
