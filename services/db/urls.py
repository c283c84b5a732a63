"""Turn one DATABASE_URL into what each layer needs: a SQLAlchemy URL and a PyDAL URI."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

# Dialect families this service supports, keyed by SQLAlchemy backend name.
_BACKENDS = {"sqlite": "sqlite", "postgresql": "postgresql", "mysql": "mysql", "mariadb": "mysql"}


class DatabaseURLError(ValueError):
    """A DATABASE_URL that this service cannot use."""


@dataclass(frozen=True)
class DatabaseTarget:
    """Where the data lives, spelled for both layers."""

    url: str  # the SQLAlchemy URL, password included
    pydal_uri: str
    family: str  # "sqlite", "postgresql" or "mysql" (MariaDB included)

    @cached_property
    def sa_url(self) -> URL:
        """The SQLAlchemy URL (parsed on first use: serving never needs SQLAlchemy)."""
        from sqlalchemy.engine import make_url

        return make_url(self.url)

    @property
    def sqlite_path(self) -> Path | None:
        """The database file, for SQLite targets."""
        if self.family != "sqlite":
            return None
        return Path(self.pydal_uri.removeprefix("sqlite://"))

    def render(self) -> str:
        """The URL with any password hidden, for logs and messages."""
        if self.family == "sqlite":
            return self.url
        return self.sa_url.render_as_string(hide_password=True)


def _target(sa_url: URL, pydal_uri: str, family: str) -> DatabaseTarget:
    target = DatabaseTarget(sa_url.render_as_string(hide_password=False), pydal_uri, family)
    target.__dict__["sa_url"] = sa_url  # already parsed: fill the cache
    return target


def sqlite_target(path: str | Path) -> DatabaseTarget:
    """A target for an SQLite file at ``path``."""
    # Spelled by hand, not parsed: SQLAlchemy's URL parser costs importing SQLAlchemy (~13 MB,
    # 0.1-0.3 s), and the default sidecar start needs nothing else from it on the fast path.
    resolved = Path(path).resolve()
    return DatabaseTarget(f"sqlite:///{resolved}", f"sqlite://{resolved}", "sqlite")


def parse_database_url(url: str | URL) -> DatabaseTarget:
    """Parse a SQLAlchemy-style URL; raise DatabaseURLError with a one-line reason."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        sa_url = make_url(url) if isinstance(url, str) else url
    except ArgumentError as exc:
        raise DatabaseURLError(f"malformed DATABASE_URL: {exc}") from None
    family = _BACKENDS.get(sa_url.get_backend_name())
    if family is None:
        raise DatabaseURLError(
            f"unsupported database backend {sa_url.get_backend_name()!r}: "
            "use sqlite, postgresql or mysql/mariadb"
        )
    if family == "sqlite":
        if not sa_url.database or sa_url.database == ":memory:":
            raise DatabaseURLError("an SQLite DATABASE_URL needs a file path")
        sa_url = sa_url.set(drivername="sqlite", database=str(Path(sa_url.database).resolve()))
        return _target(sa_url, f"sqlite://{sa_url.database}", family)
    if not sa_url.host or not sa_url.database:
        raise DatabaseURLError("a server DATABASE_URL needs a host and a database name")
    if family == "postgresql":
        sa_url = sa_url.set(drivername="postgresql+psycopg2")
        scheme = "postgres:psycopg2"
        query = ""
    else:
        sa_url = sa_url.set(drivername=f"{sa_url.get_backend_name()}+pymysql")
        sa_url = sa_url.update_query_dict({"charset": "utf8mb4"})
        scheme = "mysql:pymysql"
        query = "?set_encoding=utf8mb4"
    # Always spell the password (empty when absent): PyDAL's credential decoder rejects None.
    creds = quote(sa_url.username or "", safe="") + ":" + quote(str(sa_url.password or ""), safe="")
    port = f":{sa_url.port}" if sa_url.port else ""
    uri = f"{scheme}://{creds}@{sa_url.host}{port}/{sa_url.database}{query}"
    return _target(sa_url, uri, family)


def with_database(target: DatabaseTarget, database: str) -> DatabaseTarget:
    """The same server target pointed at another database name (or SQLite file)."""
    if target.family == "sqlite":
        return sqlite_target(database)
    return parse_database_url(target.sa_url.set(database=database))
