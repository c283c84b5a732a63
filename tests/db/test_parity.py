"""The parity check (services/db/parity.py): clean on the real and the sink schema, and each kind
of difference, made on purpose, produces exactly the expected finding, on every backend.

A break is made on one side only: the PyDAL fields (models vs PyDAL and live database vs PyDAL),
the live database (DDL behind PyDAL's back), the model metadata (models vs migrations) or a PyDAL
type's encoder/decoder (value round trip). Expected findings are (table, column, aspect) sets;
where a backend cannot show a break, the test says what that backend does instead.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from functools import partial

import pytest
import sqlalchemy as sa
from pydal import DAL, Field

from services.db import migrations, models
from services.db.dal import open_dal
from services.db.engine import make_engine
from services.db.indexes import copy_indexes
from services.db.parity import (
    Finding,
    compare_database_to_pydal,
    compare_models_to_database,
    compare_models_to_pydal,
    round_trip,
    run_parity,
)
from services.db.scratch import scratch_database
from services.db.tables import define_tables
from services.db.types import KindType, datetime_type, enum_type, uuid_type
from services.db.urls import DatabaseTarget, sqlite_target
from tests.backends import discover
from tests.db.sink_schema import (
    PLANS,
    SinkColumns,
    SinkFields,
    define_sink,
    sink_columns,
    sink_fields,
    sink_metadata,
)

Where = tuple[str, str | None, str]  # (table, column, aspect)
Shared = tuple[DatabaseTarget, sa.Engine]
Expected = set[Where] | dict[str, set[Where]]  # one set, or one per backend family

MODELS = "models-vs-pydal"
LIVE = "database-vs-pydal"
MIGRATIONS = "models-vs-migrations"
ROUND_TRIP = "round-trip"


def where(findings: list[Finding], check: str) -> set[Where]:
    """The findings as (table, column, aspect), after checking each one's name and fix."""
    for f in findings:
        assert f.check == check, str(f)
        assert f.fix.strip(), f"finding without a fix: {f}"
    return {(f.table, f.column, f.aspect) for f in findings}


def expected_for(expected: Expected, family: str) -> set[Where]:
    return expected[family] if isinstance(expected, dict) else expected


def render(findings: list[Finding]) -> str:
    return "\n".join(map(str, findings)) or "(no findings)"


@contextmanager
def sink_dal(
    target: DatabaseTarget,
    fields: SinkFields | None = None,
    primarykeys: dict[str, list[str]] | None = None,
) -> Iterator[DAL]:
    db = open_dal(target, define=False)
    try:
        define_sink(db, target.family, fields, primarykeys)
        yield db
    finally:
        db.close()


def create_sink(target: DatabaseTarget, columns: SinkColumns | None = None) -> None:
    engine = make_engine(target)
    try:
        sink_metadata(columns).create_all(engine)
    finally:
        engine.dispose()


def _ddl(engine: sa.Engine, *statements: str) -> None:
    with engine.begin() as conn:
        for statement in statements:
            conn.exec_driver_sql(statement)


@pytest.fixture
def sink(fresh_target) -> Iterator[Shared]:
    """A fresh database holding the sink tables (create_all), with an engine on it.

    The fixture drops the whole database afterwards, PostgreSQL's enum TYPE included.
    """
    create_sink(fresh_target)
    engine = make_engine(fresh_target)
    yield fresh_target, engine
    engine.dispose()


@pytest.fixture(scope="module")
def _per_family(tmp_path_factory) -> Iterator[Callable[[str, str], Shared]]:
    # Creating a PostgreSQL database costs up to a third of a second here; tests that only read
    # the sink or the migrated real schema share one per backend, dropped when the module ends.
    with ExitStack() as stack:
        made: dict[tuple[str, str], Shared] = {}
        servers: dict[str, DatabaseTarget] = {}

        def get(family: str, purpose: str) -> Shared:
            if (family, purpose) not in made:
                if family == "sqlite":
                    like = sqlite_target(tmp_path_factory.mktemp(purpose) / "like.db")
                else:
                    servers.update(servers or discover().targets)
                    like = servers[family]
                target = stack.enter_context(scratch_database(like, prefix="test"))
                if purpose == "sink":
                    create_sink(target)
                elif purpose == "migrated":
                    migrations.upgrade(target)
                engine = make_engine(target)
                stack.callback(engine.dispose)
                made[family, purpose] = (target, engine)
            return made[family, purpose]

        yield get


