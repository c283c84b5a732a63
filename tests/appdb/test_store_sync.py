"""App databases (services/appdb/store.py) and schema sync (services/appdb/migration.py), on every
backend: one database per model, built from its definition into both layers, in parity, with
status, drift detection, dry runs, atomic syncs, destructive changes refused unless allowed,
isolation between models, and a drop that leaves nothing.

MySQL/MariaDB: everything but applying a change runs; applying one is refused (Unsupported)
because its DDL is not transactional, and the tests assert that refusal and that nothing moved.
"""

from __future__ import annotations

import copy
import json
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime
from functools import partial
from pathlib import Path

import pytest
import sqlalchemy as sa
from pydal import DAL

from services.appdb import migration, store
from services.appdb.definition import Definition, validate_definition
from services.appdb.store import AppDatabase
from services.db.dal import close_dal
from services.db.engine import make_engine
from services.db.parity import compare_database_to_pydal, compare_models_to_pydal, round_trip
from services.db.scratch import scratch_database
from services.db.urls import DatabaseTarget, sqlite_target
from services.errors import Conflict, Invalid, NotFound
from tests.backends import discover

# Six entities; OneToMany, ManyToMany and a self-reference (customer.referred_by -> customer);
# every field type.
SHOP = {
    "entities": [
        {
            "name": "customer",
            "display_name": "Customer",
            "fields": [
                {"name": "first_name", "type": "String", "required": True},
                {"name": "email", "type": "String", "required": True, "unique": True},
                {"name": "age", "type": "Integer"},
                {"name": "vip", "type": "Boolean"},
                {"name": "tier", "type": "Enum", "values": ["free", "pro"]},
                {"name": "referred_by", "type": "Reference", "target": "customer"},
            ],
        },
        {
            "name": "product",
            "fields": [
                {"name": "title", "type": "String", "required": True},
                {"name": "price", "type": "Float"},
                {"name": "tags", "type": "Array"},
                {"name": "specs", "type": "Object"},
            ],
        },
        {
            "name": "purchase",
            "fields": [
                {"name": "placed_at", "type": "DateTime"},
                {"name": "quantity", "type": "Integer"},
            ],
        },
        {
            "name": "supplier",
            "fields": [
                {"name": "name", "type": "String", "required": True},
                {"name": "since", "type": "Date"},
                {"name": "notes", "type": "Text"},
            ],
        },
        {
            "name": "review",
            "fields": [
                {"name": "stars", "type": "Integer", "required": True},
                {"name": "product", "type": "Reference", "target": "product", "required": True},
            ],
        },
        {"name": "coupon", "fields": [{"name": "code", "type": "String", "unique": True}]},
    ],
    "relationships": [
        {"type": "OneToMany", "from": "customer", "to": "purchase", "name": "customer"},
        {"type": "ManyToMany", "from": "purchase", "to": "product", "name": "products"},
        {"type": "OneToMany", "from": "supplier", "to": "product", "name": "supplier"},
    ],
}
ROOT = Path(__file__).resolve().parents[2]
ENTITIES = {"customer", "product", "purchase", "supplier", "review", "coupon"}
FEED_TABLES = {"sync_row", "sync_counter", "sync_operation", "sync_schema"}
TABLES = ENTITIES | {"purchase__products"} | FEED_TABLES


def definition(change: Callable[[dict], None] | None = None) -> Definition:
    """The shop definition, optionally changed by ``change`` (which edits the raw JSON)."""
    raw = copy.deepcopy(SHOP)
    if change is not None:
        change(raw)
    return validate_definition(Definition.model_validate(raw))


def entity(raw: dict, name: str) -> dict:
    return next(e for e in raw["entities"] if e["name"] == name)


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
    """The main database the test's app databases live beside (shared by this module)."""
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


@contextmanager
def rows(app_db: AppDatabase) -> Iterator[DAL]:
    db = store.open_rows_dal(app_db)
    try:
        yield db
    finally:
        close_dal(db)


