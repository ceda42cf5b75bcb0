"""Dynamic (JSON) functions: URLs and paths parsed into bags, arrays, sets and property bags."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Sequence
from functools import lru_cache
from urllib.parse import unquote_plus

from enrich.sandbox.kql.functions.convert import to_dynamic, to_string
from enrich.sandbox.kql.functions.registry import ANY, DYNAMIC, INTEGER, STRING, register

_URL_RE = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*)://([^/?#]*)([^?#]*)(?:\?([^#]*))?(?:#(.*))?", re.DOTALL)
_HOST_PORT_RE = re.compile(r"(\[[^\]]*\]|[^:]*)(?::(\d*))?")
_URL_FIELDS = ("Scheme", "Host", "Port", "Path", "Username", "Password", "Query Parameters", "Fragment")
_SEPARATORS = "/\\"
_DRIVE_RE = re.compile(r"[A-Za-z]:")


def _empty_url() -> dict[str, object]:
    return {field: ({} if field == "Query Parameters" else "") for field in _URL_FIELDS}


def parse_urlquery_text(query: str) -> dict[str, object]:
    """``k1=v1&k2=v2`` as a bag of decoded values (a key without ``=`` has the value "")."""
    params: dict[str, object] = {}
    for pair in query.split("&"):
        if not pair:
            continue
        key, _, value = pair.partition("=")
        params[unquote_plus(key)] = unquote_plus(value)
    return params


@lru_cache(maxsize=65536)
def _url_parts(url: str) -> tuple[str, str, str, str, str, str, str, str] | None:
    """(scheme, host, port, path, username, password, query, fragment) of an absolute URL, or None."""
    m = _URL_RE.fullmatch(url.strip())
    if m is None:
        return None
    scheme, authority, path, query, fragment = m.groups()
    userinfo, at, hostport = authority.rpartition("@")
    hp = _HOST_PORT_RE.fullmatch(hostport)
    if hp is None or not hp.group(1):
        return None
    username, _, password = userinfo.partition(":") if at else ("", "", "")
    return scheme, hp.group(1), hp.group(2) or "", path, username, password, query or "", fragment or ""


def parse_url(ctx: object, url: object) -> dict[str, object]:
    """The parts of an absolute URL; text that is not one (``bing.com`` without a scheme) gives empty parts."""
    parts = _url_parts(url) if isinstance(url, str) else None
    if parts is None:
        return _empty_url()
    scheme, host, port, path, username, password, query, fragment = parts
    return {
        "Scheme": scheme,
        "Host": host,
        "Port": port,
        "Path": path,
        "Username": username,
        "Password": password,
        "Query Parameters": parse_urlquery_text(query) if query else {},
        "Fragment": fragment,
    }


def parse_urlquery(ctx: object, query: object) -> dict[str, object]:
    text = query if isinstance(query, str) else ""
    return {"Query Parameters": parse_urlquery_text(text[1:] if text.startswith("?") else text)}


def parse_path(ctx: object, path: object) -> dict[str, str]:
    """Scheme, RootPath, DirectoryPath, DirectoryName, Filename, Extension, AlternateDataStreamName of a path."""
    text = path if isinstance(path, str) else ""
    scheme, sep, rest = text.partition("://")
    if not sep or not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.\-]*", scheme):
        scheme, rest = "", text
    cut = max(rest.rfind("/"), rest.rfind("\\"))
    directory, filename = (rest[:cut], rest[cut + 1 :]) if cut >= 0 else ("", rest)
    if cut < 0 and _DRIVE_RE.fullmatch(filename[:2]) and len(filename) > 2:
        directory, filename = filename[:2], filename[2:]
    stream = ""
    if ":" in filename:
        filename, _, stream = filename.partition(":")
    body = rest[4:] if rest.startswith(("\\\\?\\", "//?/")) else rest
    root = body[:2] if _DRIVE_RE.fullmatch(body[:2]) else ""
    name = re.split(r"[\\/]", directory)[-1] if directory else ""
    if name == root:
        name = ""
    dot = filename.rfind(".")
    return {
        "Scheme": scheme,
        "RootPath": root,
        "DirectoryPath": directory,
        "DirectoryName": name,
        "Filename": filename,
        "Extension": filename[dot + 1 :] if dot >= 0 else "",
        "AlternateDataStreamName": stream,
    }


# ---------------------------------------------------------------------------
# Arrays and bags


def _key(value: object) -> object:
    """A hashable identity of a dynamic value (for sets)."""
    if isinstance(value, list | dict):
        return ("json", json.dumps(value, sort_keys=True, default=str))
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _dynamics(types: Sequence[str]) -> list[Callable[[object], object]]:
    return [functools.partial(to_dynamic, from_type=t if t != "string" else "dynamic") for t in types]


def pack_array(ctx: object, *values: object) -> list[object]:
    return list(values)


def _pack_array_typed(types: Sequence[str]) -> Callable[..., object]:
    conv = _dynamics(types)
    return lambda ctx, *values: [c(v) for c, v in zip(conv, values, strict=False)]


def bag_pack(ctx: object, *pairs: object) -> dict[str, object]:
    bag: dict[str, object] = {}
    for i in range(0, len(pairs) - 1, 2):
        bag[to_string(pairs[i])] = pairs[i + 1]
    return bag


def _bag_pack_typed(types: Sequence[str]) -> Callable[..., object]:
    conv = _dynamics(types)

    def pack(ctx: object, *pairs: object) -> dict[str, object]:
        return {to_string(pairs[i]): conv[i + 1](pairs[i + 1]) for i in range(0, len(pairs) - 1, 2)}

    return pack


def _bag_pack_returns(name: str) -> Callable[[Sequence[str]], str]:
    from enrich.sandbox.kql.functions.registry import FunctionTypeError, type_message

    def returns(types: Sequence[str]) -> str:
        if len(types) % 2:
            raise FunctionTypeError(
                f"The function '{name}' expects an even number of arguments: key, value pairs (got {len(types)})"
            )
        for i in range(0, len(types), 2):
            if types[i] not in STRING:
                raise FunctionTypeError(type_message(name, i, STRING, types[i]))
        return "dynamic"

    return returns


def array_length(ctx: object, array: object) -> int | None:
    return len(array) if isinstance(array, list) else None


def array_concat(ctx: object, *arrays: object) -> list[object] | None:
    out: list[object] = []
    for array in arrays:
        if not isinstance(array, list):
            return None
        out.extend(array)
    return out


def array_slice(ctx: object, array: object, start: object, end: object) -> list[object] | None:
    if not isinstance(array, list) or not isinstance(start, int) or not isinstance(end, int):
        return None
    if isinstance(start, bool) or isinstance(end, bool):
        return None
    size = len(array)
    first = start + size if start < 0 else start
    last = end + size if end < 0 else end
    first, last = max(0, first), min(size - 1, last)
    return array[first : last + 1] if first <= last else []


def array_reverse(ctx: object, array: object) -> list[object] | None:
    return array[::-1] if isinstance(array, list) else None


def array_index_of(ctx: object, array: object, value: object) -> int | None:
    if not isinstance(array, list):
        return None
    wanted = _key(value)
    for i, item in enumerate(array):
        if _key(item) == wanted:
            return i
    return -1


def _value_typed(fn: Callable[..., object]) -> Callable[[Sequence[str]], Callable[..., object]]:
    def bind(types: Sequence[str]) -> Callable[..., object]:
        conv = _dynamics(types)[1]
        return lambda ctx, array, value: fn(ctx, array, conv(value))

    return bind


def set_has_element(ctx: object, array: object, value: object) -> bool | None:
    index = array_index_of(ctx, array, value)
    return None if index is None else index >= 0


def _distinct(items: Sequence[object]) -> list[object]:
    seen: set[object] = set()
    out = []
    for item in items:
        key = _key(item)
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out


def set_union(ctx: object, *arrays: object) -> list[object] | None:
    joined = array_concat(ctx, *arrays)
    return None if joined is None else _distinct(joined)


def _arrays(values: Sequence[object]) -> list[list[object]] | None:
    lists = [v for v in values if isinstance(v, list)]
    return lists if values and len(lists) == len(values) else None


def set_intersect(ctx: object, *arrays: object) -> list[object] | None:
    lists = _arrays(arrays)
    if lists is None:
        return None
    others = [{_key(v) for v in a} for a in lists[1:]]
    return [v for v in _distinct(lists[0]) if all(_key(v) in keys for keys in others)]


def set_difference(ctx: object, *arrays: object) -> list[object] | None:
    lists = _arrays(arrays)
    if lists is None:
        return None
    excluded = {_key(v) for a in lists[1:] for v in a}
    return [v for v in _distinct(lists[0]) if _key(v) not in excluded]


def bag_keys(ctx: object, bag: object) -> list[object] | None:
    return list(bag) if isinstance(bag, dict) else None


def bag_has_key(ctx: object, bag: object, key: object) -> bool | None:
    return (
        key in bag
        if isinstance(bag, dict) and isinstance(key, str)
        else None
        if not isinstance(bag, dict)
        else False
    )


def bag_merge(ctx: object, *bags: object) -> dict[str, object] | None:
    merged: dict[str, object] = {}
    for bag in bags:
        if not isinstance(bag, dict):
            return None
        for key, value in bag.items():
            merged.setdefault(key, value)
    return merged


def strcat_array(ctx: object, array: object, delimiter: object) -> str:
    if not isinstance(array, list):
        return ""
    return to_string(delimiter).join(to_string(v) for v in array)


# ---------------------------------------------------------------------------
# Registration

D = DYNAMIC
register(
    "parse_url",
    parse_url,
    [STRING],
    "dynamic",
    aliases=["parseurl"],
    signature="parse_url(url) -> dynamic",
    summary="Bag of Scheme, Host, Port, Path, Username, Password, Query Parameters, Fragment; all empty when url has no scheme://.",
)
register(
    "parse_urlquery",
    parse_urlquery,
    [STRING],
    "dynamic",
    signature="parse_urlquery(query) -> dynamic",
    summary='Bag {"Query Parameters": {key: value}} of a URL query string.',
)
register(
    "parse_path",
    parse_path,
    [STRING],
    "dynamic",
    signature="parse_path(path) -> dynamic",
    summary="Bag of Scheme, RootPath, DirectoryPath, DirectoryName, Filename, Extension, AlternateDataStreamName of a file path.",
)
register(
    "pack_array",
    pack_array,
    [ANY],
    "dynamic",
    rest=ANY,
    typed=_pack_array_typed,
    signature="pack_array(v1, v2, ...) -> dynamic",
    summary="Array of the arguments.",
)
for _name in ("bag_pack", "pack", "pack_dictionary"):
    register(
        _name,
        bag_pack,
        [STRING, ANY],
        "dynamic",
        min_args=0,
        rest=ANY,
        returns=_bag_pack_returns(_name),
        typed=_bag_pack_typed,
        signature=f"{_name}(key1, value1, key2, value2, ...) -> dynamic",
        summary="Property bag of the key, value pairs." if _name == "bag_pack" else "Same as bag_pack.",
    )
register(
    "array_length",
    array_length,
    [D],
    "long",
    signature="array_length(array) -> long",
    summary="Number of elements; null when not an array.",
)
register(
    "array_concat",
    array_concat,
    [D],
    "dynamic",
    rest=D,
    signature="array_concat(a1, a2, ...) -> dynamic",
    summary="The arrays concatenated; null when an argument is not an array.",
)
register(
    "array_slice",
    array_slice,
    [D, INTEGER, INTEGER],
    "dynamic",
    signature="array_slice(array, start, end) -> dynamic",
    summary="Elements start..end inclusive (negative indexes count from the end).",
)
register(
    "array_reverse",
    array_reverse,
    [D],
    "dynamic",
    signature="array_reverse(array) -> dynamic",
    summary="The array in reverse order.",
)
register(
    "array_index_of",
    array_index_of,
    [D, ANY],
    "long",
    typed=_value_typed(array_index_of),
    signature="array_index_of(array, value) -> long",
    summary="Index of the first element equal to value; -1 when absent.",
)
register(
    "set_has_element",
    set_has_element,
    [D, ANY],
    "bool",
    typed=_value_typed(set_has_element),
    signature="set_has_element(array, value) -> bool",
    summary="True when the array holds value.",
)
register(
    "set_union",
    set_union,
    [D, D],
    "dynamic",
    rest=D,
    signature="set_union(a1, a2, ...) -> dynamic",
    summary="Distinct elements of all the arrays, in order of first appearance.",
)
register(
    "set_intersect",
    set_intersect,
    [D, D],
    "dynamic",
    rest=D,
    signature="set_intersect(a1, a2, ...) -> dynamic",
    summary="Distinct elements present in every array.",
)
register(
    "set_difference",
    set_difference,
    [D, D],
    "dynamic",
    rest=D,
    signature="set_difference(a1, a2, ...) -> dynamic",
    summary="Distinct elements of a1 absent from the other arrays.",
)
register(
    "bag_keys",
    bag_keys,
    [D],
    "dynamic",
    signature="bag_keys(bag) -> dynamic",
    summary="Array of the keys of a property bag; null when not a bag.",
)
register(
    "bag_has_key",
    bag_has_key,
    [D, STRING],
    "bool",
    signature="bag_has_key(bag, key) -> bool",
    summary="True when the bag has key at its top level.",
)
register(
    "bag_merge",
    bag_merge,
    [D, D],
    "dynamic",
    rest=D,
    signature="bag_merge(b1, b2, ...) -> dynamic",
    summary="The bags merged; on a duplicate key the first bag's value wins.",
)
register(
    "strcat_array",
    strcat_array,
    [D, STRING],
    "string",
    signature="strcat_array(array, delimiter) -> string",
    summary="The array's elements as text, joined by delimiter.",
)


# ---------------------------------------------------------------------------
# JSON paths, sorting, sums, zips, key removal

_PATH_STEP = re.compile(
    r"\.([A-Za-z_$][\w$-]*)|\[\s*'((?:[^'\\]|\\.)*)'\s*\]|\[\s*\"((?:[^\"\\]|\\.)*)\"\s*\]|\[\s*(-?\d+)\s*\]"
)


def parse_json_path(path: str) -> list[str | int] | None:
    """Steps of a JSONPath like ``$.a.b[0]['c d']``, or None when unsupported."""
    text = path.strip()
    if not text.startswith("$"):
        return None
    steps: list[str | int] = []
    i = 1
    while i < len(text):
        m = _PATH_STEP.match(text, i)
        if m is None:
            return None
        name, single, double, index = m.groups()
        steps.append(
            int(index) if index is not None else name if name is not None else single or double or ""
        )
        i = m.end()
    return steps


def _step(data: object, step: str | int) -> tuple[bool, object]:
    """One JSONPath step into ``data``: (found, element)."""
    if isinstance(data, list) and isinstance(step, int):
        return (True, data[step]) if -len(data) <= step < len(data) else (False, None)
    if isinstance(data, dict) and isinstance(step, str):
        return (step in data, data.get(step))
    return False, None


def extract_json(ctx: object, path: object, source: object, type_name: object = None) -> object:
    """The element at a JSONPath in JSON text: scalars as text (objects as JSON), or converted to T."""
    from enrich.sandbox.kql.functions.convert import convert_to, dynamic_json

    steps = parse_json_path(path) if isinstance(path, str) else None
    data = to_dynamic(source) if isinstance(source, str) else source
    found: object = None
    ok = steps is not None
    for step in steps or []:
        ok, data = _step(data, step)
        if not ok:
            break
    if ok:
        found = data
    if type_name is None or type_name == "string":
        if found is None:
            return ""
        return dynamic_json(found) if isinstance(found, list | dict) else to_string(found)
    if not isinstance(type_name, str):
        return None
    if type_name == "dynamic":
        return found
    return convert_to(found, "dynamic", type_name)


def _extract_json_returns(name: str) -> Callable[[Sequence[str]], str]:
    from enrich.sandbox.kql.functions.registry import FunctionTypeError, arity_message, type_message
    from enrich.sandbox.kql.functions.strings import _is_type_arg, _type_arg

    def returns(types: Sequence[str]) -> str:
        message = arity_message(name, 2, 3, len(types))
        if message:
            raise FunctionTypeError(message)
        if types[0] not in STRING:
            raise FunctionTypeError(type_message(name, 0, STRING, types[0]))
        if types[1] not in STRING | DYNAMIC:
            raise FunctionTypeError(type_message(name, 1, STRING | DYNAMIC, types[1]))
        if len(types) == 3:
            if not _is_type_arg(types[2]):
                raise FunctionTypeError(
                    f"{name}(): argument #3 expected to be a typeof(...) expression, not {types[2]}"
                )
            return _type_arg(types[2]) or "dynamic"
        return "string"

    return returns


def _sort_key(value: object) -> tuple[int, object]:
    if isinstance(value, bool):
        return (1, int(value))
    if isinstance(value, int | float):
        return (0, 0.0 if value != value else value)
    if isinstance(value, str):
        return (2, value)
    return (3, json.dumps(value, sort_keys=True, default=str))


def _sorter(descending: bool) -> Callable[..., list[object] | None]:
    def sort(ctx: object, array: object, nulls_last: object = True) -> list[object] | None:
        if not isinstance(array, list):
            return None
        present = [v for v in array if v is not None]
        nulls = [None] * (len(array) - len(present))
        try:
            ordered = sorted(present, key=_sort_key, reverse=descending)
        except TypeError:
            ordered = present
        return ordered + nulls if nulls_last is not False else nulls + ordered

    return sort


def array_sum(ctx: object, array: object) -> float | None:
    if not isinstance(array, list) or not array:
        return None
    total = 0.0
    for v in array:
        if isinstance(v, bool) or not isinstance(v, int | float):
            return None
        try:
            total += v
        except OverflowError:
            return None
    return total


def zip_(ctx: object, *arrays: object) -> list[object] | None:
    lists = _arrays(arrays)
    if lists is None:
        return None
    width = max(len(a) for a in lists)
    return [[a[i] if i < len(a) else None for a in lists] for i in range(width)]


def bag_remove_keys(ctx: object, bag: object, keys: object) -> dict[str, object] | None:
    if not isinstance(bag, dict):
        return None
    drop = {k for k in keys if isinstance(k, str)} if isinstance(keys, list) else set()
    return {k: v for k, v in bag.items() if k not in drop}


for _name in ("extract_json", "extractjson"):
    register(
        _name,
        extract_json,
        [STRING, STRING | DYNAMIC, frozenset({"type"})],
        "string",
        min_args=2,
        returns=_extract_json_returns(_name),
        signature=f"{_name}(json_path, json[, typeof(T)]) -> string or T",
        summary="The element at a JSONPath ($.a.b[0]['c']) of JSON text, as text or converted to T; empty when absent.",
    )
for _name, _descending in (("array_sort_asc", False), ("array_sort_desc", True)):
    register(
        _name,
        _sorter(_descending),
        [D, frozenset({"bool"})],
        "dynamic",
        min_args=1,
        signature=f"{_name}(array[, nulls_last]) -> dynamic",
        summary=f"The array sorted {'descending' if _descending else 'ascending'} (numbers, bools, strings, then others); nulls last unless nulls_last is false.",
    )
register(
    "array_sum",
    array_sum,
    [D],
    "real",
    signature="array_sum(array) -> real",
    summary="Sum of a numeric array; null when an element is not a number.",
)
register(
    "zip",
    zip_,
    [D, D],
    "dynamic",
    rest=D,
    signature="zip(a1, a2, ...) -> dynamic",
    summary="Array of arrays pairing the i-th elements (null where an array is shorter).",
)
register(
    "bag_remove_keys",
    bag_remove_keys,
    [D, D],
    "dynamic",
    signature="bag_remove_keys(bag, keys) -> dynamic",
    summary="The bag without the top-level keys listed in the keys array.",
)


def dynamic_to_json(ctx: object, value: object) -> str:
    """Canonical JSON text of a dynamic value: keys sorted, no spaces (null gives "")."""
    if value is None:
        return ""
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False, default=str)


def array_iff(ctx: object, conditions: object, then: object, otherwise: object) -> list[object] | None:
    """Element-wise iff over arrays (scalars stand for every element); as long as ``conditions``."""
    if not isinstance(conditions, list):
        return None
    out: list[object] = []
    for i, cond in enumerate(conditions):
        a = then[i] if isinstance(then, list) and i < len(then) else None if isinstance(then, list) else then
        b = (
            otherwise[i]
            if isinstance(otherwise, list) and i < len(otherwise)
            else None
            if isinstance(otherwise, list)
            else otherwise
        )
        out.append(a if cond is True else b)
    return out


register(
    "dynamic_to_json",
    dynamic_to_json,
    [D],
    "string",
    signature="dynamic_to_json(value) -> string",
    summary="Canonical JSON text of a dynamic value (property bag keys sorted).",
)
register(
    "array_iff",
    array_iff,
    [D, D, D],
    "dynamic",
    aliases=["array_iif"],
    signature="array_iff(conditions, then, else) -> dynamic",
    summary="Element-wise iff over arrays: then[i] where conditions[i] is true, else else[i].",
)
