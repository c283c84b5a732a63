"""The quarantine: databases found under a model id the catalog did not own, moved aside.

Issue 14: creating a model "adopted" a database that already existed under its id and matched
its definition, so a database left by a deleted user, a crash or a lost or restored main
database served its rows to whoever reused the id. Creating now moves any such database aside
first (a folder on SQLite, a renamed schema or database on servers) and logs it; the operator
lists and purges the quarantine with ``python -m app quarantine``.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path

from services.appdb import store
from services.config import Settings
from services.errors import NotFound

log = logging.getLogger(__name__)
QUARANTINE_FOLDER = "quarantine"
PREFIX = "qz"  # then the epoch seconds and "_": names no live app database can have
_NAME = re.compile(rf"^{PREFIX}\d+_[A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class Quarantined:
    """A database moved aside: its name in the quarantine and where it lives."""

    name: str
    where: str


def quarantine_leftover(*, settings: Settings, app_db: store.AppDatabase) -> Quarantined | None:
    """Move a database found under a model id the catalog does not own into the quarantine."""
    if not store.exists(app_db):
        return None
    stamp = str(int(time.time()))
    if app_db.family == "sqlite":
        folder = settings.data_dir / QUARANTINE_FOLDER
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{PREFIX}{stamp}_{app_db.model_id}.db"
        n = 1
        while (folder / name).exists():
            n += 1
            name = f"{PREFIX}{stamp}_{app_db.model_id}-{n}.db"
        path = app_db.target.sqlite_path
        for suffix in ("", "-wal", "-shm", "-journal"):
            source = Path(f"{path}{suffix}")
            if source.exists():
                source.rename(folder / f"{name}{suffix}")
        moved = Quarantined(name, str(folder / name))
    elif app_db.family == "postgresql":
        name = f"{PREFIX}{stamp}_{app_db.schema}"[: store.MAX_NAME_LENGTH]
        store.rename_schema(app_db, name)
        moved = Quarantined(name, f"schema {name}")
    else:
        old = app_db.target.sa_url.database
        name = f"{PREFIX}{stamp}_{old}"[: store.MYSQL_MAX_NAME_LENGTH]
        store.move_database(app_db, name)
        moved = Quarantined(name, f"database {name}")
    log.warning(
        "model %s: a database the catalog did not own was found under its id (%s); "
        "moved to the quarantine as %s (python -m app quarantine list / purge)",
        app_db.model_id,
        app_db.label,
        moved.where,
    )
    return moved


def list_quarantined(*, settings: Settings) -> list[Quarantined]:
    """Every quarantined database of this service."""
    main = settings.database
    if main.family == "sqlite":
        folder = settings.data_dir / QUARANTINE_FOLDER
        if not folder.is_dir():
            return []
        return [
            Quarantined(p.name, str(p))
            for p in sorted(folder.iterdir())
            if p.suffix == ".db" and _NAME.match(p.name)
        ]
    # A MySQL server is shared: only names made from this service's database are its own.
    mine = f"{main.sa_url.database}__" if main.family != "postgresql" else ""
    return [
        Quarantined(n, n) for n in store.list_names(main, PREFIX) if _NAME.match(n) and mine in n
    ]


def purge_quarantined(*, settings: Settings, names: list[str] | None = None) -> list[str]:
    """Delete quarantined databases (all, or those named); returns the names purged."""
    found = {q.name: q for q in list_quarantined(settings=settings)}
    chosen = list(found) if names is None else names
    unknown = [n for n in chosen if n not in found]
    if unknown:
        raise NotFound(f"not in the quarantine: {', '.join(unknown)}")
    main = settings.database
    for name in chosen:
        if main.family == "sqlite":
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{found[name].where}{suffix}").unlink(missing_ok=True)
        else:
            store.drop_name(main, name)
    return chosen
