"""Writing an output whole or not at all: a temporary file next to the target, renamed over it at the end.

What a path names decides how it is written (`destination`):
- a regular file (or a name not yet taken): a hidden `.NAME.xxxxxxxx.tmp` next to it, renamed over
  it on `commit`; a symlink is followed, so its target is replaced and the link kept;
- a character device, FIFO or socket, or a descriptor link (`/dev/stdout`, `/dev/fd/N`): written in
  place (no temporary file, no rename: there is nothing to rename over), like `-` (standard output).

The temporary file is created with mode 0666 (the process umask applies, as for any new file),
so the output gets the mode a plain `open()` would give it, or the existing target's mode when
it replaces one; nothing changes the process-wide umask.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import stat
import sys
from typing import IO, NamedTuple

__all__ = ["AtomicFile", "Destination", "destination", "remove_stale_temporaries", "write_text_atomic"]

_MAX_LINKS = 40  # symlinks followed before giving up (as the kernel's ELOOP)


class Destination(NamedTuple):
    """Where writing `path` really goes: `real` (symlinks resolved) and whether it is a stream
    (written in place: standard output, a device, a FIFO, a descriptor link)."""

    path: str
    real: str
    stream: bool


def _through_descriptor(path: str) -> bool:
    """Whether `path` or a symlink on its way leads into /proc (e.g. /dev/stdout -> /proc/self/fd/1)."""
    current = os.path.abspath(path)
    for _ in range(_MAX_LINKS):
        folder = os.path.realpath(os.path.dirname(current))
        current = os.path.join(folder, os.path.basename(current))
        if current.startswith("/proc/"):
            return True
        if not os.path.islink(current):
            return False
        try:
            current = os.path.normpath(os.path.join(folder, os.readlink(current)))
        except OSError:
            return False
    return False


def destination(path: str) -> Destination:
    """What writing `path` means: `-` and anything not a regular file or folder is a stream."""
    if path == "-":
        return Destination(path, path, True)
    try:
        mode = os.stat(path).st_mode
    except OSError:  # not there yet (or a dangling link): a new file where the link points
        return Destination(path, os.path.realpath(path), False)
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)) or _through_descriptor(path):
        return Destination(path, path, True)
    return Destination(path, os.path.realpath(path), False)


def _temporary_name(name: str) -> str:
    return f".{name}.{secrets.token_hex(4)}.tmp"


def remove_stale_temporaries(path: str) -> list[str]:
    """Remove the temporary files a killed writer left next to `path` (`.NAME.xxxxxxxx.tmp`).

    Only safe while holding the output's lock (`enrich.locks`): no other writer can own them.
    Returns the paths removed.
    """
    dest = destination(path)
    if dest.stream:
        return []
    folder, name = os.path.split(dest.real)
    pattern = re.compile(r"\." + re.escape(name) + r"\.[0-9a-f]{8}\.tmp")
    removed = []
    try:
        entries = os.listdir(folder)
    except OSError:
        return []
    for entry in entries:
        if pattern.fullmatch(entry):
            stale = os.path.join(folder, entry)
            with contextlib.suppress(OSError):
                os.unlink(stale)
                removed.append(stale)
    return removed


class AtomicFile:
    """A text file that replaces `path` only on `commit`; `abort` removes it and leaves `path` as it was.

    `path` is resolved by `destination`: a symlink's target is replaced (the link stays); a stream
    (`-`, a device, a FIFO, `/dev/stdout`) is written in place, `tmp` and `folder` are then None.
    Raises OSError (the callers word it for their output) when the file cannot be made or moved.
    """

    def __init__(self, path: str, *, newline: str = "", buffering: int = -1) -> None:
        self.path = path
        self.tmp: str | None = None
        self.folder: str | None = None  # where the temporary file is (None for a stream)
        dest = destination(path)
        self._real = dest.real
        self._own_file = False  # a stream opened here (closed by commit and abort)
        if path == "-":
            self.file: IO[str] = sys.stdout
            return
        if dest.stream:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | getattr(os, "O_CLOEXEC", 0))
            self.file = os.fdopen(fd, "w", encoding="utf-8", newline=newline, buffering=buffering)
            self._own_file = True
            return
        folder, name = os.path.split(dest.real)
        for _ in range(100):
            tmp = os.path.join(folder, _temporary_name(name))
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
            except FileExistsError:
                continue
            break
        else:  # pragma: no cover - 100 collisions of 32 random bits
            raise FileExistsError(f"no free temporary name next to {path}")
        self.tmp, self.folder = tmp, folder
        self.file = os.fdopen(fd, "w", encoding="utf-8", newline=newline, buffering=buffering)

    def commit(self) -> None:
        """Flush to disk and move the temporary file over the target (a stream: flush and close)."""
        if self.tmp is None:
            if self.path == "-":
                self.file.flush()
            elif self._own_file:
                self._own_file = False
                self.file.close()
            return
        tmp, self.tmp = self.tmp, None
        try:
            self.file.flush()
            os.fsync(self.file.fileno())
            self.file.close()
            with contextlib.suppress(FileNotFoundError):
                os.chmod(tmp, stat.S_IMODE(os.stat(self._real).st_mode))
            os.replace(tmp, self._real)
        except BaseException:
            with contextlib.suppress(OSError):
                self.file.close()
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def abort(self) -> None:
        """Remove the temporary file; the target is untouched (a stream is closed: what went is gone)."""
        if self._own_file:
            self._own_file = False
            with contextlib.suppress(OSError):
                self.file.close()
        if self.tmp is None:
            return
        tmp, self.tmp = self.tmp, None
        with contextlib.suppress(OSError):
            self.file.close()
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def write_text_atomic(path: str, text: str) -> None:
    """Write `text` to `path` through an `AtomicFile` (never a half file)."""
    out = AtomicFile(path)
    try:
        out.file.write(text)
    except BaseException:
        out.abort()
        raise
    out.commit()
