"""What the harness tests share: the run profile, the report, the endpoint catalogue and the
database oracle that says what a request changed.

The profile is ``fast`` for ``make test`` (seeded, bounded) and ``full`` for ``make stress``
(``HARNESS_PROFILE=full``). Counts go to ``$STRESS_REPORT_DIR/harness-*.jsonl`` when that is set,
one JSON object per test, so a summary can add them up (``python -m tests.harness.report``).
"""

from __future__ import annotations

import functools
import json
import os
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from services.db.urls import DatabaseTarget, sqlite_target, with_database

API = "/api/v1"
PROFILE = os.environ.get("HARNESS_PROFILE", "fast")
# Tables a refused request changes by design, left out of row counts: a failed login is
# recorded for throttling (services/throttle.py), and a success clears the record.
BOOKKEEPING = {"login_attempt"}
FULL = PROFILE == "full"
SEED = int(os.environ.get("HARNESS_SEED", "20260707"))
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


# ----------------------------------------------------------------------------- report


def report(suite: str, test: str, **counts: Any) -> None:
    """Append one JSON line of counts to $STRESS_REPORT_DIR (when set) for the summary."""
    folder = os.environ.get("STRESS_REPORT_DIR")
    if not folder:
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    line = {
        "suite": suite,
        "test": test,
        "profile": PROFILE,
        "seed": SEED,
        **counts,
        "at": round(time.time(), 3),
    }
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    with open(Path(folder) / f"harness-{worker}.jsonl", "a", encoding="utf-8") as handle:
        handle.write(json.dumps(line, sort_keys=True) + "\n")


# ----------------------------------------------------------------------------- the API's shape


@functools.cache
def document() -> dict:
    """The OpenAPI document, from an app that touches no database."""
    from app import create_app

    return create_app(serve=False).api_doc


@functools.cache
def api_rules() -> tuple[tuple[str, str, str], ...]:
    """Every (method, rule, endpoint) under /api/v1 in the URL map, HEAD and OPTIONS left out."""
    from app import create_app

    app = create_app(serve=False)
    found = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(API):
            continue
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            found.add((method, rule.rule, rule.endpoint))
    return tuple(sorted(found, key=lambda r: (r[1], r[0])))


def openapi_path(rule: str) -> str:
    """``/items/<id>`` as the document spells it: ``/items/{id}``."""
    return re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule)


@dataclass(frozen=True)
class Operation:
    """One documented operation."""

    method: str
    path: str
    spec: dict = field(hash=False, compare=False)

    @property
    def operation_id(self) -> str:
        return self.spec.get("operationId", f"{self.method} {self.path}")

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"

    def parameters(self, where: str) -> list[dict]:
        return [p for p in self.spec.get("parameters", []) if p.get("in") == where]

    def body_schema(self) -> tuple[str, dict] | None:
        """(media type, resolved schema) of the request body, if any."""
        content = self.spec.get("requestBody", {}).get("content", {})
        for media in (
            "application/json",
            "application/x-www-form-urlencoded",
            "multipart/form-data",
        ):
            if media in content:
                return media, resolve(content[media].get("schema", {}))
        return None


@functools.cache
def operations() -> tuple[Operation, ...]:
    """Every operation of the document."""
    found = []
    for path, item in document()["paths"].items():
        for method, spec in item.items():
            if method.upper() in METHODS:
                found.append(Operation(method.upper(), path, spec))
    return tuple(found)


def resolve(schema: Any, depth: int = 0) -> Any:
    """The schema with every local $ref replaced by what it points at."""
    if depth > 30:
        return schema
    if isinstance(schema, dict):
        if "$ref" in schema:
            target: Any = document()
            for part in schema["$ref"].lstrip("#/").split("/"):
                target = target[part]
            return resolve(target, depth + 1)
        return {k: resolve(v, depth + 1) for k, v in schema.items()}
    if isinstance(schema, list):
        return [resolve(v, depth + 1) for v in schema]
    return schema


# ----------------------------------------------------------------------------- the oracle


