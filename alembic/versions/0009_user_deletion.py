"""Account deletions in progress: a deletion a crash cut short is finished at the next start.

Deleting a user drops each of their models' databases, one model per commit, then the user.
A crash in between used to leave the user with fewer models and nothing to say the deletion
was asked for (issue 14). The row is written (and the account deactivated) before anything is
dropped, and goes with the user (ON DELETE CASCADE).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "user_deletion",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column(
            "requested_at",
            sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user.id"],
            name=op.f("fk_user_deletion_user_id_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_user_deletion")),
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("user_deletion")
