"""Which databases the suite runs on: SQLite always, servers from TEST_DATABASE_URLS.

Without TEST_DATABASE_URLS the local PostgreSQL and MariaDB of this project's machines are
tried; one that does not answer is skipped and named in the summary. REQUIRE_BACKENDS (set by
.ci/run) turns an unreachable server into a failure instead.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from services.db.urls import DatabaseTarget, parse_database_url

LOCAL_SERVERS = "postgresql://postgres@127.0.0.1:5432/test,mysql://root@127.0.0.1:3306/test"


@dataclass
class ServerBackends:
    """Reachable server targets by family, and what was left out and why."""

    targets: dict[str, DatabaseTarget]
    skipped: dict[str, str]
    required: set[str]


def _reachable(target: DatabaseTarget) -> str | None:
    args = {"connect_timeout": 3}
    engine = create_engine(target.sa_url, poolclass=NullPool, connect_args=args)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return None
    except Exception as exc:  # noqa: BLE001 - any failure means unreachable; say why
        return str(exc).splitlines()[0]
    finally:
        engine.dispose()


def discover() -> ServerBackends:
    """Probe the configured servers once per session."""
    urls = os.environ.get("TEST_DATABASE_URLS", LOCAL_SERVERS)
    required = {r.strip() for r in os.environ.get("REQUIRE_BACKENDS", "").split(",") if r.strip()}
    targets: dict[str, DatabaseTarget] = {}
    skipped: dict[str, str] = {}
    for url in filter(None, (u.strip() for u in urls.split(","))):
        target = parse_database_url(url)
        problem = _reachable(target)
        if problem is None:
            targets[target.family] = target
        else:
            skipped[target.family] = f"{target.render()}: {problem}"
    for family in required - set(targets):
        skipped.setdefault(family, "not configured in TEST_DATABASE_URLS")
    return ServerBackends(targets, skipped, required)
