"""Indexes for the item lists: newest first overall, and newest first per owner.

Measured on SQLite with 200,000 items (tmp script, 20 owners): a superuser's first page
(ORDER BY created_at DESC) took 730 ms, a scan and a sort; with ix_item_created_at, 0.3 ms.
An owner's first page took 90 ms; with (owner_id, created_at), 1.3 ms. The composite index
also serves lookups by owner_id alone (the foreign key's cascade included), so it replaces
ix_item_owner_id instead of sitting beside it.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_index("ix_item_created_at", "item", ["created_at"])
    # Made before the old index goes: MariaDB refuses to drop the only index of a foreign key.
    op.create_index("ix_item_owner_id_created_at", "item", ["owner_id", "created_at"])
    op.drop_index("ix_item_owner_id", table_name="item")


def downgrade() -> None:
    """Revert this revision."""
    op.create_index("ix_item_owner_id", "item", ["owner_id"])
    op.drop_index("ix_item_owner_id_created_at", table_name="item")
    op.drop_index("ix_item_created_at", table_name="item")
