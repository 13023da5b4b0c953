"""Lazy attributes of a package: its heavy modules (torch, matplotlib) are imported on first use, not on import."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_attributes(package: str, lazy: dict[str, str]) -> Callable[[str], Any]:
    """A module-level ``__getattr__`` for ``package``: attribute ``name`` in ``lazy`` is imported from the module
    ``lazy[name]`` when first asked for; any other name raises AttributeError."""

    def __getattr__(name: str) -> Any:
        if name in lazy:
            return getattr(importlib.import_module(lazy[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
