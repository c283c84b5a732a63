"""MySQL/MariaDB app-database schema changes, all or nothing (issue 16, item 4).

MariaDB's DDL commits statement by statement, so a change cannot run in one transaction as on
SQLite and PostgreSQL. Instead the new schema is built beside the old one, in the shadow
database ``<db>__new``; the rows are copied and converted (services/appdb/conversion.py, as on
the other backends) and counted; then one ``RENAME TABLE`` moves every old table to
``<db>__old`` and every new one into ``<db>``. A multi-table RENAME is atomic in MariaDB, so at
any crash ``<db>`` holds either the old schema with its rows or the new one with its rows;
``recover`` (at start-up, and before each change of the model) drops whatever is left beside it.

Row writes are frozen for the copy: a ``frozen`` row in the live ``sync_counter`` makes every
writer refuse (409, retry) when it takes its feed number (services/db/feed.py), and inserting it
waits for the writers that had already looked. The new tables have no such row, so writes resume
with the swap.

``APPDB_CRASH_AT`` (tests only): a step name (``before_copy``, ``mid_copy``, ``before_swap``,
``after_swap``) at which the process SIGKILLs itself, so tests can show every crash leaves one
complete schema.
"""

from __future__ import annotations

import hashlib
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import replace

import sqlalchemy as sa
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from sqlalchemy.pool import NullPool

from services.appdb import conversion
from services.appdb.definition import Definition
from services.appdb.schema import SCHEMA_RECORD, sa_type
from services.appdb.store import AppDatabase, differences, record_definition, restart_feed
from services.db import feed
from services.db.engine import make_engine
from services.db.urls import with_database

NEW_SUFFIX = "__new"
OLD_SUFFIX = "__old"
MAX_NAME = 64
CRASH_ENV = "APPDB_CRASH_AT"
CRASH_STEPS = ("before_copy", "mid_copy", "before_swap", "after_swap")


def crash_point(step: str) -> None:
    """Die as kill -9 would at ``step`` when APPDB_CRASH_AT names it (tests only)."""
    if os.environ.get(CRASH_ENV) == step:
        os.kill(os.getpid(), signal.SIGKILL)


def beside(name: str, suffix: str) -> str:
    """The name of the database kept beside ``name`` during a change (at most 64 characters)."""
    if len(name) + len(suffix) <= MAX_NAME:
        return name + suffix
    digest = hashlib.sha256(name.encode()).hexdigest()[:12]
    return f"{name[: MAX_NAME - len(suffix) - len(digest) - 1]}_{digest}{suffix}"


def _server(app_db: AppDatabase) -> sa.Engine:
    url = app_db.target.sa_url._replace(database=None)
    return sa.create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")


@contextmanager
def _on_server(app_db: AppDatabase) -> Iterator[sa.Connection]:
    engine = _server(app_db)
    try:
        with engine.connect() as connection:
            yield connection
    finally:
        engine.dispose()


def _q(connection: sa.Connection, *names: str) -> str:
    quote = connection.dialect.identifier_preparer.quote
    return ".".join(quote(n) for n in names)


def _tables(connection: sa.Connection, database: str) -> list[str]:
    rows = connection.execute(
        sa.text(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = :db "
            "ORDER BY TABLE_NAME"
        ),
        {"db": database},
    )
    return list(rows.scalars())


def _exists(connection: sa.Connection, database: str) -> bool:
    query = sa.text("SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = :db")
    return connection.execute(query, {"db": database}).first() is not None


def _drop(connection: sa.Connection, database: str) -> None:
    connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {_q(connection, database)}")


# --------------------------------------------------------------------------- freezing writes


