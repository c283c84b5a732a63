"""Alembic environment: the models' metadata, and the database the service itself would use.

No Flask app is built here. A caller may hand over a live connection in
``config.attributes["connection"]`` (the service and the tests do); otherwise the database is
found from DATABASE_URL / DATA_DIR / config.json exactly as ``python -m app`` finds it.
"""

from sqlalchemy import Connection

from alembic import context
from services.db.migrations import configure_and_run, engine_for_alembic
from services.db.models import metadata

config = context.config


def run_migrations_offline() -> None:
    """Emit SQL for ``alembic upgrade --sql`` without a connection."""
    from services.config import load_settings

    url = config.get_main_option("sqlalchemy.url") or load_settings().database.sa_url
    context.configure(url=url, target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run migrations on the caller's connection, or on the service's database."""
    connection: Connection | None = config.attributes.get("connection")
    if connection is not None:
        configure_and_run(context, connection)
        return
    engine = engine_for_alembic(config)
    try:
        with engine.connect() as connection:
            configure_and_run(context, connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
