"""Offline-first sync: the change feed, its sequence counter and processed operation ids.

Every item already in the database gets a feed entry, so a client with no cursor receives it.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamp() -> sa.types.TypeEngine:
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def upgrade() -> None:
    """Apply this revision."""
    sync_row = op.create_table(
        "sync_row",
        sa.Column("tbl", sa.String(length=100), nullable=False),
        sa.Column("row_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column(
            "deleted",
            sa.Boolean(create_constraint=True, name="deleted"),
            server_default=sa.false(),
            nullable=False,
        ),
        sa.Column("ts", _timestamp(), nullable=False),
        sa.Column("client_id", sa.String(length=100), nullable=False),
        sa.Column("op_id", sa.String(length=100), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=True),
        sa.PrimaryKeyConstraint("tbl", "row_id", name=op.f("pk_sync_row")),
        sa.UniqueConstraint("seq", name=op.f("uq_sync_row_seq")),
    )
    op.create_index("ix_sync_row_owner_id_seq", "sync_row", ["owner_id", "seq"])
    counter = op.create_table(
        "sync_counter",
        sa.Column("name", sa.String(length=20), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.Column("epoch", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_sync_counter")),
    )
    op.create_table(
        "sync_operation",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.String(length=100), nullable=False),
        sa.Column("op_id", sa.String(length=100), nullable=False),
        sa.Column("outcome", sa.String(length=30), nullable=False),
        sa.Column("created_at", _timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "client_id", "op_id", name=op.f("pk_sync_operation")),
    )
    # Existing items enter the feed in creation order, stamped with their last update.
    item = sa.table(
        "item",
        sa.column("id", sa.Uuid()),
        sa.column("owner_id", sa.Uuid()),
        sa.column("created_at", sa.DateTime()),
        sa.column("updated_at", sa.DateTime()),
    )
    position = sa.func.row_number().over(order_by=(item.c.created_at, item.c.id))
    op.execute(
        sync_row.insert().from_select(
            ["tbl", "row_id", "seq", "deleted", "ts", "client_id", "op_id", "owner_id"],
            sa.select(
                sa.literal("items"),
                item.c.id,
                position,
                sa.false(),
                item.c.updated_at,
                sa.literal(""),
                sa.literal(""),
                item.c.owner_id,
            ),
        )
    )
    # INSERT ... SELECT rather than reading the count first: offline (alembic upgrade --sql)
    # there is no database to read from.
    op.execute(
        counter.insert().from_select(
            ["name", "value", "epoch"],
            sa.select(sa.literal("seq"), sa.func.count(), sa.literal(uuid.uuid4().hex)).select_from(
                item
            ),
        )
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("sync_operation")
    op.drop_table("sync_counter")
    op.drop_index("ix_sync_row_owner_id_seq", table_name="sync_row")
    op.drop_table("sync_row")
