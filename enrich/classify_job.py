"""`enrich classify`: read inputs, classify every entry, write the CSV with `mde_*` columns, no API calls."""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import multiprocessing.connection
import os
import pickle
import shutil
import signal
import sys
import tempfile
import threading
from collections import Counter, deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TextIO

import numpy as np
import pandas as pd

from enrich.answering.interface import Strategy
from enrich.errors import UsageError
from enrich.indicators import extract
from enrich.locks import hold_outputs
from enrich.model import Indicator, IndicatorType, Status
from enrich.outcome import STATS, classify_columns, classify_statuses, mde_columns
from enrich.signals import shielded_children
from enrich.sinks.atomic import destination
from enrich.sinks.csv import ColumnsChanged, CsvWriter, mde_text
from enrich.sinks.targets import check_outputs, output_targets
from enrich.sources.csv import CsvSource, describe_stray
from enrich.sources.open import open_sources

__all__ = [
    "OUTPUT_SUFFIX",
    "CellMemo",
    "CsvTexts",
    "TextMemo",
    "classify_cells",
    "classify_files",
    "fewer_gc_passes",
    "summary_table",
]

OUTPUT_SUFFIX = ".classified.csv"
_TYPES = [t.value for t in IndicatorType] + ["-"]
_STATUSES = [Status.PENDING.value, Status.UNSUPPORTED.value, Status.INVALID.value]


class CellMemo:
    """The `mde_*` cells and count keys already worked out, keyed by the identity of a row's tuple.

    Sources hand out one tuple object per distinct cell (and the classifier's caches keep handing
    out the same object), so identity is a cheap key across chunks. Each entry holds its tuple,
    which keeps the object, and so its id, alive while the entry exists. Bounded: cleared when full.
    An entry is (tuple, mde cells, count group): the group numbers the tuple's (type, status) keys.
    """

    def __init__(self, size: int = 1 << 17, strategy: Strategy = STATS) -> None:
        self.size = size
        self.strategy = strategy
        self._entries: dict[int, tuple[tuple[Indicator, ...], tuple[str, ...], int]] = {}
        self.groups: list[tuple[tuple[str, str], ...]] = []
        self._group_ids: dict[tuple[tuple[str, str], ...], int] = {}

    def lookup(self, distinct: list[tuple[Indicator, ...]]) -> list[tuple]:
        """(tuple, mde cells, count group) for each of `distinct`."""
        if len(self._entries) > self.size:
            self._entries.clear()
        out: list = list(map(self._entries.get, map(id, distinct)))
        for k, hit in enumerate(out):
            if hit is None or hit[0] is not distinct[k]:
                out[k] = self._add(distinct[k])
        return out

    def _add(self, inds: tuple[Indicator, ...]) -> tuple:
        cells = mde_columns(inds, None, self.strategy)
        if len(inds) == 1:  # the row's type and status are the indicator's
            keys: tuple = ((cells[0] or "-", cells[2]),)
        else:
            statuses = classify_statuses(inds, self.strategy)
            keys = tuple((i.type.value if i.type else "-", st) for i, st in zip(inds, statuses, strict=True))
        group = self._group_ids.get(keys)
        if group is None:
            group = self._group_ids[keys] = len(self.groups)
            self.groups.append(keys)
        entry = self._entries[id(inds)] = (inds, cells, group)
        return entry


def classify_cells(
    indicators: Sequence[tuple[Indicator, ...]], counts: Counter, memo: CellMemo | None = None
) -> list[tuple[str, ...]]:
    """The `mde_*` cells (answers=None) of each row; adds (type, status) per indicator to `counts`.

    Rows whose indicator tuples are the same object (sources hand out one tuple per distinct
    cell) are worked out once; with a `memo`, once across chunks too.
    """
    n = len(indicators)
    if n == 0:
        return []
    memo = CellMemo() if memo is None else memo
    codes, _ = pd.factorize(np.fromiter(map(id, indicators), dtype=np.int64, count=n))
    first = np.empty(codes.max() + 1, dtype=np.int64)
    first[codes[::-1]] = np.arange(n - 1, -1, -1)
    entries = memo.lookup([indicators[i] for i in first.tolist()])
    groups = np.fromiter((e[2] for e in entries), dtype=np.int64, count=len(entries))
    per_group = np.bincount(groups[codes])
    for group in np.flatnonzero(per_group).tolist():
        for key in memo.groups[group]:
            counts[key] += int(per_group[group])
    cells = np.empty(len(entries), dtype=object)
    cells[:] = [e[1] for e in entries]
    return cells[codes].tolist()


