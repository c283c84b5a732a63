"""Backups you can use: list, take and restore snapshots of the main and app databases (SQLite
data dirs), refused while a service holds the data dir; cleanup of unused app databases."""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta

import pytest
from openapi_core import OpenAPI

from app import create_app
from app.db import close_db
from services.config import load_settings
from services.db import migrations
from services.db.dal import close_dal, open_dal
from services.lifecycle import DataDirLock
from services.timeutil import utcnow
from tests.api.conftest import API, CheckedClient
from tests.api.test_models import SHOP
from tests.test_cli import run_app

M = f"{API}/models"
DB = f"{M}/shop-demo/app-database"


@pytest.fixture
def data_dir(tmp_path):
    """A migrated SQLite data dir, and a way to open the app on it."""
    settings = load_settings(environ={"DATA_DIR": str(tmp_path), "AUTH_REQUIRED": "false"})
    migrations.upgrade(settings.database)
    return tmp_path, settings


@pytest.fixture
def app_on(data_dir):
    apps = []

    def _open() -> CheckedClient:
        app = create_app(data_dir[1])
        apps.append(app)
        return CheckedClient(app, OpenAPI.from_dict(app.api_doc))

    yield _open
    for app in apps:
        close_db(app)


def _env(tmp_path) -> dict:
    return {"DATA_DIR": str(tmp_path)}


def _epoch(path) -> str:
    connection = sqlite3.connect(path)
    try:
        return connection.execute("SELECT epoch FROM sync_counter").fetchone()[0]
    finally:
        connection.close()


def _titles(client) -> list[str]:
    return sorted(i["title"] for i in client.get(f"{API}/items/").get_json()["data"])


def test_a_restored_main_snapshot_brings_back_the_first_state_with_clean_parity(data_dir, app_on):
    tmp_path, _ = data_dir
    client = app_on()
    assert client.post(f"{API}/items/", json={"title": "first"}).status_code == 200
    taken = run_app("backups", "create", env=_env(tmp_path))
    assert taken.returncode == 0, taken.stderr
    name = json.loads(taken.stdout)["snapshot"].rsplit("/", 1)[1]
    assert client.post(f"{API}/items/", json={"title": "second"}).status_code == 200
    assert _titles(client) == ["first", "second"]
    close_db(client.app)
    listed = [
        json.loads(line)
        for line in run_app("backups", "list", env=_env(tmp_path)).stdout.splitlines()
    ]
    assert name in [s["name"] for s in listed if s["scope"] == "main"]
    epoch = _epoch(tmp_path / "app.db")
    restored = run_app("backups", "restore", name, env=_env(tmp_path))
    assert restored.returncode == 0, restored.stderr + restored.stdout
    assert json.loads(restored.stdout)["parity"] == "ok"
    assert _titles(app_on()) == ["first"]
    assert _epoch(tmp_path / "app.db") != epoch  # sync clients start over
    parity = run_app("parity", env=_env(tmp_path))
    assert parity.returncode == 0, parity.stdout


def test_a_restore_is_refused_while_a_service_holds_the_data_dir(data_dir):
    tmp_path, _ = data_dir
    taken = run_app("backups", "create", env=_env(tmp_path))
    name = json.loads(taken.stdout)["snapshot"].rsplit("/", 1)[1]
    lock = DataDirLock(tmp_path)
    lock.acquire()
    try:
        refused = run_app("backups", "restore", name, env=_env(tmp_path))
    finally:
        lock.release()
    assert refused.returncode != 0 and "already serving" in refused.stderr


def test_a_restored_app_snapshot_brings_back_its_rows_with_clean_parity(data_dir, app_on):
    tmp_path, _ = data_dir
    client = app_on()
    assert client.post(f"{M}/", json=SHOP).status_code == 200
    first = client.post(f"{DB}/entities/customer", json={"first_name": "A", "email": "a@x"})
    assert first.status_code == 200
    taken = run_app("backups", "create", "--model", "shop-demo", env=_env(tmp_path))
    assert taken.returncode == 0, taken.stderr
    name = json.loads(taken.stdout)["snapshot"].rsplit("/", 1)[1]
    assert (
        client.post(f"{DB}/entities/customer", json={"first_name": "B", "email": "b@x"}).status_code
        == 200
    )
    close_db(client.app)
    restored = run_app("backups", "restore", name, "--model", "shop-demo", env=_env(tmp_path))
    assert restored.returncode == 0, restored.stderr + restored.stdout
    assert json.loads(restored.stdout)["parity"] == "ok"
    client = app_on()
    rows = client.get(f"{DB}/entities/customer").get_json()["data"]
    assert [r["first_name"] for r in rows] == ["A"] and rows[0]["id"] == first.get_json()["id"]
    assert client.get(f"{DB}/status").get_json()["in_sync"] is True


def test_cleanup_deletes_only_models_unused_for_the_given_days(data_dir, app_on):
    tmp_path, settings = data_dir
    client = app_on()
    for model_id in ("old-one", "new-one"):
        assert client.post(f"{M}/", json={**SHOP, "id": model_id}).status_code == 200
    close_db(client.app)
    db = open_dal(settings.database)
    try:
        long_ago = utcnow() - timedelta(days=40)
        db(db.app_model.id == "old-one").update(created_at=long_ago, updated_at=long_ago)
        db.commit()
    finally:
        close_dal(db)
    dry = run_app("cleanup", "--unused-for", "30", "--dry-run", env=_env(tmp_path))
    assert dry.returncode == 0, dry.stderr
    assert [json.loads(line)["model_id"] for line in dry.stdout.splitlines()] == ["old-one"]
    assert (tmp_path / "apps" / "old-one.db").exists()
    done = run_app("cleanup", "--unused-for", "30", env=_env(tmp_path))
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "apps" / "old-one.db").exists()
    client = app_on()
    assert client.get(f"{M}/old-one").status_code == 404
    assert client.get(f"{M}/new-one").status_code == 200


def test_cleanup_removes_app_databases_no_model_owns(data_dir, app_on):
    tmp_path, settings = data_dir
    client = app_on()
    assert client.post(f"{M}/", json=SHOP).status_code == 200
    close_db(client.app)
    db = open_dal(settings.database)
    try:
        db(db.app_model.id == "shop-demo").delete()  # the owner is gone, its file stayed
        db.commit()
    finally:
        close_dal(db)
    dry = run_app("cleanup", "--unused-for", "30", "--dry-run", env=_env(tmp_path))
    assert [json.loads(line)["deleted"] for line in dry.stdout.splitlines()] == [False]
    assert (tmp_path / "apps" / "shop-demo.db").exists()
    done = run_app("cleanup", "--unused-for", "30", env=_env(tmp_path))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[0])["orphan"].endswith("shop-demo.db")
    assert not (tmp_path / "apps" / "shop-demo.db").exists()
