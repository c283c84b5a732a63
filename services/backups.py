"""Snapshots of the main database and of each app database: list, take, restore; and cleanup
of app databases nobody has used for a while.

The service already snapshots SQLite files (the main database before migrations, an app
database before a schema sync). Snapshots are SQLite files, so listing and restoring apply to
SQLite data dirs; PostgreSQL and MariaDB keep their data in a server, whose own backup tools
apply. A restore refuses while a service holds the data dir, restores with SQLite's online
backup API, gives the change feed a new epoch (every sync client starts over), and checks
parity afterwards.
"""

from __future__ import annotations

import shutil
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from services.config import Settings
from services.db.feed import COUNTER
from services.db.maintenance import backup_sqlite
from services.errors import Invalid, NotFound
from services.lifecycle import DataDirLock
from services.timeutil import utcnow

BACKUPS = "backups"
APPS = "apps"
MAIN = "main"


@dataclass(frozen=True)
class Snapshot:
    """One snapshot file: whose it is, where, when, how big."""

    scope: str  # "main" or a model id
    path: Path
    taken_at: datetime
    size_bytes: int

    def as_dict(self) -> dict:
        """JSON-ready."""
        return {
            "scope": self.scope,
            "name": self.path.name,
            "path": str(self.path),
            "taken_at": self.taken_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "size_bytes": self.size_bytes,
        }


def _require_sqlite(settings: Settings) -> None:
    if settings.database.family != "sqlite":
        raise Invalid(
            "snapshots are SQLite files: with a server database, use the server's backup tools"
        )


def _main_dir(settings: Settings) -> Path:
    return Path(settings.data_dir) / BACKUPS


def app_backups_dir(settings: Settings, model_id: str) -> Path:
    """Where an app database's snapshots live (the schema sync writes them there too)."""
    return Path(settings.data_dir) / BACKUPS / APPS / model_id


def _snapshot(scope: str, path: Path) -> Snapshot:
    stat = path.stat()
    return Snapshot(scope, path, datetime.fromtimestamp(stat.st_mtime, UTC), stat.st_size)


def list_snapshots(settings: Settings, *, model_id: str | None = None) -> list[Snapshot]:
    """Snapshots of the main database and every app database (or one model's), oldest first."""
    _require_sqlite(settings)
    found: list[Snapshot] = []
    if model_id in (None, MAIN):
        stem = Path(settings.database_name).stem
        found += [_snapshot(MAIN, p) for p in _main_dir(settings).glob(f"{stem}-*.db")]
    apps = _main_dir(settings) / APPS
    if model_id != MAIN and apps.exists():
        folders = [apps / model_id] if model_id else sorted(p for p in apps.iterdir())
        for folder in folders:
            if folder.is_dir():
                found += [_snapshot(folder.name, p) for p in folder.glob("*.db")]
    return sorted(found, key=lambda s: (s.taken_at, s.path.name))


def take_snapshot(
    settings: Settings, *, model_id: str | None = None, label: str = "manual"
) -> Path:
    """Snapshot the main database (or a model's) now."""
    _require_sqlite(settings)
    if model_id in (None, MAIN):
        path = backup_sqlite(settings.database, _main_dir(settings), label)
    else:
        path = backup_sqlite(
            _app_target(settings, model_id), app_backups_dir(settings, model_id), label
        )
    if path is None:
        raise NotFound("there is no database to snapshot")
    return path


def _app_target(settings: Settings, model_id: str):
    from services.appdb import store

    return store.locate(
        main=settings.database, data_dir=settings.data_dir, model_id=model_id, definition=None
    ).target


def find_snapshot(settings: Settings, name: str, *, model_id: str | None = None) -> Snapshot:
    """A listed snapshot by file name (or path)."""
    wanted = Path(name).name
    for snap in list_snapshots(settings, model_id=model_id):
        if snap.path.name == wanted:
            return snap
    raise NotFound(f"no snapshot named {wanted!r}; see backups list")


@contextmanager
def exclusive(settings: Settings) -> Iterator[None]:
    """Hold the data dir lock: refused (StartupError) while a service is serving it."""
    lock = DataDirLock(Path(settings.data_dir))
    lock.acquire()
    try:
        yield
    finally:
        lock.release()


def _copy_into(snapshot: Path, live: Path) -> None:
    # The backup API writes a consistent copy through SQLite itself: the WAL stays coherent.
    source = sqlite3.connect(f"file:{snapshot}?mode=ro", uri=True)
    try:
        target = sqlite3.connect(live)
        try:
            source.backup(target)
            target.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            target.close()
    finally:
        source.close()


def _new_epoch(path: Path) -> None:
    # Cursors handed out before the restore name changes the database no longer has.
    connection = sqlite3.connect(path)
    try:
        with connection:
            connection.execute(
                "UPDATE sync_counter SET epoch = ? WHERE name = ?", (uuid.uuid4().hex, COUNTER)
            )
    except sqlite3.OperationalError:
        pass  # a snapshot from before the feed existed: the migration creates it
    finally:
        connection.close()


