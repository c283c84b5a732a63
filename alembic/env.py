"""Alembic environment: the models' metadata, and the database the service itself would use.

No Flask app is built here. A caller may hand over a live connection in
``config.attributes["connection"]`` (the service and the tests do); otherwise the database is
found from DATABASE_URL / DATA_DIR / config.json exactly as ``python -m app`` finds it (from the
repository root without either: ./.data, as ``make run`` uses), and said on stderr.
"""

import logging
from logging.config import fileConfig

from sqlalchemy import Connection, create_engine

from alembic import context, util
from services.db.migrations import configure_and_run, engine_for_alembic, target_for_alembic
from services.db.models import metadata

config = context.config
log = logging.getLogger("alembic.env")
# Commands that write to the database; every other one (current, check, heads, revision
# --autogenerate, ...) must never create one.
_WRITING = {"upgrade", "downgrade", "stamp"}


def _command() -> str | None:
    """The alembic command being run from the command line, or None when run from code."""
    return config.cmd_opts.cmd[0].__name__ if config.cmd_opts is not None else None


def run_migrations_offline() -> None:
    """Emit SQL for ``alembic upgrade --sql`` without a connection."""
    target, source = target_for_alembic(config)
    if target.family == "sqlite":
        raise util.CommandError(
            "alembic --sql (offline SQL) is not available for SQLite: its migrations rebuild "
            "tables (batch mode), which needs the live table. Run `alembic upgrade head` (or "
            "`make migrate`) instead; it is all-or-nothing on SQLite."
        )
    log.info("offline SQL for %s (%s)", target.render(), source)
    if target.sa_url.get_backend_name() == "mysql":
        log.info("for MariaDB, give a mariadb:// URL: its DDL differs (native uuid)")
    context.configure(
        url=target.sa_url,
        target_metadata=metadata,
        literal_binds=True,
        transactional_ddl=target.family == "postgresql",
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run migrations on the caller's connection, or on the service's database."""
    connection: Connection | None = config.attributes.get("connection")
    if connection is not None:
        configure_and_run(context, connection)
        return
    target, source = target_for_alembic(config)
    log.info("database %s (%s)", target.render(), source)
    missing = target.sqlite_path is not None and not target.sqlite_path.exists()
    if missing and _command() not in _WRITING:
        # A read-only command on a database that does not exist yet: look at an empty one in
        # memory instead of creating the file (and its folder) as a side effect.
        log.info("no database at %s yet; nothing was created", target.sqlite_path)
        engine = create_engine("sqlite://")
    else:
        engine = engine_for_alembic(config)
    try:
        with engine.connect() as connection:
            configure_and_run(context, connection)
    finally:
        engine.dispose()


if config.cmd_opts is not None and config.config_file_name is not None:
    # Run as the `alembic` command: log what it does, as configured in alembic.ini. From code
    # (the service, the tests) the caller's logging stays as it is.
    fileConfig(config.config_file_name, disable_existing_loggers=False)

if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
