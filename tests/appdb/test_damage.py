"""Damage detected and named (issue 14): a truncated or bit-flipped SQLite app database answered
generic 500s, or worse, reported itself in sync and accepted new rows."""

from __future__ import annotations

import pytest

from services.db.engine import make_engine
from tests.api.conftest import API
from tests.appdb.test_handles import model, ok

M = f"{API}/models"
ROWS = f"{M}/fragile/app-database/entities/note"


def _truncate(path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2 + 100])


def _flip(path) -> None:
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big") or 65536
    for start in range(page, len(data), page):  # every page after the header page
        for i in range(start, min(start + 12, len(data))):
            data[i] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize("damage", [_truncate, _flip], ids=["truncated", "bit-flipped"])
def test_a_damaged_app_database_answers_503_naming_the_model_and_takes_no_write(make_app, damage):
    app = make_app()
    client = app.test_client()
    ok(client.post(f"{M}/", json=model("fragile")))
    for n in range(300):
        ok(client.post(ROWS, json={"title": f"row {n} " + "x" * 200}))
    app.extensions["app_handles"].invalidate("fragile")  # closes its connections: WAL folded in
    path = app.config["SETTINGS"].data_dir / "apps" / "fragile.db"
    assert not path.with_name("fragile.db-wal").exists()
    damage(path)
    before = path.read_bytes()

    for method, url, body in (
        ("GET", ROWS, None),
        ("POST", ROWS, {"title": "new"}),
        ("GET", f"{M}/fragile/app-database/entities", None),
        ("POST", f"{M}/fragile/app-database/seed", {}),
    ):
        response = client.open(url, method=method, json=body)
        assert response.status_code == 503, (method, url, response.get_json())
        assert "fragile" in response.get_json()["detail"]
    status = ok(client.get(f"{M}/fragile/app-database/status"))
    assert status["healthy"] is False and status["in_sync"] is False
    assert "fragile" in status["problem"]
    assert path.read_bytes() == before  # nothing was written into it
    ok(client.get(f"{M}/fragile"))  # the definition itself is still there


@pytest.mark.parametrize("backend", ["postgresql", "mysql"], indirect=True)
def test_a_table_dropped_behind_the_services_back_answers_503_naming_the_model(make_app):
    app = make_app()
    client = app.test_client()
    ok(client.post(f"{M}/", json=model("fragile")))
    ok(client.post(ROWS, json={"title": "kept"}))
    handles = app.extensions["app_handles"]
    app_db = handles._handles["fragile"].app_db
    handles.invalidate("fragile")  # the next request opens, and so checks, it again
    engine = make_engine(app_db.target)
    table = f'"{app_db.schema}"."note"' if app_db.schema else "note"
    try:
        with engine.begin() as connection:
            if not app_db.schema:  # MySQL: other tables refer to it
                connection.exec_driver_sql("SET FOREIGN_KEY_CHECKS=0")
            connection.exec_driver_sql(f"DROP TABLE {table} CASCADE")
    finally:
        engine.dispose()

    for method, url, body in (("GET", ROWS, None), ("POST", ROWS, {"title": "new"})):
        response = client.open(url, method=method, json=body)
        assert response.status_code == 503, (method, url, response.get_json())
        assert "fragile" in response.get_json()["detail"]
        assert "note" in response.get_json()["detail"]
    status = ok(client.get(f"{M}/fragile/app-database/status"))
    assert status["healthy"] is False and "fragile" in status["problem"]