class TextMemo:
    """Per distinct cell text: its `mde_*` cells as CSV text (`mde_text`) and its count group.

    For CSV sources: the text of a cell settles its output, so the cells are worked out from the
    text straight to what the sink writes, once per distinct text (across chunks and sources).
    Bounded: cleared when full. Groups number the (type, status) keys of a cell's indicators.
    """

    def __init__(self, neutralise: bool, size: int = 1 << 17, strategy: Strategy = STATS) -> None:
        self.neutralise = neutralise
        self.size = size
        self.strategy = strategy
        self._known: dict[str, tuple[str, int]] = {}
        self.groups: list[tuple[tuple[str, str], ...]] = []
        self._group_ids: dict[tuple[tuple[str, str], ...], int] = {}
        self._single: dict[tuple[str, str], int] = {}  # a row of one indicator: (type, status) -> group

    def lookup(self, texts: list[str]) -> list[tuple[str, int]]:
        """(CSV text, count group) for each of `texts`."""
        known = self._known
        if len(known) > self.size:
            known.clear()
        out: list = list(map(known.get, texts))
        for k, hit in enumerate(out):
            if hit is None:
                out[k] = known[texts[k]] = self._work(texts[k])
        return out

    def _work(self, text: str) -> tuple[str, int]:
        inds = extract(text)
        if len(inds) == 1:
            cells = classify_columns(inds[0], self.strategy)
            key = (cells[0] or "-", cells[2])  # the row's type and status are the indicator's
            group = self._single.get(key)
            if group is None:
                group = self._single[key] = self._group((key,))
        else:
            cells = mde_columns(inds, None, self.strategy)
            statuses = classify_statuses(inds, self.strategy)
            group = self._group(
                tuple((i.type.value if i.type else "-", st) for i, st in zip(inds, statuses, strict=True))
            )
        return mde_text(cells, self.neutralise), group

    def _group(self, keys: tuple[tuple[str, str], ...]) -> int:
        group = self._group_ids.get(keys)
        if group is None:
            group = self._group_ids[keys] = len(self.groups)
            self.groups.append(keys)
        return group


_Found = tuple[list[str], list[int], list[tuple[tuple[str, str], ...]]]  # texts, groups, group keys


def _found(memo: TextMemo, distinct: list) -> _Found:
    entries = memo.lookup(distinct)
    return [e[0] for e in entries], [e[1] for e in entries], memo.groups


def _per_row(codes: np.ndarray, found: _Found, counts: Counter) -> list[str]:
    """Each row's text from its distinct cell's (`codes`); the rows' (type, status) keys counted."""
    texts, groups, keys = found
    per_group = np.bincount(np.asarray(groups, dtype=np.int64)[codes])
    for group in np.flatnonzero(per_group).tolist():
        for key in keys[group]:
            counts[key] += int(per_group[group])
    column = np.empty(len(texts), dtype=object)
    column[:] = texts
    return column[codes].tolist()


# ---------------------------------------------------------------- classifying in a second process
PARALLEL_BYTES = 16 << 20  # CSV input (bytes, all sources) from which a worker process helps
_PART_ROWS = 20_000  # rows per piece of work, in-process or in the worker (the balance is per piece)
_MAX_PENDING = 8  # pieces not yet written (bounds memory)
_worker_memo: TextMemo | None = None  # in the worker process


def classify_strategy(mode: str) -> Strategy:
    """The strategy whose lookups `classify --mode` shows (stats: the one the fast paths know)."""
    from enrich.answering import make_strategy

    return STATS if mode == "stats" else make_strategy(mode)


def _worker_start(neutralise: bool, mode: str = "stats") -> None:
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # Ctrl-C and the like are the parent's
        signal.signal(signum, signal.SIG_IGN)
    gc.set_threshold(100_000, 50, 100)  # see fewer_gc_passes
    parent = multiprocessing.parent_process()
    if parent is not None:  # a parent killed outright cannot stop its workers: they stop themselves
        threading.Thread(target=_exit_with, args=(parent.sentinel,), daemon=True).start()
    global _worker_memo
    _worker_memo = TextMemo(neutralise, strategy=classify_strategy(mode))