@pytest.fixture
def shared_sink(backend, _per_family) -> Shared:
    """The sink tables in a database shared by this module's tests that never change it."""
    return _per_family(backend, "sink")


@pytest.fixture
def shared_migrated(backend, _per_family) -> sa.Engine:
    """An engine on the real schema migrated to head, shared by tests that never change it."""
    return _per_family(backend, "migrated")[1]


@pytest.fixture
def workbench(backend, _per_family) -> Shared:
    """A database shared by this module's DDL tests, emptied before each use (not after, so a
    failed test cannot leave anything behind for the next)."""
    target, engine = _per_family(backend, "workbench")
    existing = sa.MetaData()
    existing.reflect(engine)
    existing.drop_all(engine)
    if target.family == "postgresql":
        _ddl(engine, "DROP TYPE IF EXISTS plan")
    return target, engine


# --------------------------------------------------------------------------- clean schemas


def test_real_schema_is_in_parity(migrated_target):
    report = run_parity(migrated_target)
    assert report.ok, report.render()
    assert [c[:3] for c in report.checks] == ["(b)", "(c)", "(a)", "(d)"]
    assert report.tables == [t.name for t in models.metadata.sorted_tables]


def test_sink_schema_is_in_parity(shared_sink):
    """Every column kind passes (b), (c) and (a) on every backend."""
    target, engine = shared_sink
    metadata = sink_metadata()
    with sink_dal(target) as db:
        assert compare_models_to_pydal(metadata, db) == []
        with engine.connect() as conn:
            live = compare_database_to_pydal(conn, db)
            migrated = compare_models_to_database(metadata, conn)
    assert live == [], render(live)
    assert migrated == [], render(migrated)


def test_sink_schema_round_trips(sink):
    """Every column kind round-trips between the layers on every backend.

    MariaDB's FLOAT is single precision; ``ratio`` stays in because the checker's samples (1.5,
    2.5) are exact in single precision and it compares floats to within 1e-6.
    """
    target, engine = sink
    with sink_dal(target) as db:
        found = round_trip(sink_metadata(), engine, db)
    assert found == [], render(found)


# --------------------------------------------------------------------------- PyDAL-side breaks


def put(table: str, name: str, type_: str | Callable[[str], KindType], **kw) -> Callable:
    """A break that replaces (or adds) PyDAL field ``table.name``.

    A callable ``type_`` is called with the backend family (the services.db.types factories).
    """

    def mutate(fields: SinkFields, family: str) -> None:
        fields[table][name] = Field(name, type_(family) if callable(type_) else type_, **kw)

    return mutate


def drop(table: str, name: str | None = None) -> Callable:
    """A break that removes a PyDAL field, or a whole PyDAL table."""

    def mutate(fields: SinkFields, family: str) -> None:
        if name is None:
            del fields[table]
        else:
            del fields[table][name]

    return mutate


def stray_table(fields: SinkFields, family: str) -> None:
    fields["stray"] = {"id": Field("id", uuid_type(family), notnull=True)}


def plan_type(members: list[str]) -> Callable[[str], KindType]:
    return lambda family: enum_type(family, members)


@dataclass
class PyDALBreak:
    id: str
    mutate: Callable[[SinkFields, str], None]
    models: Expected  # what (b) models vs PyDAL must find
    live: Expected | None = None  # what (c) live database vs PyDAL must find; None: same as (b)
    primarykeys: dict[str, list[str]] = field(default_factory=dict)


def same(table: str, column: str | None, aspect: str) -> set[Where]:
    return {(table, column, aspect)}