def freeze(app_db: AppDatabase) -> None:
    """Make row writes on the model's database refuse until ``thaw`` or the swap."""
    with _on_server(app_db) as connection:
        live = app_db.target.sa_url.database
        counter = _q(connection, live, "sync_counter")
        connection.exec_driver_sql(
            f"INSERT IGNORE INTO {counter} (name, value, epoch) VALUES (%s, 0, '')",
            (feed.FROZEN,),
        )
        # Writers look for the row after taking the counter row (feed.allocate): this waits
        # for those that looked before it was there, and every later one sees it and refuses.
        connection.exec_driver_sql(
            f"UPDATE {counter} SET value = value WHERE name = %s", (feed.COUNTER,)
        )


def thaw(app_db: AppDatabase) -> None:
    """Let row writes on the model's database go on (the change failed or was empty)."""
    with _on_server(app_db) as connection:
        live = app_db.target.sa_url.database
        if "sync_counter" in _tables(connection, live):
            connection.exec_driver_sql(
                f"DELETE FROM {_q(connection, live, 'sync_counter')} WHERE name = %s",
                (feed.FROZEN,),
            )


# --------------------------------------------------------------------------- recovery


def recover(app_db: AppDatabase) -> bool:
    """After a crash mid-change: keep the complete schema in ``<db>``, drop the copy beside it,
    and let writes go on. Call it holding the model's lock. True when anything was left."""
    live = app_db.target.sa_url.database
    new, old = beside(live, NEW_SUFFIX), beside(live, OLD_SUFFIX)
    with _on_server(app_db) as connection:
        leftovers = [name for name in (new, old) if _exists(connection, name)]
        if not _tables(connection, live) and old in leftovers and _tables(connection, old):
            # Cannot happen with an atomic RENAME; if it ever does, the old schema comes back.
            moves = ", ".join(
                f"{_q(connection, old, t)} TO {_q(connection, live, t)}"
                for t in _tables(connection, old)
            )
            connection.exec_driver_sql(f"RENAME TABLE {moves}")
        for name in leftovers:
            _drop(connection, name)
    frozen = _is_frozen(app_db)
    if frozen:
        thaw(app_db)
    return bool(leftovers) or frozen


def _is_frozen(app_db: AppDatabase) -> bool:
    live = app_db.target.sa_url.database
    with _on_server(app_db) as connection:
        if "sync_counter" not in _tables(connection, live):
            return False
        found = connection.exec_driver_sql(
            f"SELECT 1 FROM {_q(connection, live, 'sync_counter')} WHERE name = %s",
            (feed.FROZEN,),
        ).first()
        return found is not None


# --------------------------------------------------------------------------- the change


def build_and_swap(
    app_db: AppDatabase, definition: Definition, plan, metadata: sa.MetaData, version: int
) -> None:
    """Build ``definition``'s ``metadata`` in ``<db>__new``, copy and convert the rows, verify,
    then swap. ``plan`` is the MigrationPlan made with writes frozen (its conversions hold the
    values). Raises (with ``<db>`` untouched and the shadow dropped) when a row does not fit.
    """
    live = app_db.target.sa_url.database
    new, old = beside(live, NEW_SUFFIX), beside(live, OLD_SUFFIX)
    shadow_db = replace(app_db, target=with_database(app_db.target, new), definition=definition)
    converted = {(c.table, c.column): c for c in plan.conversions}
    with _on_server(app_db) as server:
        _drop(server, new)
        _drop(server, old)
        server.exec_driver_sql(
            f"CREATE DATABASE {_q(server, new)} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
        )
        live_tables = set(_tables(server, live))
    crash_point("before_copy")
    try:
        engine = make_engine(shadow_db.target)
        try:
            with engine.begin() as connection:
                _copy(connection, live, live_tables, metadata, converted)
                record_definition(connection, metadata, shadow_db.definition, version)
                restart_feed(connection, metadata)
        finally:
            engine.dispose()
        _verify(app_db, shadow_db, live_tables, metadata)
    except BaseException:
        with suppress(Exception), _on_server(app_db) as server:
            _drop(server, new)
        raise
    crash_point("before_swap")
    with _on_server(app_db) as server:
        server.exec_driver_sql(
            f"CREATE DATABASE {_q(server, old)} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
        )
        moves = [f"{_q(server, live, t)} TO {_q(server, old, t)}" for t in sorted(live_tables)]
        moves += [f"{_q(server, new, t)} TO {_q(server, live, t)}" for t in _tables(server, new)]
        server.exec_driver_sql("RENAME TABLE " + ", ".join(moves))
        crash_point("after_swap")
        _drop(server, old)
        _drop(server, new)


