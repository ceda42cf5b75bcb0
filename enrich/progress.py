"""Progress of the lookups: a tqdm bar on a terminal, a UTC-stamped line every N seconds elsewhere,
a `progress` event every N seconds in a JSON log (`--log-format json`: never a bar).

The lines come every `interval` seconds while lookups run, also when no answer arrives (every
call waiting on quota, a login host that does not answer): `ticking()` runs a ticker task in the
event loop that writes a line when one is due, refreshes the bar on a terminal, and has the run's
log print its repeat counts (`enrich.logs.tick`).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import AsyncIterator, Callable
from typing import TextIO

from tqdm import tqdm

from enrich import logs

BAR_REFRESH = 1.0  # seconds between refreshes of the bar's figures while no answer arrives


def _clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class Progress:
    """Reports lookups done out of a total, cache hits, time waited on quota and an ETA.

    `quota_eta` returns the least time the quota allows for the remaining lookups; the ETA shown
    is the larger of that and the pace measured so far.
    """

    def __init__(
        self,
        total: int,
        rows: int,
        cache_hits: int,
        quota_eta: Callable[[], float],
        quota_wait: Callable[[], float],
        stream: TextIO | None = None,
        interval: float = 30.0,
        terminal: bool | None = None,
    ) -> None:
        self.stream = stream or sys.stderr
        self.total, self.rows, self.cache_hits = total, rows, cache_hits
        self.done = 0
        self.quota_eta, self.quota_wait = quota_eta, quota_wait
        self.interval = interval
        self.started = time.monotonic()
        self._last_line = self.started
        self._eta_at, self._eta = -1.0, 0.0  # the quota ETA is worked out at most twice a second
        is_tty = terminal if terminal is not None else self.stream.isatty()
        is_tty = is_tty and not logs.json_active()  # JSON Lines: progress events, never a bar
        self.bar = (
            tqdm(total=total, unit="lookup", file=self.stream, dynamic_ncols=True, smoothing=0.1)
            if is_tty and total
            else None
        )
        if self.bar is not None:
            self._postfix()

    def eta(self) -> float:
        """Seconds until the remaining lookups are done, by quota and by pace."""
        now = time.monotonic()
        if now - self._eta_at >= 0.5:
            remaining = self.total - self.done
            pace = (now - self.started) / self.done * remaining if self.done else 0.0
            self._eta_at, self._eta = now, max(self.quota_eta(), pace)
        return self._eta

    def _postfix(self) -> None:
        assert self.bar is not None
        self.bar.set_postfix_str(
            f"rows={self.rows} cache_hits={self.cache_hits} quota_wait={_clock(self.quota_wait())} "
            f"eta={_clock(self.eta())}",
            refresh=False,
        )

    def advance(self, n: int = 1) -> None:
        """Record n more lookups answered."""
        self.done += n
        if self.bar is not None:
            self._postfix()
            self.bar.update(n)
            return
        if time.monotonic() - self._last_line >= self.interval:
            self.line()

    def poll(self) -> None:
        """What the ticker does on waking: a line if one is due (the bar's figures on a terminal)."""
        if self.bar is not None:
            self._postfix()
            self.bar.refresh()
        elif time.monotonic() - self._last_line >= self.interval:
            self.line()
        logs.tick()

    def _next_poll(self) -> float:
        """Seconds until the ticker should wake."""
        if self.bar is not None:
            return BAR_REFRESH
        return max(0.05, self._last_line + self.interval - time.monotonic())

    @contextlib.asynccontextmanager
    async def ticking(self) -> AsyncIterator[Progress]:
        """Within the block, a ticker task keeps the progress going in the running event loop."""

        async def ticker() -> None:
            while True:
                await asyncio.sleep(self._next_poll())
                with contextlib.suppress(OSError, ValueError):  # stderr gone: the run goes on
                    self.poll()

        task = asyncio.create_task(ticker())
        try:
            yield self
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def line(self) -> None:
        """Write one plain progress line, stamped with the UTC time (a `progress` event in a JSON log)."""
        self._last_line = time.monotonic()
        if logs.json_active():
            if not logs.is_discarded(self.stream):  # -q: no progress
                logs.event(
                    "progress",
                    f"{self.done}/{self.total} lookups done",
                    done=self.done,
                    total=self.total,
                    rows=self.rows,
                    cache_hits=self.cache_hits,
                    quota_wait_seconds=self.quota_wait(),
                    eta_seconds=self.eta(),
                )
            return
        print(
            f"{logs.utc_stamp()} enrich: {self.done}/{self.total} lookups done, {self.cache_hits} from cache, "
            f"{_clock(self.quota_wait())} waited on quota, about {_clock(self.eta())} left",
            file=self.stream,
            flush=True,
        )

    def close(self) -> None:
        """Finish the bar (or nothing on a plain stream); print the log's pending repeat counts."""
        if self.bar is not None:
            self.bar.close()
        logs.flush()
