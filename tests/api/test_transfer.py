"""Export and import: a model's rows leave as JSON, SQLite or CSV and come back identical."""

from __future__ import annotations

import copy
import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import sqlalchemy as sa

from services.appdb import transfer
from services.appdb.definition import Definition
from services.config import load_settings
from tests.api.conftest import API, SUPERUSER, settings_for
from tests.api.test_models import SHOP
from tests.test_cli import ROOT, _db_env, run_app

M = f"{API}/models"


def _db(model_id: str) -> str:
    return f"{M}/{model_id}/app-database"


def _all_rows(client, model_id: str) -> dict[str, list[dict]]:
    out = {}
    for entity in SHOP["definition"]["entities"]:
        page = client.get(f"{_db(model_id)}/entities/{entity['name']}?limit=1000&sort=id")
        assert page.status_code == 200, page.get_json()
        out[entity["name"]] = page.get_json()["data"]
    return out


@pytest.fixture
def seeded(make_client):
    client = make_client(auth_required=False)
    assert client.post(f"{M}/", json=SHOP).status_code == 200
    answer = client.post(f"{_db('shop-demo')}/seed", json={"max_instances_per_entity": 6})
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["relationships_created"] > 0  # links travel too
    return client


def test_a_json_export_imports_as_another_id_with_identical_rows_and_links(seeded):
    exported = seeded.get(f"{_db('shop-demo')}/export?format=json")
    assert exported.status_code == 200
    assert "shop-demo.json" in exported.headers["Content-Disposition"]
    bundle = json.loads(exported.data)
    assert bundle["model"]["id"] == "shop-demo" and len(bundle["entities"]["customer"]) == 6
    imported = seeded.post(f"{M}/import?model_id=shop-copy&name=Copy", json=bundle)
    assert imported.status_code == 200, imported.get_json()
    assert imported.get_json()["name"] == "Copy"
    assert _all_rows(seeded, "shop-copy") == _all_rows(seeded, "shop-demo")
    status = seeded.get(f"{_db('shop-copy')}/status").get_json()
    assert status["in_sync"] and status["total_entities"] == 30
    # the same id again is a conflict, and changes nothing
    again = seeded.post(f"{M}/import?model_id=shop-copy", json=bundle)
    assert again.status_code == 409
    assert seeded.post(f"{M}/import", json=bundle).status_code == 409


def test_an_sqlite_export_imports_with_identical_rows(seeded):
    exported = seeded.get(f"{_db('shop-demo')}/export?format=sqlite")
    assert exported.status_code == 200 and exported.data.startswith(b"SQLite format 3\x00")
    imported = seeded.post(
        f"{M}/import?model_id=shop-file",
        data=exported.data,
        headers={"Content-Type": "application/vnd.sqlite3"},
    )
    assert imported.status_code == 200, imported.get_json()
    assert _all_rows(seeded, "shop-file") == _all_rows(seeded, "shop-demo")


def test_a_csv_export_has_one_file_per_entity_with_one_header_per_field(seeded):
    exported = seeded.get(f"{_db('shop-demo')}/export?format=csv")
    assert exported.status_code == 200
    rows = _all_rows(seeded, "shop-demo")
    definition = Definition.model_validate(SHOP["definition"])
    with zipfile.ZipFile(io.BytesIO(exported.data)) as archive:
        assert sorted(archive.namelist()) == sorted(f"{e}.csv" for e in rows)
        for entity, expected in rows.items():
            with archive.open(f"{entity}.csv") as raw:
                table = list(csv.reader(io.TextIOWrapper(raw, encoding="utf-8", newline="")))
            header = table[0]
            assert header == transfer.csv_header(definition, entity)
            served = set(expected[0]) - {"_link_counts"}  # a served total, not a field
            assert len(header) == len(set(header)) == len(served)
            assert sorted(r[0] for r in table[1:]) == sorted(r["id"] for r in expected)


def test_a_bad_bundle_is_a_422_that_creates_nothing(seeded):
    bundle = json.loads(seeded.get(f"{_db('shop-demo')}/export").data)
    broken = copy.deepcopy(bundle)
    broken["entities"]["purchase"][0]["customer"] = "00000000-0000-0000-0000-000000000001"
    broken["entities"]["customer"][1]["age"] = "old"
    answer = seeded.post(f"{M}/import?model_id=shop-bad", json=broken)
    assert answer.status_code == 422
    assert ["body", "entities", "customer", 1, "age"] in [
        d["loc"] for d in answer.get_json()["detail"]
    ]
    assert seeded.get(f"{M}/shop-bad").status_code == 404
    assert seeded.post(f"{M}/import?model_id=shop-bad", json={"format": "x"}).status_code == 422
    assert seeded.get(f"{M}/shop-bad").status_code == 404
    garbage = seeded.post(
        f"{M}/import?model_id=shop-bad",
        data=b"not a database",
        headers={"Content-Type": "application/octet-stream"},
    )
    assert garbage.status_code == 400 and seeded.get(f"{M}/shop-bad").status_code == 404


