"""One schema change at a time per model, across threads and processes.

Issue 14: six concurrent PUTs of one model answered five 500s on SQLite ("database is locked"
inside the batch migration) and "sync left differences" on PostgreSQL. A schema change (PUT,
sync, delete) now holds the model's lock: a lock file next to the app databases on SQLite (one
machine), an advisory lock on PostgreSQL and GET_LOCK on MySQL/MariaDB (every process on the
server). A request that cannot get it within a few seconds answers 409 and says to retry.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from contextlib import contextmanager

from filelock import FileLock, Timeout

from services.config import Settings
from services.errors import Conflict
from services.lazy import LazyModule

# Server locks only; handles import this module on every app-database request (services/lazy.py).
sa = LazyModule("sqlalchemy")
engines = LazyModule("services.db.engine")

WAIT_S = 5.0
LOCKS_FOLDER = ".locks"
_POLL_S = 0.05


def busy(model_id: str) -> Conflict:
    """The answer when another change of the model holds the lock."""
    return Conflict(
        f"model {model_id!r} is being changed by another request; retry in a few seconds"
    )


def _key(settings: Settings, model_id: str) -> str:
    # Lower case: ids that differ only in case name one database on case-insensitive systems.
    main = settings.database
    return f"{main.render() if main.family != 'sqlite' else ''}\0{model_id.lower()}"


@contextmanager
def model_lock(*, settings: Settings, model_id: str, wait_s: float | None = None) -> Iterator[None]:
    """Hold the model's schema-change lock; Conflict (409) if not had within ``wait_s``
    (default WAIT_S)."""
    wait_s = WAIT_S if wait_s is None else wait_s
    main = settings.database
    if main.family == "sqlite":
        folder = settings.data_dir / "apps" / LOCKS_FOLDER
        folder.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256(model_id.lower().encode()).hexdigest()[:24]
        # A new lock object per use: FileLock is reentrant per object, threads must exclude.
        lock = FileLock(folder / f"{digest}.lock", thread_local=False, is_singleton=False)
        try:
            lock.acquire(timeout=wait_s)
        except Timeout:
            raise busy(model_id) from None
        try:
            yield
        finally:
            lock.release()
        return
    digest = hashlib.sha256(_key(settings, model_id).encode()).digest()
    engine = engines.make_engine(main) if main.family == "postgresql" else _mysql_engine(settings)
    try:
        with engine.connect() as connection:
            if main.family == "postgresql":
                number = int.from_bytes(digest[:8], "big", signed=True)
                take = sa.text("SELECT pg_try_advisory_lock(:k)")
                give = sa.text("SELECT pg_advisory_unlock(:k)")
                params = {"k": number}
                deadline = time.monotonic() + wait_s
                while not connection.execute(take, params).scalar():
                    connection.rollback()
                    if time.monotonic() > deadline:
                        raise busy(model_id)
                    time.sleep(_POLL_S)
                connection.commit()  # session-level lock: no transaction held open meanwhile
            else:
                params = {"k": "appdb:" + digest.hex()[:56], "t": max(1, round(wait_s))}
                if connection.execute(sa.text("SELECT GET_LOCK(:k, :t)"), params).scalar() != 1:
                    raise busy(model_id)
                give = sa.text("SELECT RELEASE_LOCK(:k)")
            try:
                yield
            finally:
                connection.execute(give, params)
                connection.commit()
    finally:
        engine.dispose()


def _mysql_engine(settings: Settings) -> sa.Engine:
    return sa.create_engine(settings.database.sa_url, poolclass=sa.pool.NullPool)
