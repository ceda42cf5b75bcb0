"""Fault injection: seeded random faults per request, latency, and forced 429s.

API faults apply to every API family unless `families` names some (e.g. only the two hunting
families); "preempted" (hunting's 400 for a query stopped for its CPU or memory use) only ever
lands on hunting routes. The dice are thrown for every API request either way, so limiting the
families does not change which later requests of those families get a fault.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass

from enrich.sandbox.config import API_FAULTS, HUNTING_ONLY_FAULTS, TOKEN_FAULTS
from enrich.sandbox.quotas import HUNTING_FAMILIES


@dataclass
class _Forced:
    count: int
    retry_after: int
    family: str | None


class Faults:
    """Decides, per request, which fault (if any) to inject. Thread-safe; seeded."""

    def __init__(
        self,
        rates: dict[str, float],
        latency: tuple[float, float],
        seed: int,
        families: tuple[str, ...] | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(f"faults/{seed}")
        self._latency_rng = random.Random(f"latency/{seed}")
        self._forced: list[_Forced] = []
        self.rates = dict(rates)
        self.latency = latency
        self.families = None if families is None else frozenset(families)

    def configure(
        self, rates: dict[str, float] | None = None, latency: tuple[float, float] | None = None
    ) -> None:
        with self._lock:
            if rates is not None:
                self.rates = dict(rates)
            if latency is not None:
                self.latency = latency

    def limit_to(self, families: tuple[str, ...] | None) -> None:
        """API faults land only on requests of these families (None: every family)."""
        with self._lock:
            self.families = None if families is None else frozenset(families)

    def _draw(self, kinds: tuple[str, ...]) -> str | None:
        with self._lock:
            u = self._rng.random()
            acc = 0.0
            for kind in kinds:
                acc += self.rates.get(kind, 0.0)
                if u < acc:
                    return kind
        return None

    def api_fault(self, family: str | None = None) -> str | None:
        """One of "500", "503", "reset", "malformed", "slow", "preempted", or None for a
        request of `family` (None: any family)."""
        kind = self._draw(API_FAULTS)
        if kind is None or family is None:
            return kind
        if self.families is not None and family not in self.families:
            return None
        if kind in HUNTING_ONLY_FAULTS and family not in HUNTING_FAMILIES:
            return None
        return kind

    def token_fault(self) -> str | None:
        """One of "token_429", "token_500", "token_503", "token_slow", or None."""
        return self._draw(TOKEN_FAULTS)

    def delay(self) -> float:
        """Seconds of latency to add to one API response."""
        lo, hi = self.latency
        if hi <= 0:
            return 0.0
        with self._lock:
            return self._latency_rng.uniform(lo, hi)

    def force_429(self, count: int, retry_after: int, family: str | None) -> None:
        with self._lock:
            self._forced.append(_Forced(count, retry_after, family))

    def forced_429(self, family: str) -> int | None:
        """Retry-After seconds when this request must get a forced 429, else None."""
        with self._lock:
            for item in self._forced:
                if item.count > 0 and item.family in (None, family):
                    item.count -= 1
                    retry = item.retry_after
                    self._forced = [f for f in self._forced if f.count > 0]
                    return retry
        return None
