"""SQLAlchemy engines: used for DDL, migrations and the parity check only, never for row I/O."""

from __future__ import annotations

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.pool import NullPool

from services.db.pragmas import apply_sqlite_pragmas
from services.db.urls import DatabaseTarget


def make_engine(target: DatabaseTarget) -> Engine:
    """An engine for ``target``; on SQLite, pragmas set and DDL made transactional."""
    if target.family != "sqlite":
        return create_engine(target.sa_url, poolclass=NullPool)
    engine = create_engine(target.sa_url, poolclass=NullPool)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # The driver's own transaction handling commits DDL behind our back; take it over
        # (SQLAlchemy's documented pysqlite recipe) so a migration is all-or-nothing.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        apply_sqlite_pragmas(cursor.execute)
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        connection.exec_driver_sql("BEGIN")

    return engine