def test_a_json_export_streams_in_chunks(seeded):
    answer = seeded.post(f"{_db('shop-demo')}/seed", json={"max_instances_per_entity": 10})
    assert answer.status_code == 200
    app = seeded.app
    settings = app.config["SETTINGS"]
    from services.appdb import catalog
    from services.db.dal import close_dal, open_dal

    db = open_dal(settings.database)
    try:
        row = catalog.get_model(db=db, model_id="shop-demo", owner_id=None)
    finally:
        close_dal(db)
    app_db = catalog.app_database(settings=settings, row=row)
    meta = transfer.model_meta(
        model_id="shop-demo", name="x", version=1, definition=app_db.definition
    )
    old = transfer.CHUNK_ROWS
    transfer.CHUNK_ROWS = 3  # rows are read a chunk at a time, never all at once
    try:
        chunks = list(transfer.export_json(app_db, meta=meta))
    finally:
        transfer.CHUNK_ROWS = old
    assert len(chunks) > 2 * 5 * (10 // 3)
    assert json.loads(b"".join(chunks))["model"]["id"] == "shop-demo"


# --------------------------------------------------------------------------- kill -9


BIG = {
    "id": "big",
    "name": "Big",
    "definition": {
        "entities": [
            {"name": "note", "fields": [{"name": "content", "type": "String", "required": True}]}
        ]
    },
}


def _big_bundle(path: Path, rows: int) -> None:
    entities = {
        "note": [
            {
                "id": f"00000000-0000-4000-8000-{i:012d}",
                "created_at": "2024-01-01T00:00:00Z",
                "updated_at": "2024-01-01T00:00:00Z",
                "content": f"note {i}",
            }
            for i in range(rows)
        ]
    }
    model = {**BIG, "version": 1}
    bundle = {"format": "app-database-bundle", "format_version": 1, "model": model}
    path.write_text(json.dumps({**bundle, "entities": entities}))


def _staging_leftovers(settings) -> list[str]:
    if settings.database.family == "sqlite":
        apps = settings.data_dir / "apps"
        return sorted(p.name for p in apps.glob(".import-*")) if apps.exists() else []
    engine = sa.create_engine(settings.database.sa_url)
    try:
        with engine.connect() as connection:
            return list(
                connection.execute(
                    sa.text(
                        "SELECT schema_name FROM information_schema.schemata "
                        "WHERE schema_name LIKE 'imp_%' OR schema_name = 'app_big'"
                    )
                ).scalars()
            )
    finally:
        engine.dispose()


# MariaDB commits each DDL statement, so an import there builds in place and a kill can leave a
# database behind (cleanup removes it): the all-or-nothing promise is for SQLite and PostgreSQL.
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_kill_during_an_import_leaves_nothing_behind(
    make_client, migrated_target, tmp_path, backend
):
    client = make_client(auth_required=False)  # creates the first superuser
    settings = settings_for(migrated_target, tmp_path, auth_required=False)
    bundle = tmp_path / "big.json"
    _big_bundle(bundle, 20_000)
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DATA_DIR")}
    env.update(_db_env(migrated_target, tmp_path))
    process = subprocess.Popen(
        [sys.executable, "-m", "app", "import", str(bundle)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not _staging_leftovers(settings) and process.poll() is None:
            assert time.monotonic() < deadline, "the import never started staging"
            time.sleep(0.01)
        time.sleep(0.3)  # into the rows
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert process.returncode == -signal.SIGKILL
    assert client.get(f"{M}/big").status_code == 404
    assert not (tmp_path / "apps" / "big.db").exists()
    assert transfer.sweep(settings) or not _staging_leftovers(settings)
    assert _staging_leftovers(settings) == []
    result = run_app("import", str(bundle), env=_db_env(migrated_target, tmp_path), timeout=300)
    assert result.returncode == 0, result.stderr
    assert client.get(f"{_db('big')}/entities/note?limit=1").get_json()["count"] == 20_000
    assert _staging_leftovers(settings) in ([], ["app_big"])


def test_the_cli_exports_and_imports(seeded, migrated_target, tmp_path):
    env = _db_env(migrated_target, tmp_path)
    out = tmp_path / "shop.db"
    exported = run_app("export", "shop-demo", "--format", "sqlite", "--output", str(out), env=env)
    assert exported.returncode == 0, exported.stderr
    imported = run_app("import", str(out), "--as", "shop-cli", env=env)
    assert imported.returncode == 0, imported.stderr
    assert json.loads(imported.stdout)["imported"] == "shop-cli"
    assert _all_rows(seeded, "shop-cli") == _all_rows(seeded, "shop-demo")
    twice = run_app("import", str(out), "--as", "shop-cli", env=env)
    assert twice.returncode != 0 and "already exists" in twice.stderr
    assert load_settings  # the CLI reads the same settings as the service
    assert SUPERUSER