@contextmanager
def inspector(app_db: AppDatabase) -> Iterator[sa.Inspector]:
    with store.connect(app_db) as connection:
        yield sa.inspect(connection)


def ddl(app_db: AppDatabase, *statements: str) -> None:
    """DDL behind the service's back, on the model's own database or schema."""
    with store.connect(app_db) as connection, connection.begin():
        for statement in statements:
            connection.exec_driver_sql(statement)


def fill(app_db: AppDatabase) -> dict[str, uuid.UUID]:
    """A few linked rows through the PyDAL tables; returns their ids by name."""
    ids = {name: uuid.uuid4() for name in ("ann", "bob", "mug", "tea", "acme", "order")}
    with rows(app_db) as db:
        db.supplier.insert(id=ids["acme"], name="Acme", since=datetime(2020, 1, 2).date())
        db.customer.insert(
            id=ids["ann"], first_name="Ann", email="ann@example.com", age=41, vip=True, tier="pro"
        )
        db.customer.insert(
            id=ids["bob"], first_name="Bob", email="bob@example.com", referred_by=ids["ann"]
        )
        db.product.insert(
            id=ids["mug"],
            title="Mug",
            price=9.5,
            tags=["kitchen"],
            specs={"ml": 300},
            supplier=ids["acme"],
        )
        db.product.insert(id=ids["tea"], title="Tea", price=4.0)
        db.purchase.insert(
            id=ids["order"],
            customer=ids["bob"],
            quantity=2,
            placed_at=datetime(2024, 5, 6, 7, 8, 9, 123456),
        )
        for product in ("mug", "tea"):
            db.purchase__products.insert(source_id=ids["order"], target_id=ids[product])
        db.review.insert(stars=5, product=ids["mug"])
        db.commit()
    return ids


def expect_unsupported_on_mysql(app_db: AppDatabase, run: Callable[[], object]) -> bool:
    """On MySQL/MariaDB, applying a change must be refused and change nothing."""
    if app_db.family != "mysql":
        return False
    with pytest.raises(migration.Unsupported, match="not transactional|commits statement"):
        run()
    assert store.in_sync(app_db), store.differences(app_db)
    return True


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
    metadata = store.model_metadata(app_db.definition)
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
    if app_db.family == "mysql":
        with pytest.raises(migration.Unsupported):
            run()
        return
    run()
    assert store.in_sync(app_db)


# --------------------------------------------------------------------------- sync


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


def test_sync_adds_an_entity_and_a_field(apps, tmp_path):
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
    if expect_unsupported_on_mysql(app_db, run):
        return
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


def test_a_destructive_sync_is_refused_then_applied_when_allowed(apps, tmp_path):
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
    if expect_unsupported_on_mysql(app_db, run):
        return
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


def test_rows_that_do_not_fit_stop_the_whole_sync(apps, tmp_path):
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
        if expect_unsupported_on_mysql(app_db, run):
            continue
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
    if not expect_unsupported_on_mysql(app_db, run):
        run()
        assert store.in_sync(store.with_definition(app_db, definition(required_on_empty)))


# A sync that dies as a kill -9 would, after all its DDL and before the commit.
CRASHING_SYNC = """
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


def test_a_crash_mid_sync_leaves_the_previous_schema(apps, main_target, tmp_path):
    app_db = apps()
    fill(app_db)
    changed = definition(lambda raw: (_grow(raw), _shrink(raw)))
    if expect_unsupported_on_mysql(
        app_db,
        partial(
            migration.apply,
            app_db,
            changed,
            allow_destructive=True,
            backups_dir=tmp_path,
            version=2,
        ),
    ):
        return
    args = {
        "main": main_target.sa_url.render_as_string(hide_password=False),
        "data_dir": str(tmp_path / "data"),
        "model_id": app_db.model_id,
        "old": app_db.definition.model_dump(mode="json", by_alias=True),
        "new": changed.model_dump(mode="json", by_alias=True),
    }
    done = subprocess.run(
        [sys.executable, "-c", CRASHING_SYNC, json.dumps(args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 9, done.stderr
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
