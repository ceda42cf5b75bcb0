"""STIX input: 2.1 and 2.0 bundles, bare lists, single objects and JSON Lines, read as plain JSON.

Objects are never built with `stix2` (slow, and it rewrites them). One row per extracted entry:
- `indicator`: one row per comparison of its pattern (see `patterns.extract`); one UNSUPPORTED row
  for a non-STIX `pattern_type`, one INVALID row for a missing or unparseable pattern.
- top-level SCOs `ipv4-addr`, `ipv6-addr`, `domain-name`, `url` (value), `file` (one row per hash,
  or one UNSUPPORTED row when it has none) and `email-addr` (UNSUPPORTED).
- `observed-data`: rows only for the SCOs embedded in its `objects` dict (STIX 2.0 style). Its
  `object_refs` (2.1) point at top-level SCOs, which are rows of their own, so they are not
  counted twice.
- any other object (relationship, malware, report, x-misp-*...): no row; counted in `stats()`.
- an unreadable JSON Lines line or a non-object list item: one INVALID row.
"""

from __future__ import annotations

import json
import weakref
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import Any, BinaryIO

import pandas as pd

from enrich.model import Indicator
from enrich.sources.interface import Chunk, Source, SourceError
from enrich.sources.patterns import Atom, classify_path, extract, invalid, unsupported
from enrich.sources.stix_container import (
    FREEZE_FROM,
    YOUNG_EVERY,
    Bad,
    Document,
    Layout,
    document_items,
    expand,
    items,
    line_object,
    nonblank_lines,
    opener_for,
    parse_document,
    paused_gc,
    probe_document,
    read_bytes,
)

COLUMNS = [
    "stix_id",
    "stix_type",
    "stix_pattern",
    "stix_pattern_type",
    "stix_path",
    "stix_value",
    "stix_spec_version",
]
CHUNK_ROWS = 10_000
ROW_SCO_TYPES = frozenset({"ipv4-addr", "ipv6-addr", "domain-name", "url", "file", "email-addr"})
# STIX 2.1 cyber-observable types: an object of one of these without spec_version is 2.1.
_SCO_TYPES = ROW_SCO_TYPES | {
    "artifact",
    "autonomous-system",
    "directory",
    "email-message",
    "mac-addr",
    "mutex",
    "network-traffic",
    "process",
    "software",
    "user-account",
    "windows-registry-key",
    "x509-certificate",
}


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value)


def _spec_version(obj: dict, container: str | None) -> str:
    spec = obj.get("spec_version")
    if isinstance(spec, str) and spec:
        return spec
    if container:
        return container
    return "2.1" if obj.get("type") in _SCO_TYPES or "pattern_type" in obj else "2.0"


def _hash_step(name: str) -> str:
    if name.isidentifier() and name.isascii():
        return name
    return "'" + name.replace("\\", "\\\\").replace("'", "\\'") + "'"


def sco_atoms(obj: dict) -> list[Atom]:
    """The entries of one cyber-observable object (ipv4-addr, ..., file); [] for other types."""
    kind = obj.get("type")
    if kind not in ROW_SCO_TYPES:
        return []
    if kind == "file":
        hashes = obj.get("hashes")
        if not isinstance(hashes, dict) or not hashes:
            return [
                Atom(
                    "file:hashes",
                    "",
                    unsupported(
                        "", "file object has no hashes; only MD5, SHA-1 and SHA-256 can be looked up"
                    ),
                )
            ]
        atoms = []
        for algorithm, value in hashes.items():
            path = f"file:hashes.{_hash_step(str(algorithm))}"
            if not isinstance(value, str):
                atoms.append(Atom(path, _text(value), invalid(_text(value), "hash value is not a string")))
            else:
                atoms.append(
                    Atom(path, value, classify_path("file", ("hashes", str(algorithm)), path, value))
                )
        return atoms
    path = f"{kind}:value"
    value = obj.get("value")
    if not isinstance(value, str):
        return [Atom(path, _text(value), invalid(_text(value), f"{kind} object has no text 'value'"))]
    return [Atom(path, value, classify_path(kind, ("value",), path, value))]