def _copy(
    connection: sa.Connection,
    live: str,
    live_tables: set[str],
    metadata: sa.MetaData,
    converted: dict,
) -> None:
    # Converted columns are made without NOT NULL, filled, then made required: INSERT ... SELECT
    # copies every other column on the server, in one statement per table.
    for table, column in converted:
        metadata.tables[table].c[column].nullable = True
    try:
        metadata.create_all(connection)
    finally:
        for (table, column), c in converted.items():
            metadata.tables[table].c[column].nullable = not c.new.required
    connection.exec_driver_sql("SET FOREIGN_KEY_CHECKS = 0")  # self references, any order
    live_columns = _live_columns(connection, live)
    copied = 0
    for table in metadata.sorted_tables:
        if table.name not in live_tables or table.name == SCHEMA_RECORD:
            continue
        source = _q(connection, live, table.name)
        if connection.exec_driver_sql(f"SELECT 1 FROM {source} LIMIT 1").first() is None:
            continue  # and a required field added to it needs no value (MariaDB checks anyway)
        names = [
            c.name
            for c in table.columns
            if c.name in live_columns.get(table.name, ()) and (table.name, c.name) not in converted
        ]
        cols = ", ".join(_q(connection, n) for n in names)
        where = f" WHERE name <> '{feed.FROZEN}'" if table.name == "sync_counter" else ""
        connection.exec_driver_sql(
            f"INSERT INTO {_q(connection, table.name)} ({cols}) SELECT {cols} FROM {source}{where}"
        )
        copied += 1
        if copied == 1:
            crash_point("mid_copy")
    for c in converted.values():
        conversion.fill(connection, metadata.tables[c.table], c)
    operations = Operations(MigrationContext.configure(connection))
    for c in converted.values():
        if c.new.required:
            operations.alter_column(c.table, c.column, nullable=False, existing_type=sa_type(c.new))
    connection.exec_driver_sql("SET FOREIGN_KEY_CHECKS = 1")


def _live_columns(connection: sa.Connection, live: str) -> dict[str, set[str]]:
    rows = connection.execute(
        sa.text(
            "SELECT TABLE_NAME, COLUMN_NAME FROM information_schema.COLUMNS "
            "WHERE TABLE_SCHEMA = :db"
        ),
        {"db": live},
    )
    found: dict[str, set[str]] = {}
    for table, column in rows:
        found.setdefault(table, set()).add(column)
    return found


def _verify(
    app_db: AppDatabase, shadow_db: AppDatabase, live_tables: set[str], metadata: sa.MetaData
) -> None:
    """Every copied table has as many rows as the old one, and the new schema is the one the
    definition makes (the parity check, as after a change on the other backends)."""
    live, new = app_db.target.sa_url.database, shadow_db.target.sa_url.database
    with _on_server(app_db) as server:
        for table in metadata.tables:
            if table not in live_tables or table == SCHEMA_RECORD:
                continue
            skip = f" WHERE name <> '{feed.FROZEN}'" if table == "sync_counter" else ""
            before = server.exec_driver_sql(
                f"SELECT COUNT(*) FROM {_q(server, live, table)}{skip}"
            ).scalar()
            after = server.exec_driver_sql(
                f"SELECT COUNT(*) FROM {_q(server, new, table)}"
            ).scalar()
            if before != after:
                raise RuntimeError(f"copy of {table} has {after} rows, not {before}")
    left = differences(shadow_db)
    if left:
        raise RuntimeError(f"the new schema differs from the definition: {left[:5]}")
