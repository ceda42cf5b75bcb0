"""One error tree for `enrich`: what went wrong, the exit code it means, and how far it reaches.

Every exception that stops work is an `EnrichError`. Each class says its exit code and its
`scope`: a `row` error becomes that row's `error` status (never raised past the answering
stage), a `tenant` error stops the work for one tenant (credentials, permission, MDE itself),
a `job` error stops the whole job (input, output, cache, job file, usage). `cli.py` maps an
error to its exit code in one place (`exit_code`). Messages are one line a user can act on.
"""

from __future__ import annotations

from typing import ClassVar, Literal

Scope = Literal["row", "tenant", "job"]

EXIT_OK = 0
EXIT_FATAL = 1
EXIT_USAGE = 2
EXIT_ROW_ERRORS = 3
EXIT_LOCKED = 75
EXIT_SIGHUP = 129
EXIT_INTERRUPTED = 130
EXIT_SIGTERM = 143


class EnrichError(Exception):
    """Base of every error `enrich` raises for an expected failure."""

    exit_code: ClassVar[int] = EXIT_FATAL
    scope: ClassVar[Scope] = "job"

    @property
    def message(self) -> str:
        return str(self)


class UsageError(EnrichError):
    """The command line or an option's value is wrong (exit code 2)."""

    exit_code = EXIT_USAGE


class InputError(EnrichError):
    """An input cannot be read at all; the message names the file and the problem."""


class OutputError(EnrichError):
    """An output cannot be written; the message names the output and the problem."""


class CacheError(EnrichError):
    """The cache file cannot be used; the message names the file and what to do."""

    def __init__(self, path: object, problem: str) -> None:
        import os

        self.path = os.fspath(path)  # type: ignore[call-overload]
        super().__init__(f"cache {self.path}: {problem}")


class JobError(EnrichError):
    """A job file that cannot be used; the message names the file and the problem."""


class LockError(EnrichError):
    """Another run holds the lock on an output or a job file (exit code 75); the message names it and
    that run's process id."""

    exit_code = EXIT_LOCKED


def exit_code(error: BaseException) -> int:
    """The exit code an error stands for (1 for anything that is not an EnrichError)."""
    return error.exit_code if isinstance(error, EnrichError) else EXIT_FATAL
