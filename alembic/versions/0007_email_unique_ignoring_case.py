"""Emails are unique ignoring case: a generated lower-case key with a unique index.

A generated column, not an index on lower(email), because MariaDB has no expression indexes and
SQLAlchemy cannot reflect them on SQLite (the parity check would not see them). Existing
accounts whose emails differ only in case stop the upgrade with a list of them: which one to
keep is a person's decision.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import context, op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


class CaseDuplicates(RuntimeError):
    """Accounts whose emails differ only in case; they must be merged or renamed first."""


def _case_duplicates(connection: sa.Connection) -> list[list[str]]:
    user = sa.table("user", sa.column("email", sa.String))
    key = sa.func.lower(user.c.email)
    clashing = sa.select(key).group_by(key).having(sa.func.count() > 1).subquery()
    rows = connection.execute(
        sa.select(user.c.email).where(key.in_(sa.select(clashing))).order_by(key, user.c.email)
    ).scalars()
    groups: dict[str, list[str]] = {}
    for email in rows:
        groups.setdefault(email.lower(), []).append(email)
    return list(groups.values())


def upgrade() -> None:
    """Apply this revision."""
    # Offline SQL (--sql) has no rows to look at: there the unique index refuses duplicates.
    duplicates = [] if context.is_offline_mode() else _case_duplicates(op.get_bind())
    if duplicates:
        listed = "; ".join(", ".join(group) for group in duplicates)
        raise CaseDuplicates(
            f"emails that differ only in case: {listed}. Change or delete all but one of each "
            "group (PATCH /api/v1/users/{id}), then migrate again."
        )
    with op.batch_alter_table("user", recreate="always" if _sqlite() else "auto") as batch_op:
        batch_op.add_column(
            sa.Column(
                "email_key",
                sa.String(length=255),
                sa.Computed("lower(email)", persisted=True),
                nullable=True,
            )
        )
        batch_op.create_index(batch_op.f("ix_user_email_key"), ["email_key"], unique=True)


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("user") as batch_op:
        batch_op.drop_index(batch_op.f("ix_user_email_key"))
        batch_op.drop_column("email_key")


def _sqlite() -> bool:
    # SQLite cannot ADD a stored generated column; batch mode copies the table instead.
    return op.get_bind().dialect.name == "sqlite"
