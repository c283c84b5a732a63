"""Alembic, driven from code: upgrade, downgrade and the current revision of a database."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Boolean, Connection, Engine, MetaData, text

from alembic import command
from services.db.engine import make_engine
from services.db.models import metadata
from services.db.urls import DatabaseTarget, parse_database_url

ROOT = Path(__file__).resolve().parents[2]
ALEMBIC_INI = ROOT / "alembic.ini"
# PostgreSQL advisory lock key (per database) taken while a process migrates and checks the schema.
_PG_LOCK_KEY = 0x6C64735F6D696772  # "lds_migr"
LOCK_WAIT_SECONDS = 300.0


class ForeignKeyViolation(RuntimeError):
    """A migration left rows pointing at rows that do not exist."""


def alembic_config(
    connection: Connection | None = None,
    *,
    versions: Path | None = None,
    target_metadata: MetaData | None = None,
) -> Config:
    """An Alembic config for this repository, optionally bound to a live connection.

    ``versions`` adds a folder of revisions after the repository's own, and ``target_metadata``
    stands in for the models (autogenerate): the parity check's workflow test uses both.
    """
    config = Config(str(ALEMBIC_INI))
    config.set_main_option("script_location", str(ROOT / "alembic"))
    # alembic.ini's prepend_sys_path = . serves the `alembic` command run from the repository
    # root; from code it would put the process's working directory first on sys.path.
    config.set_main_option("prepend_sys_path", "")
    if versions is not None:
        folders = [str(ROOT / "alembic" / "versions"), str(versions)]
        config.set_main_option("version_locations", os.pathsep.join(folders))
    if connection is not None:
        config.attributes["connection"] = connection
    if target_metadata is not None:
        config.attributes["target_metadata"] = target_metadata
    return config


def target_for_alembic(config: Config) -> tuple[DatabaseTarget, str]:
    """The database a plain ``alembic`` command acts on, and which rule chose it.

    ``-x url=...`` or sqlalchemy.url first, else the service's own database (DATABASE_URL,
    DATA_DIR, config.json, then ./.data in a checkout: services.config.default_data_dir).
    """
    from services.config import data_dir_source, load_settings

    url = config.get_main_option("sqlalchemy.url")
    x_args = getattr(config.cmd_opts, "x", None) or []
    url = dict(a.split("=", 1) for a in x_args if "=" in a).get("url") or url
    if url:
        return parse_database_url(url), "-x url / sqlalchemy.url"
    settings = load_settings()
    if settings.database_url:
        return settings.database, "DATABASE_URL"
    return settings.database, f"data dir {settings.data_dir}, from {data_dir_source()}"


def engine_for_alembic(config: Config) -> Engine:
    """The engine for a plain ``alembic`` command: the service's own database."""
    target, _ = target_for_alembic(config)
    prepare_storage(target)
    return make_engine(target)


def prepare_storage(target: DatabaseTarget) -> None:
    """Create the folder an SQLite file lives in."""
    if target.sqlite_path is not None:
        target.sqlite_path.parent.mkdir(parents=True, exist_ok=True)


def _raw_sqlite(connection: Connection, sql: str) -> list:
    # PRAGMA foreign_keys only takes effect outside a transaction, so it bypasses
    # SQLAlchemy's autobegin and goes straight to the driver (in autocommit mode).
    cursor = connection.connection.driver_connection.cursor()
    try:
        return cursor.execute(sql).fetchall()
    finally:
        cursor.close()


def configure_and_run(context, connection: Connection) -> None:
    """Configure Alembic's context on ``connection`` and run the pending revisions.

    All revisions of one command run in one transaction. On SQLite the engine makes DDL
    transactional, so a crash part-way leaves the database at its previous revision; foreign
    keys are off while tables are rebuilt (batch mode) and checked before the commit.
    """
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        _raw_sqlite(connection, "PRAGMA foreign_keys=OFF")
    try:
        context.configure(
            connection=connection,
            target_metadata=context.config.attributes.get("target_metadata", metadata),
            render_as_batch=sqlite,
            compare_type=True,
            compare_server_default=compare_server_default,
            transactional_ddl=True,
        )
        with context.begin_transaction():
            context.run_migrations()
            if sqlite:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise ForeignKeyViolation(f"migration broke foreign keys: {broken[:5]}")
    finally:
        if sqlite:
            if connection.in_transaction():
                connection.rollback()
            _raw_sqlite(connection, "PRAGMA foreign_keys=ON")


