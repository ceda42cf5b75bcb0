"""The work behind `enrich check` and `enrich cache stats|clear`: print plain words, return an exit code."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import TextIO

from enrich.cache import Cache, CacheError, DamagedCacheError, default_cache_path, remove_files
from enrich.errors import EXIT_FATAL, EXIT_OK, exit_code
from enrich.mde.errors import MdeError, protect
from enrich.mde.settings import Settings, load_settings


@contextlib.contextmanager
def _settings(
    secrets: str | None, sandbox: bool, cloud: str | None, region: str | None
) -> Iterator[Settings]:
    if not sandbox:
        settings = load_settings(secrets, require_credentials=False, cloud=cloud, region=region)
        protect(settings.connection)
        yield settings
        return
    from enrich.mde.clouds import cloud_named
    from enrich.sandbox import Sandbox, SandboxConfig

    name = cloud_named(cloud or os.environ.get("MDE_CLOUD")).name  # the sandbox serves the cloud checked
    with Sandbox(SandboxConfig(cloud=name)) as sb:
        settings = load_settings(None, environ=sb.env(), require_credentials=False, cloud=name, region=region)
        protect(settings.connection)
        yield settings


def check(
    secrets: str | None,
    sandbox: bool,
    out: TextIO | None = None,
    mode: str = "auto",
    cloud: str | None = None,
    region: str | None = None,
) -> int:
    """Run the preflight checks for `mode` (`stats`, `hunt`, `auto`); 0 when what it needs passes, 1 otherwise.
    `cloud` and `region` as `run --cloud/--region` (None: MDE_CLOUD, MDE_REGION).

    Lines that do not count for `mode` (what another mode would meet) start with `--` when they fail.
    """
    from enrich.mde.check import run_check

    out = sys.stdout if out is None else out
    try:
        with _settings(secrets, sandbox, cloud, region) as settings:
            results = run_check(settings, mode=mode)
    except MdeError as exc:
        print(f"FAIL configuration: {exc}", file=out)
        return exit_code(exc)
    for result in results:
        mark = "ok  " if result.ok else "FAIL" if result.counts else "--  "
        print(f"{mark} {result.name}: {result.message}", file=out)
    ok = bool(results) and all(r.ok for r in results if r.counts)
    print(f"all checks passed (for --mode {mode})" if ok else "some checks failed: see above", file=out)
    return EXIT_OK if ok else EXIT_FATAL


def cache_stats(path: str | None, out: TextIO | None = None) -> int:
    """Print what the cache holds; a missing cache is an error (1), and nothing is created."""
    out = sys.stdout if out is None else out
    try:
        cache = Cache(path, create=False)
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


SQLITE_HEADER = b"SQLite format 3\x00"


def _deletable(path: str) -> bool:
    """Whether `cache clear` may delete a damaged cache: the default cache (only enrich writes it),
    or a file starting like an SQLite database (so a mistyped --cache never deletes, say, a CSV)."""
    if os.path.abspath(path) == os.path.abspath(default_cache_path()):
        return True
    try:
        with open(path, "rb") as handle:
            return handle.read(len(SQLITE_HEADER)) == SQLITE_HEADER
    except OSError:
        return False


def cache_clear(path: str | None, older_than: float | None, out: TextIO | None = None) -> int:
    """Delete cached answers (all, or older than `older_than` seconds).

    Creates nothing: a missing cache has nothing to clear (0). A damaged one, which cannot be
    emptied, is deleted with its -wal/-shm files when everything is to go (the advice given when
    a run finds it); with `older_than` it is left alone (1), since what to keep cannot be read.
    """
    out = sys.stdout if out is None else out
    where = str(default_cache_path() if path is None else path)
    try:
        try:
            cache = Cache(where, create=False)
        except DamagedCacheError:
            if older_than is not None:
                raise CacheError(
                    where,
                    "the file is damaged or not an enrich cache, so no answer can be kept: "
                    "run `enrich cache clear` without --older-than to delete it",
                ) from None
            if not _deletable(where):
                raise CacheError(
                    where,
                    "cannot be read as an enrich cache and does not start like an SQLite file; it was "
                    "left alone in case the path is wrong: delete it yourself if it is the cache",
                ) from None
            removed_files = remove_files(where)
            print(
                f"the cache {where} was damaged or not an enrich cache; deleted {', '.join(removed_files)} "
                "(the answers will be fetched again)",
                file=out,
            )
            return EXIT_OK
        except CacheError:
            if os.path.exists(where):
                raise
            print(f"no cache at {where}: nothing to clear", file=out)
            return EXIT_OK
        removed = cache.clear(older_than)
        cache.close()
    except CacheError as exc:
        print(f"enrich cache: {exc}", file=sys.stderr)
        return exit_code(exc)
    print(f"removed {removed} cached answers from {cache.path}", file=out)
    return EXIT_OK