def _pattern_atoms(obj: dict, version: str) -> list[Atom]:
    pattern_type = obj.get("pattern_type")
    if pattern_type is None:  # STIX 2.0 has no pattern_type: the pattern is STIX
        pattern_type = "stix"
    if not isinstance(pattern_type, str) or pattern_type.strip().lower() != "stix":
        reason = f"pattern_type '{_text(pattern_type)}' is not supported; only STIX patterns can be looked up"
        return [Atom("", "", unsupported("", reason))]
    pattern = obj.get("pattern")
    if not isinstance(pattern, str) or not pattern.strip():
        return [Atom("", "", invalid("", "indicator has no pattern"))]
    return list(extract(pattern, "2.0" if version.startswith("2.0") else "2.1"))


def object_rows(obj: dict, container_spec: str | None = None) -> list[tuple[tuple[str, ...], Indicator]]:
    """The rows (frame cells, classified entry) one top-level object gives; [] when it carries none."""
    kind = obj.get("type")
    ident = obj.get("id")
    if ident.__class__ is not str:
        ident = _text(ident)
    if kind == "indicator":
        spec, pattern, pattern_type = obj.get("spec_version"), obj.get("pattern"), obj.get("pattern_type")
        if (
            pattern_type == "stix"  # the common case, in short: same rows as below
            and spec.__class__ is str
            and spec
            and pattern.__class__ is str
            and pattern.strip()
        ):
            shared = extract(pattern, "2.0" if spec.startswith("2.0") else "2.1")
            return [((ident, kind, pattern, "stix", a.path, a.value, spec), a.indicator) for a in shared]
    if not isinstance(kind, str):
        return [((ident, "", "", "", "", "", ""), invalid("", "object has no 'type'"))]
    spec = _spec_version(obj, container_spec)
    pattern, pattern_type = "", ""
    atoms: Sequence[Atom]
    if kind == "indicator":
        pattern, pattern_type = _text(obj.get("pattern")), _text(obj.get("pattern_type"))
        atoms = _pattern_atoms(obj, spec)
    elif kind == "observed-data" and isinstance(obj.get("objects"), dict):
        atoms = [a for sco in obj["objects"].values() if isinstance(sco, dict) for a in sco_atoms(sco)]
    else:
        atoms = sco_atoms(obj)
    return [((ident, kind, pattern, pattern_type, a.path, a.value, spec), a.indicator) for a in atoms]


Row = tuple[tuple[str, ...], Indicator]
_NO_CELLS = ("", "", "", "", "", "", "")


Found = tuple[Atom, ...] | list[Row]  # see `_found`


class _Parsed:
    """A whole-file input as last read: the document, its items, and once worked out, what each
    item gives (`_found`).

    `plain`: the items are exactly the elements of the document's objects array (all objects, no
    nested bundle), so a writer may copy that array's text as it is.
    """

    __slots__ = ("document", "found", "items", "plain")

    def __init__(self, document: Document) -> None:
        self.document = document
        self.items, self.plain = document_items(document)
        self.found: list[Found] | None = None


# The one source whose parsed input is kept between reads (see `StixSource._parsed`).
_kept: weakref.ref[StixSource] | None = None


