"""The work behind `enrich check` and `enrich cache stats|clear`: print plain words, return an exit code."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import TextIO

from enrich.cache import Cache, CacheError
from enrich.errors import EXIT_FATAL, EXIT_OK, exit_code
from enrich.mde.errors import MdeError, protect
from enrich.mde.settings import Settings, load_settings


@contextlib.contextmanager
def _settings(secrets: str | None, sandbox: bool) -> Iterator[Settings]:
    if not sandbox:
        settings = load_settings(secrets, require_credentials=False)
        protect(settings.connection)
        yield settings
        return
    from enrich.sandbox import Sandbox, SandboxConfig

    with Sandbox(SandboxConfig()) as sb:
        settings = load_settings(None, environ=sb.env(), require_credentials=False)
        protect(settings.connection)
        yield settings


def check(secrets: str | None, sandbox: bool, out: TextIO | None = None) -> int:
    """Run the preflight checks; 0 when all pass, 1 otherwise."""
    from enrich.mde.check import run_check

    out = sys.stdout if out is None else out
    try:
        with _settings(secrets, sandbox) as settings:
            results = run_check(settings)
    except MdeError as exc:
        print(f"FAIL configuration: {exc}", file=out)
        return exit_code(exc)
    for result in results:
        print(f"{'ok  ' if result.ok else 'FAIL'} {result.name}: {result.message}", file=out)
    ok = bool(results) and all(r.ok for r in results)
    print("all checks passed" if ok else "some checks failed: see above", file=out)
    return EXIT_OK if ok else EXIT_FATAL


def cache_stats(path: str | None, out: TextIO | None = None) -> int:
    """Print what the cache holds."""
    out = sys.stdout if out is None else out
    try:
        cache = Cache(path)
        info = cache.stats()
        cache.close()
    except CacheError as exc:
        print(f"enrich cache: {exc}", file=sys.stderr)
        return exit_code(exc)
    print(f"cache {info['path']}: {info['entries']} answers, {info['size_bytes']} bytes", file=out)
    for family, statuses in sorted(info["by_family"].items()):
        detail = ", ".join(f"{status} {count}" for status, count in sorted(statuses.items()))
        print(f"  {family}: {detail}", file=out)
    if info["entries"]:
        print(f"  oldest {info['oldest']}, newest {info['newest']}, {info['tenants']} tenant(s)", file=out)
    return EXIT_OK


def cache_clear(path: str | None, older_than: float | None, out: TextIO | None = None) -> int:
    """Delete cached answers (all, or older than `older_than` seconds)."""
    out = sys.stdout if out is None else out
    try:
        cache = Cache(path)
        removed = cache.clear(older_than)
        cache.close()
    except CacheError as exc:
        print(f"enrich cache: {exc}", file=sys.stderr)
        return exit_code(exc)
    print(f"removed {removed} cached answers from {cache.path}", file=out)
    return EXIT_OK
