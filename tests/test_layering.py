"""Guards on the architecture: rows never go through SQLAlchemy, Flask stays in app/, app
databases and offline sync stay apart, the change feed is storage."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# The only modules that may touch SQLAlchemy: schema, DDL, migrations and the parity check.
SQLALCHEMY_ALLOWED = {
    "services/db/models.py",
    "services/db/engine.py",
    "services/db/indexes.py",  # the parity check's index comparison (reflection)
    "services/db/migrations.py",
    "services/db/parity.py",
    "services/db/scratch.py",
    "services/db/urls.py",
    # App databases: the definition borrows SQLAlchemy's reserved-word lists; schema, store and
    # sync build and change tables (DDL); their rows go through PyDAL like the main database's.
    "services/appdb/definition.py",
    "services/appdb/schema.py",
    "services/appdb/store.py",
    "services/appdb/migration.py",
    # A schema change's own row moves: converted values written back inside the DDL transaction
    # (it must be that connection for all or nothing), and MariaDB's copy into the new schema.
    "services/appdb/conversion.py",
    "services/appdb/shadow.py",
    # Per-model schema-change locks: advisory locks on the server, no rows.
    "services/appdb/locks.py",
}
# Names that would mean row I/O through the ORM.
ORM_ROW_IO = {"Session", "sessionmaker", "scoped_session", "AsyncSession", "create_session"}


def _modules(*folders: str) -> list[Path]:
    return sorted(p for f in folders for p in (ROOT / f).rglob("*.py"))


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


@pytest.mark.parametrize("path", _modules("app", "services"), ids=_rel)
def test_only_schema_modules_import_sqlalchemy(path):
    uses = sorted(n for n in _imports(path) if n.split(".")[0] == "sqlalchemy")
    if _rel(path) in SQLALCHEMY_ALLOWED:
        return
    assert not uses, (
        f"{_rel(path)} imports {uses}: row reads and writes go through the PyDAL layer "
        "(services/db/tables.py); SQLAlchemy is for DDL, migrations and parity only"
    )


@pytest.mark.parametrize("path", _modules("app", "services", "alembic"), ids=_rel)
def test_nothing_uses_an_orm_session(path):
    used = {n.rsplit(".", 1)[-1] for n in _imports(path)} & ORM_ROW_IO
    source_names = {
        node.id
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Name)
    }
    assert not used and not (source_names & ORM_ROW_IO), f"{_rel(path)} uses an ORM session"


@pytest.mark.parametrize("path", _modules("services", "alembic"), ids=_rel)
def test_flask_is_imported_only_by_app(path):
    flask = sorted(n for n in _imports(path) if n.split(".")[0] in ("flask", "flask_jwt_extended"))
    assert not flask, f"{_rel(path)} imports {flask}: only app/ may import Flask"


# App databases and offline sync do not import each other; services/sync_scopes.py bridges them.
APART = {"services/appdb": "services.sync", "services/sync": "services.appdb"}
# The change feed's PyDAL tables are read and written by services/db/feed.py only.
FEED_TABLES = {"sync_row", "sync_counter"}
FEED_MODULE = "services/db/feed.py"


def _attributes(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}


@pytest.mark.parametrize("path", _modules("services/appdb", "services/sync"), ids=_rel)
def test_app_databases_and_offline_sync_do_not_import_each_other(path):
    folder = next(f for f in APART if _rel(path).startswith(f + "/"))
    forbidden = APART[folder]
    found = sorted(n for n in _imports(path) if n == forbidden or n.startswith(forbidden + "."))
    assert not found, (
        f"{_rel(path)} imports {found}: {folder} must not import {forbidden}; "
        "connect them in services/sync_scopes.py"
    )


def test_the_change_feed_lives_with_the_data_layer():
    assert (ROOT / FEED_MODULE).exists(), f"the change feed is storage: {FEED_MODULE}"
    assert not (ROOT / "services/sync/feed.py").exists(), "the feed moved back under sync"
    users = [
        _rel(p) for p in _modules("app", "services", "bench") if "services.sync.feed" in _imports(p)
    ]
    assert not users, f"{users} import services.sync.feed: the feed is services.db.feed"


@pytest.mark.parametrize("path", _modules("app", "services"), ids=_rel)
def test_only_the_feed_module_touches_feed_tables(path):
    if _rel(path) == FEED_MODULE:
        return
    touched = sorted(_attributes(path) & FEED_TABLES)
    assert not touched, (
        f"{_rel(path)} reads feed tables {touched} directly: ask services/db/feed.py instead"
    )


def test_guard_sees_a_violation(tmp_path):
    # The guard must be able to fail: a module with a session import is caught.
    bad = tmp_path / "bad.py"
    bad.write_text("from sqlalchemy.orm import Session\n", encoding="utf-8")
    assert "sqlalchemy.orm.Session" in _imports(bad)
    # ... and so can the new rules: a sync module importing an app-database module, a feed table
    # read outside the feed.
    bad.write_text("from services.appdb import rows\ndb.sync_row.insert()\n", encoding="utf-8")
    assert "services.appdb" in _imports(bad)
    assert "sync_row" in _attributes(bad)


# Opening, committing and closing app databases belongs to services/appdb/handles.py: a route
# asks the owner for a session and never touches a connection itself (issue 14).
APP_DB_LIFECYCLE_MODULES = {"services.db.dal", "services.appdb.store", "pydal"}
APP_DB_LIFECYCLE_CALLS = {
    "open_dal",
    "close_dal",
    "open_rows_dal",
    "commit",
    "rollback",
    "close",
    "executesql",
}


def _lifecycle_uses(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = sorted(
        n for n in _imports(path) if n.split(".")[0] == "pydal" or n in APP_DB_LIFECYCLE_MODULES
    )
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in APP_DB_LIFECYCLE_CALLS:
                found.append(f"{name}() at line {node.lineno}")
    return found


@pytest.mark.parametrize("path", _modules("app/api"), ids=_rel)
def test_routes_never_open_commit_or_close_a_database(path):
    uses = _lifecycle_uses(path)
    assert not uses, (
        f"{_rel(path)} uses {uses}: routes ask services/appdb/handles.py (app databases) or "
        "app/db.py (the main database) for a session; they never open, commit or close one"
    )


def test_the_lifecycle_guard_sees_a_violation(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text(
        "from services.appdb import store\ndb = store.open_rows_dal(x)\ndb.commit()\n",
        encoding="utf-8",
    )
    assert _lifecycle_uses(bad) == [
        "services.appdb.store",
        "open_rows_dal() at line 2",
        "commit() at line 3",
    ]
