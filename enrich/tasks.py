"""Asyncio task helpers shared by the answering strategies and the hunting transport."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import TypeVar

T = TypeVar("T")


async def run_until_first_error(tasks: Sequence[asyncio.Task[None]]) -> None:
    """Wait for `tasks`; the first to fail cancels the others and its exception propagates."""
    if not tasks:
        return
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        for task in tasks:
            if not task.done():
                task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for task in tasks:
        if not task.cancelled() and (error := task.exception()) is not None:
            raise error


async def run_pool(items: Iterable[T], work: Callable[[T], Awaitable[None]], size: int) -> None:
    """`work(item)` for every item, at most `size` at a time (workers share one iterator, in order);
    the first failure cancels the rest and propagates."""
    pending = list(items)
    shared = iter(pending)

    async def worker() -> None:
        for item in shared:
            await work(item)

    await run_until_first_error(
        [asyncio.create_task(worker()) for _ in range(min(max(1, size), len(pending)))]
    )
