"""Per request: commit on success, roll back on error, nothing held after the request."""

from __future__ import annotations

import sqlite3
import uuid

import pytest
from flask import abort

from app import create_app
from app.db import close_db, get_db
from services.config import load_settings
from services.db.urls import DatabaseTarget


def _settings(target: DatabaseTarget, tmp_path):
    env = {"DATA_DIR": str(tmp_path), "DATABASE_URL": target.sa_url.render_as_string(False)}
    return load_settings(environ=env)


@pytest.fixture
def app(migrated_target, tmp_path):
    app = create_app(_settings(migrated_target, tmp_path))

    # Test-only routes (plain Flask rules) exercising the lifecycle with real writes.
    def _write(outcome):
        db = get_db()
        db.user.insert(email=f"{outcome}-{uuid.uuid4().hex}@example.com", hashed_password="h")
        if outcome == "abort":
            abort(409, "refused after writing")
        if outcome == "raise":
            raise RuntimeError("boom after writing")
        return {"ok": True}, 201

    def _count():
        db = get_db()
        return {"count": db(db.user).count()}

    app.add_url_rule("/_t/user/<outcome>", "t_write", _write, methods=["POST"])
    app.add_url_rule("/_t/count", "t_count", _count)

    yield app
    close_db(app)


def _count(client) -> int:
    return client.get("/_t/count").get_json()["count"]


def test_success_commits(app):
    client = app.test_client()
    before = _count(client)
    assert client.post("/_t/user/ok").status_code == 201
    assert _count(client) == before + 1


@pytest.mark.parametrize("outcome,status", [("abort", 409), ("raise", 500)])
def test_error_rolls_back(app, outcome, status):
    client = app.test_client()
    before = _count(client)
    response = client.post(f"/_t/user/{outcome}")
    assert response.status_code == status
    assert "detail" in response.get_json()
    assert _count(client) == before


def test_no_connection_or_transaction_outlives_the_request(app):
    client = app.test_client()
    client.post("/_t/user/ok")
    client.post("/_t/user/raise")
    dal = app.extensions["dal"]
    adapter = dal._adapter
    # The test client runs requests in this thread.
    from pydal._globals import THREAD_LOCAL

    held = getattr(THREAD_LOCAL, adapter._connection_uname_, None)
    if adapter.dbengine == "sqlite":
        # Each thread keeps its SQLite connection between requests, never inside a transaction
        # (an open one would hold a read snapshot or the write lock), and shutdown closes it.
        assert held is not None and held in app.extensions["kept_connections"]
        assert not held.in_transaction
        close_db(app)
        with pytest.raises(sqlite3.ProgrammingError):  # closed at shutdown
            held.execute("SELECT 1")
    else:
        # Server connections go back to the pool after every request.
        assert held is None
    # Pooled connections sit idle with no open transaction.
    from pydal.connection import ConnectionPool

    for conn in ConnectionPool.POOLS.get(adapter.uri, []):
        if adapter.dbengine == "sqlite":
            assert not conn.in_transaction
        elif adapter.dbengine == "postgres":
            assert conn.status == 1  # psycopg2 STATUS_READY: not in a transaction


def test_a_failed_request_leaves_the_next_one_clean(app):
    client = app.test_client()
    client.post("/_t/user/raise")
    before = _count(client)
    assert client.post("/_t/user/ok").status_code == 201
    assert _count(client) == before + 1
