"""App-database migrations (services/appdb/migration.py) on every backend: dry runs, atomic
migrations, destructive changes refused unless allowed, rows that do not fit, a crash mid-way.

MySQL/MariaDB apply the same changes by building beside and swapping (services/appdb/shadow.py);
its kill -9 tests are in test_shadow.py."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from functools import partial

import pytest

from services.appdb import migration, store
from services.errors import Conflict, Invalid
from tests.appdb.shop import (
    ROOT,
    TABLES,
    definition,
    entity,
    fill,
    inspector,
    rows,
)

# --------------------------------------------------------------------------- migrations


def _grow(raw: dict) -> None:
    """A new entity referring to an old one, a new field, and a new enum member."""
    raw["entities"].append(
        {
            "name": "shipment",
            "fields": [
                {"name": "carrier", "type": "String", "required": True},
                {"name": "purchase", "type": "Reference", "target": "purchase"},
            ],
        }
    )
    entity(raw, "product")["fields"].append({"name": "color", "type": "String"})
    entity(raw, "customer")["fields"][4]["values"] = ["free", "pro", "enterprise"]


def test_a_migration_adds_an_entity_and_a_field(apps, tmp_path):
    app_db = apps()
    ids = fill(app_db)
    grown = definition(_grow)

    planned = migration.plan(app_db, grown)
    for op in (
        "create table shipment",
        "add column product.color",
        "change enum members of customer.tier: add ['enterprise']",
    ):
        assert op in planned.operations, planned.operations
    assert "create index ix_shipment_purchase on shipment (purchase)" in planned.operations
    assert planned.destructive == []
    assert not planned.applied
    # A dry run changes nothing.
    with inspector(app_db) as insp:
        assert "shipment" not in insp.get_table_names()
        assert "color" not in {c["name"] for c in insp.get_columns("product")}
    assert store.in_sync(app_db)

    backups = tmp_path / "backups"
    run = partial(
        migration.apply, app_db, grown, allow_destructive=False, backups_dir=backups, version=2
    )
    applied = run()
    assert applied.applied and applied.operations == planned.operations
    synced = store.with_definition(app_db, grown)
    assert store.differences(synced) == []
    assert not store.in_sync(app_db)  # the old definition no longer matches
    if app_db.family == "sqlite":
        # The snapshot holds the schema before the sync.
        assert applied.snapshot is not None and applied.snapshot.parent == backups / app_db.model_id
        snapshot = sqlite3.connect(applied.snapshot)
        try:
            names = {r[0] for r in snapshot.execute("SELECT name FROM sqlite_master")}
        finally:
            snapshot.close()
        assert "customer" in names and "shipment" not in names
    else:
        assert applied.snapshot is None
    # Rows survive, and the new table, field and enum member take rows.
    with rows(synced) as db:
        assert db(db.customer.id == ids["bob"]).select().first().referred_by == ids["ann"]
        assert db(db.purchase__products.source_id == ids["order"]).count() == 2
        db.shipment.insert(carrier="Post", purchase=ids["order"])
        db(db.product.id == ids["mug"]).update(color="blue")
        db.customer.insert(first_name="Cy", email="cy@example.com", tier="enterprise")
        db.commit()
        assert db(db.product.id == ids["mug"]).select().first().specs == {"ml": 300}
    assert store.status(synced)["entity_counts"]["shipment"] == 1
    assert migration.plan(synced, grown).empty


def _shrink(raw: dict) -> None:
    """Drop an entity (and its relationship), a ManyToMany, a field; change a field's type."""
    raw["entities"] = [e for e in raw["entities"] if e["name"] != "supplier"]
    raw["relationships"] = [
        r for r in raw["relationships"] if r["from"] != "supplier" and r["type"] != "ManyToMany"
    ]
    customer = entity(raw, "customer")
    customer["fields"] = [f for f in customer["fields"] if f["name"] != "vip"]
    next(f for f in customer["fields"] if f["name"] == "age")["type"] = "String"


def test_a_destructive_migration_is_refused_then_applied_when_allowed(apps, tmp_path):
    app_db = apps()
    ids = fill(app_db)
    shrunk = definition(_shrink)
    backups = tmp_path / "backups"

    with pytest.raises(migration.DestructiveChange) as refused:
        migration.apply(app_db, shrunk, allow_destructive=False, backups_dir=backups, version=2)
    assert isinstance(refused.value, Conflict)  # the HTTP layer's 409
    assert set(refused.value.operations) == {
        "drop table supplier",
        "drop table purchase__products",
        "drop column customer.vip",
        "drop column product.supplier",
        "change type of customer.age from bigint to string(255)",
    }
    assert "allow_destructive" in refused.value.detail
    assert store.in_sync(app_db), store.differences(app_db)  # nothing changed
    assert migration.plan(app_db, shrunk).destructive == refused.value.operations

    run = partial(
        migration.apply, app_db, shrunk, allow_destructive=True, backups_dir=backups, version=2
    )
    run()
    synced = store.with_definition(app_db, shrunk)
    assert store.differences(synced) == []
    with inspector(synced) as insp:
        assert set(insp.get_table_names()) == TABLES - {"supplier", "purchase__products"}
    with rows(synced) as db:
        ann = db(db.customer.id == ids["ann"]).select().first()
        assert ann.age == "41" and ann.tier == "pro"
        assert db(db.customer.id == ids["bob"]).select().first().referred_by == ids["ann"]
        assert db(db.product).count() == 2 and db(db.review).count() == 1