class StixSource(Source):
    """A STIX file (bundle, list, object) or JSON Lines; every `chunks()` call re-reads it.

    A bundle, list or single object is parsed whole; the parse and the rows it gives are kept for
    the next read as long as the file holds the same bytes (each read still reads the file and
    compares), so the plan pass and the STIX writer parse and classify the input once between
    them. Only the last source read keeps its parse: several inputs are never all held at once.
    JSON Lines are streamed line by line at every read.
    """

    def __init__(
        self, name: str, opener: Callable[[], BinaryIO], layout: Layout, document: Document | None = None
    ) -> None:
        self.name = name
        self.format = "jsonl" if layout.kind == "jsonl" else "stix"
        self.layout = layout
        self._opener = opener
        self._objects = 0
        self._rows = 0
        self._no_indicator: Counter[str] = Counter()
        self._memo: _Parsed | None = None
        if document is not None:
            self._keep(_Parsed(document))

    def columns(self) -> list[str]:
        return list(COLUMNS)

    def stats(self) -> dict[str, Any]:
        """Counts from the last full `chunks()` pass: objects, rows, objects without an entry by type."""
        return {
            "objects": self._objects,
            "rows": self._rows,
            "objects_without_indicator": sum(self._no_indicator.values()),
            "without_indicator_by_type": dict(self._no_indicator.most_common()),
        }

    def chunks(self) -> Iterator[Chunk]:
        self._objects, self._rows, self._no_indicator = 0, 0, Counter()
        size = CHUNK_ROWS
        cells: list[tuple[str, ...]] = []
        entries: list[tuple[Indicator, ...]] = []
        for item, found in self._all_found():
            self._objects += 1
            if isinstance(found, tuple):  # the atoms of an indicator's STIX pattern (see `_found`)
                ident, pattern, spec = item["id"], item["pattern"], item["spec_version"]
                for atom in found:
                    cells.append((ident, "indicator", pattern, "stix", atom.path, atom.value, spec))
                    entries.append((atom.indicator,))
            elif found:
                for row, indicator in found:
                    cells.append(row)
                    entries.append((indicator,))
            else:
                self._no_indicator[_text(item.get("type")) or "(no type)"] += 1
                continue
            if len(cells) >= size:
                yield self._chunk(cells, entries)
                cells, entries = [], []
        if cells:
            yield self._chunk(cells, entries)

    def _all_found(self) -> Iterator[tuple[Any, Found]]:
        """Every item with what it gives (`_found`)."""
        if self.layout.kind == "jsonl":
            for item, spec in self._items():
                yield item, _rows_of(item, spec)
        else:
            parsed = self.whole()
            yield from zip((item for item, _ in parsed.items), parsed.found or (), strict=True)

    def items(self) -> Iterator[tuple[Any, str | None]]:
        """Every item in order (an object, or `Bad`) with its bundle's spec_version."""
        if self.layout.kind == "jsonl":
            yield from self._items()
        else:
            yield from self._parsed().items

    def units(self) -> Iterator[tuple[str | None, list[tuple[Any, Found]]]]:
        """JSON Lines: per line in order, (the line as read when it holds one object, else None;
        its items with what each gives). Other layouts: per item, (None, [(item, what it gives)])."""
        if self.layout.kind != "jsonl":
            for item, spec in self._items():
                yield None, [(item, _rows_of(item, spec))]
            return
        try:
            with self._opener() as stream:
                for number, line in nonblank_lines(stream):
                    value, error = line_object(line)
                    if error:
                        bad = Bad(f"line {number}: {error}")
                        yield None, [(bad, _rows_of(bad, None))]
                    else:
                        raw = line.decode("utf-8") if isinstance(value, dict) else None
                        found: list[tuple[Any, Found]] = [
                            (item, _rows_of(item, spec))
                            for item, spec in expand(value, f"line {number}", None)
                        ]
                        yield raw, found
        except OSError as exc:
            raise SourceError(f"{self.name}: cannot read ({exc.strerror or exc})") from None

    def whole(self) -> _Parsed:
        """A bundle, list or object read (not JSON Lines): its document, items and what each gives."""
        parsed = self._parsed()
        if parsed.found is None:
            found: list[Found] = []
            todo = parsed.items
            with paused_gc(freeze=len(todo) >= FREEZE_FROM) as collect_young:
                for start in range(0, len(todo), YOUNG_EVERY):
                    found.extend([_found(item, spec) for item, spec in todo[start : start + YOUNG_EVERY]])
                    collect_young()
            parsed.found = found
        return parsed

    def _parsed(self) -> _Parsed:
        """The input parsed: kept from the last read when the file still holds the same bytes."""
        try:
            data = read_bytes(self._opener)
        except OSError as exc:
            raise SourceError(f"{self.name}: cannot read ({exc.strerror or exc})") from None
        memo = self._memo
        if memo is not None and memo.document.data == data:
            return memo
        self._memo = None  # let the old parse go before the new one is made
        return self._keep(_Parsed(parse_document(self.name, data)))

    def _keep(self, parsed: _Parsed) -> _Parsed:
        global _kept
        other = _kept() if _kept is not None else None
        if other is not None and other is not self:
            other._memo = None
        self._memo, _kept = parsed, weakref.ref(self)
        return parsed

    def _items(self) -> Iterator[tuple[Any, str | None]]:
        try:
            yield from items(self.name, self._opener, self.layout)
        except OSError as exc:
            raise SourceError(f"{self.name}: cannot read ({exc.strerror or exc})") from None

    def _chunk(self, cells: list[tuple[str, ...]], entries: list[tuple[Indicator, ...]]) -> Chunk:
        self._rows += len(cells)
        return _Chunk(cells, entries)


