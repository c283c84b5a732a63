"""One database per app model: where it lives, creating and dropping it, its status and drift.

SQLite: a file ``{data_dir}/apps/{model_id}.db``. PostgreSQL: a schema of the main database
(``app_<slug>``). MySQL/MariaDB: a database of its own on the main server (same name). A model's
tables are never visible from another model's connection: SQLAlchemy connections to a
PostgreSQL app schema are pinned to it by ``search_path``, and its PyDAL tables carry the
schema-qualified name, so neither layer depends on the other's settings.

SQLAlchemy is used here for DDL, reflection and the drift check only; rows go through PyDAL.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydal import DAL

from services.appdb.definition import Definition
from services.appdb.schema import SCHEMA_RECORD, build_metadata, define_pydal
from services.db import feed
from services.db.dal import close_dal, open_dal
from services.db.urls import DatabaseTarget, sqlite_target, with_database
from services.errors import Conflict, Invalid, NotFound
from services.lazy import LazyModule
from services.schemas import MODEL_ID_PATTERN

if TYPE_CHECKING:
    from services.db.parity import Finding

# DDL, inspection and the parity check only: reading and writing rows (PyDAL) never loads them
# (~23 MB of RSS with Alembic, which the parity check brings).
sa = LazyModule("sqlalchemy")
parity = LazyModule("services.db.parity")
engines = LazyModule("services.db.engine")

APPS_FOLDER = "apps"
NAME_PREFIX = "app_"
HASHED_PREFIX = "apph_"
MAX_NAME_LENGTH = 63  # PostgreSQL's identifier limit
MYSQL_MAX_NAME_LENGTH = 64
_SQLITE_SUFFIXES = ("", "-wal", "-shm", "-journal")
MIGRATE_FIX = "migrate the app database (POST .../app-database/sync) or recreate the model"
BUILD_FIX = "make build_metadata and define_pydal (services/appdb/schema.py) agree"


@dataclass(frozen=True)
class AppDatabase:
    """Where one model's data lives and the definition its schema is built from."""

    model_id: str
    definition: Definition
    target: DatabaseTarget  # the SQLite file, the main PostgreSQL database, or the MySQL database
    schema: str | None  # the PostgreSQL schema; None elsewhere
    family: str

    @property
    def label(self) -> str:
        """Where it lives, for messages (no password)."""
        if self.family == "sqlite":
            return str(self.target.sqlite_path)
        if self.schema:
            return f"schema {self.schema} of {self.target.render()}"
        return self.target.render()


def database_name(*, model_id: str) -> str:
    """The PostgreSQL schema or MySQL database name of a model (distinct ids give distinct names).

    A lower-case id gives ``app_<id with '-' as '_'>``, which no two such ids share. Any other id
    (upper case, or too long) gives ``apph_<start>_<12 hex of its SHA-256>``: the other prefix
    keeps it apart from the first kind, and the hash apart from ids that differ only in case.
    """
    _check_model_id(model_id)
    slug = model_id.replace("-", "_")
    if slug == slug.lower() and len(NAME_PREFIX) + len(slug) <= MAX_NAME_LENGTH:
        return NAME_PREFIX + slug
    digest = hashlib.sha256(model_id.encode()).hexdigest()[:12]
    head = slug.lower()[: MAX_NAME_LENGTH - len(HASHED_PREFIX) - 1 - len(digest)]
    return f"{HASHED_PREFIX}{head}_{digest}"


def _check_model_id(model_id: str) -> None:
    # The id ends up in a file name and in SQL identifiers: never trust the caller on it.
    if not re.fullmatch(MODEL_ID_PATTERN, model_id):
        raise Invalid(f"model id {model_id!r} does not match {MODEL_ID_PATTERN}")


def locate(
    *, main: DatabaseTarget, data_dir: Path, model_id: str, definition: Definition
) -> AppDatabase:
    """Where the model's database lives, next to the main database ``main``."""
    _check_model_id(model_id)
    if main.family == "sqlite":
        path = Path(data_dir) / APPS_FOLDER / f"{model_id}.db"
        return AppDatabase(model_id, definition, sqlite_target(path), None, "sqlite")
    name = database_name(model_id=model_id)
    if main.family == "postgresql":
        return AppDatabase(model_id, definition, main, name, "postgresql")
    database = server_database_name(main_database=main.sa_url.database, model_id=model_id)
    return AppDatabase(model_id, definition, with_database(main, database), None, main.family)