def test_rows_that_do_not_fit_stop_the_whole_migration(apps, tmp_path):
    """A required field on a table with rows, or a new unique field over duplicates, raises
    Invalid, and nothing of the sync is applied (the new table of the same sync included)."""
    app_db = apps()
    fill(app_db)
    backups = tmp_path / "backups"

    def required_field(raw):
        _grow(raw)
        entity(raw, "product")["fields"].append({"name": "sku", "type": "String", "required": True})

    def unique_over_duplicates(raw):
        _grow(raw)
        entity(raw, "purchase")["fields"][1]["unique"] = True  # quantity
        entity(raw, "customer")["fields"][0]["unique"] = True  # first_name: distinct, fine

    with rows(app_db) as db:
        db.purchase.insert(quantity=2)
        db.commit()

    for change, message in (
        (required_field, "cannot add required field product.sku"),
        (unique_over_duplicates, "existing rows do not fit"),
    ):
        run = partial(
            migration.apply,
            app_db,
            definition(change),
            allow_destructive=False,
            backups_dir=backups,
            version=2,
        )
        with pytest.raises(Invalid, match=message):
            run()
        assert store.in_sync(app_db), store.differences(app_db)
        with inspector(app_db) as insp:
            assert "shipment" not in insp.get_table_names()

    # On an empty table a required field is fine (SQLite rebuilds the table for it).
    def required_on_empty(raw):
        entity(raw, "coupon")["fields"].append(
            {"name": "percent", "type": "Integer", "required": True}
        )

    run = partial(
        migration.apply,
        app_db,
        definition(required_on_empty),
        allow_destructive=False,
        backups_dir=backups,
        version=2,
    )
    run()
    assert store.in_sync(store.with_definition(app_db, definition(required_on_empty)))


# A sync that dies as a kill -9 would, after all its DDL and before the commit.
CRASHING_MIGRATION = """
import json, os, sys
from pathlib import Path
from services.appdb import migration, store
from services.appdb.definition import Definition
from services.db.urls import parse_database_url

args = json.loads(sys.argv[1])
app_db = store.locate(main=parse_database_url(args["main"]), data_dir=Path(args["data_dir"]),
                      model_id=args["model_id"], definition=Definition.model_validate(args["old"]))
run = migration._run

def run_then_die(connection, units, metadata):
    run(connection, units, metadata)
    connection.exec_driver_sql("DELETE FROM review")
    os._exit(9)

migration._run = run_then_die
migration.apply(app_db, Definition.model_validate(args["new"]), allow_destructive=True,
           backups_dir=Path(args["data_dir"]) / "backups", version=2)
"""


def test_a_crash_mid_migration_leaves_the_previous_schema(apps, main_target, tmp_path):
    app_db = apps()
    fill(app_db)
    changed = definition(lambda raw: (_grow(raw), _shrink(raw)))
    # MariaDB never runs _run: its kill -9 tests (every step of the copy and swap) are in
    # test_shadow.py; here it dies just before the swap.
    env = {**os.environ, "APPDB_CRASH_AT": "before_swap"}
    args = {
        "main": main_target.sa_url.render_as_string(hide_password=False),
        "data_dir": str(tmp_path / "data"),
        "model_id": app_db.model_id,
        "old": app_db.definition.model_dump(mode="json", by_alias=True),
        "new": changed.model_dump(mode="json", by_alias=True),
    }
    done = subprocess.run(
        [sys.executable, "-c", CRASHING_MIGRATION, json.dumps(args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == (-9 if app_db.family == "mysql" else 9), done.stderr
    assert store.differences(app_db) == []
    assert store.status(app_db)["entity_counts"]["review"] == 1
    if app_db.family == "sqlite":
        connection = sqlite3.connect(app_db.target.sqlite_path)
        try:
            assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        finally:
            connection.close()
    migration.apply(app_db, changed, allow_destructive=True, backups_dir=tmp_path, version=2)
    assert store.in_sync(store.with_definition(app_db, changed))
