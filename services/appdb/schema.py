"""One definition, two layers: SQLAlchemy tables (for DDL and sync) and PyDAL tables (for rows).

Every entity table has a UUID ``id``, ``created_at`` and ``updated_at`` (naive UTC with
microseconds, as in the main database) and its fields; a OneToMany relationship adds a
reference column to its ``to`` entity; a ManyToMany relationship adds a join table
``<from>__<name>`` with ``source_id`` and ``target_id``. The change-feed tables (``sync_row``,
``sync_counter``, ``sync_operation``) are the main database's, and ``sync_schema`` records the
definition the schema was built from, so entity names may not start with ``sync_``. Indexes
on created_at, unique fields and reference columns; foreign keys enforced.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from pydal import DAL, Field

from services.appdb.definition import Definition, EntityDef, FieldDef, join_table_name
from services.db.indexes import declare_index
from services.db.tables import define_sync_tables
from services.db.types import boolean_type, datetime_type, enum_type, json_type, uuid_type
from services.lazy import LazyModule
from services.timeutil import utcnow

# The SQLAlchemy side (DDL, sync, parity) only: define_pydal, which every request's handle
# uses, must not load SQLAlchemy (services/lazy.py).
sa = LazyModule("sqlalchemy")
models = LazyModule("services.db.models")

STRING_LENGTH = 255
# The definition the live schema was last built or synced from, written in the same
# transaction as the DDL, with the main database's model version it goes with. The main
# database commits separately (another file or connection): after a crash between the two,
# start-up finds the newer definition here and completes the main database's row.
SCHEMA_RECORD = "sync_schema"


@dataclass(frozen=True)
class Column:
    """A column of an entity as both layers see it: kind, options and where it came from."""

    name: str
    type: str  # the field type of the definition ("String", ..., "Reference")
    required: bool = False
    unique: bool = False
    values: tuple[str, ...] | None = None
    target: str | None = None  # the referenced entity, for Reference columns
    relationship: bool = False  # added by a OneToMany relationship


@dataclass(frozen=True)
class JoinTable:
    """The join table of one ManyToMany relationship."""

    name: str
    relationship: str  # the list field on the ``source`` entity's rows
    source: str
    target: str


def entity_columns(definition: Definition, entity: EntityDef) -> list[Column]:
    """The entity's own fields plus the reference columns its relationships add."""
    columns = [_column(f) for f in entity.fields]
    for rel in definition.relationships:
        if rel.type == "OneToMany" and rel.to == entity.name:
            columns.append(Column(rel.name, "Reference", target=rel.from_, relationship=True))
    return columns


def join_tables(definition: Definition) -> list[JoinTable]:
    """Every ManyToMany join table."""
    return [
        JoinTable(join_table_name(r), r.name, r.from_, r.to)
        for r in definition.relationships
        if r.type == "ManyToMany"
    ]


def _column(fld: FieldDef) -> Column:
    return Column(
        fld.name,
        fld.type,
        fld.required,
        fld.unique,
        tuple(fld.values) if fld.values else None,
        fld.target,
    )


def sa_type(column: Column) -> sa.types.TypeEngine:
    """The SQLAlchemy type of a column."""
    kind = column.type
    if kind == "String":
        return sa.String(STRING_LENGTH)
    if kind == "Text":
        return sa.Text()
    if kind == "Integer":
        return sa.BigInteger()
    if kind == "Float":
        return sa.Double()
    if kind == "Boolean":
        return sa.Boolean(create_constraint=True, name=column.name)
    if kind == "DateTime":
        return models.Timestamp
    if kind == "Date":
        return sa.Date()
    if kind in ("Array", "Object"):
        return sa.JSON()
    if kind == "Enum":
        values = column.values or ()
        # Not native: a VARCHAR with a CHECK alters like any column when members change.
        return sa.Enum(
            *values,
            name=column.name,
            native_enum=False,
            create_constraint=True,
            length=max(len(v) for v in values),
        )
    if kind == "Reference":
        return sa.Uuid()
    raise ValueError(f"unknown field type {kind}")