def _exit_with(sentinel: int) -> None:
    multiprocessing.connection.wait([sentinel])
    os._exit(1)


def _worker_found(path: str) -> str:
    """Classify the cells pickled at `path` (then removed); returns the file holding the `_Found`.

    Data goes through files, not the executor's pipes: a few MB read in 64 KiB pieces by the
    parent's helper threads would wait for the GIL at each piece while the parent works.
    """
    assert _worker_memo is not None
    with open(path, "rb") as fh:
        distinct = pickle.load(fh)
    os.unlink(path)
    found = _found(_worker_memo, distinct)
    out = path + ".out"
    with open(out, "wb") as fh:
        pickle.dump(found, fh, protocol=pickle.HIGHEST_PROTOCOL)
    return out


@dataclass(slots=True)
class _Piece:
    """Rows read and not yet written: their distinct cells, and the classification of those (done,
    or a future of the worker's with the file it reads)."""

    frame: pd.DataFrame
    codes: np.ndarray
    distinct: list
    found: Future | _Found
    file: str


class CsvTexts:
    """Classifies CSV chunks to what `CsvWriter.write_text` takes, and writes them in order.

    With `workers` (0 or 1: the machine's other core), every piece of `_PART_ROWS` rows goes to a
    worker process as it is read, up to `_MAX_PENDING` pieces ahead of the writing; whenever the
    reading and writing process would wait, it takes back the newest piece the worker has not
    started and classifies it itself. Both processes keep a `TextMemo`, so the output is the
    same whichever did a piece. The worker is started with `spawn`, ignores Ctrl-C (the parent
    handles it), and is stopped by `close` (work not started is cancelled); if it dies or cannot
    start, its pieces are classified in-process.
    """

    def __init__(self, neutralise: bool, workers: int = 0, mode: str = "stats") -> None:
        self.memo = TextMemo(neutralise, strategy=classify_strategy(mode))
        self._pool: ProcessPoolExecutor | None = None
        self._dir: str | None = None
        self._pieces = 0
        if workers > 0:
            self._dir = tempfile.mkdtemp(prefix="enrich-classify-")
            # the resource tracker this starts outlives a hangup of the process group (we stop it)
            with shielded_children():
                self._pool = ProcessPoolExecutor(
                    max_workers=1,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_worker_start,
                    initargs=(neutralise, mode),
                )

    def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        folder, self._dir = self._dir, None
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)

    def __enter__(self) -> CsvTexts:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def write(self, src: CsvSource, sink: CsvWriter, counts: Counter) -> None:
        """Classify and write every row of `src`."""
        column = src.layout.indicator_column
        pending: deque[_Piece] = deque()
        for frame in src.frames(_PART_ROWS if self._pool is not None else None):
            codes, uniques = pd.factorize(frame.iloc[:, column].to_numpy(dtype=object), use_na_sentinel=False)
            distinct = uniques.tolist()
            pending.append(_Piece(frame, codes, distinct, *self._start(distinct)))
            self._flush(src, sink, counts, pending, len(pending) >= _MAX_PENDING)
        while pending:
            self._flush(src, sink, counts, pending, True)

    def _flush(
        self, src: CsvSource, sink: CsvWriter, counts: Counter, pending: deque[_Piece], full: bool
    ) -> None:
        """Write the pieces that are ready, in order, unless the worker needs more first; when
        `full`, write at least one, working (`_take_back`) rather than waiting."""
        while pending:
            head = pending[0]
            found = head.found
            if isinstance(found, Future) and not found.done():
                if not full:
                    return
                if self._take_back(pending):
                    continue  # the head may be ready by now
            elif not full and self._pool is not None and _queued(pending) < 2:
                return  # read and hand the worker more first: it is about to run out
            if isinstance(found, Future):
                try:
                    found = _load(found.result())
                except BrokenProcessPool:  # the worker died or could not start: do without it
                    self.close()
                    found = _found(self.memo, head.distinct)
            pending.popleft()
            sink.write_text(src, head.frame, _per_row(head.codes, found, counts))
            full = False

    def _start(self, distinct: list) -> tuple[Future | _Found, str]:
        """(the worker's future `_Found` of `distinct` and its input file) or (the `_Found`, "")."""
        if self._pool is None or self._dir is None:
            return _found(self.memo, distinct), ""
        self._pieces += 1
        path = os.path.join(self._dir, str(self._pieces))
        with open(path, "wb") as fh:
            pickle.dump(distinct, fh, protocol=pickle.HIGHEST_PROTOCOL)
        with shielded_children():  # the first submit starts the worker: it outlives a hangup (we stop it)
            return self._pool.submit(_worker_found, path), path

    def _take_back(self, pending: deque[_Piece]) -> bool:
        """Classify in-process the newest piece not yet handed to the worker (it keeps those it
        has: one running, one queued); False if there is none."""
        waiting = [p for p in pending if isinstance(p.found, Future) and not p.found.running()]
        for piece in reversed(waiting):
            assert isinstance(piece.found, Future)
            if piece.found.cancel():
                with contextlib.suppress(OSError):
                    os.unlink(piece.file)
                piece.found = _found(self.memo, piece.distinct)
                return True
        return False


