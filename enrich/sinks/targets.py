"""Where outputs go: one file (or stdout) for every input, or one file per input into a folder.

`check_outputs` settles, before any lookup, that every output can be written and none of them is
an input (however spelled: relative, absolute, through a symlink, a hard link).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from enrich.errors import OutputError, UsageError
from enrich.sinks.atomic import destination
from enrich.sources.interface import Source


class Target(NamedTuple):
    """One output path and the sources written into it, in order."""

    path: str
    sources: list[Source]


class OutputPathError(OutputError):
    """An output path that cannot be written (exit code 1); `path` is the path as given."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path


class OutputIsInput(UsageError):
    """An output that is one of the inputs (exit code 2); `path` is the output as given."""

    def __init__(self, option: str, path: str, source: str) -> None:
        same = "" if os.path.abspath(path) == os.path.abspath(source) else f" ({source})"
        super().__init__(
            f"{option} {path} is the input{same}: writing it would replace what is being read; "
            "give another output path"
        )
        self.path = path


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


def writable_problem(path: str) -> str | None:
    """Why `path` cannot be written (words after "PATH: "), or None when it can (as far as one can tell)."""
    if path == "-":
        return None
    dest = destination(path)
    if dest.stream:
        return None if os.access(path, os.W_OK) else "cannot write (permission denied)"
    if os.path.isdir(dest.real):
        return "is a directory; give a file name"
    if path.endswith(("/", os.sep)):  # `-o newdir/`: a folder that is not there
        return "no such folder; create it first (or give a file name)"
    folder = os.path.dirname(dest.real)
    if not os.path.isdir(folder):
        return f"cannot write, the folder {folder} does not exist"
    if not os.access(folder, os.W_OK):
        return f"cannot write in the folder {folder} (permission denied)"
    return None


def check_writable(paths: Iterable[str]) -> None:
    """OutputPathError, before any lookup, when an output cannot be written (not after an hour of quota)."""
    for path in paths:
        problem = writable_problem(path)
        if problem:
            raise OutputPathError(path, problem)


def _identity(path: str) -> tuple[int, int] | None:
    """(device, inode) of the regular file `path` names (following links), None for anything else."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return (st.st_dev, st.st_ino) if os.path.isfile(path) else None


def check_not_inputs(outputs: Iterable[tuple[str, str]], sources: Sequence[Source]) -> None:
    """OutputIsInput when an output (option, path) is the same file as an input."""
    inputs: dict[tuple[int, int], str] = {}
    for src in sources:
        if src.name != "-":
            ident = _identity(src.name)
            if ident is not None:
                inputs.setdefault(ident, src.name)
    for option, path in outputs:
        if path == "-" or destination(path).stream:
            continue
        ident = _identity(path)
        if ident is not None and ident in inputs:
            raise OutputIsInput(option, path, inputs[ident])


def check_outputs(targets: Sequence[Target], sources: Sequence[Source], summary: str | None = None) -> None:
    """Every output (the targets, `--summary`) writable and none of them an input, before any work.

    Raises OutputIsInput (usage, exit 2) or OutputPathError (exit 1).
    """
    named = [("-o", t.path) for t in targets] + ([("--summary", summary)] if summary else [])
    check_not_inputs(named, sources)
    if summary and summary != "-" and not destination(summary).stream:
        real, ident = destination(summary).real, _identity(summary)
        for target in targets:
            if target.path == "-" or destination(target.path).stream:
                continue
            if destination(target.path).real == real or (ident and _identity(target.path) == ident):
                raise UsageError(
                    f"--summary {summary} is also the output {target.path}; give it another path"
                )
    check_writable(path for _, path in named)