_TRUE_SPELLINGS = {"1", "true", "'1'", "'true'", "b'1'"}
_FALSE_SPELLINGS = {"0", "false", "'0'", "'false'", "b'0'"}


def _boolean_spelling(text: str | None) -> bool | None:
    text = (text or "").strip().strip("()").lower()
    if text in _TRUE_SPELLINGS:
        return True
    if text in _FALSE_SPELLINGS:
        return False
    return None


def compare_server_default(
    context, inspected_column, metadata_column, inspected_default, metadata_default, rendered
):
    """Alembic hook: treat the spellings of one boolean default (1, true, '1') as equal.

    MySQL/MariaDB reflect ``DEFAULT true`` as ``1``, which the stock comparison reports as a
    change on every run. Returns None (use Alembic's own comparison) for anything else.
    """
    if isinstance(metadata_column.type, Boolean) and inspected_default is not None:
        inspected, wanted = _boolean_spelling(inspected_default), _boolean_spelling(rendered)
        if inspected is not None and wanted is not None:
            return inspected != wanted
    return None


def _run(target: DatabaseTarget, fn, *args, versions: Path | None = None, **kwargs) -> None:
    prepare_storage(target)
    engine = make_engine(target)
    try:
        with engine.connect() as connection:
            fn(alembic_config(connection, versions=versions), *args, **kwargs)
            if connection.in_transaction():
                connection.commit()
    finally:
        engine.dispose()


def upgrade(
    target: DatabaseTarget, revision: str = "head", *, versions: Path | None = None
) -> None:
    """Migrate ``target`` up to ``revision``."""
    _run(target, command.upgrade, revision, versions=versions)


def downgrade(target: DatabaseTarget, revision: str, *, versions: Path | None = None) -> None:
    """Migrate ``target`` down to ``revision`` ("base" empties it)."""
    _run(target, command.downgrade, revision, versions=versions)


def current_revision(target: DatabaseTarget) -> str | None:
    """The revision ``target`` is at, or None when it was never migrated."""
    if target.sqlite_path is not None and not target.sqlite_path.exists():
        return None
    engine = make_engine(target)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def head_revision(*, versions: Path | None = None) -> str:
    """The newest revision in this repository."""
    head = ScriptDirectory.from_config(alembic_config(versions=versions)).get_current_head()
    assert head is not None, "alembic/versions holds no revision"
    return head


def known_revision(revision: str, *, versions: Path | None = None) -> bool:
    """True when ``revision`` is one of this repository's revisions."""
    script = ScriptDirectory.from_config(alembic_config(versions=versions))
    try:
        return script.get_revision(revision) is not None
    except Exception:  # noqa: BLE001 - alembic raises several kinds for an unknown id
        return False


@contextmanager
def migration_lock(target: DatabaseTarget, *, wait: float = LOCK_WAIT_SECONDS) -> Iterator[None]:
    """Hold a lock on the server database ``target`` while migrating and checking it, so service
    processes starting together on one PostgreSQL or MySQL database take turns instead of
    creating the same tables at once (SQLite: the data dir lock lets one process in).

    Raises TimeoutError when another process holds it longer than ``wait`` seconds. Do not nest:
    the lock belongs to a connection of its own.
    """
    if target.family == "sqlite":
        yield
        return
    if target.family == "postgresql":
        params: dict = {"key": _PG_LOCK_KEY}
        take, release = "SELECT pg_try_advisory_lock(:key)", "SELECT pg_advisory_unlock(:key)"
    else:  # MySQL lock names are server-wide: name the database (64 characters at most)
        digest = hashlib.sha256(str(target.sa_url.database).encode()).hexdigest()[:32]
        params = {"key": f"local-data-service.migrate.{digest}"}
        take, release = "SELECT GET_LOCK(:key, 0)", "SELECT RELEASE_LOCK(:key)"
    engine = make_engine(target)
    try:
        with engine.connect() as connection:
            deadline = time.monotonic() + wait
            while not connection.execute(text(take), params).scalar():
                connection.rollback()  # hold no snapshot while waiting
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"another process kept {target.render()} locked for "
                        f"{wait:.0f} s while migrating it"
                    )
                time.sleep(0.05)
            connection.commit()
            try:
                yield
            finally:
                connection.execute(text(release), params)
                connection.commit()
    finally:
        engine.dispose()
