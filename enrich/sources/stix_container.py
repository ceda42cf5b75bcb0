"""Reading STIX containers as plain JSON: bundles, lists, single objects, TAXII envelopes, JSON Lines.

`probe` works out the container kind (SourceError when the input is not STIX at all); `items`
yields the top-level objects in order, a bundle nested in a list or a line giving its objects.
Bundles and lists are loaded whole with `json` (`parse_document`, which also notes where the
objects array lies in the text, so a writer can copy it as it is); JSON Lines are read line by line.
"""

from __future__ import annotations

import functools
import gc
import io
import json
import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, BinaryIO

from enrich.sources.interface import SourceError

_JSONL_SUFFIXES = (".jsonl", ".ndjson", ".jsonlines")
_PROBE_LINES = 10
_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True, slots=True)
class Layout:
    kind: str  # bundle | list | jsonl | object
    bundle_id: str | None = None
    spec_version: str | None = None
    envelope: bool = False  # a TAXII envelope {"objects": [...]} read as a list


@dataclass(frozen=True, slots=True)
class Document:
    """A whole-file input (bundle, list, single object) parsed: the bytes as read, the JSON value,
    its layout, and where the array holding its objects lies in the decoded text ([start, end),
    the brackets included; None for a single object or when not known)."""

    data: bytes
    value: Any
    layout: Layout
    span: tuple[int, int] | None = None

    def text(self) -> str:
        return self.data.decode("utf-8-sig")  # as `_decode` did: known to succeed


@dataclass(frozen=True, slots=True)
class Bad:
    """An item that is not a usable object: a broken line, a list item that is not an object."""

    reason: str


YOUNG_EVERY = 1000  # items between two collections of the young generation in `paused_gc`
FREEZE_FROM = 20_000  # objects in an input from which what is built from it is frozen


@contextmanager
def paused_gc(freeze: bool = False) -> Iterator[Callable[[], object]]:
    """Automatic garbage collection off while a large input is parsed or classified.

    Each collection of the oldest generation walks every object alive: with a 100,000-object
    bundle, its parse and its rows in memory (a million objects), one takes a quarter of a
    second, and building them triggers several. JSON makes no reference cycles; the rows make
    few, but the pattern parser leaves some (20 KiB per pattern it parses), so a loop calls the
    function given every `YOUNG_EVERY` items: it collects the young generation only.

    `freeze`: then `gc.freeze()` everything alive, so that later collections (the plan's keys,
    the answers, the output) skip the input and its rows, which live to the end of the run. Only
    reference cycles among the frozen objects are never collected (there are none in a parse or
    in rows); objects are still freed as soon as nothing refers to them.
    """
    if not gc.isenabled():  # the caller chose: leave it so
        yield lambda: None
        return
    gc.disable()
    try:
        yield functools.partial(gc.collect, 0)
        if freeze:
            gc.freeze()
    finally:
        gc.enable()


# ---------------------------------------------------------------------------------------- reading


