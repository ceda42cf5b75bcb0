"""STIX output: the input objects unchanged, then what MDE saw of them as STIX 2.1 sightings.

Input objects are never held as a graph of `stix2` objects. A bundle or list read whole is
parsed and classified once for the plan pass and the writer (the source keeps both, see
`StixSource.whole`); into a bundle, its objects array is copied as the input writes it (the text
between the brackets: the same objects, byte for byte); otherwise each object is written with
`json.dumps`, and JSON Lines lines are copied as read. Ours are written as JSON text (sightings,
see `stix_objects.Sightings`) or built as plain dicts, spooled to a temporary file while the
inputs are copied, and appended after them: the tool identity, the organisation identity and our
extension-definition, then per entry (our indicator and based-on relationship when the entry is
not an input indicator) its sighting.

Containers: JSON Lines in (every input) -> JSON Lines out, input lines copied as they are;
anything else -> one STIX 2.1 bundle (a 2.0 bundle's objects go in as they were). With
`separate=True` only our objects are written. A file is written through a temporary file in
the same directory and `os.replace`: nothing is left at the target when the run fails.

Which entries get a sighting:
- `seen`: one sighting per (indicator, MDE lookup): a compound pattern whose values MDE saw
  gives one sighting per seen value (each with its own count, dates and `mde_lookup`), never an
  aggregate, since each count comes from a different lookup;
- `not_seen`, `invalid`, `unsupported`, `error`: counted; with `negative_sightings=True` a
  count-0 sighting carrying the status and reason, when there is an indicator to point to: the
  input indicator itself (even when none of its pattern could be looked up), or an indicator
  built for a typed value (an observable, a CSV cell). An entry that is not an indicator at all
  (invalid CSV cell, e-mail address, unreadable line) has nothing to point to and gets none.
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import IO, Any

from enrich.answering.interface import Strategy
from enrich.model import Answer, LookupKey, Status
from enrich.outcome import STATS, Entry, Outcomes
from enrich.sinks import stix_objects as so
from enrich.sinks.atomic import AtomicFile
from enrich.sinks.csv import SinkError
from enrich.sinks.interface import Sink, SinkOptions
from enrich.sources.interface import Source
from enrich.sources.patterns import Atom
from enrich.sources.stix import Found, StixSource
from enrich.sources.stix_container import Bad, Document

__all__ = ["StixSink", "StixSinkError", "write_stix"]


# enum look-ups are slow in the per-entry loop
_SEEN, _NOT_SEEN, _INVALID, _PENDING = Status.SEEN, Status.NOT_SEEN, Status.INVALID, Status.PENDING
_UNSUPPORTED, _ERROR = Status.UNSUPPORTED, Status.ERROR


class StixSinkError(SinkError):
    """The STIX output cannot be written (one line naming the output or the option at fault)."""


class StixSink(Sink):
    """The inputs and our sightings as STIX: one bundle, or JSON Lines when every input is JSON Lines.

    `container`: "bundle" or "jsonl"; None = JSON Lines when every input is JSON Lines, else a
    bundle. `counts` after `commit`: `rows` and one per row status (`seen`, `not_seen`,
    `invalid`, `unsupported`, `error`; as the CSV output's `mde_status`), `objects` (input
    objects read), `objects_without_indicator`, `sightings` (count > 0), `negative_sightings`
    (count 0), `indicators` and `relationships` (ours), `no_sighting_target` (negative rows with
    nothing to point to), `already_in_input` (ours skipped: the input holds that very version),
    `written`.
    """

    format = "stix"
    suffix = ".enriched.json"

    def __init__(
        self, path: str, sources: Sequence[Source], options: SinkOptions, container: str | None = None
    ) -> None:
        super().__init__(path, sources, options)
        self.kind = container or _default_container(self.sources)
        if self.kind not in ("bundle", "jsonl"):
            raise ValueError(f"container must be 'bundle' or 'jsonl', not {self.kind!r}")
        self._out: AtomicFile | None = None
        self._spool: IO[str] | None = None

    def begin(self) -> None:
        options = self.options
        try:
            self._org = so.org_identity(options.org_name)
        except ValueError as exc:
            raise StixSinkError(str(exc)) from None
        self._writer = _Writer(
            org_ref=self._org["id"],
            negative=options.negative_sightings,
            lookback_hours=options.lookback_hours,
            queried_at=so.stix_time(options.query_time()),
            api_url=options.api_url,
        )
        try:
            self._out = AtomicFile(self.path, newline="\n")
            # our objects wait here while the inputs are copied; unnamed, so gone even on Ctrl-C or
            # kill -9; next to the output's temporary file (a stream's in the system's temporary folder)
            self._spool = tempfile.TemporaryFile(  # noqa: SIM115 - closed by commit or abort
                "w+", encoding="utf-8", newline="\n", dir=self._out.folder
            )
        except OSError as exc:
            self.abort()
            raise StixSinkError(f"{self.path}: cannot write ({exc.strerror or exc})") from None
        self._writer.spool = self._spool
        self._stream = _Stream(self._out.file, self.kind)
        if self.kind == "bundle":
            bundle_id = _bundle_id(self.sources, options.separate)
            self._guarded(self._stream.raw, f'{{"type": "bundle", "id": "{bundle_id}", "objects": [\n')

    def write(self, source: Source, outcomes: Outcomes) -> None:
        self._writer.outcomes = outcomes
        if isinstance(source, StixSource):
            stream = None if self.options.separate else self._stream
            self._guarded(self._writer.stix_source, source, stream)
        else:
            self._guarded(self._writer.row_source, source)

    def commit(self) -> None:
        self._guarded(self._finish)
        out, self._out = self._out, None
        if out is not None:
            self._guarded(out.commit)
        self._close_spool()

    def abort(self) -> None:
        out, self._out = self._out, None
        if out is not None:
            out.abort()
        self._close_spool()

    def _finish(self) -> None:
        """Our fixed objects, then the spooled ones, then the end of the bundle."""
        writer, stream, spool = self._writer, self._stream, self._spool
        assert spool is not None
        for obj in (so.tool_identity(), self._org, so.extension_definition()):
            if (obj["id"], obj["modified"]) in writer.in_input:
                writer.counts["already_in_input"] += 1
            else:
                stream.write(obj)
        writer.flush()
        spool.seek(0)
        if writer.in_input:  # the input holds some of ours (an earlier output): leave those out
            for line, found in zip(spool, writer.spooled, strict=True):
                if found in writer.in_input:
                    writer.counts["already_in_input"] += 1
                else:
                    stream.text(line[:-1])
        else:
            stream.lines(spool, len(writer.spooled))
        stream.raw("\n]}\n" if self.kind == "bundle" else "")
        if self.path == "-":
            stream.out.flush()
        writer.counts.update(writer.tally)
        writer.counts["written"] = stream.count
        self.counts = writer.counts

    def _guarded(self, fn: Callable[..., object], *args: Any) -> None:
        """Run a writing step; an OSError aborts the output and becomes a StixSinkError."""
        try:
            fn(*args)
        except OSError as exc:
            self.abort()
            if self.path == "-":  # e.g. the reader of a pipe went away
                raise StixSinkError(f"-: cannot write to standard output ({exc.strerror or exc})") from None
            raise StixSinkError(f"{self.path}: cannot write ({exc.strerror or exc})") from None
        except BaseException:
            self.abort()
            raise

    def _close_spool(self) -> None:
        spool, self._spool = self._spool, None
        if spool is not None:
            with contextlib.suppress(OSError):
                spool.close()


def write_stix(
    sources: list[Source],
    answers: Mapping[LookupKey, Answer],
    output: str,
    *,
    org_name: str,
    negative_sightings: bool = False,
    separate: bool = False,
    queried_at: datetime,
    lookback_hours: int,
    api_url: str,
    container: str | None = None,
    strategy: Strategy | None = None,
) -> Counter[str]:
    """Write the inputs and our sightings to `output` ("-" = stdout) in one go; return `StixSink.counts`."""
    options = SinkOptions(
        org_name=org_name,
        negative_sightings=negative_sightings,
        separate=separate,
        queried_at=queried_at,
        lookback_hours=lookback_hours,
        api_url=api_url,
    )
    outcomes = Outcomes(strategy or STATS, answers)
    with StixSink(output, sources, options, container) as sink:
        for source in sources:
            sink.write(source, outcomes)
    return sink.counts


# ----------------------------------------------------------------------------------- the writing


class _Stream:
    """Objects to the output: comma-separated inside a bundle, or one per line (JSON Lines).

    Writes are batched (one `write` per `_BATCH` objects). Text that the output cannot encode
    (a lone surrogate from `\\ud800` in the input, a stdout that is not UTF-8) is written with
    every non-ASCII character escaped: the same JSON value.
    """

    def __init__(self, out: IO[str], kind: str) -> None:
        self.out = out
        self.sep = ",\n" if kind == "bundle" else "\n"
        self.lead = "" if kind == "bundle" else None  # separator before the next object
        self.count = 0
        self.buffer: list[str] = []
        encoding = (getattr(out, "encoding", None) or "utf-8").lower().replace("-", "").replace("_", "")
        self.utf8 = encoding in ("utf8", "utf8sig")

    def raw(self, text: str) -> None:
        self.flush()
        self.out.write(text)

    def flush(self) -> None:
        if self.buffer:
            self.out.write("".join(self.buffer))
            self.buffer.clear()

    def text(self, text: str) -> None:
        """One serialised object (already known to be encodable)."""
        if self.lead is None:  # JSON Lines: terminate each line
            self.buffer.append(text + "\n")
        else:
            self.buffer.append(self.lead + text)
            self.lead = self.sep
        self.count += 1
        if len(self.buffer) >= _BATCH:
            self.flush()

    def write(self, obj: Any) -> None:
        self.text(_encodable(obj, so.to_json(obj)) if self.utf8 else json.dumps(obj))

    def lines(self, spool: IO[str], count: int) -> None:
        """Append `count` serialised objects, one a line in `spool` (read on from where it is)."""
        if not count:
            return
        self.flush()
        if self.lead is None:  # JSON Lines: the lines as they are
            shutil.copyfileobj(spool, self.out, _PIECE)
        else:  # a line break cannot occur inside a serialised object: each one becomes a comma
            self.out.write(self.lead)
            piece = spool.read(_PIECE)
            while piece:
                after = spool.read(_PIECE)
                self.out.write((piece if after else piece[:-1]).replace("\n", self.sep))
                piece = after
            self.lead = self.sep
        self.count += count

    def array(self, document: Document, count: int) -> bool:
        """Copy the `count` items of a document's objects array as the input writes them (into a
        bundle: the text between the brackets is a run of comma-separated objects as it is).
        False when where the array lies is not known."""
        if document.span is None:
            return False
        if not count:
            return True
        text = document.text()
        start, end = document.span
        start, end = _skip_blanks(text, start + 1), end - 1  # inside the brackets
        while text[end - 1] in " \t\n\r":
            end -= 1
        self.flush()
        self.out.write(self.lead or "")
        for at in range(start, end, _PIECE):  # pieces: no second copy of the whole text at once
            self.out.write(text[at : min(at + _PIECE, end)])
        self.lead = self.sep
        self.count += count
        return True


_BATCH = 256
_PIECE = 1 << 20
_BLANKS = re.compile(r"[ \t\n\r]*")


def _skip_blanks(text: str, at: int) -> int:
    """Where the blanks from `at` end."""
    blanks = _BLANKS.match(text, at)
    return at if blanks is None else blanks.end()


def _encodable(obj: Any, text: str) -> str:
    """`text` (the object as UTF-8 JSON), or the object with non-ASCII escaped when `text` holds
    a lone surrogate, which UTF-8 cannot encode."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(obj)
    return text