def build_metadata(definition: Definition, schema: str | None = None) -> sa.MetaData:
    """SQLAlchemy tables for the definition (the schema's single source for DDL and sync)."""
    metadata = sa.MetaData(schema=schema, naming_convention=models.NAMING_CONVENTION)
    prefix = f"{schema}." if schema else ""
    for entity in definition.entities:
        columns = [
            sa.Column("id", sa.Uuid(), primary_key=True, default=uuid.uuid4),
            sa.Column("created_at", models.Timestamp, nullable=False, default=utcnow, index=True),
            sa.Column(
                "updated_at", models.Timestamp, nullable=False, default=utcnow, onupdate=utcnow
            ),
        ]
        for column in entity_columns(definition, entity):
            args = []
            if column.type == "Reference":
                ondelete = "CASCADE" if column.required else "SET NULL"
                args.append(sa.ForeignKey(f"{prefix}{column.target}.id", ondelete=ondelete))
            columns.append(
                sa.Column(
                    column.name,
                    sa_type(column),
                    *args,
                    nullable=not column.required,
                    unique=column.unique or None,
                    index=True if column.type == "Reference" and not column.unique else None,
                )
            )
        sa.Table(entity.name, metadata, *columns)
    for join in join_tables(definition):
        sa.Table(
            join.name,
            metadata,
            sa.Column(
                "source_id",
                sa.Uuid(),
                sa.ForeignKey(f"{prefix}{join.source}.id", ondelete="CASCADE"),
                primary_key=True,
            ),
            sa.Column(
                "target_id",
                sa.Uuid(),
                sa.ForeignKey(f"{prefix}{join.target}.id", ondelete="CASCADE"),
                primary_key=True,
                index=True,
            ),
        )
    for table in models.SYNC_TABLES:  # the change feed, as in the main database
        table.to_metadata(metadata, schema=schema)
    sa.Table(
        SCHEMA_RECORD,
        metadata,
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("definition", sa.Text(), nullable=False),
    )
    return metadata


def _pydal_field(column: Column, family: str) -> Field:
    kind = column.type
    # No validators: rows are checked by services/appdb/values.py, and PyDAL's default ones
    # cost a quarter of defining a large model's tables (one IS_IN_DB per reference).
    options = {"notnull": column.required, "unique": column.unique, "requires": None}
    if kind == "String":
        return Field(column.name, "string", length=STRING_LENGTH, **options)
    if kind == "Text":
        return Field(column.name, "text", **options)
    if kind == "Integer":
        return Field(column.name, "bigint", **options)
    if kind == "Float":
        return Field(column.name, "double", **options)
    if kind == "Boolean":
        return Field(column.name, boolean_type(family), **options)
    if kind == "DateTime":
        return Field(column.name, datetime_type(family), **options)
    if kind == "Date":
        return Field(column.name, "date", **options)
    if kind in ("Array", "Object"):
        return Field(column.name, json_type(family), **options)
    if kind == "Enum":
        return Field(column.name, enum_type(family, column.values or ()), **options)
    if kind == "Reference":
        ondelete = "CASCADE" if column.required else "SET NULL"
        return Field(
            column.name,
            uuid_type(family, references=f"{column.target}.id"),
            ondelete=ondelete,
            **options,
        )
    raise ValueError(f"unknown field type {kind}")


def define_pydal(db: DAL, definition: Definition, family: str, schema: str | None = None) -> None:
    """PyDAL tables for the definition, on ``db`` (a DAL of this model's database only).

    With ``schema`` (PostgreSQL), every table's real name is qualified with it, so SQL never
    depends on the connection's search_path.
    """

    def rname(table: str) -> str | None:
        return f'"{schema}"."{table}"' if schema else None

    for entity in definition.entities:
        db.define_table(
            entity.name,
            Field("id", uuid_type(family), notnull=True, default=uuid.uuid4),
            Field("created_at", datetime_type(family), notnull=True, default=utcnow),
            Field("updated_at", datetime_type(family), notnull=True, default=utcnow, update=utcnow),
            *(_pydal_field(c, family) for c in entity_columns(definition, entity)),
            primarykey=["id"],
            migrate=False,
            rname=rname(entity.name),
        )
        # The indexes build_metadata makes, so the parity check can compare them.
        declare_index(db[entity.name], "created_at")
        for column in entity_columns(definition, entity):
            if column.type == "Reference" and not column.unique:
                declare_index(db[entity.name], column.name)
    for join in join_tables(definition):
        db.define_table(
            join.name,
            Field(
                "source_id",
                uuid_type(family, references=f"{join.source}.id"),
                notnull=True,
                ondelete="CASCADE",
            ),
            Field(
                "target_id",
                uuid_type(family, references=f"{join.target}.id"),
                notnull=True,
                ondelete="CASCADE",
            ),
            primarykey=["source_id", "target_id"],
            migrate=False,
            rname=rname(join.name),
        )
        declare_index(db[join.name], "target_id")
    define_sync_tables(db, family, rname=rname)
    db.define_table(
        SCHEMA_RECORD,
        Field("id", "integer", notnull=True),
        Field("version", "bigint", notnull=True),
        Field("definition", "text", notnull=True),
        primarykey=["id"],
        migrate=False,
        rname=rname(SCHEMA_RECORD),
    )
