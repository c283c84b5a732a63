"""The fast start path (services/db/fingerprint.py): a start whose code and schema are as the last
full check left them skips SQLAlchemy and Alembic, and every tampering the full check catches
sends the start back to the full check, which refuses to serve, on every backend."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext

from services.config import load_settings
from services.db import fingerprint, migrations
from services.db.engine import make_engine
from services.lifecycle import StartupError, prepare_database
from tests.procs import run_json, start_script, started_once


def _settings(target, data_dir: Path):
    url = target.sa_url.render_as_string(hide_password=False)
    return load_settings(environ={"DATA_DIR": str(data_dir), "DATABASE_URL": url})


def _alter(target, change) -> None:
    """Run ``change(op, family)`` as DDL behind the service's back (batch mode on SQLite)."""
    engine = make_engine(target)
    try:
        with engine.begin() as connection:
            change(Operations(MigrationContext.configure(connection)), target.family)
    finally:
        engine.dispose()


def _batch(op, family):
    # SQLite cannot alter a column in place; Alembic's batch mode rebuilds the table.
    return op.batch_alter_table("item", recreate="always" if family == "sqlite" else "auto")


def extra_column(op, family):
    op.add_column("item", sa.Column("priority", sa.Integer, nullable=False, server_default="0"))


def dropped_index(op, family):
    op.drop_index("ix_user_email", table_name="user")


def changed_type(op, family):
    with _batch(op, family) as batch:
        batch.alter_column("description", type_=sa.Text(), existing_type=sa.String(255))


def changed_nullability(op, family):
    with _batch(op, family) as batch:
        batch.alter_column("description", nullable=False, existing_type=sa.String(255))


def missing_table(op, family):
    op.drop_table("revoked_token")


TAMPERINGS = [extra_column, dropped_index, changed_type, changed_nullability, missing_table]


def test_a_start_after_a_passing_full_check_takes_the_fast_path(migrated_target, tmp_path):
    settings = _settings(migrated_target, tmp_path)
    head = migrations.head_revision()
    assert fingerprint.fast_revision(tmp_path, migrated_target) is None  # nothing recorded yet
    assert prepare_database(settings) == head
    assert fingerprint.fast_revision(tmp_path, migrated_target) == head
    assert prepare_database(settings) == head


@pytest.mark.parametrize("tamper", TAMPERINGS, ids=lambda f: f.__name__)
def test_the_fast_path_refuses_each_tampering_the_full_check_catches(
    migrated_target, tmp_path, tamper
):
    settings = _settings(migrated_target, tmp_path)
    prepare_database(settings)
    _alter(migrated_target, tamper)
    assert fingerprint.fast_revision(tmp_path, migrated_target) is None
    with pytest.raises(StartupError, match="schema parity check failed"):
        prepare_database(settings)
    # A refused start records nothing: the next start is refused too.
    assert fingerprint.fast_revision(tmp_path, migrated_target) is None
    with pytest.raises(StartupError, match="schema parity check failed"):
        prepare_database(settings)


def test_a_changed_revision_or_changed_code_falls_back_to_the_full_check(migrated_target, tmp_path):
    settings = _settings(migrated_target, tmp_path)
    head = prepare_database(settings)
    record_path = tmp_path / fingerprint.RECORD_FILE
    record = json.loads(record_path.read_text())
    record_path.write_text(json.dumps({**record, "code": "0" * 64}))
    assert fingerprint.fast_revision(tmp_path, migrated_target) is None
    assert prepare_database(settings) == head  # the full check passes and records again
    assert fingerprint.fast_revision(tmp_path, migrated_target) == head
    record_path.write_text(json.dumps({**record, "revision": "0003"}))
    assert fingerprint.fast_revision(tmp_path, migrated_target) is None


def test_a_record_that_cannot_be_written_never_stops_a_start(tmp_path):
    settings = load_settings(environ={"DATA_DIR": str(tmp_path)})
    (tmp_path / fingerprint.RECORD_FILE).mkdir()  # where the record goes, a folder instead
    head = prepare_database(settings)
    assert fingerprint.fast_revision(tmp_path, settings.database) is None
    assert prepare_database(settings) == head