def restore_main(settings: Settings, snapshot: Snapshot) -> list[str]:
    """Put a main-database snapshot back (after snapshotting the present), migrate it to head,
    and return the parity findings (empty when clean)."""
    from services.db import migrations
    from services.db.parity import run_parity

    with exclusive(settings):
        live = settings.database.sqlite_path
        backup_sqlite(settings.database, _main_dir(settings), "pre-restore")
        _copy_into(snapshot.path, live)
        _new_epoch(live)
        migrations.upgrade(settings.database)
        report = run_parity(settings.database)
    return [] if report.ok else report.render().splitlines()


def restore_app(settings: Settings, snapshot: Snapshot, *, model_id: str) -> list[str]:
    """Put an app-database snapshot back; the model takes the definition the snapshot records
    (a new version, so clients regenerate). Returns the drift findings (empty when clean)."""
    from services.appdb import catalog, store
    from services.appdb.schema import build_metadata
    from services.db.dal import close_dal, open_dal

    with exclusive(settings):
        db = open_dal(settings.database)
        try:
            row = catalog.get_model(db=db, model_id=model_id, owner_id=None)
            app_db = catalog.app_database(settings=settings, row=row)
            backup_sqlite(app_db.target, app_backups_dir(settings, model_id), "pre-restore")
            _copy_into(snapshot.path, app_db.target.sqlite_path)
            recorded = store.recorded_definition(app_db)
            definition = recorded[1] if recorded else app_db.definition
            version = max(row.version, recorded[0] if recorded else 0) + 1
            app_db = store.with_definition(app_db, definition)
            metadata = build_metadata(definition)
            with store.connect(app_db) as connection:
                store.record_definition(connection, metadata, definition, version)
                store.restart_feed(connection, metadata)
                connection.commit()
            db(db.app_model.id == model_id).update(
                definition=definition.model_dump(by_alias=True, exclude_none=True),
                version=version,
            )
            db.commit()
        finally:
            close_dal(db)
        return store.differences(app_db)


# --------------------------------------------------------------------------- cleanup


@dataclass(frozen=True)
class Unused:
    """An app database and when it was last written or changed."""

    model_id: str
    last_used: datetime

    def as_dict(self) -> dict:
        """JSON-ready."""
        return {"model_id": self.model_id, "last_used": self.last_used.isoformat() + "Z"}


def _last_write(settings: Settings, row) -> datetime | None:
    """The newest ``updated_at`` over the model's rows (deletes leave no date behind)."""
    from services.appdb import catalog, store
    from services.db.dal import close_dal

    app_db = catalog.app_database(settings=settings, row=row)
    try:
        rows_db = store.open_rows_dal(app_db)
    except NotFound:
        return None
    try:
        dates = [
            datetime.fromisoformat(s["last_updated"]).astimezone(UTC).replace(tzinfo=None)
            for s in catalog.entity_summaries(db=rows_db, definition=app_db.definition)
            if s["last_updated"]
        ]
    except Exception:  # noqa: BLE001 - an unreadable database: only the model's dates count
        return None
    finally:
        close_dal(rows_db)
    return max(dates, default=None)


def unused_models(settings: Settings, *, days: float, now: datetime | None = None) -> list[Unused]:
    """Models whose database nobody has written to, and whose definition nobody has changed or
    seeded, for ``days`` days."""
    from services.appdb import catalog
    from services.db.dal import close_dal, open_dal

    cutoff = (now or utcnow()) - timedelta(days=days)
    found = []
    db = open_dal(settings.database)
    try:
        for row in db(db.app_model).select(*[db.app_model[f] for f in catalog.PUBLIC_FIELDS]):
            dates = [row.created_at, row.updated_at, row.last_seeded_at, _last_write(settings, row)]
            last = max(d for d in dates if d is not None)
            if last < cutoff:
                found.append(Unused(row.id, last))
    finally:
        close_dal(db)
    return sorted(found, key=lambda u: u.last_used)


def orphans(settings: Settings) -> list[Path]:
    """SQLite app database files no model owns (a model row lost between an import's two
    steps, or deleted by hand): data that would otherwise outlive its owner."""
    from services.db.dal import close_dal, open_dal

    apps = Path(settings.data_dir) / "apps"
    if settings.database.family != "sqlite" or not apps.exists():
        return []
    db = open_dal(settings.database)
    try:
        owned = {row.id for row in db(db.app_model).select(db.app_model.id)}
    finally:
        close_dal(db)
    return sorted(
        p for p in apps.glob("*.db") if not p.name.startswith(".") and p.stem not in owned
    )


def cleanup(settings: Settings, *, days: float, dry_run: bool) -> list[Unused]:
    """Delete the models unused for ``days`` days with their databases and snapshots (or, for a
    dry run, only say which)."""
    from services.appdb import catalog
    from services.db.dal import close_dal, open_dal

    if dry_run:
        return unused_models(settings, days=days)
    with exclusive(settings):
        found = unused_models(settings, days=days)
        db = open_dal(settings.database)
        try:
            for unused in found:
                catalog.delete_model(
                    db=db, settings=settings, model_id=unused.model_id, owner_id=None
                )
                db.commit()
                if settings.database.family == "sqlite":
                    shutil.rmtree(app_backups_dir(settings, unused.model_id), ignore_errors=True)
        finally:
            close_dal(db)
    return found


def remove_orphans(settings: Settings) -> list[Path]:
    """Delete the orphaned SQLite app databases (with their -wal/-shm), refused while a
    service holds the data dir."""
    with exclusive(settings):
        found = orphans(settings)
        for path in found:
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
    return found