def server_database_name(*, main_database: str, model_id: str) -> str:
    """The MySQL/MariaDB database of a model: ``<main database>__<database_name>``.

    Databases are server-wide there, so the main database's name keeps two services sharing
    a server apart; a combined name that is too long or unusual becomes a hash of both.
    """
    name = f"{main_database}__{database_name(model_id=model_id)}"
    if len(name) <= MYSQL_MAX_NAME_LENGTH and re.fullmatch(r"[a-z0-9_]+", name):
        return name
    digest = hashlib.sha256(f"{main_database}\0{model_id}".encode()).hexdigest()[:16]
    return f"{HASHED_PREFIX}{model_id.lower().replace('-', '_')[:30]}_{digest}"


def with_definition(app_db: AppDatabase, definition: Definition) -> AppDatabase:
    """The same database described by another definition (after a migration)."""
    return replace(app_db, definition=definition)


def schema_version(definition: Definition) -> str:
    """A short hash of the definition's JSON: equal definitions, equal versions."""
    text = json.dumps(
        definition.model_dump(mode="json", by_alias=True), sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(text.encode()).hexdigest()[:12]


# --------------------------------------------------------------------------- connections


def _quote(name: str) -> str:
    # Names come from database_name() only ([a-z0-9_]), so quoting is belt and braces.
    return '"' + name.replace('"', '""') + '"'


def app_engine(app_db: AppDatabase) -> sa.Engine:
    """An engine on the model's database; on PostgreSQL every connection is pinned to its schema.

    Only the app schema (then pg_catalog) is on the search path, so unqualified DDL lands in
    it, reflection sees only its tables, and a missing schema makes CREATE TABLE fail instead
    of writing into ``public``. Callers dispose the engine.
    """
    engine = engines.make_engine(app_db.target)
    if app_db.schema is not None:
        pin = f"SET search_path TO {_quote(app_db.schema)}, pg_catalog"

        @sa.event.listens_for(engine, "connect")
        def _pin(dbapi_connection, _record):
            cursor = dbapi_connection.cursor()
            cursor.execute(pin)
            cursor.close()
            # psycopg2 opened a transaction for the SET; keep it (session-level) and end it.
            dbapi_connection.commit()

    return engine


@contextmanager
def connect(app_db: AppDatabase) -> Iterator[sa.Connection]:
    """A SQLAlchemy connection on the model's database (DDL and inspection only)."""
    engine = app_engine(app_db)
    try:
        with engine.connect() as connection:
            yield connection
    finally:
        engine.dispose()


def _server_engine(app_db: AppDatabase) -> sa.Engine:
    # MySQL: a connection to the server with no database selected, for CREATE/DROP DATABASE.
    url = app_db.target.sa_url._replace(database=None)  # URL.set() cannot clear a field
    return sa.create_engine(url, poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT")


def exists(app_db: AppDatabase) -> bool:
    """Whether the model's database (file, schema or database) exists."""
    if app_db.family == "sqlite":
        path = app_db.target.sqlite_path
        return path is not None and path.exists()
    if app_db.family == "postgresql":
        engine = engines.make_engine(app_db.target)
        query = "SELECT 1 FROM information_schema.schemata WHERE schema_name = :name"
        name = app_db.schema
    else:
        engine = _server_engine(app_db)
        query = "SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = :name"
        name = app_db.target.sa_url.database
    try:
        with engine.connect() as connection:
            return connection.execute(sa.text(query), {"name": name}).first() is not None
    finally:
        engine.dispose()


def ensure_schema(connection: sa.Connection, app_db: AppDatabase) -> None:
    """On PostgreSQL, create the app schema if needed and check DDL will land in it."""
    if app_db.schema is None:
        return
    connection.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {_quote(app_db.schema)}")
    current = connection.exec_driver_sql("SELECT current_schema()").scalar()
    if current != app_db.schema:
        raise RuntimeError(f"DDL would go to schema {current!r}, not {app_db.schema!r}")


# --------------------------------------------------------------------------- create, drop


def create(app_db: AppDatabase, *, version: int = 1) -> None:
    """Create the model's database and all its tables; a no-op if it exists and matches.

    Raises Conflict when the database exists with tables that differ from the definition
    (a migration, not a create, changes a schema).
    """
    existed = exists(app_db)
    if existed and _has_tables(app_db):
        found = differences(app_db)
        if found:
            raise Conflict(
                f"the app database of model {app_db.model_id!r} already exists with another "
                f"schema ({len(found)} difference(s)); migrate it instead "
                "(POST .../app-database/sync): " + "; ".join(found[:5])
            )
        return
    if app_db.family == "sqlite":
        app_db.target.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    elif app_db.family == "mysql" and not existed:
        engine = _server_engine(app_db)
        try:
            with engine.connect() as connection:
                quoted = engine.dialect.identifier_preparer.quote(app_db.target.sa_url.database)
                connection.exec_driver_sql(
                    f"CREATE DATABASE IF NOT EXISTS {quoted} "
                    "CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
                )
        finally:
            engine.dispose()
    try:
        engine = app_engine(app_db)
        try:
            # One transaction: SQLite (see make_engine) and PostgreSQL roll DDL back on error.
            with engine.begin() as connection:
                ensure_schema(connection, app_db)
                metadata = build_metadata(app_db.definition)
                metadata.create_all(connection)
                # The feed's counter row, so no two first writers race to create it.
                connection.execute(
                    metadata.tables["sync_counter"]
                    .insert()
                    .values(name=feed.COUNTER, value=0, epoch=uuid.uuid4().hex)
                )
                record_definition(connection, metadata, app_db.definition, version)
                # Tables just made from the definition's own metadata agree with it (that
                # build_metadata and define_pydal agree is the parity tests' business).
                built = catalogue_digest(
                    app_db, lambda sql: connection.exec_driver_sql(sql).fetchall()
                )
            _remember(app_db, built)
        finally:
            engine.dispose()
    except BaseException:
        if not existed:
            # MySQL DDL is not transactional, and an SQLite file stays behind: clean up.
            with suppress(Exception):
                drop(app_db)
        raise


def record_definition(
    connection: sa.Connection, metadata: sa.MetaData, definition: Definition, version: int
) -> None:
    """Store the definition the schema now has, and the model version it goes with, in the
    caller's (DDL) transaction."""
    table = metadata.tables[SCHEMA_RECORD]
    table.create(connection, checkfirst=True)  # a database made before the record existed
    connection.execute(table.delete())
    connection.execute(
        table.insert().values(
            id=1,
            version=version,
            definition=definition.model_dump_json(by_alias=True, exclude_none=True),
        )
    )


def restart_feed(connection: sa.Connection, metadata: sa.MetaData) -> None:
    """A new feed epoch, in the caller's (DDL) transaction: rows a schema change altered carry
    no feed entries, so every client starts over."""
    counter = metadata.tables["sync_counter"]
    epoch = uuid.uuid4().hex
    done = connection.execute(
        counter.update().where(counter.c.name == feed.COUNTER).values(epoch=epoch)
    ).rowcount
    if not done:  # a database made before the counter row existed
        rows = metadata.tables["sync_row"]
        top = connection.execute(sa.select(sa.func.max(rows.c.seq))).scalar() or 0
        connection.execute(counter.insert().values(name=feed.COUNTER, value=top, epoch=epoch))


def recorded_definition(app_db: AppDatabase) -> tuple[int, Definition] | None:
    """The (version, definition) the schema was last built from, or None if not recorded."""
    if not exists(app_db):
        return None
    db = open_rows_dal(app_db)
    try:
        table = db[SCHEMA_RECORD]
        try:
            row = db(table.id == 1).select(table.version, table.definition).first()
        except Exception:  # noqa: BLE001 - no record table: made before it existed
            return None
        if row is None:
            return None
        return int(row.version), Definition.model_validate_json(row.definition)
    finally:
        close_dal(db)


def _has_tables(app_db: AppDatabase) -> bool:
    with connect(app_db) as connection:
        return bool(sa.inspect(connection).get_table_names())


def drop(app_db: AppDatabase) -> None:
    """Drop the model's database: the file (and its -wal/-shm), the schema, or the database.

    Close every DAL on it first: an open PostgreSQL transaction on its tables blocks the drop.
    """
    if app_db.family == "sqlite":
        path = app_db.target.sqlite_path
        for suffix in _SQLITE_SUFFIXES:
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    if app_db.family == "postgresql":
        engine = engines.make_engine(app_db.target)
        statement = f"DROP SCHEMA IF EXISTS {_quote(app_db.schema)} CASCADE"
        try:
            with engine.begin() as connection:
                connection.exec_driver_sql(statement)
        finally:
            engine.dispose()
        return
    engine = _server_engine(app_db)
    try:
        with engine.connect() as connection:
            quoted = engine.dialect.identifier_preparer.quote(app_db.target.sa_url.database)
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {quoted}")
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- rows


def open_rows_dal(app_db: AppDatabase) -> DAL:
    """A DAL on the model's database with its PyDAL tables defined; close it with close_dal.

    Raises NotFound for a missing SQLite file (opening it would create an empty one).
    """
    if app_db.family == "sqlite" and not exists(app_db):
        raise NotFound(f"the app database of model {app_db.model_id!r} does not exist")
    db = open_dal(app_db.target, define=False)
    try:
        define_pydal(db, app_db.definition, app_db.family, schema=app_db.schema)
    except BaseException:
        close_dal(db)
        raise
    return db


@contextmanager
def transaction(app_db: AppDatabase) -> Iterator[DAL]:
    """A DAL on the model's database for one unit of work: committed when the block succeeds,
    rolled back when it raises, closed either way."""
    db = open_rows_dal(app_db)
    try:
        yield db
        db.commit()
    except BaseException:
        db.rollback()
        raise
    finally:
        close_dal(db)


# --------------------------------------------------------------------------- status, drift


def differences(app_db: AppDatabase, *, rows_db: DAL | None = None) -> list[str]:
    """Every way the live database, the definition's tables and its PyDAL tables disagree
    (``rows_db``: the handle's DAL on it, else one is opened for the check)."""
    if not exists(app_db):
        return [f"the app database of model {app_db.model_id!r} does not exist ({app_db.label})"]
    metadata = build_metadata(app_db.definition)
    db = rows_db or open_rows_dal(app_db)
    try:
        findings = [replace(f, fix=BUILD_FIX) for f in parity.compare_models_to_pydal(metadata, db)]
        with connect(app_db) as connection:
            # Alembic's comparison (compare_metadata, types included) plus enum members.
            findings += [
                _reworded(f, check="definition-vs-database")
                for f in parity.compare_models_to_database(metadata, connection)
            ]
            findings += [_reworded(f) for f in parity.compare_database_to_pydal(connection, db)]
    finally:
        if rows_db is None:
            close_dal(db)
    return [str(f) for f in findings]


def _reworded(finding: Finding, check: str | None = None) -> Finding:
    # The parity check speaks of the main database's migrations; here the fix is an
    # app-database migration.
    def say(text: str) -> str:
        return (
            text.replace("no migration creates it", "the app database lacks it")
            .replace(
                "the migrations create it (a migration must drop it)", "the app database has it"
            )
            .replace("the migrations make", "the app database has")
            .replace("the models", "the definition")
            .replace("migrated database", "app database")
        )

    return replace(
        finding,
        check=check or finding.check,
        left=say(finding.left),
        right=say(finding.right),
        fix=MIGRATE_FIX,
    )


# The catalogue of each backend, read in one round of queries: every table, column (type,
# nullability, default), index and constraint of the app database. Names are inlined only as
# the schema's name, which database_name() makes of [a-z0-9_].
_CATALOGUE = {
    "sqlite": ["SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name"],
    "postgresql": [
        "SELECT table_name, column_name, data_type, is_nullable, column_default, "
        "character_maximum_length FROM information_schema.columns WHERE table_schema = '{schema}' "
        "ORDER BY table_name, ordinal_position",
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE connamespace = '{schema}'::regnamespace ORDER BY 1, 2",
        "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = '{schema}' "
        "ORDER BY 1, 2",
    ],
    "mysql": [
        "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT "
        "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() "
        "ORDER BY TABLE_NAME, ORDINAL_POSITION",
        "SELECT TABLE_NAME, INDEX_NAME, COLUMN_NAME, NON_UNIQUE, SEQ_IN_INDEX "
        "FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() ORDER BY 1, 2, 5",
        "SELECT TABLE_NAME, CONSTRAINT_NAME, COLUMN_NAME, REFERENCED_TABLE_NAME, "
        "REFERENCED_COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE "
        "WHERE TABLE_SCHEMA = DATABASE() ORDER BY 1, 2, 3",
        "SELECT CONSTRAINT_NAME, TABLE_NAME, DELETE_RULE FROM "
        "information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE() "
        "ORDER BY 1",
        "SELECT CONSTRAINT_NAME, TABLE_NAME, CHECK_CLAUSE FROM "
        "information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE() ORDER BY 1, 2",
    ],
}
# Catalogues the full check found in agreement with a definition, by (database, definition).
# The full check reflects every table (32 s for the largest definition of issue 14, 2 s for 20
# entities of 30 fields); a catalogue read is a few queries, and any DDL changes its digest.
_VERIFIED: dict[tuple[str, str], str] = {}
_VERIFIED_MAX = 1024
_VERIFIED_LOCK = threading.Lock()


def catalogue_digest(app_db: AppDatabase, run: Callable[[str], Iterable[Any]]) -> str:
    """A digest of every table, column, index and constraint of the live database; ``run``
    executes one query (a PyDAL ``executesql`` or a SQLAlchemy connection's)."""
    digest = hashlib.sha256()
    for query in _CATALOGUE[app_db.family]:
        for row in run(query.format(schema=app_db.schema or "")):
            digest.update(repr(tuple(row)).encode())
    return digest.hexdigest()


def _verified_key(app_db: AppDatabase) -> tuple[str, str]:
    return (app_db.label, app_db.definition.model_dump_json(by_alias=True))


def _remember(app_db: AppDatabase, digest: str) -> None:
    with _VERIFIED_LOCK:
        _VERIFIED.pop(_verified_key(app_db), None)
        _VERIFIED[_verified_key(app_db)] = digest
        while len(_VERIFIED) > _VERIFIED_MAX:
            _VERIFIED.pop(next(iter(_VERIFIED)))


def in_sync(app_db: AppDatabase, *, rows_db: DAL | None = None) -> bool:
    """True when the live database, the definition and its PyDAL tables all agree.

    The full check runs once per catalogue: while the catalogue's digest is the one last found
    (or built) in agreement with this definition, nothing can have drifted.
    """
    if not exists(app_db):
        return False
    db = rows_db or open_rows_dal(app_db)
    try:
        digest = catalogue_digest(app_db, db.executesql)
        with _VERIFIED_LOCK:
            if _VERIFIED.get(_verified_key(app_db)) == digest:
                return True
        if differences(app_db, rows_db=db):
            return False
        _remember(app_db, digest)
        return True
    finally:
        if rows_db is None:
            close_dal(db)


def size_bytes(app_db: AppDatabase) -> int:
    """Bytes on disk: the SQLite file and its WAL, or the tables and indexes on a server."""
    if app_db.family == "sqlite":
        path = app_db.target.sqlite_path
        return sum(
            Path(f"{path}{suffix}").stat().st_size
            for suffix in ("", "-wal")
            if Path(f"{path}{suffix}").exists()
        )
    if app_db.family == "postgresql":
        query = (
            "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = :schema AND c.relkind IN ('r', 'p', 'm')"
        )
        params = {"schema": app_db.schema}
    else:
        query = (
            "SELECT COALESCE(SUM(DATA_LENGTH + INDEX_LENGTH), 0) FROM information_schema.TABLES "
            "WHERE TABLE_SCHEMA = DATABASE()"
        )
        params = {}
    with connect(app_db) as connection:
        return int(connection.execute(sa.text(query), params).scalar() or 0)


def entity_counts(*, db: DAL, definition: Definition) -> dict[str, int | None]:
    """Rows per entity through PyDAL; None for an entity whose table cannot be read."""
    counts: dict[str, int | None] = {}
    for entity in definition.entities:
        table = db[entity.name]
        try:
            counts[entity.name] = db(table.id != None).count()  # noqa: E711 - PyDAL's IS NOT NULL
        except Exception:  # noqa: BLE001 - a missing table is reported as None, not a 500
            db.rollback()
            counts[entity.name] = None
    db.rollback()
    return counts


def status(app_db: AppDatabase, *, last_seeded: Any = None, rows_db: DAL | None = None) -> dict:
    """exists, total_entities, entity_counts, last_seeded, schema_version, size_bytes, in_sync
    (``rows_db``: the handle's DAL on the database, else one is opened for the report)."""
    # total_entities is the number of rows over all entities; entity_counts has one per entity.
    report = {
        "exists": exists(app_db),
        "total_entities": 0,
        "entity_counts": {},
        "last_seeded": last_seeded,
        "schema_version": schema_version(app_db.definition),
        "size_bytes": 0,
        "in_sync": False,
    }
    if not report["exists"]:
        return report
    db = rows_db or open_rows_dal(app_db)
    try:
        counts = entity_counts(db=db, definition=app_db.definition)
        report["in_sync"] = in_sync(app_db, rows_db=db)
    finally:
        if rows_db is None:
            close_dal(db)
    report["entity_counts"] = counts
    report["total_entities"] = sum(n for n in counts.values() if n)
    report["size_bytes"] = size_bytes(app_db)
    return report


# --------------------------------------------------------------------------- moving aside


def rename_schema(app_db: AppDatabase, name: str) -> None:
    """PostgreSQL: rename the model's schema to ``name`` (the quarantine)."""
    engine = engines.make_engine(app_db.target)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql(
                f"ALTER SCHEMA {_quote(app_db.schema)} RENAME TO {_quote(name)}"
            )
    finally:
        engine.dispose()


def move_database(app_db: AppDatabase, name: str) -> None:
    """MySQL/MariaDB: move every table of the model's database into a new database ``name``
    (there is no RENAME DATABASE), then drop the empty one."""
    engine = _server_engine(app_db)
    quote = engine.dialect.identifier_preparer.quote
    old = app_db.target.sa_url.database
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql(
                f"CREATE DATABASE {quote(name)} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
            )
            tables = connection.execute(
                sa.text(
                    "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = :db"
                ),
                {"db": old},
            ).scalars()
            moves = [f"{quote(old)}.{quote(t)} TO {quote(name)}.{quote(t)}" for t in tables]
            if moves:
                connection.exec_driver_sql("SET FOREIGN_KEY_CHECKS=0")
                connection.exec_driver_sql("RENAME TABLE " + ", ".join(moves))
            connection.exec_driver_sql(f"DROP DATABASE {quote(old)}")
    finally:
        engine.dispose()


def list_names(main: DatabaseTarget, prefix: str) -> list[str]:
    """Server schemas (PostgreSQL) or databases (MySQL) whose name starts with ``prefix``."""
    if main.family == "postgresql":
        engine = engines.make_engine(main)
        query = "SELECT schema_name FROM information_schema.schemata"
    else:
        engine = sa.create_engine(
            main.sa_url._replace(database=None),
            poolclass=sa.pool.NullPool,
            isolation_level="AUTOCOMMIT",
        )
        query = "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA"
    try:
        with engine.connect() as connection:
            names = connection.execute(sa.text(query)).scalars().all()
    finally:
        engine.dispose()
    return sorted(n for n in names if n.startswith(prefix))


def drop_name(main: DatabaseTarget, name: str) -> None:
    """Drop a server schema (PostgreSQL) or database (MySQL) by name."""
    if main.family == "postgresql":
        engine = engines.make_engine(main)
        statement = f"DROP SCHEMA IF EXISTS {_quote(name)} CASCADE"
    else:
        engine = sa.create_engine(
            main.sa_url._replace(database=None),
            poolclass=sa.pool.NullPool,
            isolation_level="AUTOCOMMIT",
        )
        statement = f"DROP DATABASE IF EXISTS {engine.dialect.identifier_preparer.quote(name)}"
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql(statement)
    finally:
        engine.dispose()
