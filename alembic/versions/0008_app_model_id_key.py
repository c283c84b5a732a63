"""App models: a unique lower-case key of the id, so the database refuses case variants.

Two concurrent creates of ``CSDADD69`` and ``csdadd69`` both passed the check made before the
insert (issue 14) and made two files, which are one file on case-insensitive file systems.
Existing case variants (possible before this revision) keep distinct keys: the newer ones get
``<lower id>~<n>``, so the upgrade never fails on data it finds.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import context, op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.add_column("app_model", sa.Column("id_key", sa.String(length=100), nullable=True))
    table = sa.table("app_model", sa.column("id", sa.String), sa.column("id_key", sa.String))
    if context.is_offline_mode():
        # Offline SQL (--sql) cannot read the ids: lower-case them in SQL; the unique index
        # below then refuses ids that differ only in case instead of renaming them.
        op.execute(table.update().values(id_key=sa.func.lower(table.c.id)))
    else:
        _fill_keys(op.get_bind(), table)
    with op.batch_alter_table("app_model") as batch:
        batch.alter_column("id_key", existing_type=sa.String(length=100), nullable=False)
    op.create_index(op.f("ix_app_model_id_key"), "app_model", ["id_key"], unique=True)


def _fill_keys(connection: sa.Connection, table: sa.TableClause) -> None:
    # Ids that differ only in case (possible before this revision) get distinct keys.
    created = sa.column("created_at")
    rows = connection.execute(
        sa.select(table.c.id).select_from(table).order_by(created, table.c.id)
    ).all()
    taken: set[str] = set()
    for (model_id,) in rows:
        key, n = model_id.lower(), 1
        while key in taken:
            n += 1
            key = f"{model_id.lower()[: 100 - len(str(n)) - 1]}~{n}"
        taken.add(key)
        connection.execute(table.update().where(table.c.id == model_id).values(id_key=key))


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index(op.f("ix_app_model_id_key"), table_name="app_model")
    with op.batch_alter_table("app_model") as batch:
        batch.drop_column("id_key")
