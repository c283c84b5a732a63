"""Bytes on disk, for operators: the main database and every app database."""

from __future__ import annotations

from pathlib import Path

from pydal import DAL

from services.appdb import catalog, store
from services.config import Settings

MAX_MODELS = 1000  # a scrape must stay cheap; beyond this, sizes are not reported


def main_database_size(*, db: DAL, settings: Settings) -> int:
    """Bytes of the main database: the SQLite file and its WAL, or the server's database."""
    target = settings.database
    if target.family == "sqlite":
        path = target.sqlite_path
        return sum(
            Path(f"{path}{suffix}").stat().st_size
            for suffix in ("", "-wal")
            if Path(f"{path}{suffix}").exists()
        )
    if target.family == "postgresql":
        query = "SELECT pg_database_size(current_database())"
    else:
        query = (
            "SELECT COALESCE(SUM(DATA_LENGTH + INDEX_LENGTH), 0) FROM information_schema.TABLES "
            "WHERE TABLE_SCHEMA = DATABASE()"
        )
    return int(db.executesql(query)[0][0] or 0)


def app_database_sizes(*, db: DAL, settings: Settings) -> dict[str, int]:
    """Bytes of each model's app database, by model id (a missing database counts 0)."""
    found, _ = catalog.list_models(db=db, owner_id=None, skip=0, limit=MAX_MODELS)
    sizes = {}
    for row in found:
        app_db = catalog.app_database(settings=settings, row=row)
        sizes[row.id] = store.size_bytes(app_db) if store.exists(app_db) else 0
    return sizes