def _queued(pending: deque[_Piece]) -> int:
    """Pieces the worker has not finished."""
    return sum(isinstance(p.found, Future) and not p.found.done() for p in pending)


def _load(path: str) -> _Found:
    with open(path, "rb") as fh:
        found = pickle.load(fh)
    os.unlink(path)
    return found


def _cpus() -> int:
    """CPUs this process may run on."""
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity is not None else os.cpu_count() or 1


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


@contextmanager
def fewer_gc_passes(threshold: int = 100_000) -> Iterator[None]:
    """Run the cyclic garbage collector less often while millions of small objects are made.

    Classifying creates and drops many tuples; with the default threshold (700) the collector
    runs thousands of times over the caches for nothing (about 20% of the run time on 1M rows).
    """
    old = gc.get_threshold()
    gc.set_threshold(threshold, 50, 100)
    try:
        yield
    finally:
        gc.set_threshold(*old)


def summary_table(counts: Counter, rows: int, inputs: int, outputs: Sequence[str]) -> str:
    """The end-of-run summary: rows, and indicators per type (rows) and status (columns)."""
    shown = ", ".join("stdout" if o == "-" else o for o in outputs)
    lines = [f"classified {rows} row{'s' * (rows != 1)} from {inputs} input{'s' * (inputs != 1)} -> {shown}"]
    statuses = _STATUSES + sorted({s for _, s in counts} - set(_STATUSES))
    lines.append("  " + f"{'type':<8}" + "".join(f"{s:>13}" for s in statuses) + f"{'total':>10}")
    for kind in _TYPES:
        row = [counts.get((kind, s), 0) for s in statuses]
        if any(row):
            lines.append("  " + f"{kind:<8}" + "".join(f"{v:>13}" for v in row) + f"{sum(row):>10}")
    total = [sum(v for (_, s), v in counts.items() if s == st) for st in statuses]
    lines.append("  " + f"{'all':<8}" + "".join(f"{v:>13}" for v in total) + f"{sum(total):>10}")
    return "\n".join(lines)


