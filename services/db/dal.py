"""PyDAL connections: one DAL per process (or per test), tables defined once when it is made."""

from __future__ import annotations

from pydal import DAL
from pydal._globals import GLOBAL_LOCKER, THREAD_LOCAL
from pydal.adapters import adapters
from pydal.adapters.mysql import MySQL
from pydal.adapters.sqlite import SQLite
from pydal.connection import ConnectionPool

from services.db.drivers import ensure_driver
from services.db.pragmas import apply_sqlite_pragmas
from services.db.tables import define_tables
from services.db.urls import DatabaseTarget
from services.db.writers import starts_a_write, writer_for


@adapters.register_for("mysqlstrict")
class StrictMySQL(MySQL):
    """PyDAL's MySQL adapter, keeping strict mode when it turns off backslash escapes, at READ
    COMMITTED like PostgreSQL.

    The stock adapter sets sql_mode to NO_BACKSLASH_ESCAPES alone, which also drops
    STRICT_ALL_TABLES: MariaDB would then truncate over-long values silently.
    """

    drivers = ("pymysql",)

    def _initialize_(self):
        super()._initialize_()
        # PyDAL still passes PyMySQL's deprecated argument names.
        for old, new in (("db", "database"), ("passwd", "password")):
            if old in self.driver_args:
                self.driver_args[new] = self.driver_args.pop(old)

    def after_connection(self):
        self.execute("SET FOREIGN_KEY_CHECKS=1;")
        # READ COMMITTED, as on PostgreSQL: REPEATABLE READ's locking reads also lock the gaps
        # around rows that do not exist yet, so a sync batch locking the feed entries of its new
        # rows deadlocked REST writes of other rows (tests/db/test_concurrent_writes.py).
        self.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED;")
        self.execute(
            "SET SESSION sql_mode='NO_BACKSLASH_ESCAPES,STRICT_ALL_TABLES,"
            "NO_ZERO_DATE,NO_ZERO_IN_DATE,ERROR_FOR_DIVISION_BY_ZERO,"
            "NO_ENGINE_SUBSTITUTION';"
        )


@adapters.register_for("sqlite")
class QueuedSQLite(SQLite):
    """PyDAL's SQLite adapter, whose write transactions take turns in this process.

    A connection becoming a writer (its first INSERT, UPDATE, DELETE or BEGIN outside a
    transaction) first waits for the file's Writer (services/db/writers.py); its commit or
    rollback lets the next one in.
    """

    def _initialize_(self):
        super()._initialize_()
        self.writer = writer_for(self.dbpath)

    def execute(self, *args, **kwargs):
        """PyDAL's execute, after waiting for this file's writer turn if the command needs one."""
        connection = getattr(THREAD_LOCAL, self._connection_uname_, None)
        if connection is not None and not connection.in_transaction and starts_a_write(args[0]):
            self.writer.enter()
        return super().execute(*args, **kwargs)

    def commit(self):
        """Commit, then let the next writer in."""
        try:
            return super().commit()
        finally:
            self.writer.leave()

    def rollback(self):
        """Roll back, then let the next writer in."""
        try:
            return super().rollback()
        finally:
            self.writer.leave()


def _pydal_uri(target: DatabaseTarget) -> str:
    if target.family == "mysql":
        return target.pydal_uri.replace("mysql:pymysql://", "mysqlstrict://", 1)
    return target.pydal_uri


def _after_connection(adapter) -> None:
    if adapter.dbengine == "sqlite":
        apply_sqlite_pragmas(adapter.execute)


def open_dal(target: DatabaseTarget, *, pool_size: int = 0, define: bool = True) -> DAL:
    """A DAL on ``target`` with the main tables defined (migrate=False: no DDL, no files)."""
    ensure_driver(target.family)
    db = DAL(
        _pydal_uri(target),
        pool_size=pool_size,
        migrate=False,
        fake_migrate_all=True,
        migrate_enabled=False,
        decode_credentials=True,
        after_connection=_after_connection,
        adapter_args={"driver": "pymysql"} if target.family == "mysql" else None,
        folder=None,
    )
    if target.family == "sqlite" and pool_size:
        # PyDAL's SQLite adapter forces pool_size=0: every request would open the file, run the
        # pragmas and, closing the last connection, checkpoint and delete the WAL. A pooled
        # connection is still used by one thread at a time (check_same_thread is off).
        db._adapter.pool_size = pool_size
    if define:
        define_tables(db, target.family)
    return db


def forget_dal(db: DAL) -> None:
    """Take ``db`` out of this thread's PyDAL registry, where it would live as long as the thread
    (a waitress worker's: every DAL made per request stayed, ~90 KB each, issue 14)."""
    registry = getattr(THREAD_LOCAL, "_pydal_db_instances_", {})
    group = registry.get(db._db_uid, [])
    if db in group:
        group.remove(db)
    if not group:
        registry.pop(db._db_uid, None)


def live_dals() -> int:
    """DAL objects in this thread's PyDAL registry (a leak if it grows with requests)."""
    return sum(len(g) for g in getattr(THREAD_LOCAL, "_pydal_db_instances_", {}).values())


def close_dal(db: DAL) -> None:
    """Close this thread's connection and every pooled one (PyDAL's close only pools them)."""
    adapter = db._adapter
    adapter.close("rollback", really=True)
    forget_dal(db)
    # The pool is keyed by URI and shared with any other DAL on the same database: empty it
    # in place (idle connections only) rather than removing it from under the others.
    with GLOBAL_LOCKER:
        pool = ConnectionPool.POOLS.get(adapter.uri, [])
        idle, pool[:] = list(pool), []
    for connection in idle:
        try:
            connection.close()
        except Exception:  # noqa: BLE001 - already broken; nothing left to release
            pass
