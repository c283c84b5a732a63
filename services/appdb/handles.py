"""One handle per app database: its PyDAL tables and its connections, owned by services.

A handle is built once per (model, creation, definition version), not per request: building a
DAL and defining a large model's tables per request cost time and, because PyDAL keeps every
DAL in a thread-local registry, memory that was never given back (issue 14: ~90 KB a request).
Its DAL is shared by waitress's worker threads; PyDAL keeps the connection per thread, so a
session lends the calling thread one of the handle's idle connections for its duration and
takes it back afterwards. Nothing of the handle is left in any thread's locals between sessions,
so a handle can be closed from any thread.

``Handles`` is a bounded LRU of handles (``Settings.app_db_handles``): the least recently used
is closed first. The definition version is read with the ownership check every request already
makes, so a model changed by another process (or deleted and created again) gets a new handle.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any
from urllib.parse import quote

from pydal import DAL
from pydal._globals import THREAD_LOCAL
from pydal.objects import Row

from services.appdb import catalog, locks, store
from services.appdb.counts import RowCounts
from services.appdb.definition import Definition
from services.appdb.schema import define_pydal
from services.config import Settings
from services.db.dal import forget_dal, open_dal
from services.db.unchanged import UntilChanged
from services.errors import Conflict, NotFound, ServiceError, Unavailable

# Idle connections a handle keeps for reuse (more are closed when given back): enough for the
# worker threads that use one model at once, few enough that a full cache of handles stays far
# from a server's connection limit and the process's file descriptors (SQLite: 3 per connection).
IDLE_PER_HANDLE = 4
# Every DAL creation and first connection goes through this lock: sqlite3 converters are
# registered globally by each new PyDAL SQLite adapter, and a crash inside sqlite3 was seen once
# with three threads opening their first connections at the same moment (issue 14).
_SETUP = threading.Lock()


class AppHandle:
    """One model's app database: its DAL (tables defined once) and a few idle connections."""

    def __init__(self, app_db: store.AppDatabase, key: tuple) -> None:
        self.app_db = app_db
        self.key = key
        self._lock = threading.Lock()
        self._idle: list[Any] = []
        self._closed = False
        self._local = threading.local()  # per-thread session depth, for nested sessions
        with _SETUP:
            db = open_dal(app_db.target, define=False)
            forget_dal(db)
            define_pydal(db, app_db.definition, app_db.family, schema=app_db.schema)
        if app_db.family == "sqlite":
            # Open read-write, never create: a connection made after the model's file was
            # deleted (a racing delete) would otherwise leave an empty file under its id.
            adapter = db._adapter
            adapter.dbpath = f"file:{quote(adapter.dbpath)}?mode=rw"
            adapter.driver_args["uri"] = True
        # SQLite cannot lose a connection under us; servers can (restart, idle timeout).
        db._adapter.check_active_connection = app_db.family != "sqlite"
        # Counts of row lists, kept until a write (counts.py); read by rows.read_page via the DAL.
        self.counts = RowCounts() if app_db.family == "sqlite" else None
        db._row_counts = self.counts
        self.db = db
        self.damage: str | None = None  # why the database cannot be trusted, once checked

    def check(self) -> str | None:
        """Check the database (SQLite: quick_check; servers: every table is there); remember
        and return what is wrong, if anything. A damaged database serves no request: reads could
        be wrong, writes worse."""
        connection = None
        try:
            with _SETUP:
                connection = self.db._adapter.connector()
            if self.app_db.family == "sqlite":
                found = [r[0] for r in connection.execute("PRAGMA quick_check").fetchall()]
                self.damage = None if found == ["ok"] else "; ".join(found[:3])
            else:
                self.damage = self._missing_tables(connection)
        except Exception as exc:  # noqa: BLE001 - "file is not a database", "malformed", I/O
            if not store.exists(self.app_db):  # deleted while being checked
                raise NotFound(
                    f"the app database of model {self.app_db.model_id!r} does not exist"
                ) from None
            self.damage = str(exc) or type(exc).__name__
        finally:
            if connection is not None:
                with suppress(Exception):
                    connection.close()
        return self.damage

    def _missing_tables(self, connection: Any) -> str | None:
        # Cheap on a server: one catalogue query. Tables dropped behind the service's back
        # would otherwise answer generic 500s on every request that touches them.
        if self.app_db.family == "postgresql":
            query = "SELECT table_name FROM information_schema.tables WHERE table_schema = %s"
            params: tuple = (self.app_db.schema,)
        else:
            query = (
                "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()"
            )
            params = ()
        cursor = connection.cursor()
        try:
            cursor.execute(query, params)
            present = {str(r[0]).lower() for r in cursor.fetchall()}
        finally:
            cursor.close()
        with suppress(Exception):
            connection.rollback()
        missing = sorted(t for t in self.db.tables if t.lower() not in present)
        return f"tables missing: {', '.join(missing[:5])}" if missing else None

    def refuse_if_damaged(self) -> None:
        """Unavailable (503) naming the model when the database is damaged."""
        if self.damage is not None:
            raise Unavailable(
                f"the app database of model {self.app_db.model_id!r} is damaged "
                f"({self.damage}); restore it from a backup or delete the model"
            )

    @property
    def definition(self) -> Definition:
        """The definition the tables were defined from."""
        return self.app_db.definition

    @property
    def idle(self) -> int:
        """Idle connections held."""
        return len(self._idle)

    def _checkout(self) -> Any:
        adapter = self.db._adapter
        while True:
            with self._lock:
                connection = self._idle.pop() if self._idle else None
            if connection is None:
                with _SETUP:
                    connection = adapter.connector()
                    adapter.set_connection(connection, run_hooks=True)
                return connection
            try:
                adapter.set_connection(connection, run_hooks=False)  # tests servers' ones
                return connection
            except Exception:  # noqa: BLE001 - a dead pooled connection: drop it, try the next
                self._discard(connection)

    def _checkin(self, connection: Any, healthy: bool) -> None:
        adapter = self.db._adapter
        with suppress(Exception):
            adapter.cursor.close()
        for name in (adapter._cursors_uname_, adapter._connection_uname_):
            if hasattr(THREAD_LOCAL, name):
                delattr(THREAD_LOCAL, name)
        with self._lock:
            keep = healthy and not self._closed and len(self._idle) < IDLE_PER_HANDLE
            if keep:
                self._idle.append(connection)
        if not keep:
            self._discard(connection)

    def _discard(self, connection: Any) -> None:
        if self.counts is not None:
            self.counts.forget(connection)
        with suppress(Exception):
            connection.close()

    @contextmanager
    def session(self) -> Iterator[DAL]:
        """The DAL with a connection for this thread: commit on success, roll back on error."""
        depth = getattr(self._local, "depth", 0)
        if depth:  # nested in this thread: the outer session owns the transaction
            self._local.depth = depth + 1
            try:
                yield self.db
            finally:
                self._local.depth = depth
            return
        self.refuse_if_damaged()
        connection = self._checkout()
        self._local.depth = 1
        healthy = True
        changes = None
        try:
            if self.counts is not None:
                changes = self.counts.begin(connection)
            yield self.db
            self.db.commit()
        except BaseException:
            try:
                self.db.rollback()
            except Exception:  # noqa: BLE001 - a broken connection is not given back
                healthy = False
            raise
        finally:
            self._local.depth = 0
            if changes is not None:
                self.counts.end(connection, changes)
            self._checkin(connection, healthy)

    def close(self) -> None:
        """Close the idle connections; connections in use are closed when given back."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for connection in idle:
            self._discard(connection)


class Handles:
    """The open app databases of one process: a bounded LRU of handles, keyed by model id."""

    def __init__(self, settings: Settings, *, capacity: int | None = None) -> None:
        self.settings = settings
        self.capacity = capacity or settings.app_db_handles
        # The ownership check of every row request, kept while the main database is unchanged
        # (SQLite: its connections are this process's own, kept for its life; app/db.py).
        self.stamps = UntilChanged() if settings.database.family == "sqlite" else None
        self._lock = threading.Lock()
        self._handles: OrderedDict[str, AppHandle] = OrderedDict()

    def __len__(self) -> int:
        return len(self._handles)

    def cached(self, row: Row) -> AppHandle | None:
        """The handle of the model version ``row`` names (STAMP_FIELDS), if one is open."""
        key = _key(row)
        with self._lock:
            handle = self._handles.get(row.id)
            if handle is not None and handle.key == key:
                self._handles.move_to_end(row.id)
                return handle
        return None

    def handle_for(self, row: Row, definition: Definition | None = None) -> AppHandle:
        """The handle of the model ``row`` (as read with its ownership check), built if needed."""
        handle = self.cached(row)
        if handle is not None:
            return handle
        key = _key(row)
        app_db = catalog.app_database(settings=self.settings, row=row, definition=definition)
        if app_db.family == "sqlite" and not store.exists(app_db):
            # Opening a missing SQLite file would create an empty one.
            raise NotFound(f"the app database of model {row.id!r} does not exist")
        fresh = AppHandle(app_db, key)
        if fresh.check() is not None:
            # Not cached: every request checks again, so a restored file serves at once.
            fresh.close()
            self.invalidate(row.id)
            fresh.refuse_if_damaged()
        stale: list[AppHandle] = []
        with self._lock:
            current = self._handles.get(row.id)
            if current is not None and current.key == key:  # another thread built it first
                stale.append(fresh)
                fresh = current
            elif current is not None:
                stale.append(current)
            self._handles[row.id] = fresh
            self._handles.move_to_end(row.id)
            while len(self._handles) > self.capacity:
                stale.append(self._handles.popitem(last=False)[1])
        for handle in stale:
            handle.close()
        return fresh

    def invalidate(self, model_id: str) -> None:
        """Close and forget the model's handle (before its database is dropped or replaced)."""
        with self._lock:
            handle = self._handles.pop(model_id, None)
        if handle is not None:
            handle.close()

    def close(self) -> None:
        """Close every handle (at shutdown)."""
        with self._lock:
            handles, self._handles = list(self._handles.values()), OrderedDict()
        for handle in handles:
            handle.close()

    def idle_connections(self) -> int:
        """Idle connections held by all handles."""
        with self._lock:
            return sum(h.idle for h in self._handles.values())