def classify_files(
    inputs: list[str],
    output: str | None,
    column: str | None,
    neutralise: bool,
    to: str | None,
    *,
    err: TextIO | None = None,
    workers: int | None = None,
    wait: bool = False,
    bom: bool = False,
    mode: str = "stats",
) -> Counter:
    """Classify every entry of `inputs` and write them with the `mde_*` columns.

    `output`: a file, `-`/None for stdout, or an existing folder (one `<name>.classified.csv` per
    input). Several inputs into one file get a `source_file` column first and the union of their
    columns. `to` must be None or "csv" (classify writes CSV only). Returns the count of
    indicators per (type, status); the summary is printed on `err` (default stderr).
    `workers`: processes that help classify CSV input (0: none; None: one when the CSV inputs
    total `PARALLEL_BYTES` or more and there is a second CPU). The worker is spawned: as with any
    use of multiprocessing, a script that calls this must guard its entry point
    (`if __name__ == "__main__":`); the CLI does.
    Raises SourceError / SinkError (one line) when an input or the output cannot be used.
    As `enrich run`: an output that is an input is a UsageError, each output is locked while it is
    written (LockError when another run holds it, unless `wait`).
    `bom`: outputs start with a UTF-8 byte order mark (they do anyway when an input has one).
    `mode`: the `enrich run --mode` whose lookups the cells show (`classify_strategy`); the CLI's
    default is auto, which shows hunting's (MD5 hashes and full URLs `pending`) and says so.
    """
    if to not in (None, "csv"):
        raise ValueError(f"classify writes CSV only, not {to!r}")
    _check_csv_name(output)
    err = sys.stderr if err is None else err
    sources = open_sources(inputs, column)
    counts: Counter = Counter()
    memo = CellMemo(strategy=classify_strategy(mode))
    rows = 0
    targets = output_targets(sources, output, OUTPUT_SUFFIX)
    check_outputs(targets, sources)
    if workers is None:
        size = sum(_size(s.path) for s in sources if isinstance(s, CsvSource))
        alone = _cpus() < 2 or multiprocessing.current_process().daemon  # daemons have no children
        workers = 1 if size >= PARALLEL_BYTES and not alone else 0
    say = lambda line: print(f"enrich classify: {line}", file=err, flush=True)  # noqa: E731
    with (
        hold_outputs([t.path for t in targets], wait=wait, say=say),
        fewer_gc_passes(),
        CsvTexts(neutralise, workers, mode) as texts,
    ):
        for path, group in targets:
            rows += _write_target(path, group, _Writing(neutralise, bom, texts, counts, memo, err))
    print(summary_table(counts, rows, len(sources), [t for t, _ in targets]), file=err)
    for src in sources:
        stray = describe_stray(src) if isinstance(src, CsvSource) else None
        if stray:
            print(f"  {stray}", file=err)
    return counts


NOT_CSV_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".json", ".jsonl")


def _check_csv_name(output: str | None) -> None:
    """UsageError for an output file named as a workbook or JSON: classify writes CSV, and a
    spreadsheet or STIX reader given that name would refuse the file (`enrich run` writes those)."""
    if not output or output == "-" or os.path.isdir(output):
        return
    suffix = os.path.splitext(output)[1].lower()
    if suffix in NOT_CSV_SUFFIXES:
        raise UsageError(
            f"-o {output}: classify writes CSV, not {suffix[1:]}; name the output .csv "
            f"(enrich run --to {'xlsx' if suffix.startswith('.xls') else 'stix'} writes {suffix[1:]})"
        )


@dataclass
class _Writing:
    """What writing every output of a classify run shares."""

    neutralise: bool
    bom: bool
    texts: CsvTexts
    counts: Counter
    memo: CellMemo
    err: TextIO
    described: set[int] = field(default_factory=set)  # ids of the sources whose reading was told


def _write_target(path: str, group: Sequence, w: _Writing) -> int:
    """Write one output; its rows. A CSV input may turn out wider than its sniffed sample (a ragged
    row further on): the output is then written again from the start, with the input's columns
    settled first (one more read). An output written in place (stdout, a FIFO) cannot start
    again: its CSV inputs are settled before it is opened."""
    if destination(path).stream:
        _settle(group)
    counts = w.counts
    for attempt in (1, 2):
        before = counts.copy()
        try:
            with CsvWriter(path, group, neutralise=w.neutralise, bom=w.bom) as sink:
                for src in group:
                    if id(src) not in w.described:
                        w.described.add(id(src))
                        print(src.describe(), file=w.err)
                    if isinstance(src, CsvSource):  # from the cell text straight to the CSV text
                        w.texts.write(src, sink, counts)
                    else:
                        for chunk in src.chunks():
                            sink.write(src, chunk.frame, classify_cells(chunk.indicators, counts, w.memo))
            return sink.rows
        except ColumnsChanged as exc:
            if attempt == 2:
                raise
            counts.clear()
            counts.update(before)
            _settle(group)
            shown = "stdout" if path == "-" else path
            print(f"{exc.source.name}: rows further on have more fields; writing {shown} again", file=w.err)
    raise AssertionError("unreachable")


def _settle(group: Sequence) -> None:
    """Make every CSV input's columns final (see `CsvSource.settle_columns`)."""
    for src in group:
        if isinstance(src, CsvSource):
            src.settle_columns()
