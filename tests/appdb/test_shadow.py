"""MariaDB app-database schema changes, all or nothing (issue 16, item 4): built beside, copied,
swapped with one RENAME TABLE. kill -9 at every step leaves one complete schema with every
acknowledged row, and the next start cleans up the rest; row writes wait out the copy."""

from __future__ import annotations

import threading
import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from services.appdb import shadow, store
from services.appdb.catalog import app_database, get_model
from tests.api.conftest import API
from tests.appdb.test_type_changes import body
from tests.conftest import BACKENDS
from tests.procs import Service

M = f"{API}/models"
MYSQL = [b for b in BACKENDS if b == "mysql"]
ROWS = 12


def _url(target) -> str:
    return target.sa_url.render_as_string(hide_password=False)


def _databases(target, like: str) -> list[str]:
    engine = sa.create_engine(target.sa_url._replace(database=None), poolclass=NullPool)
    try:
        with engine.connect() as connection:
            query = sa.text("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA")
            return sorted(n for n in connection.execute(query).scalars() if n.startswith(like))
    finally:
        engine.dispose()


def _ok(answer, status: int = 200):
    code, data = answer
    assert code == status, (code, data)
    return data


@pytest.mark.parametrize("backend", MYSQL, indirect=True)
@pytest.mark.parametrize("step", shadow.CRASH_STEPS)
def test_kill_9_at_every_step_leaves_one_complete_schema_with_every_row(
    fresh_target, tmp_path, monkeypatch, step
):
    model_id = f"k-{uuid.uuid4().hex[:8]}"
    data_dir = tmp_path / "data"
    monkeypatch.setenv(shadow.CRASH_ENV, step)
    service = Service(data_dir, tmp_path / "first.err", database_url=_url(fresh_target))
    try:
        _ok(service.call("POST", f"{M}/", body(model_id)))
        rows = f"{M}/{model_id}/app-database/entities/event"
        acked = {}
        for n in range(ROWS):
            label = f"2024-01-{n + 1:02d}" if n % 3 else f"not a date {n}"
            acked[_ok(service.call("POST", rows, {"code": f"c{n}", "label": label}))["id"]] = n
        changed = body(model_id, label="Date", count="String")
        try:
            service.call("PUT", f"{M}/{model_id}?allow_destructive=true", changed, timeout=60)
        except (ConnectionError, OSError):
            pass  # the service died mid-request, as it should
        assert service.proc.wait(timeout=60) == -9
    finally:
        service.stop()

    monkeypatch.delenv(shadow.CRASH_ENV)
    service = Service(data_dir, tmp_path / "second.err", database_url=_url(fresh_target))
    try:
        version = _ok(service.call("GET", f"{M}/{model_id}"))["version"]
        assert version == (2 if step == "after_swap" else 1), step
        status = _ok(service.call("GET", f"{M}/{model_id}/app-database/status"))
        assert status["in_sync"] is True and status["entity_counts"]["event"] == ROWS, status
        for row_id, n in acked.items():
            got = _ok(service.call("GET", f"{rows}/{row_id}"))
            assert got["code"] == f"c{n}"
            if version == 2:
                assert got["label"] == (None if n % 3 == 0 else f"2024-01-{n + 1:02d}")
        pulled = _ok(
            service.call("POST", f"{API}/sync", {"client_id": "c", "scope": f"models/{model_id}"})
        )
        assert len(pulled["changes"]) == ROWS
        _ok(service.call("POST", rows, {"code": "after"}))  # writes are not left frozen
        live = store.server_database_name(
            main_database=fresh_target.sa_url.database, model_id=model_id
        )
        beside = {shadow.beside(live, s) for s in (shadow.NEW_SUFFIX, shadow.OLD_SUFFIX)}
        assert live in _databases(fresh_target, live)
        assert beside.isdisjoint(_databases(fresh_target, live)), "leftovers not cleaned up"
        # The change still applies afterwards (or is already there).
        answer = _ok(service.call("PUT", f"{M}/{model_id}?allow_destructive=true", changed))
        assert answer["sync"]["operations"] == [] if version == 2 else answer["sync"]["applied"]
    finally:
        service.stop()


