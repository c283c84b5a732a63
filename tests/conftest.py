"""Shared fixtures: a fresh database per test on every backend, real servers, no mocks."""

from __future__ import annotations

import pytest

from services.db import migrations
from services.db.dal import open_dal
from services.db.engine import make_engine
from services.db.scratch import scratch_database
from services.db.urls import sqlite_target
from tests.backends import discover

_SERVERS = discover()
BACKENDS = ["sqlite", *sorted(_SERVERS.targets)]


def pytest_configure(config):
    missing = sorted(_SERVERS.required - set(_SERVERS.targets))
    if missing:
        reasons = "; ".join(f"{f}: {_SERVERS.skipped.get(f)}" for f in missing)
        raise pytest.UsageError(f"required database backend(s) unreachable: {reasons}")


def pytest_report_header(config):
    return f"database backends: {', '.join(BACKENDS)}"


def pytest_terminal_summary(terminalreporter):
    for family, reason in sorted(_SERVERS.skipped.items()):
        terminalreporter.write_line(f"NOT RUN on {family}: {reason}", yellow=True)


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    """The family under test: sqlite, postgresql or mysql (MariaDB)."""
    return request.param


@pytest.fixture
def fresh_target(backend, tmp_path):
    """An empty database of the backend's family, dropped after the test."""
    like = (
        sqlite_target(tmp_path / "unused.db") if backend == "sqlite" else _SERVERS.targets[backend]
    )
    with scratch_database(like, prefix="test") as target:
        yield target


@pytest.fixture
def migrated_target(fresh_target):
    """A fresh database migrated to head."""
    migrations.upgrade(fresh_target)
    return fresh_target


@pytest.fixture
def engine(migrated_target):
    """A SQLAlchemy engine on the migrated database (DDL and inspection only)."""
    eng = make_engine(migrated_target)
    yield eng
    eng.dispose()


@pytest.fixture
def dal(migrated_target):
    """A PyDAL connection with the main tables, closed after the test."""
    db = open_dal(migrated_target)
    yield db
    db.close()
