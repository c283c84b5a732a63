"""A kitchen-sink schema for the parity tests: every column kind, declared once per layer.

``sink_columns()`` and ``sink_fields(family)`` return fresh, hand-written definitions (the way
services/db/models.py and services/db/tables.py mirror each other) as table -> column name ->
definition. A test breaks one entry of the dict and builds the metadata or PyDAL tables from
it with ``sink_metadata`` / ``define_sink``.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from pydal import DAL, Field
from sqlalchemy.dialects import mysql

from services.db.indexes import declare_index
from services.db.models import NAMING_CONVENTION
from services.db.types import boolean_type, datetime_type, enum_type, json_type, uuid_type

SinkColumns = dict[str, dict[str, sa.Column]]
SinkFields = dict[str, dict[str, Field]]

# Same as the real models: MySQL/MariaDB DATETIME keeps fractions only with fsp=6.
Timestamp = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")

PLANS = ["free", "pro"]

# Indexes of the sink, as (name, table, columns, unique): one plain, one composite, one composite
# unique. None covers a foreign key column, so MariaDB makes its own index for kid.parent_id,
# which the check must ignore; none covers a column a break turns into TEXT (MariaDB cannot
# index TEXT without a prefix length).
SinkIndexes = list[tuple[str, str, tuple[str, ...], bool]]
SINK_INDEXES: SinkIndexes = [
    ("ix_kid_happened", "kid", ("happened",), False),
    ("ix_kid_count_big", "kid", ("count", "big"), False),
    ("uq_kid_token_big", "kid", ("token", "big"), True),
]


def sink_columns() -> SinkColumns:
    """The SQLAlchemy side, table by table (new Column objects on every call)."""
    return {
        "parent": {
            "id": sa.Column("id", sa.Uuid, primary_key=True, default=uuid.uuid4),
            "code": sa.Column("code", sa.String(40), unique=True, nullable=False),
        },
        "kid": {
            "id": sa.Column("id", sa.Uuid, primary_key=True, default=uuid.uuid4),
            "parent_id": sa.Column(
                "parent_id",
                sa.Uuid,
                sa.ForeignKey("parent.id", ondelete="CASCADE"),
                nullable=False,
            ),
            "count": sa.Column("count", sa.Integer),
            "big": sa.Column("big", sa.BigInteger),
            "name": sa.Column("name", sa.String(40)),
            "body": sa.Column("body", sa.Text),
            "price": sa.Column("price", sa.Numeric(10, 2)),
            "ratio": sa.Column("ratio", sa.Float),
            # Constrained like the real schema: a stray 'T' fails loudly.
            "flag": sa.Column("flag", sa.Boolean(create_constraint=True, name="flag")),
            # Unconstrained: what silently goes wrong without the CHECK.
            "loose_flag": sa.Column("loose_flag", sa.Boolean()),
            "happened": sa.Column("happened", Timestamp),
            "token": sa.Column("token", sa.Uuid),
            "doc": sa.Column("doc", sa.JSON),
            "plan": sa.Column(
                "plan",
                sa.Enum(*PLANS, name="plan", create_constraint=True),
                nullable=False,
                server_default="free",
            ),
            # NOT NULL with a Python-side default only: PyDAL must repeat it.
            "status": sa.Column("status", sa.String(20), nullable=False, default="new"),
        },
    }


def sink_metadata(
    columns: SinkColumns | None = None, indexes: SinkIndexes | None = None
) -> sa.MetaData:
    """MetaData holding the (possibly broken) sink tables and their indexes."""
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    for table, cols in (columns if columns is not None else sink_columns()).items():
        sa.Table(table, metadata, *cols.values())
    for name, table, cols, unique in SINK_INDEXES if indexes is None else indexes:
        if table in metadata.tables:
            sa.Index(name, *(metadata.tables[table].c[c] for c in cols), unique=unique)
    return metadata


def sink_fields(family: str) -> SinkFields:
    """The PyDAL side, hand-written to mirror ``sink_columns`` (new Field objects on every call)."""
    return {
        "parent": {
            "id": Field("id", uuid_type(family), notnull=True, default=uuid.uuid4),
            "code": Field("code", "string", length=40, notnull=True, unique=True),
        },
        "kid": {
            "id": Field("id", uuid_type(family), notnull=True, default=uuid.uuid4),
            "parent_id": Field(
                "parent_id",
                uuid_type(family, references="parent.id"),
                notnull=True,
                ondelete="CASCADE",
            ),
            "count": Field("count", "integer"),
            "big": Field("big", "bigint"),
            "name": Field("name", "string", length=40),
            "body": Field("body", "text"),
            "price": Field("price", "decimal(10,2)"),
            "ratio": Field("ratio", "double"),
            "flag": Field("flag", boolean_type(family)),
            "loose_flag": Field("loose_flag", boolean_type(family)),
            "happened": Field("happened", datetime_type(family)),
            "token": Field("token", uuid_type(family)),
            "doc": Field("doc", json_type(family)),
            "plan": Field("plan", enum_type(family, PLANS), notnull=True, default="free"),
            "status": Field("status", "string", length=20, notnull=True, default="new"),
        },
    }


def define_sink(
    db: DAL,
    family: str,
    fields: SinkFields | None = None,
    primarykeys: dict[str, list[str]] | None = None,
    indexes: SinkIndexes | None = None,
) -> None:
    """Define the (possibly broken) sink tables on ``db`` (no DDL: migrate=False)."""
    for table, flds in (fields if fields is not None else sink_fields(family)).items():
        key = (primarykeys or {}).get(table, ["id"])
        db.define_table(table, *flds.values(), primarykey=key, migrate=False)
    for name, table, cols, unique in SINK_INDEXES if indexes is None else indexes:
        if table in db.tables and all(c in db[table].fields for c in cols):
            declare_index(db[table], *cols, unique=unique, name=name)
