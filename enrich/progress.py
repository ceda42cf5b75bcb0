"""Progress of the lookups: a tqdm bar on a terminal, a log line every N seconds elsewhere."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

from tqdm import tqdm


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
        now = time.monotonic()
        if now - self._last_line >= self.interval:
            self._last_line = now
            self.line()

    def line(self) -> None:
        """Write one plain progress line."""
        print(
            f"enrich: {self.done}/{self.total} lookups done, {self.cache_hits} from cache, "
            f"{_clock(self.quota_wait())} waited on quota, about {_clock(self.eta())} left",
            file=self.stream,
            flush=True,
        )

    def close(self) -> None:
        """Finish the bar (or nothing on a plain stream)."""
        if self.bar is not None:
            self.bar.close()
