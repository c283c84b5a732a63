"""Small helpers around PyDAL rows and driver errors."""

from __future__ import annotations

from typing import Any

from pydal.objects import Row


def row_dict(row: Row, fields: tuple[str, ...]) -> dict[str, Any]:
    """The named fields of a row as a plain dict (PyDAL's as_dict drops UUID values)."""
    return {name: row[name] for name in fields}


def is_integrity_error(exc: BaseException) -> bool:
    """True for a unique/foreign-key violation from any of the three drivers."""
    return type(exc).__name__ == "IntegrityError"