def test_the_fast_path_imports_neither_sqlalchemy_nor_alembic(tmp_path):
    # The sidecar's case: the SQLite file in the data dir (a DATABASE_URL is parsed by
    # SQLAlchemy's URL parser, so a server database start still imports SQLAlchemy).
    settings = load_settings(environ={"DATA_DIR": str(tmp_path)})
    migrations.upgrade(settings.database)
    head = prepare_database(settings)
    script = start_script(tmp_path) + (
        "loaded = {m.split('.')[0] for m in sys.modules} & {'sqlalchemy', 'alembic'}\n"
        "print(json.dumps([revision, sorted(loaded)]))\n"
    )
    assert run_json(script) == [head, []]


def test_a_start_at_head_loads_no_sqlalchemy_alembic_or_faker_until_used(tmp_path):
    # What an idle sidecar carries: the app database, schema and seeding code load on first use.
    started_once(tmp_path)
    script = start_script(tmp_path) + (
        "from app import create_app\n"
        "from app.cli import _complete_interrupted_updates\n"
        "app = create_app(settings)\n"
        "_complete_interrupted_updates(app, settings)\n"
        "loaded = {m.split('.')[0] for m in sys.modules} & {'sqlalchemy', 'alembic', 'faker'}\n"
        "client = app.test_client()\n"
        "status = client.post('/api/v1/models/', json={'id': 'm', 'name': 'M', 'definition':"
        " {'entities': [{'name': 'order', 'fields': []}]}}).status_code\n"
        "print(json.dumps([sorted(loaded), status]))\n"
    )
    # The reserved-word check still works once asked for (it reads SQLAlchemy's word lists).
    assert run_json(script) == [[], 422]


def test_browsing_and_writing_app_rows_on_sqlite_loads_no_sqlalchemy_or_alembic(tmp_path):
    # SQLAlchemy and Alembic are ~23 MB of RSS: an App Previewer browsing and editing rows
    # (PyDAL only) must not load the DDL machinery that made the database.
    from app import create_app
    from app.db import close_db

    settings = started_once(tmp_path)
    app = create_app(settings)
    try:
        made = app.test_client().post("/api/v1/models/", json=BROWSED_MODEL)
        assert made.status_code == 200, made.get_json()
    finally:
        close_db(app)
    rows = "/api/v1/models/m/app-database/entities"
    script = start_script(tmp_path) + (
        "from app import create_app\n"
        "client = create_app(settings).test_client()\n"
        f"c = client.post('{rows}/customer', json={{'email': 'a@example.com'}}).get_json()\n"
        f"p = client.post('{rows}/purchase', json={{'buyers': [c['id']]}}).get_json()\n"
        "answers = [\n"
        f"    client.get('{rows}/customer?sort=-email&email=a@example.com').get_json()['count'],\n"
        f"    client.get('{rows}/purchase/' + p['id']).get_json()['buyers'] == [c['id']],\n"
        f"    client.patch('{rows}/customer/' + c['id'], json={{'email': 'b@x'}}).status_code,\n"
        f"    client.delete('{rows}/purchase/' + p['id']).status_code,\n"
        "]\n"
        "loaded = {m.split('.')[0] for m in sys.modules} & {'sqlalchemy', 'alembic'}\n"
        "print(json.dumps([answers, sorted(loaded)]))\n"
    )
    assert run_json(script) == [[1, True, 200, 200], []]


BROWSED_MODEL = {
    "id": "m",
    "name": "M",
    "definition": {
        "entities": [
            {"name": "customer", "fields": [{"name": "email", "type": "String", "unique": True}]},
            {"name": "purchase", "fields": []},
        ],
        "relationships": [
            {"type": "ManyToMany", "from": "purchase", "to": "customer", "name": "buyers"}
        ],
    },
}
