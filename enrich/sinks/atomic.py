"""Writing an output whole or not at all: a temporary file next to the target, renamed over it at the end.

The temporary file is created with mode 0666 (the process umask applies, as for any new file),
so the output gets the mode a plain `open()` would give it, or the existing target's mode when
it replaces one; nothing changes the process-wide umask. `-` is standard output (not atomic).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
import sys
from typing import IO


class AtomicFile:
    """A text file that replaces `path` only on `commit`; `abort` removes it and leaves `path` as it was.

    Raises OSError (the callers word it for their output) when the file cannot be made or moved.
    """

    def __init__(self, path: str, *, newline: str = "", buffering: int = -1) -> None:
        self.path = path
        self.tmp: str | None = None
        if path == "-":
            self.file: IO[str] = sys.stdout
            return
        target = os.path.abspath(path)
        folder, name = os.path.split(target)
        for _ in range(100):
            tmp = os.path.join(folder, f".{name}.{secrets.token_hex(4)}.tmp")
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
            except FileExistsError:
                continue
            break
        else:  # pragma: no cover - 100 collisions of 32 random bits
            raise FileExistsError(f"no free temporary name next to {path}")
        self.tmp = tmp
        self.file = os.fdopen(fd, "w", encoding="utf-8", newline=newline, buffering=buffering)

    def commit(self) -> None:
        """Flush to disk and move the temporary file over the target (stdout: flush)."""
        if self.tmp is None:
            if self.path == "-":
                self.file.flush()
            return
        tmp, self.tmp = self.tmp, None
        try:
            self.file.flush()
            os.fsync(self.file.fileno())
            self.file.close()
            with contextlib.suppress(FileNotFoundError):
                os.chmod(tmp, stat.S_IMODE(os.stat(self.path).st_mode))
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                self.file.close()
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def abort(self) -> None:
        """Remove the temporary file; the target is untouched."""
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