def _encodable_text(text: str) -> str:
    """`_encodable` for an object given as its JSON text."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(json.loads(text))
    return text


def _default_container(sources: list[Source]) -> str:
    jsonl = sources and all(isinstance(s, StixSource) and s.layout.kind == "jsonl" for s in sources)
    return "jsonl" if jsonl else "bundle"


def _bundle_id(sources: list[Source], separate: bool) -> str:
    """From the input bundles' ids (a source without one: its name), so reruns give the same id."""
    inputs = []
    for source in sources:
        layout = getattr(source, "layout", None)
        inputs.append(getattr(layout, "bundle_id", None) or source.name)
    return so.det_id("bundle", {"enrich_inputs": inputs, "separate": separate})


# ------------------------------------------------------------------------------- our objects


class _Writer:
    """Turns rows into our objects (spooled as JSON, one a line) and counts."""

    def __init__(
        self,
        *,
        org_ref: str,
        negative: bool,
        lookback_hours: int,
        queried_at: str,
        api_url: str,
    ) -> None:
        self.outcomes = Outcomes()
        self.org_ref = org_ref
        self.negative = negative
        self.lookback_hours = lookback_hours
        self.queried_at = queried_at
        self.api_url = api_url
        self.counts: Counter[str] = Counter()
        self.emitted: set[str] = set()
        self.in_input: set[tuple[str, str]] = set()  # (id, modified) of our objects in the input
        self.spool: IO[str]
        self.pending: list[str] = []  # objects not written to the spool yet
        self.spooled: list[tuple[str, str]] = []  # (id, modified) of each object in the spool
        self.sightings = so.Sightings(
            org_ref=org_ref, lookback_hours=lookback_hours, queried_at=queried_at, api_url=api_url
        )
        self.tally: dict[str, int] = {}  # rows by status, of STIX objects (added to counts at the end)

    def stix_source(self, source: StixSource, stream: _Stream | None) -> None:
        """Copy the objects (unless `stream` is None) and sight their entries."""
        if source.layout.kind == "jsonl":
            self._jsonl_source(source, stream)
            return
        parsed = source.whole()  # parsed and classified once, by the plan pass as a rule
        copied = False
        if stream is not None and stream.lead is not None and stream.utf8 and parsed.plain:
            copied = stream.array(parsed.document, len(parsed.items))
        pairs = zip((item for item, _ in parsed.items), parsed.found or (), strict=True)
        self._objects(pairs, None if copied or stream is None else stream.write, stream is not None)

    def _jsonl_source(self, source: StixSource, stream: _Stream | None) -> None:
        jsonl_out = stream is not None and stream.lead is None
        for raw, pairs in source.units():
            copied = stream is not None and jsonl_out and raw is not None  # the line as read
            if stream is not None and copied and raw is not None:
                stream.text(raw)
            self._objects(pairs, None if copied or stream is None else stream.write, stream is not None)

    def _objects(
        self, pairs: Iterable[tuple[Any, Found]], write: Callable[[Any], None] | None, copying: bool
    ) -> None:
        """Count and sight input items with what each gives; `write` each object to the output
        unless None (copied already, or not at all: `copying` False)."""
        counts, tool, in_input = self.counts, so.TOOL_ID, self.in_input
        objects = without = 0
        for item, found in pairs:
            if item.__class__ is Bad:
                counts["rows"] += 1
                counts[_INVALID._value_] += 1
                counts["no_sighting_target"] += int(self.negative)
                continue
            objects += 1
            if write is not None:
                write(item)
            if copying and (item.get("created_by_ref") == tool or item.get("id") == tool):
                in_input.add((str(item.get("id")), str(item.get("modified"))))
            if found:
                self._stix_object(item, found)
            else:
                without += 1
        if objects:
            counts["objects"] += objects
        if without:
            counts["objects_without_indicator"] += without

    def _stix_object(self, obj: dict, found: Found) -> None:
        # (path, value, entry) of each row
        atoms: Sequence[Atom] = (
            found if isinstance(found, tuple) else [Atom(cells[4], cells[5], ind) for cells, ind in found]
        )
        ident, kind = obj.get("id"), obj.get("type")
        markings = _markings(obj.get("object_marking_refs"))
        sighted = ident if kind == "indicator" and so.is_stix_id(ident, "indicator") else None
        based = ident if sighted is None and kind != "indicator" and so.is_stix_id(ident) else None
        entry_of, negative, tally = self.outcomes.entry, self.negative, self.tally
        for atom in atoms:
            entry = entry_of(atom.indicator)  # one entry per row
            status = entry.status
            value = status._value_  # `.value` is a slow property
            tally[value] = tally.get(value, 0) + 1
            if status is _SEEN or negative:
                self._entry(entry, atom.path, sighted, based, markings)
        self.counts["rows"] += len(atoms)

    def row_source(self, source: Source) -> None:
        """A CSV (or any non-STIX) source: our indicator and sighting per indicator of each row."""
        outcomes, counts = self.outcomes, self.counts
        for chunk, cells in outcomes.rows(source):
            for inds, row in zip(chunk.indicators, cells, strict=True):
                counts["rows"] += 1
                counts[row[2]] += 1  # the row's mde_status
                for entry in outcomes.entries(inds):
                    if entry.status is _SEEN or self.negative:
                        self._entry(entry, "", None, None, None)

    def _entry(
        self,
        entry: Entry,
        path: str,
        sighted: str | None,
        based: str | None,
        markings: list[str] | None,
    ) -> None:
        """Our objects for one entry to be sighted (seen, or any status with negative sightings)."""
        ind, key, status, answer = entry
        if sighted is None:
            if ind.type is None or not ind.value or ind.status is _INVALID:
                self.counts["no_sighting_target"] += 1
                return
            # valid from when MDE first answered about the value (see stix_objects), else the run's time
            valid_from = so.answered_time(answer, self.queried_at)
            ours = so.indicator(ind.type, ind.value, markings, valid_from)
            sighted = ours["id"]
            self.counts["indicators"] += self._emit(ours)
            if based is not None:
                relationship = so.based_on(sighted, based, markings, valid_from)
                self.counts["relationships"] += self._emit(relationship)
        answered = status is _SEEN or status is _NOT_SEEN  # their reason is never written
        reason = "" if answered else self.outcomes.error(entry)
        ident, modified, text = self.sightings.text(
            sighted,
            status,
            key,
            answer,
            ind.type,
            ind.value,
            path,
            reason,
            self.outcomes.note(entry),
            markings,
        )
        if self._emit_text(ident, modified, text):
            positive = status is _SEEN and answer is not None and (answer.prevalence or 0) > 0
            self.counts["sightings" if positive else "negative_sightings"] += 1

    def _emit(self, obj: dict[str, Any]) -> bool:
        """Spool one of our objects once (by id); False when already written."""
        ident = obj["id"]
        if ident in self.emitted:
            return False
        return self._emit_text(ident, obj["modified"], _encodable(obj, so.to_json(obj)))

    def _emit_text(self, ident: str, modified: str, text: str) -> bool:
        """Spool one of our objects, given as JSON text, once (by id); False when already written."""
        if ident in self.emitted:
            return False
        self.emitted.add(ident)
        if not text.isascii():
            text = _encodable_text(text)
        self.pending.append(text)
        self.spooled.append((ident, modified))
        if len(self.pending) >= _BATCH:
            self.flush()
        return True

    def flush(self) -> None:
        """Write the objects still held back to the spool, one a line."""
        if self.pending:
            self.pending.append("")
            self.spool.write("\n".join(self.pending))
            self.pending.clear()


def _markings(refs: Any) -> list[str] | None:
    """The input object's `object_marking_refs` that a 2.1 object may carry (valid ids only)."""
    if not isinstance(refs, list) or not refs:
        return None
    try:
        return _valid_markings(tuple(refs))
    except TypeError:  # an unhashable item: not an id anyway
        return _valid_markings(tuple(r for r in refs if isinstance(r, str)))


@functools.lru_cache(maxsize=1024)
def _valid_markings(refs: tuple[str, ...]) -> list[str] | None:
    kept = [r for r in refs if so.is_stix_id(r, "marking-definition")]
    return kept or None