# Only the model knows Python-side defaults and SQLAlchemy's storage formats: the database cannot
# tell a stock PyDAL boolean from services.db.types.boolean_type, so (c) must stay silent there.
PYDAL_BREAKS = [
    PyDALBreak(
        "length 40 -> 50", put("kid", "name", "string", length=50), same("kid", "name", "length")
    ),
    PyDALBreak("string vs text", put("kid", "name", "text"), same("kid", "name", "type")),
    PyDALBreak(
        "text vs string", put("kid", "body", "string", length=255), same("kid", "body", "type")
    ),
    PyDALBreak(
        "decimal(10,2) vs decimal(12,2)",
        put("kid", "price", "decimal(12,2)"),
        same("kid", "price", "precision"),
    ),
    PyDALBreak(
        "decimal(10,2) vs decimal(10,3)",
        put("kid", "price", "decimal(10,3)"),
        same("kid", "price", "precision"),
    ),
    PyDALBreak("integer vs bigint", put("kid", "count", "bigint"), same("kid", "count", "type")),
    PyDALBreak("bigint vs integer", put("kid", "big", "integer"), same("kid", "big", "type")),
    PyDALBreak(
        "float vs decimal", put("kid", "ratio", "decimal(10,2)"), same("kid", "ratio", "type")
    ),
    PyDALBreak(
        "enum member added",
        put("kid", "plan", plan_type([*PLANS, "team"]), notnull=True, default="free"),
        same("kid", "plan", "enum members"),
    ),
    PyDALBreak(
        "enum member renamed",
        put("kid", "plan", plan_type(["free", "premium"]), notnull=True, default="free"),
        same("kid", "plan", "enum members"),
    ),
    # A stock type where a services.db.types factory is needed is also a storage-format finding
    # in (b): the fix (use the factory) is the same.
    PyDALBreak(
        "enum as plain string",
        put("kid", "plan", "string", length=4, notnull=True, default="free"),
        {("kid", "plan", "type"), ("kid", "plan", "storage format")},
        same("kid", "plan", "type"),
    ),
    PyDALBreak(
        "uuid as plain string",
        put("kid", "token", "string", length=32),
        {("kid", "token", "type"), ("kid", "token", "storage format")},
        same("kid", "token", "type"),
    ),
    PyDALBreak(
        "boolean as integer",
        put("kid", "flag", "integer"),
        {("kid", "flag", "type"), ("kid", "flag", "storage format")},
        same("kid", "flag", "type"),
    ),
    PyDALBreak(
        "nullable vs NOT NULL",
        put("kid", "name", "string", length=40, notnull=True),
        same("kid", "name", "nullability"),
    ),
    PyDALBreak(
        "NOT NULL vs nullable",
        put("parent", "code", "string", length=40, unique=True),
        same("parent", "code", "nullability"),
    ),
    PyDALBreak(
        "unique dropped",
        put("parent", "code", "string", length=40, notnull=True),
        same("parent", "code", "uniqueness"),
    ),
    PyDALBreak(
        "unique added",
        put("kid", "name", "string", length=40, unique=True),
        same("kid", "name", "uniqueness"),
    ),
    PyDALBreak(
        "primary key moved",
        lambda fields, family: None,
        {
            ("parent", "id", "primary key"),
            ("parent", "code", "primary key"),
            ("parent", "code", "uniqueness"),
        },
        primarykeys={"parent": ["code"]},
    ),
    PyDALBreak(
        "foreign key target changed",
        put(
            "kid",
            "parent_id",
            lambda f: uuid_type(f, references="kid.id"),
            notnull=True,
            ondelete="CASCADE",
        ),
        same("kid", "parent_id", "foreign key target"),
    ),
    PyDALBreak(
        "foreign key dropped",
        put("kid", "parent_id", uuid_type, notnull=True),
        same("kid", "parent_id", "foreign key target"),
    ),
    PyDALBreak(
        "ON DELETE CASCADE vs SET NULL",
        put(
            "kid",
            "parent_id",
            lambda f: uuid_type(f, references="parent.id"),
            notnull=True,
            ondelete="SET NULL",
        ),
        same("kid", "parent_id", "ON DELETE"),
    ),
    PyDALBreak(
        "ON DELETE CASCADE vs NO ACTION",
        put(
            "kid",
            "parent_id",
            lambda f: uuid_type(f, references="parent.id"),
            notnull=True,
            ondelete="NO ACTION",
        ),
        same("kid", "parent_id", "ON DELETE"),
    ),
    PyDALBreak("field missing", drop("kid", "body"), same("kid", "body", "column set")),
    PyDALBreak(
        "field extra", put("kid", "extra", "string", length=10), same("kid", "extra", "column set")
    ),
    PyDALBreak("table missing", drop("kid"), same("kid", None, "table set")),
    PyDALBreak("table extra", stray_table, same("stray", None, "table set")),
    PyDALBreak(
        "Python-side default dropped",
        put("kid", "status", "string", length=20, notnull=True),
        same("kid", "status", "Python-side default"),
        live=set(),
    ),
    PyDALBreak(
        "stock boolean",
        put("kid", "flag", "boolean"),
        same("kid", "flag", "storage format"),
        live=set(),
    ),
    PyDALBreak(
        "stock datetime",
        put("kid", "happened", "datetime"),
        same("kid", "happened", "storage format"),
        live=set(),
    ),
    PyDALBreak(
        "stock json", put("kid", "doc", "json"), same("kid", "doc", "storage format"), live=set()
    ),
]


