"""Service health."""

from __future__ import annotations

from pydal import DAL


def database_answers(*, db: DAL) -> bool:
    """True when a trivial query on the main database succeeds."""
    return db.executesql("SELECT 1")[0][0] == 1
