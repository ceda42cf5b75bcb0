"""Answering strategies: how lookups are answered (the `--mode` choices), behind one interface.

The registry names each strategy's class by import path, so listing the modes (the CLI does at
start-up) imports nothing heavy; a new strategy registers here and nowhere else.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from enrich.registry import load

if TYPE_CHECKING:
    from enrich.answering.interface import AnswerOptions, Strategy

# `--mode` name -> "module:class" of its strategy.
STRATEGIES: dict[str, str] = {
    "stats": "enrich.answering.stats:StatsStrategy",
    "hunt": "enrich.answering.hunting:HuntingStrategy",
    "auto": "enrich.answering.auto:AutoStrategy",
}


def mode_names() -> list[str]:
    """The `--mode` choices, in registry order."""
    return list(STRATEGIES)


def strategy_class(mode: str) -> type[Strategy]:
    """The strategy class `mode` names; UsageError naming the choices otherwise."""
    return load(STRATEGIES, mode, "mode", "--mode")


def make_strategy(mode: str, options: AnswerOptions | None = None) -> Strategy:
    """The strategy `mode` names, with `options`."""
    return strategy_class(mode)(options)
