"""Modules imported on first use, for code paths that need heavy libraries only sometimes."""

from __future__ import annotations

import importlib
from typing import Any


class LazyModule:
    """Stands for a module and imports it on the first attribute read.

    SQLAlchemy (for DDL) and Alembic are ~23 MB and ~0.3 s, though a desktop app may never
    open an app database and browsing one needs neither. Importing is thread-safe and, once
    done, a dictionary lookup.
    """

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        return getattr(importlib.import_module(self._name), attr)