@pytest.mark.parametrize("brk", PYDAL_BREAKS, ids=lambda b: b.id)
def test_pydal_break_is_found(shared_sink, brk):
    """(b) models vs PyDAL and (c) live database vs PyDAL both find a broken PyDAL field."""
    target, engine = shared_sink
    fields = sink_fields(target.family)
    brk.mutate(fields, target.family)
    with sink_dal(target, fields, brk.primarykeys) as db:
        found_b = compare_models_to_pydal(sink_metadata(), db)
        with engine.connect() as conn:
            found_c = compare_database_to_pydal(conn, db)
    live = brk.live if brk.live is not None else brk.models
    assert where(found_b, MODELS) == expected_for(brk.models, target.family), render(found_b)
    assert where(found_c, LIVE) == expected_for(live, target.family), render(found_c)


# --------------------------------------------------------------------------- model-side breaks


def col(table: str, name: str, *args, **kw) -> Callable[[SinkColumns], None]:
    """A break that replaces (or adds) model column ``table.name``.

    ``partial`` arguments (foreign keys, enums) are built anew for each Column: a ForeignKey or
    a SchemaType belongs to one column only, and a case runs once per backend.
    """

    def mutate(columns: SinkColumns) -> None:
        built = [a() if isinstance(a, partial) else a for a in args]
        columns[table][name] = sa.Column(name, *built, **kw)

    return mutate


def fk(target: str, **kw) -> partial:
    return partial(sa.ForeignKey, target, **kw)


def without(table: str, name: str | None = None) -> Callable[[SinkColumns], None]:
    def mutate(columns: SinkColumns) -> None:
        if name is None:
            del columns[table]
        else:
            del columns[table][name]

    return mutate


MODEL_BREAKS = [
    # PyDAL's CASCADE (also its default when a field gives no ondelete) against a model FK
    # without ON DELETE must not pass.
    pytest.param(
        col("kid", "parent_id", sa.Uuid, fk("parent.id"), nullable=False),
        same("kid", "parent_id", "ON DELETE"),
        id="model FK without ON DELETE",
    ),
    pytest.param(
        col("kid", "extra", sa.Integer), same("kid", "extra", "column set"), id="model column extra"
    ),
    pytest.param(
        col("kid", "count", sa.BigInteger),
        same("kid", "count", "type"),
        id="model integer -> bigint",
    ),
    # A default only PyDAL has is harmless: no finding.
    pytest.param(
        col("kid", "status", sa.String(20), nullable=False),
        set(),
        id="model without the Python default PyDAL has",
    ),
]


@pytest.mark.parametrize(("mutate", "expected"), MODEL_BREAKS)
def test_model_break_is_found_against_pydal(shared_sink, mutate, expected):
    """(b) also catches a model changed without its PyDAL mirror."""
    columns = sink_columns()
    mutate(columns)
    with sink_dal(shared_sink[0]) as db:
        found = compare_models_to_pydal(sink_metadata(columns), db)
    assert where(found, MODELS) == expected, render(found)


# --------------------------------------------------------------------------- live database breaks


def plan(*members: str, constrained: bool = True) -> partial:
    return partial(sa.Enum, *members, name="plan", create_constraint=constrained)