def _decode(name: str, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SourceError(
            f"{name}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})"
        ) from None


def _loads(name: str, data: bytes) -> Any:
    text = _decode(name, data)
    if not text.strip():
        raise SourceError(f"{name}: empty file")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SourceError(
            f"{name}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    except (ValueError, RecursionError) as exc:  # 5,000-digit numbers, 100,000 nested brackets
        raise SourceError(f"{name}: not readable JSON ({str(exc) or type(exc).__name__})") from None


_WHITESPACE = re.compile(r"[ \t\n\r]*")  # what `json` skips between tokens
# the C scanners `json.loads` uses: (value, end)
_scan_value = json.JSONDecoder().scan_once  # type: ignore[attr-defined]
_scan_string = json.decoder.scanstring  # type: ignore[attr-defined]


def _ws(text: str, at: int) -> int:
    """Where the whitespace `json` skips from `at` ends."""
    blank = _WHITESPACE.match(text, at)
    return at if blank is None else blank.end()


def _scan_top(text: str) -> tuple[Any, tuple[int, int] | None] | None:
    """`json.loads(text)` for a top-level object or array, with the span of its objects array
    (the value of its last "objects" key, or the array itself); None when the text is anything
    else or not valid JSON (the caller then lets `json.loads` say what is wrong)."""
    end = len(text)
    try:
        i = _ws(text, 0)
        if text[i] == "[":
            value, j = _scan_value(text, i)
            return (value, (i, j)) if _ws(text, j) == end else None
        if text[i] != "{":
            return None
        doc: dict[str, Any] = {}
        span = None
        i = _ws(text, i + 1)
        if text[i] == "}":
            i += 1
        else:
            while True:
                if text[i] != '"':
                    return None
                key, i = _scan_string(text, i + 1, True)
                i = _ws(text, i)
                if text[i] != ":":
                    return None
                start = _ws(text, i + 1)
                doc[key], i = _scan_value(text, start)
                if key == "objects":
                    span = (start, i) if text[start] == "[" else None
                i = _ws(text, i)
                if text[i] == "}":
                    i += 1
                    break
                if text[i] != ",":
                    return None
                i = _ws(text, i + 1)
        return (doc, span) if _ws(text, i) == end else None
    except (ValueError, StopIteration, IndexError, RecursionError):
        return None


def parse_document(name: str, data: bytes) -> Document:
    """A whole-file input parsed (SourceError, one line, when it is not JSON or not STIX)."""
    text = _decode(name, data)
    with paused_gc(freeze=len(data) >= FREEZE_FROM * 100):  # bytes: some 100 an object at least
        scanned = _scan_top(text)
        value, span = scanned if scanned is not None else (_loads(name, data), None)
    layout = _document_layout(name, value)
    return Document(data, value, layout, None if layout.kind == "object" else span)


def document_items(document: Document) -> tuple[list[tuple[Any, str | None]], bool]:
    """The objects of a parsed input in order, as `items` gives them; and whether they are exactly
    the items of its objects array (every item an object, no nested bundle)."""
    value, layout = document.value, document.layout
    if layout.kind == "object":
        return list(expand(value, "object", None)), False
    objects = value.get("objects", []) if isinstance(value, dict) else value
    spec = layout.spec_version
    found: list[tuple[Any, str | None]] = []
    plain = True
    with paused_gc():  # 100,000 pairs kept, no cycle
        for index, item in enumerate(objects, 1):
            if item.__class__ is dict and item.get("type") != "bundle":
                found.append((item, spec))
            else:
                plain = False
                found.extend(expand(item, f"object {index}", spec))
    return found, plain


def read_bytes(opener: Callable[[], BinaryIO]) -> bytes:
    with opener() as stream:
        return stream.read()


def json_kind(value: Any) -> str:
    return {str: "string", bool: "boolean", int: "number", float: "number", list: "list"}.get(
        type(value), "null" if value is None else "object"
    )


def line_object(line: bytes) -> tuple[Any, str]:
    """Parse one JSON Lines line: (value, "") or (None, why it is unreadable)."""
    try:
        return json.loads(line.decode("utf-8")), ""
    except UnicodeDecodeError as exc:
        return None, f"not UTF-8 text (byte 0x{line[exc.start]:02x} at column {exc.start + 1})"
    except json.JSONDecodeError as exc:
        return None, f"not valid JSON (column {exc.colno}: {exc.msg})"
    except (ValueError, RecursionError) as exc:
        return None, f"not readable JSON ({str(exc) or type(exc).__name__})"


def nonblank_lines(stream: BinaryIO) -> Iterator[tuple[int, bytes]]:
    for number, line in enumerate(stream, 1):
        if number == 1 and line.startswith(_BOM):
            line = line[len(_BOM) :]
        line = line.strip()
        if line:
            yield number, line


def _is_typed(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("type"), str)


def _document_layout(name: str, doc: Any) -> Layout:
    """The layout of a whole-file JSON document, or SourceError when it is not STIX."""
    if isinstance(doc, list):
        if not any(_is_typed(item) for item in doc):
            what = "an empty list" if not doc else "no item is an object with a 'type'"
            raise SourceError(f"{name}: not STIX: {what}")
        return Layout("list")
    if not isinstance(doc, dict):
        raise SourceError(f"{name}: not STIX: the file holds a JSON {json_kind(doc)}, not objects")
    kind = doc.get("type")
    if kind == "bundle":
        objects = doc.get("objects", [])
        if not isinstance(objects, list):
            raise SourceError(f"{name}: not STIX: the bundle's 'objects' is not a list")
        if objects and not any(_is_typed(o) for o in objects):
            raise SourceError(f"{name}: not STIX: no object in the bundle has a 'type'")
        bundle_id = doc.get("id") if isinstance(doc.get("id"), str) else None
        spec = doc.get("spec_version") if isinstance(doc.get("spec_version"), str) else None
        return Layout("bundle", bundle_id, spec)
    if isinstance(kind, str):
        return Layout("object")
    objects = doc.get("objects")
    if isinstance(objects, list) and any(_is_typed(o) for o in objects):
        return Layout("list", envelope=True)
    raise SourceError(f"{name}: not STIX: the JSON object has no 'type'")


def probe(name: str, opener: Callable[[], BinaryIO]) -> Layout:
    """Work out the container kind; SourceError when the input is not STIX at all."""
    return probe_document(name, opener)[0]


def probe_document(name: str, opener: Callable[[], BinaryIO]) -> tuple[Layout, Document | None]:
    """`probe`, and the input parsed when it had to be parsed whole to tell (None otherwise)."""
    with opener() as stream:
        lines = nonblank_lines(stream)
        first = next(lines, None)
        if first is None:
            raise SourceError(f"{name}: empty file")
        # A lone line is parsed below as the whole file (a bundle on one line: parsed once).
        if next(lines, None) is not None or name.lower().endswith(_JSONL_SUFFIXES):
            value, _ = line_object(first[1])
            if isinstance(value, dict):
                return _jsonl_layout(name, opener), None
    data = read_bytes(opener)
    try:
        document = parse_document(name, data)
    except SourceError:
        if _looks_like_jsonl(opener):
            return _jsonl_layout(name, opener), None
        raise
    return document.layout, document


def _looks_like_jsonl(opener: Callable[[], BinaryIO]) -> bool:
    """A first line that is more than a bracket, followed by lines that are objects on their own."""
    with opener() as stream:
        lines = nonblank_lines(stream)
        first = next(lines, None)
        if first is None or first[1] in (b"{", b"["):
            return False
        for _, (_, line) in zip(range(_PROBE_LINES), lines, strict=False):
            if isinstance(line_object(line)[0], dict):
                return True
    return False


def _jsonl_layout(name: str, opener: Callable[[], BinaryIO]) -> Layout:
    first_error = ""
    with opener() as stream:
        for number, line in nonblank_lines(stream):
            value, error = line_object(line)
            if _is_typed(value):
                return Layout("jsonl")
            first_error = first_error or (f"line {number}: {error}" if error else "")
    raise SourceError(f"{name}: not STIX: " + (first_error or "no line is an object with a 'type'"))


def expand(value: Any, where: str, spec: str | None) -> Iterator[tuple[Any, str | None]]:
    """An item of a list or a line: a bundle gives its objects, anything else itself."""
    if isinstance(value, dict) and value.get("type") == "bundle" and isinstance(value.get("objects"), list):
        inner = value.get("spec_version") if isinstance(value.get("spec_version"), str) else spec
        for index, obj in enumerate(value["objects"], 1):
            yield (
                (obj if isinstance(obj, dict) else Bad(f"{where}, object {index}: not a JSON object")),
                inner,
            )
    elif isinstance(value, dict):
        yield value, spec
    else:
        yield Bad(f"{where}: a JSON {json_kind(value)}, not an object"), spec


def items(name: str, opener: Callable[[], BinaryIO], layout: Layout) -> Iterator[tuple[Any, str | None]]:
    """Every top-level object in order as (dict or Bad, the spec_version of its bundle)."""
    if layout.kind == "jsonl":
        with opener() as stream:
            for number, line in nonblank_lines(stream):
                value, error = line_object(line)
                if error:
                    yield Bad(f"line {number}: {error}"), None
                else:
                    yield from expand(value, f"line {number}", None)
        return
    # parsed again: the file may have changed since it was opened
    yield from document_items(parse_document(name, read_bytes(opener)))[0]


def opener_for(path: str, head: bytes) -> Callable[[], BinaryIO]:
    """Something that opens the input afresh; stdin and pipes are read once into memory."""
    if path == "-":
        data = head + sys.stdin.buffer.read()
        return lambda: io.BytesIO(data)
    if os.path.isdir(path):
        raise SourceError(f"{path}: is a directory")
    if not os.path.exists(path):
        raise SourceError(f"{path}: no such file")
    if not os.path.isfile(path):  # a named pipe, /dev/stdin, <(...): cannot be read twice
        with open(path, "rb") as stream:
            data = stream.read()
        return lambda: io.BytesIO(data)
    return lambda: open(path, "rb")  # noqa: SIM115 - the caller closes it
