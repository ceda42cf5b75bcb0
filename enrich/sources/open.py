"""Open inputs: the format is told from content, directories expand to their files, `-` is stdin."""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from typing import BinaryIO

from enrich.errors import UsageError
from enrich.sources.csv import CsvSource
from enrich.sources.interface import Source, SourceError

__all__ = ["INPUT_SUFFIXES", "detect_format", "expand_inputs", "open_source", "open_sources"]

INPUT_SUFFIXES = (".csv", ".txt", ".tsv", ".json", ".jsonl")
HEAD_BYTES = 64 * 1024
_SPOOLED: list[str] = []


def _cleanup() -> None:
    while _SPOOLED:
        path = _SPOOLED.pop()
        with contextlib.suppress(OSError):
            os.unlink(path)


atexit.register(_cleanup)


def spool_stdin(stream: BinaryIO | None = None) -> str:
    """Copy stdin (bytes) to a temporary file, so the input can be read more than once.

    The file is removed when the process exits.
    """
    stream = sys.stdin.buffer if stream is None else stream
    fd, path = tempfile.mkstemp(prefix="enrich-stdin-", suffix=".input")
    _SPOOLED.append(path)
    with os.fdopen(fd, "wb") as out:
        shutil.copyfileobj(stream, out, 1024 * 1024)
    return path


def detect_format(head: bytes) -> str:
    """ "json" when the data starts (after a BOM and blanks) like JSON (`{`, or `[` then `{ [ ] "`), else "csv".

    A `[` followed by anything else is CSV: a list of bracketed IPv6 addresses or `[.]`-defanged names.
    """
    text = head
    for bom, codec in ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        if head.startswith(bom):
            text = head[len(bom) :].decode(codec, errors="ignore").encode("utf-8")
            break
    body = text.lstrip()
    if body.startswith(b"{"):
        return "json"
    if body.startswith(b"[") and body[1:].lstrip()[:1] in (b"{", b"[", b"]", b'"'):
        return "json"
    return "csv"


def _head(path: str, name: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read(HEAD_BYTES)
    except FileNotFoundError:
        raise SourceError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise SourceError(f"{name}: is a directory, not a file") from None
    except PermissionError:
        raise SourceError(f"{name}: permission denied (cannot read the file)") from None
    except OSError as exc:
        raise SourceError(f"{name}: cannot read ({exc.strerror or exc})") from None


def open_source(path: str, column: str | None = None) -> Source:
    """Open one input file (`-` for stdin) as a CSV or STIX/JSON Lines source.

    `column` (a name or a 1-based number) chooses the CSV indicator column; STIX ignores it.
    Raises SourceError (one line, naming the input) when the input cannot be read.
    """
    name = path
    if path == "-":
        try:
            path = spool_stdin()
        except OSError as exc:
            raise SourceError(f"-: cannot read standard input ({exc.strerror or exc})") from None
    head = _head(path, name)
    if detect_format(head) == "json":
        try:
            from enrich.sources.stix import open_stix
        except ImportError as exc:
            if exc.name is None or not exc.name.startswith("enrich.sources.stix"):
                raise
            raise SourceError(f"{name}: looks like JSON/STIX, but STIX support not installed") from None
        try:
            source = open_stix(path, head)
        except SourceError as exc:
            raise SourceError(str(exc).replace(path, name)) from None
        if name != path:
            source.name = name
        return source
    return CsvSource(path, column, name=name)


def expand_inputs(paths: Sequence[str]) -> list[str]:
    """Input paths with directories replaced by their files (sorted; known suffixes; no hidden files)."""
    out: list[str] = []
    for path in paths:
        if path != "-" and os.path.isdir(path):
            try:
                entries = sorted(os.listdir(path))
            except OSError as exc:
                raise SourceError(f"{path}: cannot list the directory ({exc.strerror or exc})") from None
            found = [
                os.path.join(path, e)
                for e in entries
                if not e.startswith(".")
                and e.lower().endswith(INPUT_SUFFIXES)
                and os.path.isfile(os.path.join(path, e))
            ]
            if not found:
                raise SourceError(f"{path}: directory holds no input files ({', '.join(INPUT_SUFFIXES)})")
            out.extend(found)
        else:
            out.append(path)
    if out.count("-") > 1:
        raise SourceError("-: standard input can be given only once")
    return out


def open_sources(paths: Sequence[str], column: str | None = None) -> list[Source]:
    """open_source() for every input, directories expanded into their files.

    A `column` with no CSV input among them is a UsageError: it would choose nothing.
    """
    sources = [open_source(p, column) for p in expand_inputs(paths)]
    if column is not None and not any(isinstance(s, CsvSource) for s in sources):
        raise UsageError(
            f"--column {column} chooses a CSV column, but no input is CSV (STIX and JSON Lines inputs "
            "have no columns); drop --column"
        )
    return sources