def _key(row: Row) -> tuple:
    # created_at tells a model deleted and created again under the same id from the old one;
    # version changes with every definition change, in this process or another.
    return (row.id, str(row.created_at), int(row.version))


@contextmanager
def open_app_database(
    *, handles: Handles, db: DAL, model_id: str, owner_id: uuid.UUID | None
) -> Iterator[tuple[Definition, DAL]]:
    """The model's definition and a session on its database, after the ownership check."""
    row = _stamp(handles, db, model_id, owner_id)
    handle = handles.cached(row)
    if handle is None:  # the whole row (the definition) only to build the handle
        row = catalog.get_model(db=db, model_id=model_id, owner_id=owner_id)
        handle = _handle(handles, db, row)
    try:
        with handle.session() as rows_db:
            yield handle.definition, rows_db
    except ServiceError:
        raise
    except Exception:
        _settle(handles, row.id)
        _explain_race(db, row, handle.app_db)
        if handle.check() is not None:  # an I/O or format error: is the file damaged?
            handles.invalidate(row.id)
            handle.refuse_if_damaged()
        raise


def _handle(handles: Handles, db: DAL, row: Row) -> AppHandle:
    try:
        return handles.handle_for(row)
    except Unavailable:
        # Tables missing while the model is being deleted or changed are that race, not damage.
        _settle(handles, row.id)
        _explain_race(db, row, catalog.app_database(settings=handles.settings, row=row))
        raise


