"""Modules imported on first use, for routes whose services need heavy libraries."""

from __future__ import annotations

import importlib
from typing import Any


class LazyModule:
    """Stands for a module and imports it on the first attribute read.

    The app-database services import SQLAlchemy (for DDL) and with it asyncio: ~15 MB and
    ~0.1 s of every start, though a desktop app may never open an app database. Importing is
    thread-safe and, once done, a dictionary lookup.
    """

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        return getattr(importlib.import_module(self._name), attr)
