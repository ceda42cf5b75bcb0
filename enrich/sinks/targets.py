"""Where outputs go: one file (or stdout) for every input, or one file per input into a folder."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from enrich.errors import OutputError
from enrich.sources.interface import Source


class Target(NamedTuple):
    """One output path and the sources written into it, in order."""

    path: str
    sources: list[Source]


def output_targets(sources: Sequence[Source], output: str | None, suffix: str) -> list[Target]:
    """One target for all, or one `<name><suffix>` per input when `output` is an existing folder."""
    out = "-" if output is None else output
    if out == "-" or not os.path.isdir(out):
        return [Target(out, list(sources))]
    targets, used = [], set()
    for src in sources:
        base = "stdin" if src.name == "-" else os.path.basename(src.name.rstrip("/"))
        stem = os.path.splitext(base)[0]
        name = stem if stem not in used else base
        used.add(name)
        targets.append(Target(os.path.join(out, name + suffix), [src]))
    return targets


def check_writable(paths: Iterable[str]) -> None:
    """OutputError, before any lookup, when an output cannot be written (not after an hour of quota)."""
    for path in paths:
        if path == "-":
            continue
        folder = os.path.dirname(os.path.abspath(path))
        if os.path.isdir(path):
            raise OutputError(f"{path}: is a directory; give a file name")
        if not os.path.isdir(folder):
            raise OutputError(f"{path}: cannot write, the folder {folder} does not exist")
        if not os.access(folder, os.W_OK):
            raise OutputError(f"{path}: cannot write in the folder {folder} (permission denied)")