def _settle(handles: Handles, model_id: str) -> None:
    # A schema change or delete of this model may be under way: once it is over (its lock is
    # free), the catalog and the database say whether a failure was that race.
    with locks.model_lock(settings=handles.settings, model_id=model_id):
        pass


def _stamp(handles: Handles, db: DAL, model_id: str, owner_id: uuid.UUID | None) -> Row:
    """The model's STAMP_FIELDS if ``owner_id`` may see it (NotFound otherwise)."""

    def read() -> Row:
        return catalog.get_model(
            db=db, model_id=model_id, owner_id=owner_id, fields=catalog.STAMP_FIELDS
        )

    if handles.stamps is None:
        return read()
    return handles.stamps.get(db._adapter.connection, (model_id, owner_id), read)


def _explain_race(db: DAL, row: Row, app_db: store.AppDatabase) -> None:
    # A failure on a model deleted or changed meanwhile (a missing table, a dropped schema) is
    # the race, not a bug: 404 for a deleted model, 409 for a changed one (issue 14). The app
    # database changes first and the catalog commits after, so both are looked at.
    table = db.app_model
    current = db(table.id == row.id).select(table.id, table.created_at, table.version).first()
    if current is None or not store.exists(app_db):
        raise NotFound(catalog.NOT_FOUND) from None
    changed = _key(current) != _key(row)
    if not changed:
        with suppress(Exception):  # a damaged database: the damage check answers for it
            recorded = store.recorded_definition(app_db)
            changed = recorded is not None and recorded[0] != int(row.version)
    if changed:
        raise Conflict(f"model {row.id!r} changed while this request ran; retry it") from None