LIVE_BREAKS = [
    pytest.param(
        col("kid", "name", sa.String(50)),
        same("kid", "name", "length"),
        id="length 50 in the database",
    ),
    pytest.param(
        col("kid", "name", sa.Text), same("kid", "name", "type"), id="text in the database"
    ),
    pytest.param(
        col("kid", "price", sa.Numeric(12, 2)),
        same("kid", "price", "precision"),
        id="decimal(12,2) in the database",
    ),
    pytest.param(
        col("kid", "count", sa.BigInteger),
        same("kid", "count", "type"),
        id="bigint in the database",
    ),
    pytest.param(
        col("kid", "token", sa.String(36)),
        same("kid", "token", "type"),
        id="uuid stored as varchar(36)",
    ),
    pytest.param(
        col("kid", "flag", sa.Integer),
        same("kid", "flag", "type"),
        id="integer where PyDAL has boolean",
    ),
    pytest.param(
        col("kid", "doc", sa.Text), same("kid", "doc", "type"), id="text where PyDAL has json"
    ),
    pytest.param(
        col("kid", "plan", plan(*PLANS, "team"), nullable=False, server_default="free"),
        same("kid", "plan", "enum members"),
        id="enum member added in the database",
    ),
    # Without create_constraint, SQLite keeps an Enum as a bare VARCHAR: nothing restricts the
    # members, which the check reports as a type difference. PostgreSQL and MariaDB enums are
    # native, so the constraint flag changes nothing there.
    pytest.param(
        col("kid", "plan", plan(*PLANS, constrained=False), nullable=False, server_default="free"),
        {"sqlite": same("kid", "plan", "type"), "postgresql": set(), "mysql": set()},
        id="enum without CHECK",
    ),
    pytest.param(
        col("kid", "name", sa.String(40), nullable=False),
        same("kid", "name", "nullability"),
        id="NOT NULL in the database",
    ),
    pytest.param(
        col("parent", "code", sa.String(40), nullable=False),
        same("parent", "code", "uniqueness"),
        id="unique missing in the database",
    ),
    pytest.param(
        col("kid", "name", sa.String(40), unique=True),
        same("kid", "name", "uniqueness"),
        id="unique extra in the database",
    ),
    pytest.param(
        col("kid", "parent_id", sa.Uuid, fk("parent.id", ondelete="RESTRICT"), nullable=False),
        same("kid", "parent_id", "ON DELETE"),
        id="ON DELETE RESTRICT in the database",
    ),
    pytest.param(
        col("kid", "parent_id", sa.Uuid, fk("parent.id"), nullable=False),
        same("kid", "parent_id", "ON DELETE"),
        id="no ON DELETE in the database",
    ),
    pytest.param(
        col("kid", "parent_id", sa.Uuid, fk("kid.id", ondelete="CASCADE"), nullable=False),
        same("kid", "parent_id", "foreign key target"),
        id="FK target in the database",
    ),
    pytest.param(
        col("kid", "parent_id", sa.Uuid, nullable=False),
        same("kid", "parent_id", "foreign key target"),
        id="FK missing in the database",
    ),
    pytest.param(
        without("kid", "body"),
        same("kid", "body", "column set"),
        id="column missing in the database",
    ),
    pytest.param(
        without("kid"), same("kid", None, "table set"), id="table missing in the database"
    ),
]


@pytest.mark.parametrize(("mutate", "expected"), LIVE_BREAKS)
def test_live_database_break_is_found(workbench, mutate, expected):
    """(c) reflects the live database: a table created differently from the PyDAL mirror."""
    target, engine = workbench
    columns = sink_columns()
    mutate(columns)
    create_sink(target, columns)
    with sink_dal(target) as db, engine.connect() as conn:
        found = compare_database_to_pydal(conn, db)
    assert where(found, LIVE) == expected_for(expected, target.family), render(found)


def _live_findings(target: DatabaseTarget, engine: sa.Engine) -> set[Where]:
    with sink_dal(target) as db, engine.connect() as conn:
        found = compare_database_to_pydal(conn, db)
    return where(found, LIVE)


def _pydal_insert_error(target: DatabaseTarget) -> Exception | None:
    """Insert one parent row through PyDAL; the error it raises, or None."""
    with sink_dal(target) as db:
        try:
            db.parent.insert(code="p")
            db.commit()
        except Exception as exc:  # noqa: BLE001 - the driver's error class varies by backend
            db.rollback()
            return exc
    return None


