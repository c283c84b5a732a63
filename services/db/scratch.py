"""Throw-away databases beside a target: for the parity check's fresh migration and for tests."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from services.db.urls import DatabaseTarget, sqlite_target, with_database


def create_database(like: DatabaseTarget, name: str) -> DatabaseTarget:
    """Create an empty database ``name`` on the server of ``like`` (or an SQLite file path)."""
    if like.family == "sqlite":
        return sqlite_target(name)
    engine = create_engine(like.sa_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            quoted = engine.dialect.identifier_preparer.quote(name)
            suffix = " CHARACTER SET utf8mb4 COLLATE utf8mb4_bin" if like.family == "mysql" else ""
            conn.execute(text(f"CREATE DATABASE {quoted}{suffix}"))
    finally:
        engine.dispose()
    return with_database(like, name)


def drop_database(target: DatabaseTarget) -> None:
    """Drop a database made by create_database (closing other sessions on PostgreSQL)."""
    if target.family == "sqlite":
        path = target.sqlite_path
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    admin = with_database(target, "postgres" if target.family == "postgresql" else "mysql")
    engine = create_engine(admin.sa_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            if target.family == "mysql":
                # App databases of this main database sit beside it on the server (see
                # services/appdb/store.py): drop them with it.
                prefix = target.sa_url.database.replace("_", r"\_") + r"\_\_%"
                apps = (
                    conn.execute(
                        text(
                            "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA "
                            "WHERE SCHEMA_NAME LIKE :p"
                        ),
                        {"p": prefix},
                    )
                    .scalars()
                    .all()
                )
                preparer = engine.dialect.identifier_preparer
                for app in apps:
                    conn.execute(text(f"DROP DATABASE IF EXISTS {preparer.quote(app)}"))
            quoted = engine.dialect.identifier_preparer.quote(target.sa_url.database)
            force = " WITH (FORCE)" if target.family == "postgresql" else ""
            conn.execute(text(f"DROP DATABASE IF EXISTS {quoted}{force}"))
    finally:
        engine.dispose()


@contextmanager
def scratch_database(like: DatabaseTarget, prefix: str = "scratch") -> Iterator[DatabaseTarget]:
    """A fresh empty database of the same family as ``like``, dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    if like.family == "sqlite":
        folder = Path(tempfile.mkdtemp(prefix=f"{prefix}-"))
        try:
            yield sqlite_target(folder / f"{name}.db")
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return
    target = create_database(like, name)
    try:
        yield target
    finally:
        drop_database(target)
