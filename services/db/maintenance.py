"""SQLite housekeeping: online backups before migrations, and a checkpoint at shutdown."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from services.db.urls import DatabaseTarget

KEEP_BACKUPS = 5


def backup_sqlite(target: DatabaseTarget, backups_dir: Path, label: str) -> Path | None:
    """Copy the database with SQLite's online backup API; keep the newest few copies."""
    source_path = target.sqlite_path
    if source_path is None or not source_path.exists():
        return None
    backups_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    destination = backups_dir / f"{source_path.stem}-{label}-{stamp}.db"
    source = sqlite3.connect(source_path)
    try:
        copy = sqlite3.connect(destination)
        try:
            source.backup(copy)
        finally:
            copy.close()
    finally:
        source.close()
    backups = sorted(backups_dir.glob(f"{source_path.stem}-*.db"))
    for old in backups[:-KEEP_BACKUPS]:
        old.unlink(missing_ok=True)
    return destination


def checkpoint_sqlite(target: DatabaseTarget) -> None:
    """Fold the WAL back into the database file so a clean stop leaves one file."""
    path = target.sqlite_path
    if path is None or not path.exists():
        return
    connection = sqlite3.connect(path)
    try:
        connection.execute("PRAGMA busy_timeout=5000")
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        connection.close()