def test_not_null_column_added_behind_pydal(fresh_target):
    """A NOT NULL column without a server default: PyDAL cannot see it and cannot insert."""
    target = fresh_target
    if target.family == "sqlite":
        # SQLite refuses ADD COLUMN ... NOT NULL without a default; the column arrives the way
        # Alembic's batch mode adds it there, in a rebuilt table.
        columns = sink_columns()
        col("parent", "extra", sa.Integer, nullable=False)(columns)
        create_sink(target, columns)
    else:
        create_sink(target)
    engine = make_engine(target)
    try:
        if target.family != "sqlite":
            _ddl(engine, "ALTER TABLE parent ADD COLUMN extra INTEGER NOT NULL")
        assert _live_findings(target, engine) == {
            ("parent", "extra", "column set"),
            ("parent", "extra", "insertability"),
        }
    finally:
        engine.dispose()
    # The finding's claim holds: every PyDAL insert fails.
    assert _pydal_insert_error(target) is not None


def test_not_null_column_with_server_default_added_behind_pydal(sink):
    """With a server default the new column is only invisible to PyDAL, not in its way."""
    target, engine = sink
    _ddl(engine, "ALTER TABLE parent ADD COLUMN extra INTEGER NOT NULL DEFAULT 0")
    assert _live_findings(target, engine) == {("parent", "extra", "column set")}
    assert _pydal_insert_error(target) is None


def test_nullable_column_added_behind_pydal(sink):
    target, engine = sink
    _ddl(engine, "ALTER TABLE kid ADD COLUMN extra INTEGER")
    assert _live_findings(target, engine) == {("kid", "extra", "column set")}


def test_column_dropped_behind_pydal(sink):
    """The finding says queries on the column fail; they do."""
    target, engine = sink
    _ddl(engine, "ALTER TABLE kid DROP COLUMN body")
    assert _live_findings(target, engine) == {("kid", "body", "column set")}
    with sink_dal(target) as db, pytest.raises(Exception):  # noqa: B017 - driver error varies
        db(db.kid).select(db.kid.body)


def test_table_dropped_and_added_behind_pydal(sink):
    target, engine = sink
    _ddl(engine, "DROP TABLE kid", "CREATE TABLE stray (id INTEGER PRIMARY KEY)")
    assert _live_findings(target, engine) == {
        ("kid", None, "table set"),
        ("stray", None, "table set"),
    }


# --------------------------------------------------------------------------- models vs migrations


def models_copy() -> sa.MetaData:
    """A copy of the real models' metadata that a test may break."""
    copy = sa.MetaData(naming_convention=models.NAMING_CONVENTION)
    for table in models.metadata.sorted_tables:
        table.to_metadata(copy)
    return copy


def _extra_column(md: sa.MetaData) -> None:
    md.tables["user"].append_column(sa.Column("nickname", sa.String(40)))


def _nullability(md: sa.MetaData) -> None:
    md.tables["user"].c.full_name.nullable = False


def _server_default_changed(md: sa.MetaData) -> None:
    sa.DefaultClause(sa.false())._set_parent(md.tables["user"].c.is_active)


def _server_default_added(md: sa.MetaData) -> None:
    sa.DefaultClause("x")._set_parent(md.tables["user"].c.hashed_password)


def _length(md: sa.MetaData) -> None:
    md.tables["user"].c.email.type = sa.String(320)


def _index_removed(md: sa.MetaData) -> None:
    item = md.tables["item"]
    item.indexes.remove(next(i for i in item.indexes if i.name == "ix_item_created_at"))


def _index_added(md: sa.MetaData) -> None:
    sa.Index("ix_item_title", md.tables["item"].c.title)


def _index_not_unique(md: sa.MetaData) -> None:
    next(i for i in md.tables["user"].indexes if i.name == "ix_user_email").unique = False


def _owner_fk(md: sa.MetaData) -> sa.ForeignKeyConstraint:
    return next(iter(md.tables["item"].foreign_key_constraints))


def _ondelete_changed(md: sa.MetaData) -> None:
    constraint = _owner_fk(md)
    constraint.ondelete = "SET NULL"
    for element in constraint.elements:
        element.ondelete = "SET NULL"


