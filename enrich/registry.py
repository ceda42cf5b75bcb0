"""Plug-ins by name: a registry maps a name (`--mode stats`, `--to csv`) to "module:Class", imported
only when used, so listing the choices (the CLI does at start-up) imports nothing heavy."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from enrich.errors import UsageError


def load(registry: Mapping[str, str], name: str, what: str, option: str) -> Any:
    """The class `name` stands for in `registry`; UsageError naming `option`'s choices otherwise."""
    try:
        module, _, attr = registry[name].partition(":")
    except KeyError:
        raise UsageError(f"{what} '{name}' is not available; use {option} {' or '.join(registry)}") from None
    return getattr(importlib.import_module(module), attr)