def app_database_status(
    *, handles: Handles, db: DAL, model_id: str, owner_id: uuid.UUID | None
) -> dict[str, Any]:
    """The status report of the model's database, through its handle."""
    row = catalog.get_model(db=db, model_id=model_id, owner_id=owner_id)
    app_db = catalog.app_database(settings=handles.settings, row=row)
    if not store.exists(app_db):
        return {**store.status(app_db, last_seeded=row.last_seeded_at), "healthy": False}
    try:
        handle = _handle(handles, db, row)
    except Unavailable as exc:
        # Nothing is read from a damaged database: it is reported, not opened.
        return {
            "exists": True,
            "total_entities": 0,
            "entity_counts": {},
            "last_seeded": row.last_seeded_at,
            "schema_version": store.schema_version(app_db.definition),
            "size_bytes": store.size_bytes(app_db),
            "in_sync": False,
            "healthy": False,
            "problem": exc.detail,
        }
    with handle.session() as rows_db:
        report = store.status(handle.app_db, last_seeded=row.last_seeded_at, rows_db=rows_db)
    return {**report, "healthy": True}


def seed_app_database(
    *, handles: Handles, db: DAL, model_id: str, owner_id: uuid.UUID | None, **options: Any
) -> dict[str, int]:
    """Seed the model's database through its handle (all or nothing) and remember when."""
    from services.appdb import seed  # Faker: only for seeding

    with open_app_database(handles=handles, db=db, model_id=model_id, owner_id=owner_id) as (
        definition,
        rows_db,
    ):
        result = seed.seed(db=rows_db, definition=definition, **options)
    catalog.mark_seeded(db=db, model_id=model_id)
    return result


def delete_model(*, handles: Handles, db: DAL, model_id: str, owner_id: uuid.UUID | None) -> None:
    """Close the model's handle, then drop its database and forget it."""
    with locks.model_lock(settings=handles.settings, model_id=model_id):
        handles.invalidate(model_id)
        catalog.delete_model(db=db, settings=handles.settings, model_id=model_id, owner_id=owner_id)
        db.commit()
        handles.invalidate(model_id)  # a request may have opened it again meanwhile


def update_model(*, handles: Handles, db: DAL, model_id: str, **options: Any):
    """catalog.update_model under the model's lock, then the old handle is closed (the next
    request builds the new one)."""
    with locks.model_lock(settings=handles.settings, model_id=model_id):
        try:
            result = catalog.update_model(
                db=db, settings=handles.settings, model_id=model_id, **options
            )
            db.commit()  # before the lock goes: the next change must read this version
            return result
        finally:
            handles.invalidate(model_id)


def migrate_model(*, handles: Handles, db: DAL, model_id: str, **options: Any):
    """catalog.migrate_model under the model's lock, then the handle is closed: its tables may no
    longer match."""
    with locks.model_lock(settings=handles.settings, model_id=model_id):
        try:
            result = catalog.migrate_model(
                db=db, settings=handles.settings, model_id=model_id, **options
            )
            db.commit()
            return result
        finally:
            handles.invalidate(model_id)