def _fk_target_changed(md: sa.MetaData) -> None:
    item, constraint = md.tables["item"], _owner_fk(md)
    item.constraints.remove(constraint)
    item.foreign_keys.difference_update(constraint.elements)
    item.append_constraint(sa.ForeignKeyConstraint(["owner_id"], ["item.id"], ondelete="CASCADE"))


def _table_added(md: sa.MetaData) -> None:
    sa.Table("extra", md, sa.Column("id", sa.Integer, primary_key=True))


MIGRATION_BREAKS = [
    pytest.param(_extra_column, same("user", "nickname", "column set"), id="extra column"),
    pytest.param(_nullability, same("user", "full_name", "nullability"), id="nullability"),
    pytest.param(
        _server_default_changed,
        same("user", "is_active", "server default"),
        id="server default changed",
    ),
    pytest.param(
        _server_default_added,
        same("user", "hashed_password", "server default"),
        id="server default added",
    ),
    pytest.param(_length, same("user", "email", "type"), id="string length"),
    pytest.param(_index_removed, same("item", "created_at", "index"), id="index removed"),
    pytest.param(_index_added, same("item", "title", "index"), id="index added"),
    pytest.param(_table_added, same("extra", None, "table set"), id="table added"),
    # Alembic reports a changed index or foreign key as one removed and one added, both named.
    pytest.param(_index_not_unique, same("user", "email", "index"), id="uniqueness"),
    pytest.param(_ondelete_changed, same("item", "owner_id", "fk"), id="ON DELETE"),
    pytest.param(_fk_target_changed, same("item", "owner_id", "fk"), id="foreign key target"),
]


@pytest.mark.parametrize(("mutate", "expected"), MIGRATION_BREAKS)
def test_models_vs_migrations_break_is_found(shared_migrated, mutate, expected):
    """(a) compares models changed without a migration against the migrated real schema."""
    metadata = models_copy()
    with shared_migrated.connect() as conn:
        assert compare_models_to_database(metadata, conn) == []  # the unbroken copy is clean
        mutate(metadata)
        found = compare_models_to_database(metadata, conn)
    assert where(found, MIGRATIONS) == expected, render(found)


def test_models_vs_migrations_finds_enum_members(sink):
    """Alembic's compare_metadata misses a new enum member; (a) still reports it."""
    target, engine = sink
    columns = sink_columns()
    col("kid", "plan", plan(*PLANS, "team"), nullable=False, server_default="free")(columns)
    with engine.connect() as conn:
        found = compare_models_to_database(sink_metadata(columns), conn)
    expected = same("kid", "plan", "enum members")
    if target.family == "mysql":
        # MariaDB's ENUM('free','pro') is a native type whose members Alembic does compare.
        expected |= same("kid", "plan", "type")
    assert where(found, MIGRATIONS) == expected, render(found)


# --------------------------------------------------------------------------- value round trip


def _dashed_uuid(family: str) -> KindType:
    # The stock PyDAL way: str(uuid) with dashes, where SQLAlchemy writes 32 hex characters.
    return KindType(
        "uuid",
        type="string",
        encoder=lambda v: v if v is None else str(v),
        decoder=lambda v: v if v is None else uuid.UUID(str(v)),
    )


def _second_precision_reads(family: str) -> KindType:
    # Writes correctly, but reads back without microseconds.
    kind = datetime_type(family)
    decode = kind.decoder
    kind.decoder = lambda v: v if v is None else decode(v).replace(microsecond=0)
    return kind


def _trip(column: str, *aspects: str) -> set[Where]:
    return {("kid", column, aspect) for aspect in aspects}


_BOTH_WAYS = ("value written by SQLAlchemy", "value written by PyDAL", "equality query")