class Oracle:
    """Reads the main database and every app database straight from SQL, independent of the app.

    ``counts()`` is the list of tables and their row counts; ``rows()`` every row of the given
    tables, to prove an object is byte-identical after a refused request.
    """

    def __init__(self, target: DatabaseTarget, data_dir: Path) -> None:
        self.target = target
        self.data_dir = data_dir
        # Pooled engines (not the service's NullPool ones): a snapshot before and after every
        # request must be cheap. Reads only; each snapshot is its own transaction.
        self.engine = sa.create_engine(target.sa_url)
        self._sqlite_apps: dict[Path, sa.Engine] = {}

    def close(self) -> None:
        self.engine.dispose()
        for engine in self._sqlite_apps.values():
            engine.dispose()

    def _tables(self, conn: sa.Connection) -> list[tuple[str | None, str]]:
        family = self.target.family
        if family == "sqlite":
            names = conn.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            ).scalars()
            return [(None, n) for n in names]
        if family == "postgresql":
            rows = conn.exec_driver_sql(
                "SELECT table_schema, table_name FROM information_schema.tables "
                "WHERE table_schema NOT IN ('pg_catalog', 'information_schema') "
                "AND table_type = 'BASE TABLE'"
            )
            return [(s, n) for s, n in rows]
        main = self.target.sa_url.database
        rows = conn.execute(
            sa.text(
                "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES "
                "WHERE (TABLE_SCHEMA = :main OR TABLE_SCHEMA LIKE :apps) "
                "AND TABLE_TYPE = 'BASE TABLE'"
            ),
            {"main": main, "apps": main.replace("_", r"\_") + r"\_\_%"},
        )
        return [(s, n) for s, n in rows]

    def _quoted(self, conn: sa.Connection, schema: str | None, name: str) -> str:
        quote = conn.dialect.identifier_preparer.quote
        return f"{quote(schema)}.{quote(name)}" if schema else quote(name)

    def _count_all(
        self, conn: sa.Connection, tables: list[tuple[str | None, str]], prefix: str
    ) -> dict:
        if not tables:
            return {}
        parts = [
            f"SELECT {i} AS k, COUNT(*) AS n FROM {self._quoted(conn, s, n)}"
            for i, (s, n) in enumerate(tables)
        ]
        counts = dict(conn.exec_driver_sql(" UNION ALL ".join(parts)).all())
        return {f"{prefix}{s + '.' if s else ''}{n}": counts[i] for i, (s, n) in enumerate(tables)}

    def _app_files(self) -> list[Path]:
        return (
            sorted(p for p in (self.data_dir / "apps").glob("*.db"))
            if self.target.family == "sqlite"
            else []
        )

    def _app_engine(self, path: Path) -> sa.Engine:
        if path not in self._sqlite_apps:
            self._sqlite_apps[path] = sa.create_engine(sqlite_target(path).sa_url)
        return self._sqlite_apps[path]

    def counts(self) -> dict[str, int]:
        """``{table: rows}`` over the main database and every app database (bookkeeping aside)."""
        with self.engine.connect() as conn:
            tables = [t for t in self._tables(conn) if t[1] not in BOOKKEEPING]
            found = self._count_all(conn, tables, "")
        for path in self._app_files():
            with self._app_engine(path).connect() as conn:
                found.update(self._count_all(conn, self._tables(conn), f"apps/{path.stem}:"))
        for path in list(self._sqlite_apps):
            if not path.exists():  # a dropped app database: forget its engine
                self._sqlite_apps.pop(path).dispose()
        return found

    def rows(
        self, table: str, where: str = "", params: dict | None = None, *, app: str | None = None
    ) -> list:
        """Every row of ``table`` (optionally filtered), in a stable order, as tuples."""
        engine = self.engine
        if app is not None and self.target.family == "sqlite":
            engine = self._app_engine(self.data_dir / "apps" / f"{app}.db")
        with engine.connect() as conn:
            schema = None
            if app is not None and self.target.family == "postgresql":
                schema = self._app_schema(conn, app)
            elif app is not None and self.target.family == "mysql":
                schema = self._app_schema(conn, app)
            sql = f"SELECT * FROM {self._quoted(conn, schema, table)}"
            if where:
                sql += f" WHERE {where}"
            result = conn.execute(sa.text(sql), params or {})
            return sorted((tuple(map(repr, r)) for r in result), key=repr)

    def _app_schema(self, conn: sa.Connection, model_id: str) -> str:
        from services.appdb import store

        name = store.database_name(model_id=model_id)
        if self.target.family == "mysql":
            return store.server_database_name(
                main_database=self.target.sa_url.database, model_id=model_id
            )
        return name

    def dump(self) -> dict[str, list]:
        """Every row of every table: the whole state, for byte-identity checks."""
        state: dict[str, list] = {}
        with self.engine.connect() as conn:
            tables = self._tables(conn)
            for schema, name in tables:
                rows = conn.exec_driver_sql(f"SELECT * FROM {self._quoted(conn, schema, name)}")
                state[f"{schema + '.' if schema else ''}{name}"] = sorted(
                    (tuple(map(repr, r)) for r in rows), key=repr
                )
        for path in self._app_files():
            with self._app_engine(path).connect() as conn:
                for _, name in self._tables(conn):
                    rows = conn.exec_driver_sql(f"SELECT * FROM {self._quoted(conn, None, name)}")
                    state[f"apps/{path.stem}:{name}"] = sorted(
                        (tuple(map(repr, r)) for r in rows), key=repr
                    )
        return state


def delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """Tables whose row count changed (a new table counts from -1, a dropped one to -1)."""
    changed = {}
    for table in set(before) | set(after):
        a, b = before.get(table, -1), after.get(table, -1)
        if a != b:
            changed[table] = b - a
    return changed


def shape(change: dict[str, int]) -> list[tuple[str, int]]:
    """A delta with app database names generalised, to compare two requests' effects."""
    generic = {}
    for table, n in change.items():
        table = re.sub(r"^apps/[^:]+:", "apps/*:", table)  # SQLite app files
        table = re.sub(r"^app[a-z]?_[A-Za-z0-9_]+\.", "appschema.", table)  # PostgreSQL schemas
        table = re.sub(r"^[^.]+__[^.]+\.", "appdb.", table)  # MariaDB databases
        generic[table] = generic.get(table, 0) + n
    return sorted(generic.items())


# ----------------------------------------------------------------------------- server targets


def server_target(family: str) -> DatabaseTarget | None:
    """The reachable server target of ``family`` (from tests/conftest.py's discovery)."""
    from tests.conftest import _SERVERS

    return _SERVERS.targets.get(family)


def unique(prefix: str = "h") -> str:
    """A short unique token."""
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def error_shape_ok(body: Any) -> bool:
    """``{"detail": "..."}`` or the 422 list of ``{loc, msg, type}``."""
    if not isinstance(body, dict) or set(body) != {"detail"}:
        return False
    detail = body["detail"]
    return isinstance(detail, str) or (
        isinstance(detail, list)
        and all(isinstance(d, dict) and {"loc", "msg", "type"} == set(d) for d in detail)
    )


def iter_leaves(value: Any, path: tuple = ()) -> Iterator[tuple[tuple, Any]]:
    """Every scalar inside a JSON value, with its path."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from iter_leaves(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from iter_leaves(v, (*path, i))
    else:
        yield path, value


def iter_dicts(value: Any, path: tuple = ()) -> Iterator[tuple[tuple, dict]]:
    """Every object inside a JSON value, with its path (keys are identifiers to attack too)."""
    if isinstance(value, dict):
        yield path, value
        for k, v in value.items():
            yield from iter_dicts(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from iter_dicts(v, (*path, i))


def replaced(value: Any, path: tuple, new: Any) -> Any:
    """A deep copy of ``value`` with the leaf at ``path`` set to ``new``."""
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {k: (replaced(v, rest, new) if k == head else v) for k, v in value.items()}
    return [replaced(v, rest, new) if i == head else v for i, v in enumerate(value)]


def with_key(value: Any, path: tuple, key: str, new: Any) -> Any:
    """A deep copy of ``value`` with ``key: new`` added to the object at ``path``."""
    if not path:
        return {**value, key: new}
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {k: (with_key(v, rest, key, new) if k == head else v) for k, v in value.items()}
    return [with_key(v, rest, key, new) if i == head else v for i, v in enumerate(value)]


__all__ = [
    "API",
    "FULL",
    "SEED",
    "Oracle",
    "Operation",
    "api_rules",
    "delta",
    "document",
    "error_shape_ok",
    "iter_dicts",
    "iter_leaves",
    "openapi_path",
    "operations",
    "replaced",
    "report",
    "resolve",
    "server_target",
    "shape",
    "unique",
    "with_database",
    "with_key",
]
