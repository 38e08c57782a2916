"""Vendor adapters, one module per wire format.

Adding a vendor means adding one module here that defines `ADAPTER`; it is found by name.
"""

from __future__ import annotations

import importlib
import pkgutil

from feeds.adapters.base import Adapter

_NOT_ADAPTERS = {"base"}


def load_adapters() -> dict[str, Adapter]:
    """A fresh instance set: adapters may keep per-process state (a delta stream's fixtures)."""
    found: dict[str, Adapter] = {}
    for module in pkgutil.iter_modules(__path__):
        if module.name in _NOT_ADAPTERS or module.name.startswith("_"):
            continue
        loaded = importlib.import_module(f"{__name__}.{module.name}")
        factory = getattr(loaded, "make_adapter", None)
        adapter: Adapter = factory() if factory is not None else loaded.ADAPTER
        found[adapter.name] = adapter
    return found