ROUND_TRIP_BREAKS = [
    # PostgreSQL's uuid and MariaDB's UUID (which SQLAlchemy uses there) are native types that
    # take either spelling, so dashes only break SQLite, where equality queries then miss.
    pytest.param(
        put("kid", "token", _dashed_uuid),
        {"sqlite": _trip("token", "equality query"), "postgresql": set(), "mysql": set()},
        "",
        id="uuid written with dashes",
    ),
    # PyDAL's stock boolean writes 'T'/'F'. A CHECK (create_constraint=True) makes SQLite refuse
    # the insert; MariaDB's TINYINT refuses it in strict mode; PostgreSQL parses 'T'/'F' itself.
    pytest.param(
        put("kid", "flag", "boolean"),
        {
            "sqlite": {("kid", None, "PyDAL insert")},
            "postgresql": set(),
            "mysql": {("kid", None, "PyDAL insert")},
        },
        "flag",
        id="stock boolean with CHECK",
    ),
    pytest.param(
        put("kid", "loose_flag", "boolean"),
        {
            "sqlite": _trip("loose_flag", *_BOTH_WAYS),
            "postgresql": set(),
            "mysql": {("kid", None, "PyDAL insert")},
        },
        "loose_flag",
        id="stock boolean without CHECK",
    ),
    # PyDAL's stock datetime drops microseconds on write and in query parameters.
    pytest.param(
        put("kid", "happened", "datetime"),
        _trip("happened", "value written by PyDAL", "equality query"),
        "",
        id="stock datetime drops microseconds",
    ),
    pytest.param(
        put("kid", "happened", _second_precision_reads),
        _trip("happened", "value written by SQLAlchemy"),
        "",
        id="decoder drops microseconds",
    ),
]


@pytest.mark.parametrize(("mutate", "expected", "named"), ROUND_TRIP_BREAKS)
def test_round_trip_break_is_found(sink, mutate, expected, named):
    """(d) writes with each layer and reads with the other; a broken PyDAL type shows up.

    A failed PyDAL insert is reported per table (column None): ``named`` is the column the
    database's error message must name.
    """
    target, engine = sink
    fields = sink_fields(target.family)
    mutate(fields, target.family)
    with sink_dal(target, fields) as db:
        found = round_trip(sink_metadata(), engine, db)
    assert where(found, ROUND_TRIP) == expected_for(expected, target.family), render(found)
    for f in found:
        if f.column is None:
            assert named and named in f.right, str(f)


# --------------------------------------------------------------------------- the whole run


def _real_tables_with(**overrides: Callable[[str], Field]) -> Callable[[DAL, str], None]:
    """services.db.tables.define_tables with some fields replaced ("table__field" keys)."""

    def define(db: DAL, family: str) -> None:
        model = DAL(None)  # no connection: only holds the real definition to copy from
        try:
            define_tables(model, family)
            for name in model.tables:
                table = model[name]
                fields = [
                    overrides[f"{name}__{f.name}"](family)
                    if f"{name}__{f.name}" in overrides
                    else f.clone()
                    for f in table
                ]
                db.define_table(
                    name, *fields, primarykey=getattr(table, "_primarykey", None), migrate=False
                )
                copy_indexes(table, db[name])
        finally:
            model.close()

    return define


def test_run_parity_reports_broken_real_tables(migrated_target):
    """run_parity wires (b) and (c) to the live target: a broken real mirror is reported."""
    define = _real_tables_with(
        user__email=lambda f: Field("email", "string", length=255, notnull=True),
        item__created_at=lambda f: Field("created_at", datetime_type(f), notnull=True),
    )
    report = run_parity(migrated_target, define=define)
    assert {(f.check, f.table, f.column, f.aspect) for f in report.findings} == {
        (MODELS, "user", "email", "uniqueness"),
        (LIVE, "user", "email", "uniqueness"),
        (MODELS, "item", "created_at", "Python-side default"),
    }, report.render()
    assert len(report.checks) == 4


def test_run_parity_survives_a_failed_pydal_insert_in_a_parent_table(migrated_target):
    """A stock boolean on user.is_active: the round trip must report, not crash on item."""
    define = _real_tables_with(
        user__is_active=lambda f: Field("is_active", "boolean", notnull=True, default=True),
    )
    report = run_parity(migrated_target, define=define)
    expected = {(MODELS, "user", "is_active", "storage format")}
    if migrated_target.family != "postgresql":
        # The CHECK (SQLite) or strict TINYINT (MariaDB) rejects PyDAL's 'T'/'F'; PostgreSQL's
        # boolean parses them. Rows of the other tables must still round-trip cleanly.
        expected.add((ROUND_TRIP, "user", None, "PyDAL insert"))
    assert {(f.check, f.table, f.column, f.aspect) for f in report.findings} == expected, (
        report.render()
    )
    assert len(report.checks) == 4
