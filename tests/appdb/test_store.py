"""App databases (services/appdb/store.py) on every backend: one database per model, built from
its definition into both layers, in parity, with status, drift detection, isolation between
models, and a drop that leaves nothing."""

from __future__ import annotations

import uuid
from datetime import datetime
from functools import partial

import pytest
import sqlalchemy as sa

from services.appdb import migration, store
from services.appdb.schema import build_metadata
from services.db.engine import make_engine
from services.db.parity import compare_database_to_pydal, compare_models_to_pydal, round_trip
from services.errors import Conflict, Invalid, NotFound
from tests.appdb.shop import ENTITIES, FEED_TABLES, TABLES, ddl, definition, fill, inspector, rows

# --------------------------------------------------------------------------- names and places


def test_names_are_safe_distinct_and_bounded():
    assert store.database_name(model_id="shop-demo") == "app_shop_demo"
    upper = store.database_name(model_id="Shop-Demo")
    assert upper != "app_shop_demo" and upper.startswith("apph_shop_demo_")
    long_id = "x" * 100
    assert len(store.database_name(model_id=long_id)) <= 63
    assert store.database_name(model_id=long_id) != store.database_name(model_id=long_id[:-1])
    for bad in ("../etc", "a b", "a;drop", "", "x" * 101):
        with pytest.raises(Invalid):
            store.database_name(model_id=bad)


def test_locate_places_each_family(apps, backend, tmp_path, main_target):
    app_db = apps(model_id="Shop-Demo", create=False)
    if backend == "sqlite":
        assert app_db.target.sqlite_path == (tmp_path / "data" / "apps" / "Shop-Demo.db").resolve()
        assert app_db.schema is None
    elif backend == "postgresql":
        assert app_db.schema == store.database_name(model_id="Shop-Demo")
    else:
        name = store.database_name(model_id="Shop-Demo")
        assert app_db.target.sa_url.database == f"{main_target.sa_url.database}__{name}"
    assert not store.exists(app_db)
    assert store.status(app_db)["exists"] is False
    if backend == "sqlite":
        assert not app_db.target.sqlite_path.exists(), "status must not create the file"


# --------------------------------------------------------------------------- create


def test_create_makes_tables_indexes_and_foreign_keys(apps, backend, main_target):
    app_db = apps()
    with inspector(app_db) as insp:
        assert set(insp.get_table_names()) == TABLES
        columns = {c["name"] for c in insp.get_columns("customer")}
        assert columns == {
            "id",
            "created_at",
            "updated_at",
            "first_name",
            "email",
            "age",
            "vip",
            "tier",
            "referred_by",
        }
        assert {c["name"] for c in insp.get_columns("purchase")} >= {"customer", "placed_at"}
        for table in ENTITIES:
            assert insp.get_pk_constraint(table)["constrained_columns"] == ["id"]
            indexed = {tuple(i["column_names"]) for i in insp.get_indexes(table)}
            assert ("created_at",) in indexed, table
        indexed = {tuple(i["column_names"]) for i in insp.get_indexes("customer")}
        assert ("referred_by",) in indexed
        uniques = {tuple(u["column_names"]) for u in insp.get_unique_constraints("customer")} | {
            tuple(i["column_names"]) for i in insp.get_indexes("customer") if i["unique"]
        }
        assert ("email",) in uniques
        assert ("customer",) in {tuple(i["column_names"]) for i in insp.get_indexes("purchase")}
        fks = {
            (
                table,
                tuple(fk["constrained_columns"]),
                fk["referred_table"],
                fk["options"].get("ondelete"),
            )
            for table in TABLES
            for fk in insp.get_foreign_keys(table)
        }
    assert fks == {
        ("customer", ("referred_by",), "customer", "SET NULL"),
        ("purchase", ("customer",), "customer", "SET NULL"),
        ("product", ("supplier",), "supplier", "SET NULL"),
        ("review", ("product",), "product", "CASCADE"),
        ("purchase__products", ("source_id",), "purchase", "CASCADE"),
        ("purchase__products", ("target_id",), "product", "CASCADE"),
    }
    # Foreign keys are enforced for rows written through PyDAL.
    with rows(app_db) as db:
        with pytest.raises(Exception, match="(?i)foreign key"):
            db.review.insert(stars=1, product=uuid.uuid4())
            db.commit()
        db.rollback()
    if backend == "postgresql":
        # The tables live in the model's schema only, never in the main database's (which has
        # change-feed tables of the same names, its own).
        engine = make_engine(main_target)
        try:
            public = set(sa.inspect(engine).get_table_names())
        finally:
            engine.dispose()
        assert not public & (TABLES - FEED_TABLES)