@pytest.mark.parametrize("backend", MYSQL, indirect=True)
def test_row_writes_refuse_while_frozen_and_go_on_after(make_app):
    app = make_app()
    client = app.test_client()
    model_id = f"f-{uuid.uuid4().hex[:8]}"
    assert client.post(f"{M}/", json=body(model_id)).status_code == 200
    rows = f"{M}/{model_id}/app-database/entities/event"
    assert client.post(rows, json={"code": "a"}).status_code == 200
    settings = app.config["SETTINGS"]
    with app.app_context():
        from app.db import get_db

        app_db = app_database(
            settings=settings, row=get_model(db=get_db(), model_id=model_id, owner_id=None)
        )
    shadow.freeze(app_db)
    try:
        refused = client.post(rows, json={"code": "b"})
        assert refused.status_code == 409 and "retry" in refused.get_json()["detail"]
    finally:
        shadow.thaw(app_db)
    assert client.post(rows, json={"code": "b"}).status_code == 200
    assert client.get(f"{rows}").get_json()["count"] == 2


@pytest.mark.parametrize("backend", MYSQL, indirect=True)
def test_a_handle_opened_before_the_swap_serves_the_new_schema_after(make_app):
    writer, other = make_app(), make_app()  # two handle caches, as two processes have
    model_id = f"h-{uuid.uuid4().hex[:8]}"
    rows = f"{M}/{model_id}/app-database/entities/event"
    assert writer.test_client().post(f"{M}/", json=body(model_id)).status_code == 200
    row_id = writer.test_client().post(rows, json={"code": "a", "label": "7"}).get_json()["id"]
    assert other.test_client().get(f"{rows}/{row_id}").get_json()["label"] == "7"
    changed = writer.test_client().put(
        f"{M}/{model_id}?allow_destructive=true", json=body(model_id, label="Integer")
    )
    assert changed.status_code == 200, changed.get_json()
    assert other.test_client().get(f"{rows}/{row_id}").get_json()["label"] == 7
    added = other.test_client().post(rows, json={"code": "b", "label": 8})
    assert added.status_code == 200, added.get_json()


@pytest.mark.parametrize("backend", MYSQL, indirect=True)
def test_rows_written_during_a_change_are_all_there_after_it(make_app):
    app = make_app()
    model_id = f"w-{uuid.uuid4().hex[:8]}"
    rows = f"{M}/{model_id}/app-database/entities/event"
    assert app.test_client().post(f"{M}/", json=body(model_id)).status_code == 200
    for n in range(20):
        app.test_client().post(rows, json={"code": f"seed{n}", "label": str(n)})
    acked: list[str] = []
    answers: list[int] = []
    done = threading.Event()

    def write() -> None:
        client, n = app.test_client(), 0
        while not done.is_set():
            answer = client.post(rows, json={"code": f"w{n}"})  # valid under every type
            answers.append(answer.status_code)
            if answer.status_code == 200:
                acked.append(answer.get_json()["id"])
            n += 1

    writer = threading.Thread(target=write)
    writer.start()
    try:
        for new_type in ("Integer", "String", "Integer"):
            changed = app.test_client().put(
                f"{M}/{model_id}?allow_destructive=true", json=body(model_id, label=new_type)
            )
            assert changed.status_code == 200, changed.get_json()
    finally:
        done.set()
        writer.join(timeout=60)
    assert set(answers) <= {200, 409}, sorted(set(answers))
    client = app.test_client()
    for row_id in acked:
        assert client.get(f"{rows}/{row_id}").status_code == 200, row_id
    assert client.get(rows).get_json()["count"] == 20 + len(acked)
