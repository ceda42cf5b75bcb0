"""Exclusive locks, so that two runs never write the same output, or run the same job, at once.

An output's lock is the file `.NAME.lock` next to the output's real path (symlinks resolved, so
every spelling of a path meets the same lock; the folder is writable, or the atomic write could
not work either). It is held with flock(2), which the kernel releases when the process ends,
however it ends (kill -9 included). The holder writes its process id into the file and removes
the file when it lets go; a file left by a killed run is taken over by the next one. A job's lock
is a flock on the job file itself (reading it is enough, and a jobs folder may be read-only); the
holder's process id then comes from /proc/locks. Standard output and other streams (`/dev/stdout`,
a FIFO) take no lock.

While it holds an output's lock a run owns the temporary files next to that output, so it removes
those a killed run left behind (`enrich.sinks.atomic.remove_stale_temporaries`).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable, Iterable, Iterator

from enrich.errors import LockError, OutputError
from enrich.sinks.atomic import destination, remove_stale_temporaries

__all__ = ["FileLock", "hold_job", "hold_outputs", "lock_path"]

Say = Callable[[str], None]
_PID_READS = 50  # a holder writes its pid right after locking: look this many times, 10 ms apart


def lock_path(output: str) -> str:
    """The lock file of an output: `.NAME.lock` next to its real path."""
    folder, name = os.path.split(destination(output).real)
    return os.path.join(folder, f".{name}.lock")


class FileLock:
    """An exclusive flock on `path`, for `what` ("writing out.csv") in messages.

    `own_file`: `path` is a lock file of ours (created if missing, holds the holder's pid, removed on
    release); else `path` is an existing file locked as it is (a job file).
    """

    def __init__(self, path: str, what: str, *, own_file: bool) -> None:
        self.path, self.what, self.own_file = path, what, own_file
        self._fd: int | None = None

    def acquire(self, *, wait: bool = False, say: Say | None = None) -> None:
        """Take the lock; LockError naming the holder's pid when another process has it and not
        `wait`; with `wait`, says so once through `say` and blocks until it is free."""
        said = False
        while True:
            fd = self._open()
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    holder = self.holder()
                    if not wait:
                        raise LockError(
                            f"another run is {self.what}, {_pid_words(holder)} (--wait waits for it)"
                        ) from None
                    if not said and say is not None:
                        say(f"another run is {self.what}, {_pid_words(holder)}; waiting for it to finish")
                        said = True
                    fcntl.flock(fd, fcntl.LOCK_EX)
                if not self.own_file or self._still_there(fd):
                    break
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)  # the holder removed the file as it let go: lock the one there now
        self._fd = fd
        if self.own_file:
            with contextlib.suppress(OSError):  # the pid is for messages only
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)

    def release(self) -> None:
        """Let go (removing our lock file first, while still holding it)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        if self.own_file:
            with contextlib.suppress(OSError):
                os.unlink(self.path)
        os.close(fd)

    def holder(self) -> int | None:
        """The process id of the lock's holder, when it can be told."""
        if self.own_file:
            for _ in range(_PID_READS):
                try:
                    with open(self.path, "rb") as fh:
                        text = fh.read(32).strip()
                except OSError:
                    break
                if text.isdigit():
                    return int(text)
                time.sleep(0.01)
        return _flock_holder(self.path)

    def _open(self) -> int:
        flags = os.O_CLOEXEC | (os.O_RDWR | os.O_CREAT if self.own_file else os.O_RDONLY)
        try:
            return os.open(self.path, flags, 0o666)
        except PermissionError:
            if not self.own_file:
                raise
            return os.open(
                self.path, os.O_RDONLY | os.O_CLOEXEC
            )  # another user's lock file: flock still works

    def _still_there(self, fd: int) -> bool:
        try:
            on_disk, held = os.stat(self.path), os.fstat(fd)
        except FileNotFoundError:
            return False
        return (on_disk.st_dev, on_disk.st_ino) == (held.st_dev, held.st_ino)


def _pid_words(pid: int | None) -> str:
    return f"pid {pid}" if pid is not None else "pid unknown"


def _flock_holder(path: str) -> int | None:
    """The pid holding a flock on `path`, from /proc/locks (Linux); None when not found."""
    try:
        st = os.stat(path)
        with open("/proc/locks", encoding="ascii", errors="replace") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return None
    exact, loose = [], set()
    for line in lines:
        parts = line.split()
        if len(parts) < 6 or parts[1] != "FLOCK":  # waiters are "N: -> FLOCK ..."
            continue
        try:
            pid = int(parts[4])
            major, minor, inode = parts[5].split(":")
            if int(inode) != st.st_ino or pid in (os.getpid(), -1):
                continue
            if (int(major, 16), int(minor, 16)) == (os.major(st.st_dev), os.minor(st.st_dev)):
                exact.append(pid)
            loose.add(pid)
        except ValueError:
            continue
    if exact:
        return exact[0]
    return loose.pop() if len(loose) == 1 else None


@contextlib.contextmanager
def hold_outputs(paths: Iterable[str], *, wait: bool = False, say: Say | None = None) -> Iterator[list[str]]:
    """Lock every output (standard output and streams excepted), in one order, then remove the
    temporary files killed runs left next to them. Yields the locked outputs; released on exit.

    LockError (exit 75) when another run holds one and not `wait`; OutputError when a lock file
    cannot be made.
    """
    outputs: dict[str, str] = {}
    for path in paths:
        if path != "-" and not destination(path).stream:
            outputs.setdefault(destination(path).real, path)
    with contextlib.ExitStack() as held:
        for real in sorted(outputs):  # one order for every run: two waiting runs cannot deadlock
            lock = FileLock(lock_path(real), f"writing {outputs[real]}", own_file=True)
            try:
                lock.acquire(wait=wait, say=say)
            except OSError as exc:
                raise OutputError(
                    f"{outputs[real]}: cannot make the lock file {lock.path} ({exc.strerror or exc})"
                ) from None
            held.callback(lock.release)
        for real in outputs:
            remove_stale_temporaries(real)
        yield list(outputs.values())


@contextlib.contextmanager
def hold_job(path: str, *, wait: bool = False, say: Say | None = None) -> Iterator[None]:
    """Lock the job file `path` for the run (LockError, exit 75, when another run of it holds it)."""
    lock = FileLock(path, f"running the job {path}", own_file=False)
    try:
        lock.acquire(wait=wait, say=say)
    except OSError as exc:
        raise OutputError(f"{path}: cannot lock the job file ({exc.strerror or exc})") from None
    try:
        yield
    finally:
        lock.release()