def test_create_is_idempotent_and_refuses_another_schema(apps):
    app_db = apps()
    fill(app_db)
    store.create(app_db)  # same definition: a no-op that keeps the rows
    assert store.status(app_db)["entity_counts"]["customer"] == 2
    other = store.with_definition(app_db, definition(lambda raw: raw["entities"].pop()))
    with pytest.raises(Conflict, match="already exists with another schema"):
        store.create(other)


# --------------------------------------------------------------------------- parity


def test_definition_database_and_pydal_tables_agree(apps):
    """(a) definition vs live database (Alembic), (b) definition vs PyDAL, (c) live database
    vs PyDAL, and (d) a value round trip through both layers, all on the app database."""
    app_db = apps()
    metadata = build_metadata(app_db.definition)
    assert store.differences(app_db) == []
    engine = store.app_engine(app_db)
    try:
        with rows(app_db) as db:
            assert compare_models_to_pydal(metadata, db) == []
            with engine.connect() as connection:
                live = compare_database_to_pydal(connection, db)
            assert live == [], "\n".join(map(str, live))
            found = round_trip(metadata, engine, db)
            assert found == [], "\n".join(map(str, found))
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- status and drift


def test_status_counts_rows_through_pydal(apps):
    app_db = apps()
    fill(app_db)
    seeded = datetime(2026, 1, 2, 3, 4, 5)
    report = store.status(app_db, last_seeded=seeded)
    assert report["exists"] is True
    assert report["entity_counts"] == {
        "customer": 2,
        "product": 2,
        "purchase": 1,
        "supplier": 1,
        "review": 1,
        "coupon": 0,
    }
    assert report["total_entities"] == 7
    assert report["last_seeded"] == seeded
    assert report["schema_version"] == store.schema_version(app_db.definition)
    assert len(report["schema_version"]) == 12
    assert report["schema_version"] != store.schema_version(
        definition(lambda raw: raw["entities"].pop())
    )
    assert report["size_bytes"] > 0
    assert report["in_sync"] is True
    assert set(report) == {
        "exists",
        "total_entities",
        "entity_counts",
        "last_seeded",
        "schema_version",
        "size_bytes",
        "in_sync",
    }


def test_a_column_added_behind_the_back_is_drift(apps, tmp_path):
    app_db = apps()
    ddl(app_db, "ALTER TABLE customer ADD COLUMN nickname VARCHAR(20)")
    assert store.status(app_db)["in_sync"] is False
    found = store.differences(app_db)
    assert any("customer.nickname" in f for f in found), found
    planned = migration.plan(app_db, app_db.definition)
    assert planned.operations == ["drop column customer.nickname"]
    assert planned.destructive == ["drop column customer.nickname"]
    run = partial(
        migration.apply,
        app_db,
        app_db.definition,
        allow_destructive=True,
        backups_dir=tmp_path / "backups",
        version=2,
    )
    run()
    assert store.in_sync(app_db)


# --------------------------------------------------------------------------- isolation, drop


def test_models_never_see_each_others_data(apps):
    first, second = apps(), apps()
    fill(first)
    assert store.status(second)["total_entities"] == 0
    with rows(second) as db:
        assert db(db.customer).count() == 0
    with inspector(second) as insp:
        assert set(insp.get_table_names()) == TABLES
    store.drop(second)
    assert store.status(first)["entity_counts"]["customer"] == 2
    assert store.in_sync(first)


def test_drop_removes_everything(apps, backend, tmp_path):
    app_db = apps()
    fill(app_db)
    store.drop(app_db)
    assert not store.exists(app_db)
    assert store.status(app_db) | {"schema_version": None} == {
        "exists": False,
        "total_entities": 0,
        "entity_counts": {},
        "last_seeded": None,
        "schema_version": None,
        "size_bytes": 0,
        "in_sync": False,
    }
    if backend == "sqlite":
        folder = app_db.target.sqlite_path.parent
        assert list(folder.iterdir()) == []
        with pytest.raises(NotFound):
            store.open_rows_dal(app_db)
    store.drop(app_db)  # dropping again is harmless
    assert store.differences(app_db) and "does not exist" in store.differences(app_db)[0]
    # A sync of a missing database plans, then makes, every table.
    planned = migration.plan(app_db, app_db.definition)
    assert planned.destructive == [] and len(planned.operations) == len(TABLES)
    assert not store.exists(app_db)
    migration.apply(
        app_db, app_db.definition, allow_destructive=False, backups_dir=tmp_path, version=1
    )
    assert store.status(app_db)["in_sync"] is True
