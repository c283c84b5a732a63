"""App-database fixtures: the shared model's tables on a fresh database, app databases beside
a main database, and apps with a small handle cache, on every backend."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path

import pytest

from app import create_app
from app.db import close_db, get_handles
from services.appdb import store
from services.appdb.definition import Definition
from services.appdb.store import AppDatabase
from services.db.scratch import scratch_database
from services.db.urls import DatabaseTarget, sqlite_target
from tests.api.conftest import make_client, settings_for  # noqa: F401 - make_client: a fixture
from tests.appdb.modeldb import MODEL, ModelDB, definition_of
from tests.appdb.shop import definition
from tests.backends import discover

CAPACITY = 2


@pytest.fixture
def mdb(fresh_target):
    """The shared model's tables on a fresh database, closed after the test."""
    m = ModelDB(fresh_target, definition_of(MODEL))
    yield m
    m.db.rollback()
    m.close()


@pytest.fixture(scope="module")
def _mains(tmp_path_factory) -> Iterator[Callable[[str], DatabaseTarget]]:
    # Making a PostgreSQL database costs about half a second: the tests of this module share
    # one main database per backend (each test's models have ids of their own).
    with ExitStack() as stack:
        made: dict[str, DatabaseTarget] = {}

        def get(family: str) -> DatabaseTarget:
            if family not in made:
                like = (
                    sqlite_target(tmp_path_factory.mktemp("main") / "like.db")
                    if family == "sqlite"
                    else discover().targets[family]
                )
                made[family] = stack.enter_context(scratch_database(like, prefix="test"))
            return made[family]

        yield get


@pytest.fixture
def main_target(backend, _mains) -> DatabaseTarget:
    """The main database the test's app databases live beside (shared by a test module)."""
    return _mains(backend)


@pytest.fixture
def apps(main_target: DatabaseTarget, tmp_path: Path) -> Iterator[Callable[..., AppDatabase]]:
    """Make app databases beside the main database; drop them all afterwards.

    Model ids are unique per test: databases and schemas outlive a test's main database here,
    MySQL databases are server-wide, and tests run in parallel.
    """
    made: list[AppDatabase] = []

    def make(defn: Definition | None = None, *, model_id: str | None = None, create=True):
        app_db = store.locate(
            main=main_target,
            data_dir=tmp_path / "data",
            model_id=model_id or f"shop-{uuid.uuid4().hex[:8]}",
            definition=defn or definition(),
        )
        made.append(app_db)
        if create:
            store.create(app_db)
        return app_db

    yield make
    for app_db in made:
        store.drop(app_db)


@pytest.fixture
def make_app(migrated_target, tmp_path):
    """Apps on the test's database with a small handle cache; closed afterwards."""
    apps = []

    def _make(capacity: int = CAPACITY):
        settings = settings_for(migrated_target, tmp_path, auth_required=False)
        app = create_app(replace(settings, app_db_handles=capacity))
        apps.append(app)
        with app.app_context():
            get_handles()  # made on first use; the tests look at it from the start
        return app

    yield _make
    for app in apps:
        close_db(app)
