"""Start-up and shutdown steps of the service process that do not involve HTTP."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from filelock import FileLock, Timeout

from services.config import Settings

log = logging.getLogger(__name__)
LOCK_FILE = "service.lock"


class StartupError(RuntimeError):
    """Start-up cannot go on; the message is one line for stderr."""


def check_data_dir(data_dir: Path) -> None:
    """Refuse a data dir that cannot be created or written, without writing anything."""
    probe = data_dir
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise StartupError(f"data dir {data_dir} is not usable: {probe} is not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise StartupError(f"data dir {data_dir} is not writable")


class DataDirLock:
    """An exclusive lock on the data dir: one serving process per data dir."""

    def __init__(self, data_dir: Path) -> None:
        self._lock = FileLock(str(data_dir / LOCK_FILE))
        self.data_dir = data_dir

    def acquire(self) -> None:
        """Take the lock or raise StartupError at once."""
        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            raise StartupError(
                f"another instance is already serving data dir {self.data_dir}"
            ) from None

    def release(self) -> None:
        """Give the lock back."""
        self._lock.release(force=True)


def prepare_database(settings: Settings) -> str:
    """Back up (SQLite) and migrate when revisions are pending; refuse a schema out of parity.

    Returns the schema revision now in place. When the code and the live schema are as the
    last passing check left them, returns at once without SQLAlchemy or Alembic (fingerprint.py).
    """
    from services.db import fingerprint

    # The fast path too: a flipped byte in a data page leaves the schema and its fingerprint
    # intact, so only the check itself finds it (issue 14).
    check_main_database(settings.database)
    revision = fingerprint.fast_revision(settings.data_dir, settings.database)
    if revision is not None:
        log.info("schema unchanged since its last full check, at revision %s", revision)
        return revision
    return _migrate_and_check(settings)


def _migrate_and_check(settings: Settings) -> str:
    from services.db import fingerprint, migrations
    from services.db.maintenance import backup_sqlite

    target = settings.database
    head = migrations.head_revision()
    # Processes starting together on one server database migrate one after the other: the
    # next one finds the schema at head (they used to create the same tables at once and fail).
    try:
        with migrations.migration_lock(target):
            current = migrations.current_revision(target)
            if current != head:
                if current is not None:
                    copy = backup_sqlite(target, settings.data_dir / "backups", f"rev{current}")
                    if copy is not None:
                        log.info("backed up the database to %s before migrating", copy)
                migrations.upgrade(target)
                log.info("migrated %s from %s to %s", target.render(), current or "empty", head)
            findings = structural_parity(settings)
            if not findings:
                fingerprint.record(settings.data_dir, target, head)
    except TimeoutError as exc:
        raise StartupError(str(exc)) from None
    if findings:
        more = f" (+{len(findings) - 1} more)" if len(findings) > 1 else ""
        raise StartupError(
            f"schema parity check failed: {findings[0]}{more}; run 'python -m app parity'"
        )
    return head


def check_main_database(target) -> None:
    """Refuse to start on a damaged SQLite main database (quick_check), before anything writes
    to it: a flipped byte otherwise surfaces as wrong answers or generic 500s (issue 14)."""
    import sqlite3

    path = target.sqlite_path if target.family == "sqlite" else None
    if path is None or not path.exists():
        return
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            found = [r[0] for r in connection.execute("PRAGMA quick_check").fetchall()]
        finally:
            connection.close()
    except sqlite3.DatabaseError as exc:
        found = [str(exc)]
    if found != ["ok"]:
        raise StartupError(
            f"the database {path} is damaged ({'; '.join(found[:2])}); restore it from "
            f"{path.parent / 'backups'} or move it aside"
        )


def structural_parity(settings: Settings) -> list:
    """Parity checks (b) and (c): models and live database against the PyDAL tables.

    (a) and (d) are properties of the code base, proved in CI and by ``make parity``; these
    two are what can drift on a user's machine and are cheap enough for every start.
    """
    from services.db.dal import close_dal, open_dal
    from services.db.engine import make_engine
    from services.db.models import metadata
    from services.db.parity import compare_database_to_pydal, compare_models_to_pydal

    target = settings.database
    db = open_dal(target)
    engine = make_engine(target)
    try:
        findings = compare_models_to_pydal(metadata, db)
        with engine.connect() as connection:
            findings += compare_database_to_pydal(connection, db)
        return findings
    finally:
        close_dal(db)
        engine.dispose()