class _Chunk(Chunk):
    """A chunk whose frame is made when first asked for: the plan pass and the STIX writer
    never ask (only the CSV output does)."""

    def __init__(self, cells: list[tuple[str, ...]], indicators: list[tuple[Indicator, ...]]) -> None:
        self._cells: list[tuple[str, ...]] | None = cells
        self._frame: pd.DataFrame | None = None
        self.indicators = indicators

    @property
    def frame(self) -> pd.DataFrame:
        if self._frame is None:
            self._frame = pd.DataFrame(self._cells, columns=COLUMNS, dtype=str)
            self._cells = None
        return self._frame

    @frame.setter
    def frame(self, value: pd.DataFrame) -> None:
        self._frame, self._cells = value, None


def _found(item: Any, container_spec: str | None) -> Found:
    """What one item gives: for an indicator with a STIX pattern and the usual text properties,
    the atoms of its pattern as `extract` has them (shared, nothing built: its rows are those of
    `object_rows`, made when wanted); for anything else, its rows."""
    if item.__class__ is dict and item.get("type") == "indicator" and item.get("pattern_type") == "stix":
        version, pattern = item.get("spec_version"), item.get("pattern")
        if (
            version.__class__ is str
            and version
            and pattern.__class__ is str
            and pattern.strip()
            and item.get("id").__class__ is str
        ):
            return extract(pattern, "2.0" if version.startswith("2.0") else "2.1")
    return _rows_of(item, container_spec)


def _rows_of(item: Any, container_spec: str | None) -> list[Row]:
    if isinstance(item, Bad):
        return [(_NO_CELLS, invalid("", item.reason))]
    return object_rows(item, container_spec)


def open_stix(path: str, head: bytes = b"") -> StixSource:
    """Open a STIX or JSON Lines input; SourceError (one line) when it cannot be read as STIX.

    `head` is the first bytes already read by the format detector (used only for stdin, `-`).
    """
    try:
        opener = opener_for(path, head)
        layout, document = probe_document(path, opener)
    except OSError as exc:
        raise SourceError(f"{path}: cannot read ({exc.strerror or exc})") from None
    return StixSource(path, opener, layout, document)


def iter_objects(path: str) -> Iterator[dict]:
    """The input's top-level objects in order, as parsed (plain dicts, unchanged).

    Objects of a bundle nested in a list or a line come out one by one; unreadable lines and
    list items that are not objects are skipped (they are INVALID rows of the source).
    """
    for item, _ in open_stix(path).items():
        if isinstance(item, dict):
            yield item


def container_info(path: str) -> dict[str, Any]:
    """kind (bundle|list|jsonl|object), id and spec_version of the bundle, object count, envelope."""
    source = open_stix(path)
    count = sum(1 for _ in source.items())
    layout = source.layout
    return {
        "kind": layout.kind,
        "id": layout.bundle_id,
        "spec_version": layout.spec_version,
        "objects": count,
        "envelope": layout.envelope,
    }
